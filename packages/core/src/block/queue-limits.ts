/**
 * Queue limits (struct queue_limits, include/linux/blkdev.h, v6.16) and their defaulting,
 * validation and stacking (blk_set_default_limits(), blk_validate_limits(), blk_stack_limits()
 * in block/blk-settings.c, v6.16; reference §5.1, §5.3).
 *
 * Only the fields that shape data segments, request sizes and the P2PDMA capability are
 * modelled: discard, integrity, zone-append and most atomic-write limits are left out (an atomic
 * write's limits are given directly as atomicWriteMaxSectors / atomicWriteBoundarySectors instead
 * of being derived from the hardware unit sizes).
 */
import { EINVAL } from '../errno';
import { PAGE_SIZE } from '../mm/page';

/** SECTOR_SHIFT / SECTOR_SIZE */
export const SECTOR_SHIFT = 9;
export const SECTOR_SIZE = 512;
/** UINT_MAX: unsigned int limits. */
export const UINT_MAX = 0xffff_ffff;
/** USHRT_MAX: max_segments is an unsigned short. */
export const USHRT_MAX = 0xffff;

/** Defaults of include/linux/blkdev.h (v6.16). */
export const BLK_MAX_SEGMENTS = 128;
export const BLK_SAFE_MAX_SECTORS = 255;
export const BLK_MAX_SEGMENT_SIZE = 65536;
export const BLK_SEG_BOUNDARY_MASK = 0xffff_ffff;
/** BLK_MIN_SEGMENT_SIZE (v6.14+): every driver handles at least a page per segment. */
export const BLK_MIN_SEGMENT_SIZE = 4096;
/** BLK_DEF_MAX_SECTORS_CAP: 1280 KiB in v6.16 (raised to 4 MiB in v6.17). */
export const BLK_DEF_MAX_SECTORS_CAP = 2560;
/** BLK_MAX_BLOCK_SIZE with CONFIG_TRANSPARENT_HUGEPAGE (SZ_64K). */
export const BLK_MAX_BLOCK_SIZE = 65536;
/** PAGE_SECTORS */
export const PAGE_SECTORS = PAGE_SIZE >> SECTOR_SHIFT;

/** blk_features_t bits (v6.16). */
export const BLK_FEAT_WRITE_CACHE = 1 << 0;
export const BLK_FEAT_FUA = 1 << 1;
export const BLK_FEAT_ROTATIONAL = 1 << 2;
export const BLK_FEAT_ADD_RANDOM = 1 << 3;
export const BLK_FEAT_IO_STAT = 1 << 4;
export const BLK_FEAT_STABLE_WRITES = 1 << 5;
export const BLK_FEAT_SYNCHRONOUS = 1 << 6;
export const BLK_FEAT_NOWAIT = 1 << 7;
export const BLK_FEAT_DAX = 1 << 8;
export const BLK_FEAT_POLL = 1 << 9;
export const BLK_FEAT_ZONED = 1 << 10;
/** Supports PCI(e) P2P requests (v6.11+; QUEUE_FLAG_PCI_P2PDMA before). */
export const BLK_FEAT_PCI_P2PDMA = 1 << 12;
export const BLK_FEAT_SKIP_TAGSET_QUIESCE = 1 << 13;
export const BLK_FEAT_RAID_PARTIAL_STRIPES_EXPENSIVE = 1 << 15;
export const BLK_FEAT_ATOMIC_WRITES = 1 << 16;

/**
 * BLK_FEAT_INHERIT_MASK (v6.16): what a stacked device (md, dm, nvme-multipath head) takes from
 * its components. BLK_FEAT_PCI_P2PDMA is deliberately not in it (§5.3).
 */
export const BLK_FEAT_INHERIT_MASK =
  BLK_FEAT_WRITE_CACHE |
  BLK_FEAT_FUA |
  BLK_FEAT_ROTATIONAL |
  BLK_FEAT_STABLE_WRITES |
  BLK_FEAT_ZONED |
  BLK_FEAT_RAID_PARTIAL_STRIPES_EXPENSIVE;

