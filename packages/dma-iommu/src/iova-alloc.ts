/**
 * dma-iommu's IOVA allocation and release for one mapping (drivers/iommu/dma-iommu.c
 * iommu_dma_alloc_iova() and iommu_dma_free_iova(); v6.16, reference §4.5 and §4.4).
 */
import type { DmaDevice, IommuIotlbGather } from '@dmasim/core';
import { devIommu, type IommuDmaCookie } from './cookie';
import { flsLong } from './iova';

/** DMA_BIT_MASK(32) */
const DMA_BIT_MASK_32 = 0xffff_ffff;

/**
 * bits_per(dma_limit) for the notice. A 53-bit or wider mask is saturated at 2^53 - 1 in the
 * model (DmaDevice), so the device's mask width stands in for the true value there.
 */
function bitsPerLimit(limit: number, dev: DmaDevice): number {
  if (limit >= Number.MAX_SAFE_INTEGER) return Math.max(53, dev.dmaMaskBits);
  return Math.max(1, flsLong(limit));
}

/**
 * iommu_dma_alloc_iova(domain, size, dma_limit, dev): an IOVA range of `size` bytes (a multiple
 * of the granule) below min_not_zero(dma_limit, bus_dma_limit), clipped to the aperture when the
 * domain forces it. A PCI device whose pci_32bit_workaround is still set first tries below
 * 4 GiB without flushing the rcaches; if that fails the flag is cleared for good and the kernel
 * prints dev_notice "Using %d-bit DMA addresses" (logged at info level: KernelLog has no notice).
 * @returns the IOVA byte address, 0 when no range is left (callers map that to -ENOMEM)
 */
export function iommuDmaAllocIova(
  cookie: IommuDmaCookie,
  dev: DmaDevice,
  size: number,
  dmaLimit: number,
): number {
  const iovad = cookie.iovad;
  const granule = iovad.granule;
  const iovaLen = Math.floor(size / granule);
  let limit =
    dmaLimit && dev.busDmaLimit ? Math.min(dmaLimit, dev.busDmaLimit) : dmaLimit || dev.busDmaLimit;
  const g = cookie.geometry;
  if (g.forceAperture) limit = Math.min(limit, g.apertureEnd);

  const d = devIommu(dev, cookie.forcedac);
  if (limit > DMA_BIT_MASK_32 && d.pci32bitWorkaround) {
    const pfn = iovad.allocIovaFast(iovaLen, Math.floor(DMA_BIT_MASK_32 / granule), false);
    if (pfn) return pfn * granule;
    d.pci32bitWorkaround = false;
    dev.log.info(dev.name, `Using ${bitsPerLimit(limit, dev)}-bit DMA addresses`);
  }
  const pfn = iovad.allocIovaFast(iovaLen, Math.floor(limit / granule), true);
  return pfn * granule;
}

/**
 * iommu_dma_free_iova(domain, iova, size, gather): a queued (lazy) unmap hands the range to the
 * flush queue, which frees it after the next IOTLB flush; otherwise (strict, or an error path
 * with no gather) it goes back at once through free_iova_fast().
 */
export function iommuDmaFreeIova(
  cookie: IommuDmaCookie,
  iova: number,
  size: number,
  gather?: Pick<IommuIotlbGather, 'queued'>,
): void {
  const iovad = cookie.iovad;
  const pfn = iovad.iovaPfn(iova);
  const pages = Math.floor(size / iovad.granule);
  if (gather?.queued) {
    if (cookie.fq === null) throw new Error('iommu_dma_free_iova: queued unmap on a strict domain');
    cookie.fq.queueIova(pfn, pages);
  } else {
    iovad.freeIovaFast(pfn, pages);
  }
}
