/**
 * The NVMe PCI side of the 2019 RFC "Removing struct page from P2PDMA" (RFC patch 19, "nvme-pci:
 * Support dma-direct bios"; 2019 RFC, v5.2-rc5 base; reference §5.6), as the hooks core's NVMe
 * controller takes (NvmeCtrlOptions: opsFlags, allocNs, skipFastPath):
 * - nvme_pci_ctrl_ops.flags gains NVME_F_DMA_DIRECT;
 * - nvme_alloc_ns() sets QUEUE_FLAG_DMA_DIRECT on a namespace queue when the ops have that flag;
 * - nvme_map_data() skips its single-segment fast path for a dma-direct request, because that
 *   path maps the request's first bio_vec and a dma-direct bio has none. (The general path is
 *   the design's RequestMapper, DmaVecRequestMapper.)
 * The hooks are typed structurally, so they fit NvmeCtrlOptions without naming core's NVMe types.
 */
import { blkQueueFlagSet, type Request, type RequestQueue } from '@dmasim/core';
import { blkRqIsDmaDirect, NVME_F_DMA_DIRECT, QUEUE_FLAG_DMA_DIRECT } from './bio-dma';

/**
 * nvme_alloc_ns() of RFC patch 19: QUEUE_FLAG_DMA_DIRECT when ctrl->ops->flags has
 * NVME_F_DMA_DIRECT.
 */
export function nvmeAllocNsDmaDirect(
  ctrl: { readonly ops: { readonly flags: number } },
  _ns: unknown,
  q: RequestQueue,
): void {
  if (ctrl.ops.flags & NVME_F_DMA_DIRECT) blkQueueFlagSet(QUEUE_FLAG_DMA_DIRECT, q);
}

/** The condition RFC patch 19 adds to nvme_map_data()'s fast path: not for dma-direct requests. */
export function nvmeSkipFastPathDmaDirect(rq: Request): boolean {
  return blkRqIsDmaDirect(rq);
}

/** The NvmeCtrlOptions of design (3): spread them into the options of every NVMe controller. */
export const dmaVecNvmeCtrlOptions = Object.freeze({
  opsFlags: NVME_F_DMA_DIRECT,
  allocNs: nvmeAllocNsDmaDirect,
  skipFastPath: nvmeSkipFastPathDmaDirect,
});
