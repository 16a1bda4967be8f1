/**
 * Requests (struct request, include/linux/blk-mq.h, v6.16): the bios a driver receives as one
 * command, with the physical segment count the block layer keeps for it (reference §5.2, §5.5).
 */
import { Bio, REQ_OP_MASK, REQ_OP_WRITE, opIsWrite } from './bio';
import { SECTOR_SHIFT } from './queue-limits';
import type { RequestQueue } from './request-queue';
import { countBioSegments } from './blk-merge';

/** rq_flags bits (req_flag_bits of include/linux/blk-mq.h, v6.16) that the model uses. */
export const RQF_STARTED = 1 << 0;
export const RQF_FLUSH_SEQ = 1 << 1;
export const RQF_MIXED_MERGE = 1 << 2;
export const RQF_SPECIAL_PAYLOAD = 1 << 12;
/** RQF_NOMERGE_FLAGS: such requests take no more bios. */
export const RQF_NOMERGE_FLAGS = RQF_STARTED | RQF_FLUSH_SEQ | RQF_SPECIAL_PAYLOAD;

/** struct request: the modelled fields. */
export class Request {
  /** cmd_flags: the REQ_OP_* and REQ_* of its first bio (and REQ_NOMERGE once a merge failed). */
  cmdFlags: number;
  /** rq_flags: RQF_* */
  rqFlags = 0;
  /** __sector */
  sector: number;
  /** __data_len: bytes */
  dataLen: number;
  /** bio .. biotail, in order. */
  bios: Bio[];
  /** nr_phys_segments: DMA segments the bios need under the queue's limits. */
  nrPhysSegments: number;

  constructor(
    readonly q: RequestQueue,
    cmdFlags: number,
    sector: number,
    bios: Bio[],
    nrPhysSegments: number,
  ) {
    this.cmdFlags = cmdFlags;
    this.sector = sector;
    this.bios = bios;
    this.dataLen = bios.reduce((n, b) => n + b.size, 0);
    this.nrPhysSegments = nrPhysSegments;
  }
}

/** blk_rq_bytes(rq) */
export function blkRqBytes(rq: Request): number {
  return rq.dataLen;
}

/** blk_rq_pos(rq) */
export function blkRqPos(rq: Request): number {
  return rq.sector;
}

/** blk_rq_sectors(rq) */
export function blkRqSectors(rq: Request): number {
  return rq.dataLen >> SECTOR_SHIFT;
}

/** req_op(rq) */
export function reqOp(rq: Request): number {
  return rq.cmdFlags & REQ_OP_MASK;
}

/** rq_data_dir(rq): 0 (READ) or 1 (WRITE). */
export function rqDataDir(rq: Request): number {
  return opIsWrite(reqOp(rq)) ? REQ_OP_WRITE : 0;
}

/** blk_rq_nr_phys_segments(rq) */
export function blkRqNrPhysSegments(rq: Request): number {
  return rq.nrPhysSegments;
}

/**
 * blk_recalc_rq_segments(rq) for a read or write (block/blk-merge.c, v6.16): the segments of
 * every bvec under the queue's segment size, boundary and virt-boundary rules, counted with
 * bvec_split_segs() and no cap (§5.2).
 */
export function blkRecalcRqSegments(rq: Request): number {
  return countPhysSegments(rq.q, rq.bios);
}

function countPhysSegments(q: RequestQueue, bios: readonly Bio[]): number {
  return bios.reduce((n, bio) => n + countBioSegments(q.limits, bio), 0);
}

/**
 * blk_mq_bio_to_request() + blk_rq_bio_prep() (block/blk-mq.c, v6.16): a request holding `bio`,
 * taking its flags, start sector and size. `nrSegs` is what __bio_split_to_limits() reported for
 * the bio; when omitted it is counted with the §5.2 rules (blkRecalcRqSegments()). Split a bio
 * that exceeds the queue's limits first (bioSplitToLimits()): the request takes the bio as given.
 */
export function blkRqFromBio(q: RequestQueue, bio: Bio, nrSegs?: number): Request {
  if (nrSegs !== undefined && (!Number.isInteger(nrSegs) || nrSegs < 0)) {
    throw new RangeError(`blkRqFromBio: nrSegs ${nrSegs}`);
  }
  const segs = nrSegs ?? countPhysSegments(q, [bio]);
  bio.q ??= q;
  return new Request(q, bio.opf, bio.sector, [bio], segs);
}
