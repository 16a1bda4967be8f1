/**
 * How dma-direct turns CPU physical addresses into DMA addresses and decides what a device reaches
 * (include/linux/dma-direct.h phys_to_dma(), dma_to_phys(), dma_capable(); kernel/dma/direct.c
 * dma_direct_get_required_mask(); kernel/dma/mapping.c dma_addressing_limited(); v6.x).
 *
 * The model's platform has no dma_range_map and no memory encryption, so the translation is the
 * identity, as on x86: a RAM or MMIO byte's DMA address is its CPU physical address. The PCI bus
 * offset of a host bridge (reference §2.1) does not enter here; only BUS_ADDR P2P entries use it.
 */
import type { DmaDevice } from '../device';
import { DMA_MAPPING_ERROR } from '../map-ops';
import type { PhysMemoryMap } from '../../mm/memory-map';
import { PAGE_SIZE } from '../../mm/page';

/** phys_to_dma(dev, paddr): the identity (no dma_range_map, no SME bit). */
export function physToDma(paddr: number): number {
  return paddr;
}

/** dma_to_phys(dev, dma_addr): the identity. */
export function dmaToPhys(dmaAddr: number): number {
  return dmaAddr;
}

/**
 * dma_capable(dev, addr, size, is_ram): the last byte lies within min_not_zero(dma_mask,
 * bus_dma_limit). (is_ram matters only on 32-bit kernels with RAM not starting at 0.)
 */
export function dmaCapable(dev: DmaDevice, addr: number, size: number): boolean {
  if (addr === DMA_MAPPING_ERROR) return false;
  return addr + size - 1 <= dev.dmaLimit;
}

/**
 * dma_direct_get_required_mask(dev): the smallest 2^n - 1 mask covering the first byte of the
 * highest RAM page, (1 << (fls64(max_dma) - 1)) * 2 - 1.
 */
export function dmaDirectGetRequiredMask(mem: PhysMemoryMap): number {
  let end = 0;
  for (const r of mem.ram) end = Math.max(end, r.end);
  if (end === 0) return 0;
  const maxDma = physToDma(Math.floor((end - 1) / PAGE_SIZE) * PAGE_SIZE);
  if (maxDma === 0) return 0;
  const fls = maxDma.toString(2).length;
  return 2 ** fls - 1;
}

/**
 * dma_addressing_limited(dev) for a dma-direct device (v6.x): the device's limit is below the
 * required mask. (dma_direct_all_ram_mapped() is true without a dma_range_map.)
 */
export function dmaAddressingLimited(dev: DmaDevice, requiredMask: number): boolean {
  return dev.dmaLimit < requiredMask;
}