/** blk_flags_t bits (v6.16). */
export const BLK_FLAG_WRITE_CACHE_DISABLED = 1 << 0;
export const BLK_FLAG_MISALIGNED = 1 << 1;

/** struct queue_limits: the modelled fields, in bytes or 512-byte sectors as the kernel keeps them. */
export interface QueueLimits {
  /** BLK_FEAT_* */
  features: number;
  /** BLK_FLAG_* */
  flags: number;
  /** A segment may not cross a (mask + 1)-aligned boundary. */
  segBoundaryMask: number;
  /** Segments other than the first start, and other than the last end, on (mask + 1) (0: none). */
  virtBoundaryMask: number;
  maxHwSectors: number;
  maxDevSectors: number;
  /** Requests never cross a chunk boundary (0: none). */
  chunkSectors: number;
  /** Derived by validation from maxHwSectors, maxDevSectors, maxUserSectors, ioOpt and ioMin. */
  maxSectors: number;
  /** What max_sectors_kb in sysfs sets (0: unset). */
  maxUserSectors: number;
  maxSegmentSize: number;
  /** Splitter fast-path threshold (v6.14+): min(PAGE_SIZE, segment boundary, max segment size). */
  minSegmentSize: number;
  physicalBlockSize: number;
  logicalBlockSize: number;
  ioMin: number;
  ioOpt: number;
  maxWriteZeroesSectors: number;
  zoneWriteGranularity: number;
  /** Atomic writes: the size cap (0: not supported). */
  atomicWriteMaxSectors: number;
  /** Atomic writes: a boundary they must not cross (0: none). */
  atomicWriteBoundarySectors: number;
  /** DMA segments per request (an unsigned short). */
  maxSegments: number;
  /** Buffer address/length alignment mask for user and O_DIRECT I/O. */
  dmaAlignment: number;
}

/** A queue_limits with every field zero (memset() before a driver fills it in). */
export function zeroQueueLimits(): QueueLimits {
  return {
    features: 0,
    flags: 0,
    segBoundaryMask: 0,
    virtBoundaryMask: 0,
    maxHwSectors: 0,
    maxDevSectors: 0,
    chunkSectors: 0,
    maxSectors: 0,
    maxUserSectors: 0,
    maxSegmentSize: 0,
    minSegmentSize: 0,
    physicalBlockSize: 0,
    logicalBlockSize: 0,
    ioMin: 0,
    ioOpt: 0,
    maxWriteZeroesSectors: 0,
    zoneWriteGranularity: 0,
    atomicWriteMaxSectors: 0,
    atomicWriteBoundarySectors: 0,
    maxSegments: 0,
    dmaAlignment: 0,
  };
}

function isPowerOf2(n: number): boolean {
  return n > 0 && Number.isInteger(n) && (n & (n - 1)) === 0 && n <= 2 ** 31;
}

function roundDown(n: number, m: number): number {
  return n - (n % m);
}

