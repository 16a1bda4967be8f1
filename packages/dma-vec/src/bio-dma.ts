/**
 * dma-direct bios of the 2019 RFC "Removing struct page from P2PDMA" (reference §5.6; patches
 * 01, 02, 17 and 18 of the series, on v5.2-rc5): a bio whose vector array holds DMA addresses
 * (struct dma_vec) instead of pages, the REQ_DMA_DIRECT flag that marks it, the queue flag a
 * driver sets when it takes such bios, and bio_add_dma_addr().
 *
 * In the kernel bi_dma_vec is a union with bi_io_vec and bi_vcnt counts whichever array the bio
 * uses. Here a DmaVecBio keeps `vecs` (core's bi_io_vec) empty and holds its entries in `dmaVecs`;
 * its `vcnt` counts those, so core code that reads bi_vcnt sees the union's count.
 */
import {
  __REQ_NOUNMAP,
  Bio,
  BIO_MAX_VECS,
  blkQueueFlagTest,
  EINVAL,
  REQ_NOMERGE,
  REQ_NOMERGE_FLAGS,
  UINT_MAX,
  type Request,
  type RequestQueue,
} from '@dmasim/core';

/**
 * __REQ_DMA_DIRECT: "DMA address direct request" (RFC patch 01; 2019 RFC, v5.2-rc5 base). The RFC
 * put it right after __REQ_HIPRI in v5.2's enum req_flag_bits; flag bit numbers are
 * release-specific, and the model's REQ_* bits are v6.16's, so the flag takes the first bit v6.16
 * leaves free: the one after __REQ_NOUNMAP.
 */
export const __REQ_DMA_DIRECT = __REQ_NOUNMAP + 1;
export const REQ_DMA_DIRECT = (1 << __REQ_DMA_DIRECT) >>> 0;

/**
 * REQ_NOMERGE_FLAGS as the RFC changed it (patch 01): REQ_DMA_DIRECT joins REQ_NOMERGE,
 * REQ_PREFLUSH and REQ_FUA, so a dma-direct bio never merges with other I/O. Core's
 * REQ_NOMERGE_FLAGS (which core's merge code reads) cannot change, so bioDmaAlloc() sets
 * REQ_NOMERGE on every dma-direct bio as well: core then refuses the same merges.
 */
export const REQ_NOMERGE_FLAGS_DMA_DIRECT = (REQ_NOMERGE_FLAGS | REQ_DMA_DIRECT) >>> 0;

/**
 * QUEUE_FLAG_DMA_DIRECT (RFC patch 17; 2019 RFC, v5.2-rc5 base): the queue takes dma-direct bios.
 * 26 in the RFC, right after QUEUE_FLAG_PCI_P2PDMA (25) in v5.2's numbering; NVMe PCI sets it
 * through its ctrl-ops flag NVME_F_DMA_DIRECT (1 << 3).
 */
export const QUEUE_FLAG_DMA_DIRECT = 26;

/**
 * NVME_F_DMA_DIRECT: the nvme_ctrl_ops flag behind QUEUE_FLAG_DMA_DIRECT (RFC patch 19; 2019 RFC,
 * v5.2-rc5 base).
 */
export const NVME_F_DMA_DIRECT = 1 << 3;

/**
 * struct dma_vec (RFC patch 02; 2019 RFC, v5.2-rc5 base): a DMA address valid for the device that
 * will do the DMA.
 */
export interface DmaVec {
  /** dv_addr (dma_addr_t) */
  addr: number;
  /** dv_len (unsigned int) */
  len: number;
}

/**
 * sizeof(struct bio_vec) and sizeof(struct dma_vec) on 64-bit: 16 bytes each (page pointer, len,
 * offset / dma_addr_t, len, padding).
 */
export const BIO_VEC_SIZE = 16;
export const DMA_VEC_SIZE = 16;

/**
 * A bio of the RFC's dma-direct kind. `vecs` stays empty (bi_io_vec is the other member of the
 * union); `dmaVecs` are bi_dma_vec[0 .. bi_vcnt). `size` is the sum of their lengths, as core's
 * Bio keeps it. `maxVecs` is bi_max_vecs, counted in bio_vecs as the allocator sized the array.
 */
export class DmaVecBio extends Bio {
  /** bi_dma_vec[0 .. bi_vcnt) */
  dmaVecs: DmaVec[] = [];

  /** bi_vcnt: the union's entry count, here the dma_vecs. */
  override get vcnt(): number {
    return this.dmaVecs.length;
  }
}

/**
 * The dma_vec capacity of a vector array of `maxVecs` bio_vecs: bi_max_vecs * sizeof(bio_vec) /
 * sizeof(dma_vec) (bio_dma_full(), RFC patch 18), which is 1:1 on 64-bit.
 */
export function bioDmaCapacity(maxVecs: number): number {
  return Math.floor((maxVecs * BIO_VEC_SIZE) / DMA_VEC_SIZE);
}

/**
 * bio_dma_full(bio) (RFC patch 18; 2019 RFC, v5.2-rc5 base): every dma_vec slot of the vector array
 * is used.
 */
