/**
 * Segment rules, bio splitting and request merging (block/blk-merge.c and block/blk.h, v6.16;
 * reference §5.2). Sizes are bytes unless a name says sectors (512 bytes).
 */
import { EAGAIN, EINVAL } from '../errno';
import { zoneDevicePagesHaveSamePgmap } from '../mm/page';
import { BLK_STS_OK, errnoToBlkStatus, type BlkStatus } from './blk-status';
import {
  Bio,
  bioHasData,
  bioMergeable,
  bioOp,
  bioSectors,
  bvecPhys,
  opIsWrite,
  REQ_ATOMIC,
  REQ_NOMERGE,
  REQ_NOMERGE_FLAGS,
  REQ_NOWAIT,
  REQ_OP_DISCARD,
  REQ_OP_DRV_IN,
  REQ_OP_DRV_OUT,
  REQ_OP_FLUSH,
  REQ_OP_READ,
  REQ_OP_SECURE_ERASE,
  REQ_OP_WRITE,
  REQ_OP_WRITE_ZEROES,
  REQ_OP_ZONE_APPEND,
  type BioVec,
} from './bio';
import { SECTOR_SHIFT, UINT_MAX, type QueueLimits } from './queue-limits';
import { blkRqPos, blkRqSectors, reqOp, RQF_NOMERGE_FLAGS, type Request } from './request';
import { blkQueueNomerges, type RequestQueue } from './request-queue';

const TWO32 = 2 ** 32;

/** a & b for non-negative integers up to 2^53 (JavaScript's & is 32-bit). */
export function bitAnd(a: number, b: number): number {
  if (a < TWO32 && b < TWO32) return (a & b) >>> 0;
  const hi = (Math.floor(a / TWO32) & Math.floor(b / TWO32)) >>> 0;
  return hi * TWO32 + (((a % TWO32) & (b % TWO32)) >>> 0);
}

/** a | b for non-negative integers up to 2^53. */
export function bitOr(a: number, b: number): number {
  if (a < TWO32 && b < TWO32) return (a | b) >>> 0;
  const hi = (Math.floor(a / TWO32) | Math.floor(b / TWO32)) >>> 0;
  return hi * TWO32 + (((a % TWO32) | (b % TWO32)) >>> 0);
}

/**
 * get_max_segment_size(lim, paddr, len) (block/blk.h, v6.16): how much of `len` bytes at
 * physical address `paddr` one segment may hold: up to the next segment boundary, at most
 * max_segment_size (§5.2). The kernel adds the 1 after the min() so that a boundary mask of
 * ULONG_MAX cannot overflow; with exact numbers the order does not matter.
 */
export function getMaxSegmentSize(lim: QueueLimits, paddr: number, len: number): number {
  const mask = lim.segBoundaryMask;
  return Math.min(len, Math.min(mask - bitAnd(mask, paddr), lim.maxSegmentSize - 1) + 1);
}

/**
 * __bvec_gap_to_prev(lim, bprv, offset) (block/blk.h): with a virt boundary, a bvec starting at
 * `offset` may only follow `bprv` if it starts on the boundary and bprv ends on it.
 */
export function __bvecGapToPrev(lim: QueueLimits, bprv: BioVec, offset: number): boolean {
  const mask = lim.virtBoundaryMask;
  return bitAnd(offset, mask) !== 0 || bitAnd(bprv.offset + bprv.len, mask) !== 0;
}

/** bvec_gap_to_prev(lim, bprv, offset): never a gap without a virt boundary (§5.2). */
export function bvecGapToPrev(lim: QueueLimits, bprv: BioVec, offset: number): boolean {
  if (!lim.virtBoundaryMask) return false;
  return __bvecGapToPrev(lim, bprv, offset);
}

/** Options of the physical-merge test. */
export interface PhysMergeOptions {
  /**
   * Refuse to merge bvecs of different page maps (default true). This is the 2026 fix to
   * biovec_phys_mergeable() ("Fixes: 49580e690755", backported to stable kernels); false models
   * v6.2-v7.0, where a run of physically contiguous bvecs could span page maps.
   */
  samePgmapCheck?: boolean;
}

