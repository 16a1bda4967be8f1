/**
 * Queue limits (block/blk-settings.c v6.16; reference §5.1): defaults and validation, stacking
 * (BLK_FEAT_PCI_P2PDMA is not inherited, §5.3), and the P2PDMA capability across releases.
 * Expected values are worked out by hand in the comments.
 */
import {
  BLK_FEAT_FUA,
  BLK_FEAT_NOWAIT,
  BLK_FEAT_PCI_P2PDMA,
  BLK_FEAT_POLL,
  BLK_FEAT_WRITE_CACHE,
  BLK_FLAG_MISALIGNED,
  blkSetStackingLimits,
  blkStackLimits,
  blkValidateLimits,
  defaultQueueLimits,
  UINT_MAX,
  zeroQueueLimits,
} from '../src/block/queue-limits';
import {
  blkQueueFlagSet,
  blkQueueFlagTest,
  blkQueuePciP2pdma,
  QUEUE_FLAG_PCI_P2PDMA,
  RequestQueue,
} from '../src/block/request-queue';
import { EINVAL } from '../src/errno';

/** The limits an NVMe PCI namespace asks for (§5.1), before validation fills the rest. */
const NVME_LIKE = {
  virtBoundaryMask: 4095,
  maxHwSectors: 2048,
  maxSegments: 127,
  dmaAlignment: 3,
};

describe('blk_set_default_limits + blk_validate_limits (§5.1)', () => {
  it('fills the defaults of §5.1', () => {
    const lim = defaultQueueLimits();
    expect(lim.maxSegments).toBe(128);
    expect(lim.maxSegmentSize).toBe(65536);
    expect(lim.segBoundaryMask).toBe(0xffff_ffff);
    expect([lim.logicalBlockSize, lim.physicalBlockSize]).toEqual([512, 512]);
    // max_hw_sectors BLK_SAFE_MAX_SECTORS = 255; max_sectors = min(255, 2560) = 255
    expect([lim.maxHwSectors, lim.maxSectors]).toEqual([255, 255]);
    expect(lim.dmaAlignment).toBe(511);
    // the boundary 0xffffffff > 65535, so seg_size = 65536; min(65536, PAGE_SIZE) = 4096
    expect(lim.minSegmentSize).toBe(4096);
    expect(lim.virtBoundaryMask).toBe(0);
  });

  it('with a virt boundary an unset max_segment_size is UINT_MAX (NVMe, §5.1)', () => {
    const lim = defaultQueueLimits(NVME_LIKE);
    expect(lim.maxSegmentSize).toBe(UINT_MAX);
    // min(2048, BLK_DEF_MAX_SECTORS_CAP 2560) = 2048 (1 MiB)
    expect(lim.maxSectors).toBe(2048);
    expect(lim.maxSegments).toBe(127);
    expect(lim.dmaAlignment).toBe(3);
    // 0xffffffff > UINT_MAX - 1, so seg_size = max_segment_size; min(.., 4096) = 4096
    expect(lim.minSegmentSize).toBe(4096);
  });

  it('derives max_sectors; a maxSectors override acts as max_sectors_kb (max_user_sectors)', () => {
    expect(defaultQueueLimits({ maxHwSectors: 2048, maxSectors: 256 }).maxSectors).toBe(256);
    // 4 KiB logical blocks: max_hw_sectors 255 rounds down to a multiple of 8 sectors: 248
    const lim = defaultQueueLimits({ logicalBlockSize: 4096 });
    expect([lim.maxHwSectors, lim.maxSectors, lim.physicalBlockSize]).toEqual([248, 248, 4096]);
  });

  it('rejects limits the kernel rejects with -EINVAL', () => {
    const bad = [
      { logicalBlockSize: 1000 }, // not a power of two
      { segBoundaryMask: 0x7ff }, // below PAGE_SIZE - 1
      { maxSegmentSize: 2048 }, // below a page without a virt boundary
      { maxHwSectors: 4 }, // below PAGE_SECTORS (8)
      { dmaAlignment: 8192 }, // above PAGE_SIZE
    ];
    for (const b of bad) {
      const lim = { ...zeroQueueLimits(), ...b };
      expect(blkValidateLimits(lim)).toBe(-EINVAL);
      expect(() => defaultQueueLimits(b)).toThrow(RangeError);
    }
    // FUA without a write cache is dropped, not rejected
    const fua = defaultQueueLimits({ features: BLK_FEAT_FUA });
    expect(fua.features & BLK_FEAT_FUA).toBe(0);
  });
});

