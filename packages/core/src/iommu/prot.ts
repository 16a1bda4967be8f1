/**
 * IOMMU mapping permissions: the `prot` bits of iommu_map() (include/linux/iommu.h, v5.x-7.0).
 */
import { DmaDataDirection } from '../dma/direction';

/** The device may read the page (DMA_TO_DEVICE data). */
export const IOMMU_READ = 1 << 0;
/** The device may write the page (DMA_FROM_DEVICE data). */
export const IOMMU_WRITE = 1 << 1;
/** DMA cache coherency (snooped). */
export const IOMMU_CACHE = 1 << 2;
/** No instruction fetches through this mapping. */
export const IOMMU_NOEXEC = 1 << 3;
/** The page is MMIO (a BAR), not memory: device-nGnRE on Arm (DMA_ATTR_MMIO, v6.18+). */
export const IOMMU_MMIO = 1 << 4;
/** Privileged (supervisor) access only (DMA_ATTR_PRIVILEGED). */
export const IOMMU_PRIV = 1 << 5;

/**
 * dma_info_to_prot() (drivers/iommu/dma-iommu.c, v6.18+ incl. DMA_ATTR_MMIO): the permission a
 * streaming mapping gets. Only the direction is modelled here; callers OR in CACHE/PRIV/MMIO
 * (§4.1 `prot`).
 */
export function dmaDirToProt(dir: DmaDataDirection): number {
  switch (dir) {
    case DmaDataDirection.DMA_BIDIRECTIONAL:
      return IOMMU_READ | IOMMU_WRITE;
    case DmaDataDirection.DMA_TO_DEVICE:
      return IOMMU_READ;
    case DmaDataDirection.DMA_FROM_DEVICE:
      return IOMMU_WRITE;
    default:
      return 0;
  }
}

/** "RW", "R-", "-W", "--" plus any other bits by name, for reports. */
export function iommuProtName(prot: number): string {
  const rw = `${prot & IOMMU_READ ? 'R' : '-'}${prot & IOMMU_WRITE ? 'W' : '-'}`;
  const extra = (
    [
      [IOMMU_CACHE, 'CACHE'],
      [IOMMU_NOEXEC, 'NOEXEC'],
      [IOMMU_MMIO, 'MMIO'],
      [IOMMU_PRIV, 'PRIV'],
    ] as const
  )
    .filter(([b]) => prot & b)
    .map(([, n]) => n);
  return [rw, ...extra].join('|');
}