/**
 * biovec_phys_mergeable(q, vec1, vec2) (block/blk.h; reference §5.5): vec2 starts right after
 * vec1 in physical memory, both lie in one segment-boundary window, and (see PhysMergeOptions)
 * both belong to the same page map.
 */
export function biovecPhysMergeable(
  lim: QueueLimits,
  vec1: BioVec,
  vec2: BioVec,
  opts: PhysMergeOptions = {},
): boolean {
  const mask = lim.segBoundaryMask;
  const addr1 = bvecPhys(vec1);
  const addr2 = bvecPhys(vec2);
  if (addr1 + vec1.len !== addr2) return false;
  if ((opts.samePgmapCheck ?? true) && !zoneDevicePagesHaveSamePgmap(vec1.page, vec2.page)) {
    return false;
  }
  return bitOr(addr1, mask) === bitOr(addr2 + vec2.len - 1, mask);
}

/** The in/out counters of bvec_split_segs(): `nsegs` segments and `bytes` so far. */
export interface SegCount {
  nsegs: number;
  bytes: number;
}

/**
 * bvec_split_segs(lim, bv, &nsegs, &bytes, max_segs, max_bytes) (block/blk-merge.c, v6.16;
 * §5.2): cuts `bv` into segments of getMaxSegmentSize() while fewer than `maxSegs` and at most
 * `maxBytes` in all, stopping after a segment that ends off a virt boundary. Adds what fits to
 * `acc` and returns true when the whole bvec did not fit (the bio must be split in it).
 */
export function bvecSplitSegs(
  lim: QueueLimits,
  bv: BioVec,
  acc: SegCount,
  maxSegs: number,
  maxBytes: number,
): boolean {
  const maxLen = maxBytes - acc.bytes;
  let len = Math.min(bv.len, maxLen);
  let totalLen = 0;
  const phys = bvecPhys(bv);
  while (len > 0 && acc.nsegs < maxSegs) {
    const segSize = getMaxSegmentSize(lim, phys + totalLen, len);
    acc.nsegs++;
    totalLen += segSize;
    len -= segSize;
    if (bitAnd(bv.offset + totalLen, lim.virtBoundaryMask)) break;
  }
  acc.bytes += totalLen;
  return len > 0 || bv.len > maxLen;
}

/** bio_split_alignment(bio, lim): zoned writes split on the zone write granularity. */
function bioSplitAlignment(bio: Bio, lim: QueueLimits): number {
  if (opIsWrite(bioOp(bio)) && lim.zoneWriteGranularity) return lim.zoneWriteGranularity;
  return lim.logicalBlockSize;
}

/** What bio_split_rw_at() returns: `ret` and what it stores through `segs`. */
export interface BioSplitAt {
  /** 0: no split needed; > 0: split after this many sectors; < 0: -EINVAL or -EAGAIN. */
  ret: number;
  /** Segments of the bio, or of its front part when it must be split (0 on error). */
  segs: number;
}

/**
 * bio_split_rw_at(bio, lim, &segs, max_bytes) (block/blk-merge.c, v6.16; §5.2): walks the bvecs;
 * a virt-boundary gap between two bvecs forces a split before the second; a bvec within
 * min_segment_size that still fits is one segment (fast path), others go through
 * bvecSplitSegs(). On a split: REQ_ATOMIC -> -EINVAL, REQ_NOWAIT -> -EAGAIN, else the bytes that
 * fit rounded down to the logical block size (zone write granularity for zoned writes), in
 * sectors.
 */
