/**
 * Segment rules, splitting and segment counting for dma-direct bios: block/blk-merge.c and
 * block/blk.h as the 2019 RFC "Removing struct page from P2PDMA" reworked them (reference §5.6;
 * patches 08-15, on v5.2-rc5). The RFC turned the bvec helpers into (address, length) helpers so
 * that one splitter serves both kinds of bio; for a dma_vec the "offset" it passes is the whole
 * DMA address, so every boundary check is made on the address the device will see.
 *
 * Choices of the model (see also the package README):
 * - get_max_segment_size() follows §5.2 (core's getMaxSegmentSize()): bytes to the next
 *   segment boundary of the address, capped at max_segment_size. v5.2's version returned
 *   max_segment_size outright when the mask was the default 0xffffffff; the two differ only
 *   for a range that crosses a 4 GiB boundary under the default mask.
 * - The C helpers take `unsigned` offsets, so a 64-bit dv_addr is cut to its low 32 bits. The
 *   masks are at most 32 bits wide, so boundary and gap checks come out the same; the PAGE_SIZE
 *   fast path would fire for an address whose low 32 bits are below PAGE_SIZE - len, where it
 *   counts the same single segment vec_split_segs() would. The model passes the full address,
 *   as §5.6 describes.
 * - Page bios here are split and counted as v5.2 did, with bv_offset (the offset in the first
 *   page) as "offset". Core models v6.16, where boundaries are checked on bvec_phys(); requests
 *   of RAM pages in this design are built and mapped by core.
 * - Patch 15 as posted calls the page routine for dma-direct bios and the DMA routine for page
 *   bios (the branches of __blk_recalc_rq_segments() are swapped). `swappedSegmentCount`
 *   selects that behaviour; the default is the evident intent. With the swap, the page routine
 *   reads a dma_vec as if it were a bio_vec whose in-page offset is dv_addr & (PAGE_SIZE - 1),
 *   and the DMA routine reads a bio_vec's whole physical address as its "offset".
 */
import {
  Bio,
  bioOp,
  bioSectors,
  bioSplit,
  bitAnd,
  bitOr,
  bvecPhys,
  getMaxSegmentSize,
  PAGE_SIZE,
  REQ_NOMERGE,
  REQ_OP_DISCARD,
  REQ_OP_SECURE_ERASE,
  REQ_OP_WRITE_ZEROES,
  SECTOR_SHIFT,
  UINT_MAX,
  type Request,
  type RequestQueue,
} from '@dmasim/core';
import { bioDvecs, bioIsDmaDirect, DmaVecBio, type DmaVec } from './bio-dma';

const SECTOR_SIZE = 1 << SECTOR_SHIFT;

/**
 * vec_phys_mergeable(q, addr1, len1, addr2, len2) (block/blk.h, RFC patch 08, 2019 RFC, v5.2-rc5
 * base): the second range starts right after the first and both lie in one segment-boundary window
 * (§5.6).
 */
export function vecPhysMergeable(
  q: RequestQueue,
  addr1: number,
  len1: number,
  addr2: number,
  len2: number,
): boolean {
  const mask = q.limits.segBoundaryMask;
  if (addr1 + len1 !== addr2) return false;
  return bitOr(addr1, mask) === bitOr(addr2 + len2 - 1, mask);
}

/**
 * dmavec_phys_mergeable(q, vec1, vec2) (RFC patch 08; 2019 RFC, v5.2-rc5 base): vecPhysMergeable()
 * on two dma_vecs.
 */
export function dmavecPhysMergeable(q: RequestQueue, vec1: DmaVec, vec2: DmaVec): boolean {
  return vecPhysMergeable(q, vec1.addr, vec1.len, vec2.addr, vec2.len);
}

/**
 * __vec_gap_to_prev(q, prv_offset, prv_len, nxt_offset) (block/blk.h, RFC patch 09, 2019 RFC,
 * v5.2-rc5 base): with a virt boundary, a vector starting at `nxtOffset` may follow the previous
 * one only if it starts on the boundary and the previous one ends on it.
 */
