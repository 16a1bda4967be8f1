/**
 * The queue limits NVMe gives a namespace (nvme_set_queue_limits() of v5.x-v6.10 /
 * nvme_set_ctrl_limits() and nvme_update_disk_info() of v6.11+, drivers/nvme/host/core.c;
 * reference §5.1, §5.3, §6.3).
 */
import {
  BLK_FEAT_PCI_P2PDMA,
  defaultQueueLimits,
  minNotZero,
  SECTOR_SHIFT,
  UINT_MAX,
  USHRT_MAX,
  type QueueLimits,
} from '../block/queue-limits';
import type { NvmeCtrl } from './ctrl';
import type { NvmeNamespace } from './identify';
import { NVME_CTRL_PAGE_SIZE } from './registers';

/** dma_alignment NVMe sets: 3 (dword, what PRPs need; qword (7) before the 2022 fix). */
export const NVME_DMA_ALIGNMENT = 3;

/**
 * nvme_max_drv_segments(ctrl): max_hw_sectors / (NVME_CTRL_PAGE_SIZE >> 9) + 1, the pages a
 * maximal command can touch when it does not start page aligned.
 */
export function nvmeMaxDrvSegments(ctrl: NvmeCtrl): number {
  return Math.floor(ctrl.maxHwSectors / (NVME_CTRL_PAGE_SIZE >> SECTOR_SHIFT)) + 1;
}

/**
 * Whether the namespace queue gets virt_boundary_mask = NVME_CTRL_PAGE_SIZE - 1: always up to
 * the 2025 change (Keith Busch, `<20250821204420.2267923-3-kbusch@meta.com>`); from then on only
 * when the controller cannot use SGLs (admin queues and fabrics are not modelled), because the
 * 2026 driver switches to SGLs for requests PRPs cannot describe.
 */
export function nvmeNeedVirtBoundary(ctrl: NvmeCtrl): boolean {
  return ctrl.release === 'v5.x' || !ctrl.sglSupported;
}

/**
 * The limits of the namespace's queue (§5.1): max_hw_sectors = ctrl->max_hw_sectors;
 * max_segments = min(USHRT_MAX, min_not_zero(nvmeMaxDrvSegments(), NVME_MAX_SEGS));
 * max_segment_size UINT_MAX; virt_boundary_mask 4095 (nvmeNeedVirtBoundary()); dma_alignment 3;
 * logical and physical block size from the namespace's LBA size; BLK_FEAT_PCI_P2PDMA when
 * ctrl->ops->supports_pci_p2pdma() (dma_pci_p2pdma_supported(), §6.3). The rest, max_sectors
 * among them, is derived by blk_validate_limits().
 */
export function nvmeSetQueueLimits(ctrl: NvmeCtrl, ns: NvmeNamespace): QueueLimits {
  const lbs = 2 ** ns.lbaShift;
  return defaultQueueLimits({
    maxHwSectors: ctrl.maxHwSectors,
    maxSegments: Math.min(USHRT_MAX, minNotZero(nvmeMaxDrvSegments(ctrl), ctrl.maxSegments)),
    maxSegmentSize: UINT_MAX,
    virtBoundaryMask: nvmeNeedVirtBoundary(ctrl) ? NVME_CTRL_PAGE_SIZE - 1 : 0,
    dmaAlignment: NVME_DMA_ALIGNMENT,
    logicalBlockSize: lbs,
    physicalBlockSize: lbs,
    ioMin: lbs,
    features: ctrl.ops.supportsPciP2pdma(ctrl) ? BLK_FEAT_PCI_P2PDMA : 0,
  });
}