export function bioSplitRwAt(bio: Bio, lim: QueueLimits, maxBytes: number): BioSplitAt {
  const acc: SegCount = { nsegs: 0, bytes: 0 };
  let prev: BioVec | undefined;
  let split = false;
  for (const bv of bio.vecs) {
    if (prev && bvecGapToPrev(lim, prev, bv.offset)) {
      split = true;
      break;
    }
    if (
      acc.nsegs < lim.maxSegments &&
      acc.bytes + bv.len <= maxBytes &&
      bv.offset + bv.len <= lim.minSegmentSize
    ) {
      acc.nsegs++;
      acc.bytes += bv.len;
    } else if (bvecSplitSegs(lim, bv, acc, lim.maxSegments, maxBytes)) {
      split = true;
      break;
    }
    prev = bv;
  }
  if (!split) return { ret: 0, segs: acc.nsegs };
  if (bio.opf & REQ_ATOMIC) return { ret: -EINVAL, segs: 0 };
  // A REQ_NOWAIT bio cannot wait for the split-off part's allocation.
  if (bio.opf & REQ_NOWAIT) return { ret: -EAGAIN, segs: 0 };
  const align = bioSplitAlignment(bio, lim);
  const bytes = acc.bytes - (acc.bytes % align);
  return { ret: Math.floor(bytes / 512), segs: acc.nsegs };
}

/** blk_boundary_sectors(lim, is_atomic): the chunk (or atomic-write) boundary, 0 for none. */
export function blkBoundarySectors(lim: QueueLimits, isAtomic: boolean): number {
  if (isAtomic && lim.atomicWriteBoundarySectors) return lim.atomicWriteBoundarySectors;
  return lim.chunkSectors;
}

/** blk_boundary_sectors_left(offset, boundary): sectors from `offset` to the next boundary. */
export function blkBoundarySectorsLeft(offset: number, boundarySectors: number): number {
  return boundarySectors - (offset % boundarySectors);
}

/**
 * get_max_io_size(bio, lim) (block/blk-merge.c, v6.16; §5.2): the sectors one request may take
 * from the start of `bio`: max_sectors (the atomic-write limit for REQ_ATOMIC, the write-zeroes
 * limit for that op), cut at the next chunk boundary, and ending on a physical block boundary
 * when that leaves anything (start = sector mod pbs; end = (start + max) rounded down to pbs;
 * end - start if end > start), else max rounded down to the logical block size.
 */
export function getMaxIoSize(bio: Bio, lim: QueueLimits): number {
  const pbs = lim.physicalBlockSize >> SECTOR_SHIFT;
  const lbs = lim.logicalBlockSize >> SECTOR_SHIFT;
  const isAtomic = (bio.opf & REQ_ATOMIC) !== 0;
  const boundarySectors = blkBoundarySectors(lim, isAtomic);
  let maxSectors: number;
  if (bioOp(bio) === REQ_OP_WRITE_ZEROES) maxSectors = lim.maxWriteZeroesSectors;
  else if (isAtomic) maxSectors = lim.atomicWriteMaxSectors;
  else maxSectors = lim.maxSectors;
  if (boundarySectors) {
    maxSectors = Math.min(maxSectors, blkBoundarySectorsLeft(bio.sector, boundarySectors));
  }
  const start = bio.sector % pbs;
  const end = start + maxSectors - ((start + maxSectors) % pbs);
  if (end > start) return end - start;
  return maxSectors - (maxSectors % lbs);
}

/**
 * bio_allowed_max_sectors(lim): the largest bio in sectors: bi_size is an unsigned int, rounded
 * down to the logical block size.
 */
export function bioAllowedMaxSectors(lim: QueueLimits): number {
  const lbs = lim.logicalBlockSize;
  return Math.floor((UINT_MAX - (UINT_MAX % lbs)) / 512);
}

/**
 * bio_split(bio, sectors, gfp, bs) (block/bio.c, v6.16): a new bio for the first `sectors` of
 * `bio`, which keeps the rest (its start sector moves on). A bvec straddling the split point is
 * cut in two. The front part is a clone: it takes no more pages. REQ_ATOMIC bios cannot be split
 * (-EINVAL); a split point outside the bio is a kernel BUG and throws.
 */