/** min_not_zero(a, b) */
export function minNotZero(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return Math.min(a, b);
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** lcm_not_zero(a, b) */
function lcmNotZero(a: number, b: number): number {
  if (!a) return b;
  if (!b) return a;
  return (a / gcd(a, b)) * b;
}

/**
 * blk_validate_block_size(bsize) (include/linux/blkdev.h, v6.16): 0 for a power of two in
 * [512, BLK_MAX_BLOCK_SIZE], else -EINVAL.
 */
export function blkValidateBlockSize(bsize: number): number {
  if (bsize < 512 || bsize > BLK_MAX_BLOCK_SIZE || !isPowerOf2(bsize)) return -EINVAL;
  return 0;
}

/**
 * blk_validate_limits(lim) (block/blk-settings.c, v6.16): fills unset fields with their
 * defaults and derives max_sectors and min_segment_size, in place. 0, or -EINVAL for limits the
 * kernel rejects (several of them with a WARN). `why` receives the reason of a rejection.
 */
export function blkValidateLimits(lim: QueueLimits, why?: (msg: string) => void): number {
  const fail = (msg: string): number => {
    why?.(msg);
    return -EINVAL;
  };
  for (const [k, v] of Object.entries(lim)) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`queue limit ${k} = ${v}`);
  }

  if (!lim.logicalBlockSize) lim.logicalBlockSize = SECTOR_SIZE;
  else if (blkValidateBlockSize(lim.logicalBlockSize)) {
    return fail(`Invalid logical block size (${lim.logicalBlockSize})`);
  }
  if (lim.physicalBlockSize < lim.logicalBlockSize) {
    lim.physicalBlockSize = lim.logicalBlockSize;
  } else if (!isPowerOf2(lim.physicalBlockSize)) {
    return fail(`Invalid physical block size (${lim.physicalBlockSize})`);
  }
  if (lim.ioMin < lim.physicalBlockSize) lim.ioMin = lim.physicalBlockSize;
  lim.ioOpt = roundDown(lim.ioOpt, lim.physicalBlockSize);

  // Every driver handles at least a page per I/O, logical-block aligned.
  if (!lim.maxHwSectors) lim.maxHwSectors = BLK_SAFE_MAX_SECTORS;
  if (lim.maxHwSectors < PAGE_SECTORS) return fail('max_hw_sectors < PAGE_SECTORS');
  const logicalBlockSectors = lim.logicalBlockSize >> SECTOR_SHIFT;
  if (logicalBlockSectors > lim.maxHwSectors)
    return fail('logical block larger than max_hw_sectors');
  lim.maxHwSectors = roundDown(lim.maxHwSectors, logicalBlockSectors);

  // max_sectors is always derived, never taken as given.
  const maxHwSectors = minNotZero(lim.maxHwSectors, lim.maxDevSectors);
  if (lim.maxUserSectors) {
    if (lim.maxUserSectors < BLK_MIN_SEGMENT_SIZE / SECTOR_SIZE) {
      return fail(`max_user_sectors ${lim.maxUserSectors} below a page`);
    }
    lim.maxSectors = Math.min(maxHwSectors, lim.maxUserSectors);
  } else if (lim.ioOpt > BLK_DEF_MAX_SECTORS_CAP << SECTOR_SHIFT) {
    lim.maxSectors = Math.min(maxHwSectors, lim.ioOpt >> SECTOR_SHIFT);
  } else if (lim.ioMin > BLK_DEF_MAX_SECTORS_CAP << SECTOR_SHIFT) {
    lim.maxSectors = Math.min(maxHwSectors, lim.ioMin >> SECTOR_SHIFT);
  } else {
    lim.maxSectors = Math.min(maxHwSectors, BLK_DEF_MAX_SECTORS_CAP);
  }
  lim.maxSectors = roundDown(lim.maxSectors, logicalBlockSectors);

  if (!lim.maxSegments) lim.maxSegments = BLK_MAX_SEGMENTS;
  if (lim.maxSegments > USHRT_MAX) return fail(`max_segments ${lim.maxSegments} > USHRT_MAX`);

  // A segment boundary below a page would break ordinary I/O.
  if (!lim.segBoundaryMask) lim.segBoundaryMask = BLK_SEG_BOUNDARY_MASK;
  if (lim.segBoundaryMask < BLK_MIN_SEGMENT_SIZE - 1) return fail('seg_boundary_mask below a page');

  if (lim.virtBoundaryMask) {
    if (!lim.maxSegmentSize) lim.maxSegmentSize = UINT_MAX;
  } else {
    if (!lim.maxSegmentSize) lim.maxSegmentSize = BLK_MAX_SEGMENT_SIZE;
    if (lim.maxSegmentSize < BLK_MIN_SEGMENT_SIZE) return fail('max_segment_size below a page');
  }
  if (lim.maxSegmentSize > UINT_MAX) return fail('max_segment_size above UINT_MAX');

  const segSize =
    lim.segBoundaryMask > lim.maxSegmentSize - 1 ? lim.maxSegmentSize : lim.segBoundaryMask + 1;
  lim.minSegmentSize = Math.min(segSize, PAGE_SIZE);

  if (!lim.dmaAlignment) lim.dmaAlignment = SECTOR_SIZE - 1;
  if (lim.dmaAlignment > PAGE_SIZE) return fail('dma_alignment above PAGE_SIZE');

  if (!(lim.features & BLK_FEAT_WRITE_CACHE)) lim.features &= ~BLK_FEAT_FUA;

  if (!(lim.features & BLK_FEAT_ATOMIC_WRITES)) {
    lim.atomicWriteMaxSectors = 0;
    lim.atomicWriteBoundarySectors = 0;
  }

  if (!(lim.features & BLK_FEAT_ZONED)) {
    if (lim.zoneWriteGranularity) return fail('zone_write_granularity on a non-zoned device');
  } else if (lim.zoneWriteGranularity < lim.logicalBlockSize) {
    lim.zoneWriteGranularity = lim.logicalBlockSize;
  }
  return 0;
}