export function __vecGapToPrev(
  q: RequestQueue,
  prvOffset: number,
  prvLen: number,
  nxtOffset: number,
): boolean {
  const mask = q.limits.virtBoundaryMask;
  return bitAnd(nxtOffset, mask) !== 0 || bitAnd(prvOffset + prvLen, mask) !== 0;
}

/**
 * vec_gap_to_prev(q, prv_offset, prv_len, nxt_offset) (RFC patch 09; 2019 RFC, v5.2-rc5 base):
 * never a gap without a virt boundary.
 */
export function vecGapToPrev(
  q: RequestQueue,
  prvOffset: number,
  prvLen: number,
  nxtOffset: number,
): boolean {
  if (!q.limits.virtBoundaryMask) return false;
  return __vecGapToPrev(q, prvOffset, prvLen, nxtOffset);
}

/**
 * The in/out counters of vec_split_segs(): segments, and sectors when the caller counts them (NULL
 * in C otherwise).
 */
export interface VecSegCount {
  nsegs: number;
  sectors?: number;
}

/**
 * vec_split_segs(q, offset, len, &nsegs, &sectors, max_segs) (block/blk-merge.c, RFC patch 10,
 * 2019 RFC, v5.2-rc5 base; §5.6): cuts the range into segments of get_max_segment_size(q,
 * offset + done) while fewer than `maxSegs` segments are counted, stopping after a segment that
 * ends off the virt boundary. Adds the segments (and the whole sectors of the bytes they hold) to
 * `acc`; true when bytes of the range are left over (the bio must be split inside it).
 */
export function vecSplitSegs(
  q: RequestQueue,
  offset: number,
  len: number,
  acc: VecSegCount,
  maxSegs: number,
): boolean {
  const lim = q.limits;
  let totalLen = 0;
  let newNsegs = 0;
  while (len > 0 && newNsegs + acc.nsegs < maxSegs) {
    const segSize = Math.min(getMaxSegmentSize(lim, offset + totalLen, UINT_MAX), len);
    newNsegs++;
    totalLen += segSize;
    len -= segSize;
    if (bitAnd(offset + totalLen, lim.virtBoundaryMask)) break;
  }
  acc.nsegs += newNsegs;
  if (acc.sectors !== undefined) acc.sectors += Math.floor(totalLen / SECTOR_SIZE);
  return len > 0;
}

/**
 * struct blk_segment_split_ctx (block/blk-merge.c, RFC patches 11 and 13;
 * 2019 RFC, v5.2-rc5 base): the splitter's state
 * across vectors. Patch 13 replaced `bvprv` by prv_offset / prv_len; `bvprv` holds those two.
 */
export interface BlkSegmentSplitCtx {
  nsegs: number;
  sectors: number;
  prvValid: boolean;
  bvprv: { offset: number; len: number };
  readonly maxSectors: number;
  readonly maxSegs: number;
  /** Model introspection, not in the kernel: vectors counted by the PAGE_SIZE fast path. */
  fastPathVecs: number;
}

/** A fresh context, as blk_bio_segment_split() initialises it. */
export function blkSegmentSplitCtx(maxSectors: number, maxSegs: number): BlkSegmentSplitCtx {
  return {
    nsegs: 0,
    sectors: 0,
    prvValid: false,
    bvprv: { offset: 0, len: 0 },
    maxSectors,
    maxSegs,
    fastPathVecs: 0,
  };
}

/**
 * vec_should_split(q, offset, len, ctx) (block/blk-merge.c, RFC patches 12-13, 2019 RFC,
 * v5.2-rc5 base; §5.6), one vector of the splitter's walk; true means "split here":
 * 1. a virt-boundary gap to the previous vector: split before this one;
 * 2. ctx.sectors + len / 512 > max_sectors: split inside it, after counting the part that fits
 *    ((max_sectors - sectors) * 512 bytes through vec_split_segs()) when a segment and a sector
 *    are still free;
 * 3. nsegs == max_segs: split before it;
 * 4. otherwise it becomes the previous vector and is counted: offset + len <= PAGE_SIZE is one
 *    segment (fast path), else vec_split_segs(), which asks for a split when bytes are left.
 * For a dma_vec `offset` is the whole DMA address, so the fast path practically never fires.
 */