export function bioSplit(bio: Bio, sectors: number): Bio | number {
  if (!Number.isInteger(sectors) || sectors <= 0 || sectors >= bioSectors(bio)) {
    throw new RangeError(
      `bio_split: ${sectors} sectors of a ${bioSectors(bio)}-sector bio (kernel BUG)`,
    );
  }
  if (bio.opf & REQ_ATOMIC) return -EINVAL;
  const front = new Bio(bio.opf, 0);
  front.sector = bio.sector;
  front.q = bio.q;
  front.cloned = true;
  let left = sectors * 512;
  let i = 0;
  const rest: BioVec[] = [];
  for (; i < bio.vecs.length && left > 0; i++) {
    const bv = bio.vecs[i]!;
    if (bv.len <= left) {
      front.vecs.push({ ...bv });
      left -= bv.len;
    } else {
      front.vecs.push({ page: bv.page, offset: bv.offset, len: left });
      rest.push({ page: bv.page, offset: bv.offset + left, len: bv.len - left });
      left = 0;
    }
  }
  for (; i < bio.vecs.length; i++) rest.push(bio.vecs[i]!);
  front.size = sectors * 512;
  front.maxVecs = front.vecs.length;
  bio.vecs = rest;
  bio.size -= front.size;
  bio.sector += sectors;
  return front;
}

/**
 * bio_may_need_split(bio, lim) (block/blk.h, v6.14+): a single bvec within min_segment_size and
 * no chunk boundary needs no look at all.
 */
export function bioMayNeedSplit(bio: Bio, lim: QueueLimits): boolean {
  if (lim.chunkSectors) return true;
  if (bio.vcnt !== 1) return true;
  const bv = bio.vecs[0]!;
  return bv.len + bv.offset > lim.minSegmentSize;
}

/** What bioSplitToLimits() did. */
export interface BioSplitResult {
  /** The bio to submit now: `bio` itself when it fits, its front part when split; undefined on error. */
  bio: Bio | undefined;
  /** When split: the input bio, shortened to the rest, to be split again. */
  remainder: Bio | undefined;
  /** Physical segments of `bio` (nr_segs). */
  nrSegs: number;
  /** BLK_STS_OK, or the status the bio was ended with (BLK_STS_AGAIN, BLK_STS_INVAL ...). */
  status: BlkStatus;
}

/**
 * __bio_split_to_limits(bio, lim, &nr_segs) + bio_submit_split() for reads and writes
 * (block/blk.h, block/blk-merge.c, v6.16; §5.2): splits off the front of `bio` that fits the
 * limits (bioSplitRwAt() with getMaxIoSize()), marks it REQ_NOMERGE and leaves the rest in `bio`;
 * the caller submits `result.bio` and calls again with `result.remainder` until there is none.
 * An error (-EAGAIN for REQ_NOWAIT, -EINVAL for REQ_ATOMIC) ends the whole bio with
 * errno_to_blk_status(). Operations without data other than reads and writes are returned as
 * they are (nr_segs 0); discard, write-zeroes and zone-append splitting are not modelled.
 */
export function bioSplitToLimits(bio: Bio, lim?: QueueLimits): BioSplitResult {
  const limits = lim ?? bio.q?.limits;
  if (!limits) throw new RangeError('bioSplitToLimits: no limits and the bio has no queue');
  const op = bioOp(bio);
  if (
    op === REQ_OP_DISCARD ||
    op === REQ_OP_SECURE_ERASE ||
    op === REQ_OP_WRITE_ZEROES ||
    op === REQ_OP_ZONE_APPEND
  ) {
    throw new RangeError(`bioSplitToLimits: splitting op ${op} is not modelled`);
  }
  if (op !== REQ_OP_READ && op !== REQ_OP_WRITE) {
    return { bio, remainder: undefined, nrSegs: 0, status: BLK_STS_OK };
  }
  if (!bioMayNeedSplit(bio, limits)) {
    return { bio, remainder: undefined, nrSegs: 1, status: BLK_STS_OK };
  }
  const at = bioSplitRwAt(bio, limits, getMaxIoSize(bio, limits) << SECTOR_SHIFT);
  const fail = (err: number): BioSplitResult => {
    bio.status = errnoToBlkStatus(err);
    return { bio: undefined, remainder: undefined, nrSegs: 0, status: bio.status };
  };
  if (at.ret < 0) return fail(at.ret);
  if (at.ret === 0) return { bio, remainder: undefined, nrSegs: at.segs, status: BLK_STS_OK };
  const split = bioSplit(bio, at.ret);
  if (typeof split === 'number') return fail(split);
  split.opf = (split.opf | REQ_NOMERGE) >>> 0;
  return { bio: split, remainder: bio, nrSegs: at.segs, status: BLK_STS_OK };
}