/**
 * The limits a queue gets from the driver's `overrides` (blk_set_default_limits() +
 * blk_validate_limits(), v6.16): unset fields take the defaults of §5.1 (128 segments of at most
 * 64 KiB, 4 GiB segment boundary, 512-byte blocks, max_hw_sectors 255, max_sectors
 * min(max_hw_sectors, 2560)). max_sectors is derived as the kernel derives it; an override of
 * `maxSectors` is taken as what writing max_sectors_kb does (max_user_sectors). Throws a
 * RangeError for limits the kernel would reject with -EINVAL.
 */
export function defaultQueueLimits(overrides: Partial<QueueLimits> = {}): QueueLimits {
  const lim = { ...zeroQueueLimits(), ...overrides };
  if (overrides.maxSectors !== undefined && overrides.maxUserSectors === undefined) {
    lim.maxUserSectors = overrides.maxSectors;
  }
  let reason = '';
  if (blkValidateLimits(lim, (m) => (reason = m))) {
    throw new RangeError(`blk_validate_limits: -EINVAL (${reason})`);
  }
  return lim;
}

/**
 * blk_set_stacking_limits() (v6.16): the starting point of a stacked device (md, dm,
 * nvme-multipath) before blkStackLimits() folds in each component.
 */
export function blkSetStackingLimits(): QueueLimits {
  return {
    ...zeroQueueLimits(),
    logicalBlockSize: SECTOR_SIZE,
    physicalBlockSize: SECTOR_SIZE,
    ioMin: SECTOR_SIZE,
    dmaAlignment: SECTOR_SIZE - 1,
    segBoundaryMask: BLK_SEG_BOUNDARY_MASK,
    maxSegments: USHRT_MAX,
    maxHwSectors: UINT_MAX,
    maxSegmentSize: UINT_MAX,
    maxSectors: UINT_MAX,
    maxDevSectors: UINT_MAX,
    maxWriteZeroesSectors: UINT_MAX,
  };
}

/** blk_round_down_sectors(): to the logical block size, but never below a page. */
function blkRoundDownSectors(sectors: number, lbs: number): number {
  sectors = roundDown(sectors, lbs >> SECTOR_SHIFT);
  return sectors < PAGE_SECTORS ? PAGE_SECTORS : sectors;
}

