/**
 * How swiotlb-xen turns a dom0 physical address into a DMA address and back (the helpers at the
 * top of drivers/xen/swiotlb-xen.c and include/xen/page.h's pfn_to_bfn() / bfn_to_pfn();
 * checked against the v6.16 and 2025-26 copies of the file).
 *
 * A Xen PV guest's "physical" frames (pfns) are an illusion: the hypervisor backs each with a
 * machine frame (bfn/mfn) through the p2m table, and consecutive pfns need not be consecutive
 * machine frames. That is why swiotlb-xen exists: a buffer that spans two pfns whose machine
 * frames are not adjacent (range_straddles_page_boundary()) must be bounced.
 *
 * The model's p2m is the identity (pfn == bfn), which is what a dom0 gets for its MMIO and what a
 * PVH/HVM-style 1:1 layout gives: a PV dom0's scattered pfn -> mfn map is not modelled, so
 * range_straddles_page_boundary() never triggers and only the DMA mask and swiotlb=force make
 * swiotlb-xen bounce. The fabric the scenario runner moves data through is addressed by machine
 * address, which the identity keeps equal to the CPU physical address the rest of dmasim uses.
 *
 * phys_to_dma() after the p2m step is core's physToDma(): the identity, as for dma-direct (no
 * dma_range_map, no memory encryption; a host bridge's bus offset applies only to BUS_ADDR P2P
 * entries, which these ops never produce).
 */
import { dmaToPhys, physToDma } from '@dmasim/core';

/** XEN_PAGE_SHIFT: Xen's page is 4 KiB whatever the kernel's PAGE_SIZE (x86: the same). */
export const XEN_PAGE_SHIFT = 12;
export const XEN_PAGE_SIZE = 2 ** XEN_PAGE_SHIFT;

/** XEN_PFN_DOWN(addr) */
export function xenPfnDown(addr: number): number {
  return Math.floor(addr / XEN_PAGE_SIZE);
}

/** XEN_PFN_UP(addr) */
export function xenPfnUp(addr: number): number {
  return Math.ceil(addr / XEN_PAGE_SIZE);
}

/** xen_offset_in_page(addr) */
export function xenOffsetInPage(addr: number): number {
  return addr % XEN_PAGE_SIZE;
}

/** pfn_to_bfn(pfn) (include/xen/page.h): the p2m lookup, the identity here (file comment). */
export function pfnToBfn(pfn: number): number {
  return pfn;
}

/** bfn_to_pfn(bfn): the m2p lookup, the identity here. */
export function bfnToPfn(bfn: number): number {
  return bfn;
}

/** xen_phys_to_bus(dev, paddr): the machine address of a dom0 physical address. */
export function xenPhysToBus(paddr: number): number {
  return pfnToBfn(xenPfnDown(paddr)) * XEN_PAGE_SIZE + xenOffsetInPage(paddr);
}

/** xen_phys_to_dma(dev, paddr) = phys_to_dma(dev, xen_phys_to_bus(dev, paddr)). */
export function xenPhysToDma(paddr: number): number {
  return physToDma(xenPhysToBus(paddr));
}

/** xen_bus_to_phys(dev, baddr): the dom0 physical address of a machine address. */
export function xenBusToPhys(baddr: number): number {
  return bfnToPfn(xenPfnDown(baddr)) * XEN_PAGE_SIZE + xenOffsetInPage(baddr);
}

/** xen_dma_to_phys(dev, dma_addr) = xen_bus_to_phys(dev, dma_to_phys(dev, dma_addr)). */
export function xenDmaToPhys(dmaAddr: number): number {
  return xenBusToPhys(dmaToPhys(dmaAddr));
}

/**
 * range_straddles_page_boundary(p, size): whether the Xen pages under [p, p + size) are backed
 * by machine frames that are not consecutive, so the device could not DMA the range as one.
 * Always false with the identity p2m.
 */
export function rangeStraddlesPageBoundary(p: number, size: number): boolean {
  let pfn = xenPfnDown(p);
  const nrPages = xenPfnUp(xenOffsetInPage(p) + size);
  let nextBfn = pfnToBfn(pfn);
  for (let i = 1; i < nrPages; i++) {
    if (pfnToBfn(++pfn) !== ++nextBfn) return true;
  }
  return false;
}