/* ------------------------------------------------------------------------------------------ */
/* Request merging                                                                            */

/**
 * bio_will_gap(q, prev_rq, prev, next) (block/blk-merge.c, v6.16; §5.2): with a virt boundary,
 * merging would leave a gap when the request's (or prev's) first bvec starts off the boundary,
 * or when prev's last and next's first bvec are not physically mergeable and either side is off
 * the boundary.
 */
export function bioWillGap(
  q: RequestQueue,
  prevRq: Request | undefined,
  prev: Bio,
  next: Bio,
  opts: PhysMergeOptions = {},
): boolean {
  const lim = q.limits;
  if (!bioHasData(prev) || !lim.virtBoundaryMask) return false;
  const first = prevRq ? prevRq.bios[0]!.vecs[0] : prev.vecs[0];
  if (first && bitAnd(first.offset, lim.virtBoundaryMask)) return true;
  const pb = prev.vecs[prev.vecs.length - 1];
  const nb = next.vecs[0];
  if (!pb || !nb) return false;
  if (biovecPhysMergeable(lim, pb, nb, opts)) return false;
  return __bvecGapToPrev(lim, pb, nb.offset);
}

/** req_gap_back_merge(req, bio) */
export function reqGapBackMerge(req: Request, bio: Bio, opts: PhysMergeOptions = {}): boolean {
  return bioWillGap(req.q, req, req.bios[req.bios.length - 1]!, bio, opts);
}

/** req_gap_front_merge(req, bio) */
export function reqGapFrontMerge(req: Request, bio: Bio, opts: PhysMergeOptions = {}): boolean {
  return bioWillGap(req.q, undefined, bio, req.bios[0]!, opts);
}

/** blk_rq_is_passthrough(rq) */
function blkRqIsPassthrough(rq: Request): boolean {
  const op = reqOp(rq);
  return op === REQ_OP_DRV_IN || op === REQ_OP_DRV_OUT;
}

/** blk_queue_get_max_sectors(rq) (v6.16) */
export function blkQueueGetMaxSectors(rq: Request): number {
  const lim = rq.q.limits;
  const op = reqOp(rq);
  if (op === REQ_OP_WRITE_ZEROES) return lim.maxWriteZeroesSectors;
  if (rq.cmdFlags & REQ_ATOMIC) return lim.atomicWriteMaxSectors;
  return lim.maxSectors;
}

/**
 * blk_rq_get_max_sectors(rq, offset) (block/blk-merge.c, v6.16): the size cap of a request
 * starting at `offset`: max_sectors, cut at the next chunk boundary (max_hw_sectors for
 * passthrough).
 */
export function blkRqGetMaxSectors(rq: Request, offset: number): number {
  const lim = rq.q.limits;
  if (blkRqIsPassthrough(rq)) return lim.maxHwSectors;
  const boundary = blkBoundarySectors(lim, (rq.cmdFlags & REQ_ATOMIC) !== 0);
  const maxSectors = blkQueueGetMaxSectors(rq);
  const op = reqOp(rq);
  if (!boundary || op === REQ_OP_DISCARD || op === REQ_OP_SECURE_ERASE) return maxSectors;
  return Math.min(maxSectors, blkBoundarySectorsLeft(offset, boundary));
}