export function vecShouldSplit(
  q: RequestQueue,
  offset: number,
  len: number,
  ctx: BlkSegmentSplitCtx,
): boolean {
  if (ctx.prvValid && vecGapToPrev(q, ctx.bvprv.offset, ctx.bvprv.len, offset)) return true;
  if (ctx.sectors + Math.floor(len / SECTOR_SIZE) > ctx.maxSectors) {
    // Consider the part that fits a new segment when splitting in the middle of this vector.
    if (ctx.nsegs < ctx.maxSegs && ctx.sectors < ctx.maxSectors) {
      vecSplitSegs(q, offset, (ctx.maxSectors - ctx.sectors) * SECTOR_SIZE, ctx, ctx.maxSegs);
    }
    return true;
  }
  if (ctx.nsegs === ctx.maxSegs) return true;
  ctx.bvprv = { offset, len };
  ctx.prvValid = true;
  if (offset + len <= PAGE_SIZE) {
    ctx.nsegs++;
    ctx.sectors += Math.floor(len / SECTOR_SIZE);
    ctx.fastPathVecs++;
    return false;
  }
  return vecSplitSegs(q, offset, len, ctx, ctx.maxSegs);
}

/**
 * bio_dma_should_split(q, bio, ctx) (RFC patch 14; 2019 RFC, v5.2-rc5 base): vec_should_split() on
 * each dma_vec's (dv_addr, dv_len).
 */
export function bioDmaShouldSplit(q: RequestQueue, bio: Bio, ctx: BlkSegmentSplitCtx): boolean {
  for (const dv of bioDvecs(bio)) if (vecShouldSplit(q, dv.addr, dv.len, ctx)) return true;
  return false;
}

/**
 * bio_should_split(q, bio, ctx) (RFC patch 14; 2019 RFC, v5.2-rc5 base): vec_should_split() on each
 * bvec's (bv_offset, bv_len).
 */
export function bioShouldSplit(q: RequestQueue, bio: Bio, ctx: BlkSegmentSplitCtx): boolean {
  for (const bv of bio.vecs) if (vecShouldSplit(q, bv.offset, bv.len, ctx)) return true;
  return false;
}

/**
 * get_max_io_size(q, bio) (block/blk-merge.c, v5.2): blk_max_size_offset() - max_sectors, cut at
 * the next chunk boundary - rounded down to the logical block size.
 */
function getMaxIoSize(q: RequestQueue, bio: Bio): number {
  const lim = q.limits;
  let sectors = lim.maxSectors;
  if (lim.chunkSectors) {
    sectors = Math.min(sectors, lim.chunkSectors - (bio.sector % lim.chunkSectors));
  }
  const lbsSectors = lim.logicalBlockSize >> SECTOR_SHIFT;
  return sectors - (sectors % lbsSectors);
}

/** Where blk_bio_segment_split() splits a bio. */
export interface BlkBioSegmentSplitAt {
  /** The bio must be split. */
  doSplit: boolean;
  /** Sectors of the front part when split (ctx.sectors); of the whole bio otherwise. */
  sectors: number;
  /** Segments of the front part (of the whole bio when not split): what bi_phys_segments gets. */
  nsegs: number;
  /** Vectors counted by the PAGE_SIZE fast path (model introspection). */
  fastPathVecs: number;
}

/**
 * The decision half of blk_bio_segment_split(q, bio, bs, &segs) (block/blk-merge.c, RFC patch
 * 14, 2019 RFC, v5.2-rc5 base; §5.6): a context limited to get_max_io_size() sectors and
 * max_segments, walked over the dma_vecs of a dma-direct bio (bio_dma_should_split()) or the
 * bvecs of a page bio (bio_should_split()).
 */
