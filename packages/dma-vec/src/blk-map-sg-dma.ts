/**
 * blk_rq_map_sg() for dma-direct requests (block/blk-merge.c, RFC patch 16 "Implement mapping
 * dma-direct requests to SGs in blk_rq_map_sg()", 2019 RFC, v5.2-rc5 base; reference §5.6, §5.5):
 * the dma_vecs are already DMA addresses for the device, so they go straight into the entries'
 * sg_dma_address / sg_dma_len. No entry has a page, and the caller must not dma_map_sg() the
 * table (NVMe takes the entry count as the mapped count and skips dma_unmap_sg()).
 *
 * Two details of the posted patch the model does not follow, both in favour of what §5.6 states:
 * - blk_dvec_map_sg() sized the pieces with get_max_segment_size(q, total), the offset into the
 *   dma_vec rather than its address, so segment boundaries were found relative to the vector's
 *   start; the model uses the address, dv_addr + done, so pieces end on the device's boundaries.
 * - a merge added the bytes to sg->length, which a dma-direct entry does not otherwise use (the
 *   new entries only set the DMA length); the model keeps the merged entry's DMA length, which
 *   is what the merge test (sg length + dv_len <= max_segment_size) reads.
 */
import {
  getMaxSegmentSize,
  sgAllocTable,
  sgFreeTable,
  sgMarkEnd,
  sgNext,
  sgUnmarkEnd,
  UINT_MAX,
  type KernelLog,
  type Request,
  type RequestQueue,
  type Scatterlist,
  type SgTable,
  type Bio,
} from '@dmasim/core';
import { bioDvecs, blkRqIsDmaDirect, type DmaVec } from './bio-dma';
import { dmavecPhysMergeable } from './blk-merge-dma';

/**
 * blk_dvec_map_sg(q, dvec, sglist, &sg) (RFC patch 16; 2019 RFC, v5.2-rc5 base): a dma_vec cut into
 * pieces of get_max_segment_size(q, dv_addr + done), appended to `out`; returns how many.
 */
function blkDvecMapSg(q: RequestQueue, dv: DmaVec, out: DmaVec[]): number {
  let total = 0;
  let nsegs = 0;
  while (total < dv.len) {
    const segSize = Math.min(
      dv.len - total,
      getMaxSegmentSize(q.limits, dv.addr + total, UINT_MAX),
    );
    out.push({ addr: dv.addr + total, len: segSize });
    total += segSize;
    nsegs++;
  }
  return nsegs;
}

/**
 * __blk_dma_bios_map_sg(q, bio, sglist, &sg) with __blk_segment_dma_map_sg() (RFC patch 16,
 * 2019 RFC, v5.2-rc5 base; §5.6): the (DMA address, length) of each sg entry the bios give, in
 * order. A dma_vec joins the previous entry when that entry's length plus dv_len stays within
 * max_segment_size and it is vec_phys_mergeable() with the previous dma_vec (contiguous, one
 * segment-boundary window); otherwise it starts new entries, cut by blk_dvec_map_sg().
 */
export function blkDmaBiosMapSegments(q: RequestQueue, bios: readonly Bio[]): DmaVec[] {
  const out: DmaVec[] = [];
  let dvprv: DmaVec | undefined;
  for (const bio of bios) {
    for (const dv of bioDvecs(bio)) {
      const cur = out[out.length - 1];
      if (
        cur &&
        dvprv &&
        cur.len + dv.len <= q.limits.maxSegmentSize &&
        dmavecPhysMergeable(q, dvprv, dv)
      ) {
        cur.len += dv.len;
      } else {
        blkDvecMapSg(q, dv, out);
      }
      dvprv = dv;
    }
  }
  return out;
}

/** Options of blkDmaRqMapSg(). */
export interface BlkDmaRqMapSgOptions {
  /** Where the WARN goes (default: the queue's log). */
  log?: KernelLog;
}

/**
 * blk_rq_map_sg(q, rq, sglist) for a dma-direct request (block/blk-merge.c, v5.2 with RFC patch
 * 16; §5.6): a fresh table of rq.nrPhysSegments slots; one entry per blkDmaBiosMapSegments()
 * range, with sg_dma_address / sg_dma_len set and no page; the last marked end; sgt.nents =
 * sgt.origNents = the entry count, which is returned. Nothing is mapped. More entries than
 * nr_phys_segments is the WARN_ON of blk_rq_map_sg() (the kernel then writes past the driver's
 * table); the model WARNs and sizes the table to fit, as core's blkRqMapSg() does. A request
 * that is not dma-direct is a misuse and throws (core's blkRqMapSg() maps those).
 */
export function blkDmaRqMapSg(rq: Request, sgt: SgTable, opts: BlkDmaRqMapSgOptions = {}): number {
  if (!blkRqIsDmaDirect(rq)) {
    throw new RangeError('blkDmaRqMapSg: not a dma-direct request (use blkRqMapSg())');
  }
  const segs = blkDmaBiosMapSegments(rq.q, rq.bios);
  const nsegs = segs.length;
  sgFreeTable(sgt);
  if (nsegs === 0) return 0;
  const nrPhys = rq.nrPhysSegments;
  if (nsegs > nrPhys) {
    (opts.log ?? rq.q.log)?.warn(
      undefined,
      `WARNING: at block/blk-merge.c blk_rq_map_sg: ${nsegs} segments mapped, ` +
        `blk_rq_nr_phys_segments() is ${nrPhys} (${rq.q.name})`,
    );
  }
  const err = sgAllocTable(sgt, Math.max(nsegs, nrPhys));
  if (err) throw new Error(`sg_alloc_table: ${err}`);
  let sg: Scatterlist | undefined;
  for (const s of segs) {
    // blk_next_sg(): clear an end mark left from a longer table before stepping on.
    if (!sg) sg = sgt.sgl!;
    else {
      sgUnmarkEnd(sg);
      sg = sgNext(sg)!;
    }
    sg.dmaAddress = s.addr;
    sg.dmaLength = s.len;
  }
  sgMarkEnd(sg!);
  sgt.nents = sgt.origNents = nsegs;
  return nsegs;
}