/** blk_rq_get_max_segments(rq) for a read or write: queue_max_segments(). */
export function blkRqGetMaxSegments(rq: Request): number {
  return rq.q.limits.maxSegments;
}

/** req_set_nomerge(q, req): a request that failed a size or segment check takes no more bios. */
export function reqSetNomerge(req: Request): void {
  req.cmdFlags = (req.cmdFlags | REQ_NOMERGE) >>> 0;
}

/** rq_mergeable(rq) (include/linux/blk-mq.h, v6.16) */
export function rqMergeable(rq: Request): boolean {
  if (blkRqIsPassthrough(rq)) return false;
  const op = reqOp(rq);
  if (op === REQ_OP_FLUSH || op === REQ_OP_WRITE_ZEROES || op === REQ_OP_ZONE_APPEND) return false;
  if (rq.cmdFlags & REQ_NOMERGE_FLAGS) return false;
  if (rq.rqFlags & RQF_NOMERGE_FLAGS) return false;
  return true;
}

/** ll_new_hw_segment(): the segment-count check; a refusal sets REQ_NOMERGE on the request. */
function llNewHwSegment(req: Request, nrPhysSegs: number): string | undefined {
  if (reqOp(req) === REQ_OP_DISCARD) return undefined;
  if (req.nrPhysSegments + nrPhysSegs > blkRqGetMaxSegments(req)) {
    reqSetNomerge(req);
    return `max segments: ${req.nrPhysSegments} + ${nrPhysSegs} > ${blkRqGetMaxSegments(req)}`;
  }
  req.nrPhysSegments += nrPhysSegs;
  return undefined;
}

function llBackMerge(
  req: Request,
  bio: Bio,
  nrSegs: number,
  opts: PhysMergeOptions,
): string | undefined {
  if (reqGapBackMerge(req, bio, opts)) return 'virt boundary gap';
  const max = blkRqGetMaxSectors(req, blkRqPos(req));
  if (blkRqSectors(req) + bioSectors(bio) > max) {
    reqSetNomerge(req);
    return `max sectors: ${blkRqSectors(req)} + ${bioSectors(bio)} > ${max}`;
  }
  return llNewHwSegment(req, nrSegs);
}

function llFrontMerge(
  req: Request,
  bio: Bio,
  nrSegs: number,
  opts: PhysMergeOptions,
): string | undefined {
  if (reqGapFrontMerge(req, bio, opts)) return 'virt boundary gap';
  const max = blkRqGetMaxSectors(req, bio.sector);
  if (blkRqSectors(req) + bioSectors(bio) > max) {
    reqSetNomerge(req);
    return `max sectors: ${blkRqSectors(req)} + ${bioSectors(bio)} > ${max}`;
  }
  return llNewHwSegment(req, nrSegs);
}

/**
 * ll_back_merge_fn(req, bio, nr_segs) (v6.16; §5.2): 1 when `bio` may follow the request: no
 * virt-boundary gap, the sum within blk_rq_get_max_sectors(), the segments within max_segments
 * (nr_phys_segments is then increased); else 0.
 */
export function llBackMergeFn(
  req: Request,
  bio: Bio,
  nrSegs: number,
  opts: PhysMergeOptions = {},
): number {
  return llBackMerge(req, bio, nrSegs, opts) === undefined ? 1 : 0;
}

/** ll_front_merge_fn(req, bio, nr_segs): as llBackMergeFn() for a bio put before the request. */
export function llFrontMergeFn(
  req: Request,
  bio: Bio,
  nrSegs: number,
  opts: PhysMergeOptions = {},
): number {
  return llFrontMerge(req, bio, nrSegs, opts) === undefined ? 1 : 0;
}