export function blkBioSegmentSplitAt(q: RequestQueue, bio: Bio): BlkBioSegmentSplitAt {
  const ctx = blkSegmentSplitCtx(getMaxIoSize(q, bio), q.limits.maxSegments);
  const doSplit = bioIsDmaDirect(bio)
    ? bioDmaShouldSplit(q, bio, ctx)
    : bioShouldSplit(q, bio, ctx);
  return { doSplit, sectors: ctx.sectors, nsegs: ctx.nsegs, fastPathVecs: ctx.fastPathVecs };
}

/**
 * bio_split(bio, sectors, gfp, bs) for a dma-direct bio (block/bio.c, v5.2, with the RFC's
 * dvec_iter_advance() of patch 06): a clone holding the first `sectors` of `bio`, which keeps the
 * rest and moves its start sector on. A dma_vec straddling the split point is cut in two: the
 * front takes its first bytes, the remainder continues at dv_addr + those bytes. A split point
 * outside the bio is a kernel BUG and throws.
 */
export function bioDmaSplit(bio: DmaVecBio, sectors: number): DmaVecBio {
  if (!Number.isInteger(sectors) || sectors <= 0 || sectors >= bioSectors(bio)) {
    throw new RangeError(
      `bio_split: ${sectors} sectors of a ${bioSectors(bio)}-sector bio (kernel BUG)`,
    );
  }
  const front = new DmaVecBio(bio.opf, 0);
  front.sector = bio.sector;
  front.q = bio.q;
  front.cloned = true;
  let left = sectors * SECTOR_SIZE;
  const rest: DmaVec[] = [];
  for (const dv of bio.dmaVecs) {
    if (left === 0) rest.push(dv);
    else if (dv.len <= left) {
      front.dmaVecs.push({ ...dv });
      left -= dv.len;
    } else {
      front.dmaVecs.push({ addr: dv.addr, len: left });
      rest.push({ addr: dv.addr + left, len: dv.len - left });
      left = 0;
    }
  }
  front.size = sectors * SECTOR_SIZE;
  front.maxVecs = front.dmaVecs.length;
  bio.dmaVecs = rest;
  bio.size -= front.size;
  bio.sector += sectors;
  return front;
}

/** What blkQueueSplit() did. */
export interface BlkQueueSplitResult {
  /** The bio to submit now: the input when it fits, else its front part. */
  bio: Bio;
  /** When split: the input bio, shortened to the rest (generic_make_request() resubmits it). */
  remainder: Bio | undefined;
  /** Physical segments of `bio` (bi_phys_segments, BIO_SEG_VALID). */
  nrSegs: number;
}

/**
 * blk_queue_split(q, &bio) for reads and writes (block/blk-merge.c, RFC patch 14; 2019 RFC,
 * v5.2-rc5 base; §5.6): blkBioSegmentSplitAt(), then, when a split is needed, bio_split() of the
 * front part (for a dma-direct bio bioDmaSplit(), for a page bio core's bioSplit()), which is
 * marked REQ_NOMERGE; the remainder is returned for resubmission. Discard, secure-erase and
 * write-zeroes splitting is not modelled (throws).
 */
export function blkQueueSplit(q: RequestQueue, bio: Bio): BlkQueueSplitResult {
  const op = bioOp(bio);
  if (op === REQ_OP_DISCARD || op === REQ_OP_SECURE_ERASE || op === REQ_OP_WRITE_ZEROES) {
    throw new RangeError(`blk_queue_split: splitting op ${op} is not modelled`);
  }
  const at = blkBioSegmentSplitAt(q, bio);
  if (!at.doSplit) return { bio, remainder: undefined, nrSegs: at.nsegs };
  let front: Bio;
  // A dma-direct bio that is not a DmaVecBio has already thrown in blkBioSegmentSplitAt().
  if (bio instanceof DmaVecBio && bioIsDmaDirect(bio)) {
    front = bioDmaSplit(bio, at.sectors);
  } else {
    const split = bioSplit(bio, at.sectors);
    // v5.2 had no REQ_ATOMIC, the only reason core's bio_split() refuses.
    if (typeof split === 'number') throw new RangeError('bio_split: REQ_ATOMIC is not in v5.2');
    front = split;
  }
  // There is no chance to merge the split bio.
  front.opf = (front.opf | REQ_NOMERGE) >>> 0;
  return { bio: front, remainder: bio, nrSegs: at.nsegs };
}

