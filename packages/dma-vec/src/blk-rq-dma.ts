/**
 * A request from a dma-direct bio: blk_mq_bio_to_request() / blk_rq_bio_prep() (block/blk-mq.c,
 * block/blk-core.c, v5.2 with the 2019 RFC "Removing struct page from P2PDMA"; reference §5.6).
 */
import { Request, type RequestQueue } from '@dmasim/core';
import { bioIsDmaDirect, type DmaVecBio } from './bio-dma';
import { __blkRecalcRqSegments, type SegmentCountOptions } from './blk-merge-dma';

/** Options of blkDmaRqFromBio(). */
export interface BlkDmaRqFromBioOptions extends SegmentCountOptions {
  /**
   * bi_phys_segments as blk_queue_split() left it (BIO_SEG_VALID): blkQueueSplit()'s nrSegs.
   * When omitted the bio has not been through the splitter and is counted the way
   * bio_phys_segments() then does it, blk_recount_segments() -> __blk_recalc_rq_segments(),
   * which is where the swapped branches of RFC patch 15 bite.
   */
  nrSegs?: number;
}

/**
 * blk_mq_bio_to_request(rq, bio) for a dma-direct bio (v5.2 with the RFC; §5.6): a request holding
 * `bio`, taking its flags (REQ_DMA_DIRECT among them), start sector and size, with
 * nr_phys_segments from the bio's DMA segment count (see BlkDmaRqFromBioOptions). Split a bio
 * that exceeds the queue's limits first (blkQueueSplit()). A page bio is a misuse and throws
 * (core's blkRqFromBio() builds those).
 */
export function blkDmaRqFromBio(
  q: RequestQueue,
  bio: DmaVecBio,
  opts: BlkDmaRqFromBioOptions = {},
): Request {
  if (!bioIsDmaDirect(bio)) {
    throw new RangeError('blkDmaRqFromBio: not a dma-direct bio (use blkRqFromBio())');
  }
  const { nrSegs } = opts;
  if (nrSegs !== undefined && (!Number.isInteger(nrSegs) || nrSegs < 0)) {
    throw new RangeError(`blkDmaRqFromBio: nrSegs ${nrSegs}`);
  }
  const segs = nrSegs ?? __blkRecalcRqSegments(q, [bio], opts);
  bio.q ??= q;
  return new Request(q, bio.opf, bio.sector, [bio], segs);
}
