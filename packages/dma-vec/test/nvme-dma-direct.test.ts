/**
 * The NVMe hooks of RFC patch 19 (reference §5.6): NVME_F_DMA_DIRECT (1 << 3) in the ops flags
 * sets QUEUE_FLAG_DMA_DIRECT (26) on each namespace queue, and dma-direct requests skip the
 * single-segment fast path.
 */
import {
  bioAddPage,
  bioAlloc,
  blkRqFromBio,
  defaultQueueLimits,
  Page,
  REQ_OP_READ,
  RequestQueue,
} from '@dmasim/core';
import {
  bioAddDmaAddr,
  bioDmaAlloc,
  blkDmaRqFromBio,
  blkQueueDmaDirect,
  dmaVecNvmeCtrlOptions,
  NVME_F_DMA_DIRECT,
} from '../src';

describe('§5.6 nvme-pci: Support dma-direct bios', () => {
  it('the ops flag NVME_F_DMA_DIRECT = 1 << 3 = 8 makes nvme_alloc_ns() set QUEUE_FLAG_DMA_DIRECT', () => {
    expect(NVME_F_DMA_DIRECT).toBe(8);
    expect(dmaVecNvmeCtrlOptions.opsFlags).toBe(8);
    const q = new RequestQueue('nvme0n1', defaultQueueLimits());
    // NVME_F_METADATA_SUPPORTED (1 << 1) alone: no flag
    dmaVecNvmeCtrlOptions.allocNs({ ops: { flags: 2 } }, undefined, q);
    expect(blkQueueDmaDirect(q)).toBe(false);
    dmaVecNvmeCtrlOptions.allocNs({ ops: { flags: 2 | 8 } }, undefined, q);
    // bit 26
    expect(q.queueFlags).toBe(2 ** 26);
  });

  it('a one-segment dma-direct request skips the fast path; a one-segment page request does not', () => {
    const q = new RequestQueue('nvme0n1', defaultQueueLimits());
    dmaVecNvmeCtrlOptions.allocNs({ ops: { flags: 8 } }, undefined, q);
    const bio = bioDmaAlloc(REQ_OP_READ, 1, q);
    expect(bioAddDmaAddr(q, bio, 2 ** 44, 4096)).toBe(4096);
    const dma = blkDmaRqFromBio(q, bio);
    expect(dma.nrPhysSegments).toBe(1);
    expect(dmaVecNvmeCtrlOptions.skipFastPath(dma)).toBe(true);
    const page = bioAlloc(REQ_OP_READ, 1);
    expect(bioAddPage(page, new Page(0x40000), 4096, 0)).toBe(4096);
    const rq = blkRqFromBio(q, page);
    expect(rq.nrPhysSegments).toBe(1);
    expect(dmaVecNvmeCtrlOptions.skipFastPath(rq)).toBe(false);
  });
});