/** Options of the segment recount. */
export interface SegmentCountOptions {
  /**
   * RFC patch 15 as posted: __blk_recalc_rq_segments() counts dma-direct bios with the page
   * routine and page bios with the DMA routine (default false: each with its own).
   */
  swappedSegmentCount?: boolean;
}

/**
 * bio_calc_segs(q, bio) (block/blk-merge.c, RFC patch 15, 2019 RFC, v5.2-rc5 base): the page
 * routine, vec_split_segs(q, bv_offset, bv_len) for each bvec, no segment cap. Handed a
 * dma-direct bio (the swapped branch), it reads the union's dma_vecs as bio_vecs: the model
 * takes dv_addr as a physical address whose in-page offset, dv_addr & (PAGE_SIZE - 1), is the
 * bvec offset, and dv_len as the length.
 */
export function bioCalcSegs(q: RequestQueue, bio: Bio): number {
  const acc: VecSegCount = { nsegs: 0 };
  if (bio instanceof DmaVecBio) {
    for (const dv of bio.dmaVecs) vecSplitSegs(q, dv.addr % PAGE_SIZE, dv.len, acc, UINT_MAX);
  } else {
    for (const bv of bio.vecs) vecSplitSegs(q, bv.offset, bv.len, acc, UINT_MAX);
  }
  return acc.nsegs;
}

/**
 * bio_dma_calc_segs(q, bio) (block/blk-merge.c, RFC patch 15, 2019 RFC, v5.2-rc5 base): the DMA
 * routine, vec_split_segs(q, dv_addr, dv_len) for each dma_vec, no segment cap. Handed a page
 * bio (the swapped branch), the model reads each bvec as a dma_vec at its whole physical
 * address, bvec_phys(), so the PAGE_SIZE-relative view of a bvec is lost.
 */
export function bioDmaCalcSegs(q: RequestQueue, bio: Bio): number {
  const acc: VecSegCount = { nsegs: 0 };
  if (bio instanceof DmaVecBio) {
    for (const dv of bio.dmaVecs) vecSplitSegs(q, dv.addr, dv.len, acc, UINT_MAX);
  } else {
    for (const bv of bio.vecs) vecSplitSegs(q, bvecPhys(bv), bv.len, acc, UINT_MAX);
  }
  return acc.nsegs;
}

/**
 * __blk_recalc_rq_segments(q, bio) (block/blk-merge.c, RFC patch 15; 2019 RFC, v5.2-rc5 base;
 * §5.6): 0 for a discard, secure erase or write-zeroes; else the sum over the bios of
 * bio_dma_calc_segs() for dma-direct bios and bio_calc_segs() for page bios, or the other way round
 * with `swappedSegmentCount` (patch 15 as posted).
 */
export function __blkRecalcRqSegments(
  q: RequestQueue,
  bios: readonly Bio[],
  opts: SegmentCountOptions = {},
): number {
  if (bios.length === 0) return 0;
  const op = bioOp(bios[0]!);
  if (op === REQ_OP_DISCARD || op === REQ_OP_SECURE_ERASE || op === REQ_OP_WRITE_ZEROES) return 0;
  let nrPhysSegs = 0;
  for (const bio of bios) {
    const dmaRoutine = bioIsDmaDirect(bio) !== (opts.swappedSegmentCount ?? false);
    nrPhysSegs += dmaRoutine ? bioDmaCalcSegs(q, bio) : bioCalcSegs(q, bio);
  }
  return nrPhysSegs;
}

/**
 * blk_recalc_rq_segments(rq) (block/blk-merge.c, RFC patch 15; 2019 RFC, v5.2-rc5 base):
 * rq.nrPhysSegments = __blk_recalc_rq_segments() of its bios, which is also returned.
 */
export function blkRecalcRqSegmentsRfc(rq: Request, opts: SegmentCountOptions = {}): number {
  rq.nrPhysSegments = __blkRecalcRqSegments(rq.q, rq.bios, opts);
  return rq.nrPhysSegments;
}
