/**
 * Request -> scatterlist (blk_rq_map_sg() / __blk_rq_map_sg() and blk_map_iter_next() in
 * block/blk-mq-dma.c, v6.15+; reference §5.5).
 */
import type { KernelLog } from '../kernel-log';
import { Page, PAGE_SIZE, physPfn, type DevPagemap } from '../mm/page';
import {
  sgAllocTable,
  sgFreeTable,
  sgMarkEnd,
  sgNext,
  sgSetPage,
  sgUnmarkEnd,
  type Scatterlist,
  type SgTable,
} from '../scatterlist/scatterlist';
import { bvecPhys, type BioVec } from './bio';
import { biovecPhysMergeable, getMaxSegmentSize, type PhysMergeOptions } from './blk-merge';
import { UINT_MAX } from './queue-limits';
import { blkRqNrPhysSegments, type Request } from './request';

/** struct phys_vec: a physically contiguous run, with the page map of its first bvec. */
export interface PhysVec {
  paddr: number;
  len: number;
  pgmap: DevPagemap | undefined;
}

/**
 * The runs blk_map_iter_next() yields for a request (v6.15+; §5.5): each starts at a bvec (or
 * where the previous run cut one), holds at most get_max_segment_size() bytes from there, and,
 * once its bvec is used up, takes in whole following bvecs, across bios, while they stay within
 * that size and are biovec_phys_mergeable() (contiguous, same segment-boundary window, same page
 * map unless `samePgmapCheck` is false).
 */
export function blkRqPhysVecs(rq: Request, opts: PhysMergeOptions = {}): PhysVec[] {
  const lim = rq.q.limits;
  const bvecs: BioVec[] = [];
  for (const bio of rq.bios) for (const bv of bio.vecs) if (bv.len) bvecs.push(bv);
  const out: PhysVec[] = [];
  let idx = 0;
  let done = 0;
  while (idx < bvecs.length) {
    const cur = bvecs[idx]!;
    const bv: BioVec = { page: cur.page, offset: cur.offset + done, len: cur.len - done };
    const paddr = bvecPhys(bv);
    const maxSize = getMaxSegmentSize(lim, paddr, UINT_MAX);
    bv.len = Math.min(bv.len, maxSize);
    done += bv.len;
    if (done === cur.len) {
      idx++;
      done = 0;
    }
    // Only at a bvec boundary can the next bvec join the run.
    while (done === 0 && idx < bvecs.length) {
      const next = bvecs[idx]!;
      if (bv.len + next.len > maxSize || !biovecPhysMergeable(lim, bv, next, opts)) break;
      bv.len += next.len;
      idx++;
    }
    out.push({ paddr, len: bv.len, pgmap: cur.page.pgmap });
  }
  return out;
}

/** Options of blkRqMapSg(). */
export interface BlkRqMapSgOptions extends PhysMergeOptions {
  /** Where the WARN goes (default: the queue's log). */
  log?: KernelLog;
}

/**
 * blk_rq_map_sg(rq, sgl) as a driver uses it (v6.15+; §5.5): a fresh table of
 * rq.nrPhysSegments slots (sg_init_table()), one entry per blkRqPhysVecs() run
 * (sg_set_page(phys_to_page(paddr), len, offset_in_page(paddr))), the last one marked end;
 * sgt.origNents = sgt.nents = the entry count, which is returned. More entries than
 * nr_phys_segments is a block-layer bug the kernel WARNs about (and then writes past the
 * driver's table); the model WARNs and sizes the table to fit. A request without data gives 0
 * and an empty table.
 */
export function blkRqMapSg(rq: Request, sgt: SgTable, opts: BlkRqMapSgOptions = {}): number {
  const vecs = blkRqPhysVecs(rq, opts);
  const nsegs = vecs.length;
  sgFreeTable(sgt);
  if (nsegs === 0) return 0;
  const nrPhys = blkRqNrPhysSegments(rq);
  if (nsegs > nrPhys) {
    (opts.log ?? rq.q.log)?.warn(
      undefined,
      `WARNING: at block/blk-mq-dma.c __blk_rq_map_sg: ${nsegs} segments mapped, ` +
        `blk_rq_nr_phys_segments() is ${nrPhys} (${rq.q.name})`,
    );
  }
  const err = sgAllocTable(sgt, Math.max(nsegs, nrPhys));
  if (err) throw new Error(`sg_alloc_table: ${err}`);
  let sg: Scatterlist | undefined;
  for (const v of vecs) {
    // blk_next_sg(): clear an end mark left from a longer table before stepping on.
    if (!sg) sg = sgt.sgl!;
    else {
      sgUnmarkEnd(sg);
      sg = sgNext(sg)!;
    }
    sgSetPage(sg, new Page(physPfn(v.paddr), v.pgmap), v.len, v.paddr % PAGE_SIZE);
  }
  sgMarkEnd(sg!);
  sgt.nents = sgt.origNents = nsegs;
  return nsegs;
}