/** Why blk_rq_merge_ok() refuses, or undefined when the two may merge. */
function blkRqMergeRefusal(rq: Request, bio: Bio): string | undefined {
  if (!rqMergeable(rq)) return 'request not mergeable (REQ_NOMERGE_FLAGS or its op)';
  if (!bioMergeable(bio)) return 'bio has REQ_NOMERGE_FLAGS';
  if (reqOp(rq) !== bioOp(bio)) return 'different operations';
  if ((rq.cmdFlags & REQ_ATOMIC) !== (bio.opf & REQ_ATOMIC)) return 'atomic and non-atomic';
  return undefined;
}

/** blk_rq_merge_ok(rq, bio) (v6.16): flags, operation and atomicity allow a merge. */
export function blkRqMergeOk(rq: Request, bio: Bio): boolean {
  return blkRqMergeRefusal(rq, bio) === undefined;
}

/** blk_try_merge(rq, bio): ELEVATOR_BACK_MERGE / FRONT_MERGE / NO_MERGE by position. */
export function blkTryMerge(rq: Request, bio: Bio): 'back' | 'front' | 'none' {
  if (blkRqPos(rq) + blkRqSectors(rq) === bio.sector) return 'back';
  if (blkRqPos(rq) - bioSectors(bio) === bio.sector) return 'front';
  return 'none';
}

/** enum bio_merge_status */
export type BioMergeStatus = 'BIO_MERGE_OK' | 'BIO_MERGE_NONE' | 'BIO_MERGE_FAILED';

/** What blkAttemptBioMerge() did. */
export interface BioMergeResult {
  merged: boolean;
  /** Where the bio went, or would have gone. */
  kind: 'back' | 'front' | 'none';
  status: BioMergeStatus;
  /** Why it did not merge ('' when it did). */
  reason: string;
}

/**
 * blk_attempt_bio_merge(q, rq, bio, nr_segs, false) (block/blk-merge.c, v6.16; what the plug
 * merge does): BIO_MERGE_NONE when the pair may not merge at all (QUEUE_FLAG_NOMERGES,
 * REQ_NOMERGE_FLAGS on either side (a v6.16 P2P bio carries REQ_NOMERGE), other operation,
 * atomicity, not adjacent); BIO_MERGE_FAILED when they are adjacent but a gap, the size or the
 * segment count forbids it; else the bio is appended (back) or prepended (front) and the
 * request's size, start and nr_phys_segments follow. `nrSegs` defaults to the bio's segment
 * count under the queue's limits.
 */
export function blkAttemptBioMerge(
  rq: Request,
  bio: Bio,
  nrSegs?: number,
  opts: PhysMergeOptions = {},
): BioMergeResult {
  const none = (reason: string): BioMergeResult => ({
    merged: false,
    kind: 'none',
    status: 'BIO_MERGE_NONE',
    reason,
  });
  if (blkQueueNomerges(rq.q)) return none('QUEUE_FLAG_NOMERGES');
  const refusal = blkRqMergeRefusal(rq, bio);
  if (refusal) return none(refusal);
  const kind = blkTryMerge(rq, bio);
  if (kind === 'none') return none('not adjacent');
  const segs = nrSegs ?? countBioSegments(rq.q.limits, bio);
  const why =
    kind === 'back' ? llBackMerge(rq, bio, segs, opts) : llFrontMerge(rq, bio, segs, opts);
  if (why !== undefined) return { merged: false, kind, status: 'BIO_MERGE_FAILED', reason: why };
  if (kind === 'back') {
    rq.bios.push(bio);
  } else {
    rq.bios.unshift(bio);
    rq.sector = bio.sector;
  }
  rq.dataLen += bio.size;
  return { merged: true, kind, status: 'BIO_MERGE_OK', reason: '' };
}

/** The bio's physical segments as blk_recalc_rq_segments() counts them. */
export function countBioSegments(lim: QueueLimits, bio: Bio): number {
  const acc: SegCount = { nsegs: 0, bytes: 0 };
  for (const bv of bio.vecs) bvecSplitSegs(lim, bv, acc, UINT_MAX, UINT_MAX);
  return acc.nsegs;
}