/**
 * blk_stack_limits(t, b, start = 0) (block/blk-settings.c, v6.16): folds the component's limits
 * `b` into the stacked device's `t`, in place. Features: only BLK_FEAT_INHERIT_MASK is
 * inherited, so a stacked device never gets BLK_FEAT_PCI_P2PDMA from its components (§5.3);
 * NOWAIT and POLL survive only if every component has them. Sizes take the stricter value.
 * Returns 0, or -1 when the block sizes do not line up (t.flags gets BLK_FLAG_MISALIGNED).
 * Alignment offsets are not modelled (components start at sector 0); atomic-write limits of a
 * stacked device are cleared.
 */
export function blkStackLimits(t: QueueLimits, b: QueueLimits): number {
  let ret = 0;
  t.features |= b.features & BLK_FEAT_INHERIT_MASK;
  if (!(b.features & BLK_FEAT_NOWAIT)) t.features &= ~BLK_FEAT_NOWAIT;
  if (!(b.features & BLK_FEAT_POLL)) t.features &= ~BLK_FEAT_POLL;
  t.flags |= b.flags & BLK_FLAG_MISALIGNED;

  t.maxSectors = minNotZero(t.maxSectors, b.maxSectors);
  t.maxUserSectors = minNotZero(t.maxUserSectors, b.maxUserSectors);
  t.maxHwSectors = minNotZero(t.maxHwSectors, b.maxHwSectors);
  t.maxDevSectors = minNotZero(t.maxDevSectors, b.maxDevSectors);
  t.maxWriteZeroesSectors = Math.min(t.maxWriteZeroesSectors, b.maxWriteZeroesSectors);
  t.segBoundaryMask = minNotZero(t.segBoundaryMask, b.segBoundaryMask);
  t.virtBoundaryMask = minNotZero(t.virtBoundaryMask, b.virtBoundaryMask);
  t.maxSegments = minNotZero(t.maxSegments, b.maxSegments);
  t.maxSegmentSize = minNotZero(t.maxSegmentSize, b.maxSegmentSize);

  t.logicalBlockSize = Math.max(t.logicalBlockSize, b.logicalBlockSize);
  t.physicalBlockSize = Math.max(t.physicalBlockSize, b.physicalBlockSize);
  t.ioMin = Math.max(t.ioMin, b.ioMin);
  t.ioOpt = lcmNotZero(t.ioOpt, b.ioOpt);
  t.dmaAlignment = Math.max(t.dmaAlignment, b.dmaAlignment);
  if (b.chunkSectors) t.chunkSectors = gcd(t.chunkSectors, b.chunkSectors);

  if (t.physicalBlockSize & (t.logicalBlockSize - 1)) {
    t.physicalBlockSize = t.logicalBlockSize;
    t.flags |= BLK_FLAG_MISALIGNED;
    ret = -1;
  }
  if (t.ioMin & (t.physicalBlockSize - 1)) {
    t.ioMin = t.physicalBlockSize;
    t.flags |= BLK_FLAG_MISALIGNED;
    ret = -1;
  }
  if (t.ioOpt & (t.physicalBlockSize - 1)) {
    t.ioOpt = 0;
    t.flags |= BLK_FLAG_MISALIGNED;
    ret = -1;
  }
  if (t.chunkSectors % (t.physicalBlockSize >> SECTOR_SHIFT)) {
    t.chunkSectors = 0;
    t.flags |= BLK_FLAG_MISALIGNED;
    ret = -1;
  }

  t.maxSectors = blkRoundDownSectors(t.maxSectors, t.logicalBlockSize);
  t.maxHwSectors = blkRoundDownSectors(t.maxHwSectors, t.logicalBlockSize);
  t.maxDevSectors = blkRoundDownSectors(t.maxDevSectors, t.logicalBlockSize);

  t.zoneWriteGranularity = Math.max(t.zoneWriteGranularity, b.zoneWriteGranularity);
  if (!(t.features & BLK_FEAT_ZONED)) t.zoneWriteGranularity = 0;
  t.atomicWriteMaxSectors = 0;
  t.atomicWriteBoundarySectors = 0;
  return ret;
}