describe('blk_stack_limits (§5.3: stacked devices do not inherit PCI_P2PDMA)', () => {
  it('a stacked device takes the stricter limits but not BLK_FEAT_PCI_P2PDMA', () => {
    const nvme = defaultQueueLimits({
      ...NVME_LIKE,
      features: BLK_FEAT_PCI_P2PDMA | BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA | BLK_FEAT_NOWAIT,
    });
    const top = blkSetStackingLimits();
    // the stacking driver offers NOWAIT and POLL; components must all support them
    top.features = BLK_FEAT_NOWAIT | BLK_FEAT_POLL;
    expect(blkStackLimits(top, nvme)).toBe(0);
    // inherited: WRITE_CACHE | FUA (in BLK_FEAT_INHERIT_MASK); kept: NOWAIT (the NVMe has it);
    // dropped: POLL (it has not); never inherited: PCI_P2PDMA
    expect(top.features).toBe(BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA | BLK_FEAT_NOWAIT);
    expect(top.features & BLK_FEAT_PCI_P2PDMA).toBe(0);
    // min_not_zero(0, 4095) = 4095; min_not_zero(65535, 127) = 127; min(UINT_MAX, 2048) = 2048
    expect(top.virtBoundaryMask).toBe(4095);
    expect(top.maxSegments).toBe(127);
    expect(top.maxSectors).toBe(2048);
    expect(top.dmaAlignment).toBe(511); // max(511, 3)
    expect(blkQueuePciP2pdma(new RequestQueue('md0', top))).toBe(false);
    expect(blkQueuePciP2pdma(new RequestQueue('nvme0n1', nvme))).toBe(true);
  });

  it('flags a misaligned stack: io_opt of 3 x 512 is not a multiple of a 4 KiB block', () => {
    const top = blkSetStackingLimits();
    expect(blkStackLimits(top, defaultQueueLimits({ ioOpt: 1536 }))).toBe(0);
    expect(top.ioOpt).toBe(1536);
    const big = defaultQueueLimits({ logicalBlockSize: 4096 });
    // pbs becomes max(512, 4096) = 4096; 1536 & 4095 != 0 -> io_opt 0, misaligned, -1
    expect(blkStackLimits(top, big)).toBe(-1);
    expect(top.ioOpt).toBe(0);
    expect(top.flags & BLK_FLAG_MISALIGNED).toBe(BLK_FLAG_MISALIGNED);
    expect(top.logicalBlockSize).toBe(4096);
  });
});

describe('blk_queue_pci_p2pdma across releases (§5.3)', () => {
  it('v6.11+ reads BLK_FEAT_PCI_P2PDMA; v4.20-v6.10 read QUEUE_FLAG_PCI_P2PDMA (bit 25)', () => {
    const q = new RequestQueue('nvme0n1', defaultQueueLimits({ features: BLK_FEAT_PCI_P2PDMA }));
    expect(blkQueuePciP2pdma(q)).toBe(true);
    expect(blkQueuePciP2pdma(q, { release: 'v6.2' })).toBe(false);
    blkQueueFlagSet(QUEUE_FLAG_PCI_P2PDMA, q);
    expect(q.queueFlags).toBe(2 ** 25);
    expect(blkQueueFlagTest(QUEUE_FLAG_PCI_P2PDMA, q)).toBe(true);
    expect(blkQueuePciP2pdma(q, { release: 'v6.2' })).toBe(true);
  });
});