export function bioDmaFull(bio: Bio): boolean {
  return bio.vcnt >= bioDmaCapacity(bio.maxVecs);
}

/**
 * op_is_dma_direct(op) (RFC patch 01; 2019 RFC, v5.2-rc5 base): the REQ_DMA_DIRECT bit of a
 * bi_opf or cmd_flags word.
 */
export function opIsDmaDirect(opf: number): boolean {
  return (opf & REQ_DMA_DIRECT) !== 0;
}

/**
 * bio_for_each_dvec(dv, bio, iter) (RFC patch 02; 2019 RFC, v5.2-rc5 base): the dma_vecs of a
 * dma-direct bio. A bio flagged REQ_DMA_DIRECT that is not a DmaVecBio is a misuse and throws.
 */
export function bioDvecs(bio: Bio): readonly DmaVec[] {
  if (!(bio instanceof DmaVecBio)) {
    throw new TypeError('a REQ_DMA_DIRECT bio must be a DmaVecBio (bioDmaAlloc())');
  }
  return bio.dmaVecs;
}

/** bio_is_dma_direct(bio) (RFC patch 01, 2019 RFC, v5.2-rc5 base) */
export function bioIsDmaDirect(bio: Bio): boolean {
  return opIsDmaDirect(bio.opf);
}

/** blk_rq_is_dma_direct(rq) (RFC patch 01, 2019 RFC, v5.2-rc5 base) */
export function blkRqIsDmaDirect(rq: Request): boolean {
  return opIsDmaDirect(rq.cmdFlags);
}

/** blk_queue_dma_direct(q) (RFC patch 17, 2019 RFC, v5.2-rc5 base) */
export function blkQueueDmaDirect(q: RequestQueue): boolean {
  return blkQueueFlagTest(QUEUE_FLAG_DMA_DIRECT, q);
}

/**
 * bio_alloc() of a dma-direct bio as the RFC's submitters make one (nvmet sets REQ_DMA_DIRECT
 * in bi_opf; 2019 RFC, v5.2-rc5 base): an empty DmaVecBio for up to `nrVecs` vector slots (at most
 * BIO_MAX_VECS; more is a misuse and throws), with REQ_DMA_DIRECT and, standing in for the
 * RFC's REQ_NOMERGE_FLAGS change, REQ_NOMERGE.
 */
export function bioDmaAlloc(opf: number, nrVecs: number, q?: RequestQueue): DmaVecBio {
  if (!Number.isInteger(nrVecs) || nrVecs < 0 || nrVecs > BIO_MAX_VECS) {
    throw new RangeError(`bio_alloc: ${nrVecs} vecs (0..${BIO_MAX_VECS})`);
  }
  if (!Number.isInteger(opf) || opf < 0 || opf > UINT_MAX) {
    throw new RangeError(`bio_alloc: opf ${opf}`);
  }
  const bio = new DmaVecBio((opf | REQ_DMA_DIRECT | REQ_NOMERGE) >>> 0, nrVecs);
  bio.q = q;
  return bio;
}

/**
 * bio_add_dma_addr(q, bio, dma_addr, len) (RFC patch 18, 2019 RFC, v5.2-rc5 base; reference §5.6):
 * - -EINVAL unless the queue has QUEUE_FLAG_DMA_DIRECT and the bio is dma-direct (pages and DMA
 *   addresses never mix in one bio);
 * - 0 when every dma_vec slot is used (bio_dma_full()), or, as bio_add_page() refuses it, when
 *   `len` more bytes would overflow bi_size (the RFC does not check this; the model does, so a
 *   bio's size stays an unsigned int);
 * - otherwise a new dma_vec, never merged with the previous one even when contiguous, and `len`.
 * Adding to a cloned bio is a WARN_ON_ONCE in the RFC and goes ahead; the model logs the warning
 * to the queue's log. A bio with REQ_DMA_DIRECT that is not a DmaVecBio is a misuse and throws.
 */
export function bioAddDmaAddr(q: RequestQueue, bio: Bio, addr: number, len: number): number {
  if (!Number.isSafeInteger(addr) || addr < 0) {
    throw new RangeError(`bio_add_dma_addr: address ${addr}`);
  }
  if (!Number.isInteger(len) || len <= 0 || len > UINT_MAX) {
    throw new RangeError(`bio_add_dma_addr: len ${len}`);
  }
  if (!blkQueueDmaDirect(q)) return -EINVAL;
  if (!bioIsDmaDirect(bio)) return -EINVAL;
  if (!(bio instanceof DmaVecBio)) {
    throw new TypeError('bio_add_dma_addr: a REQ_DMA_DIRECT bio must come from bioDmaAlloc()');
  }
  if (bioDmaFull(bio)) return 0;
  if (bio.size > UINT_MAX - len) return 0;
  if (bio.cloned) {
    q.log?.warn(undefined, `WARNING: at block/bio.c bio_add_dma_addr: BIO_CLONED (${q.name})`);
  }
  bio.dmaVecs.push({ addr, len });
  bio.size += len;
  return len;
}
