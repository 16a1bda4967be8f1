/**
 * The P2P memory extension point: how a design represents the P2P memory providers register.
 * Drivers call pci_p2pdma_add_resource() at probe time (probe.ts, nvme_map_cmb()); what that
 * builds differs between the designs under comparison:
 * - page-backed (v4.20+, the dma-direct and dma-iommu designs): ZONE_DEVICE struct pages over the
 *   BAR range and a genalloc pool whose chunks are the pages' kernel addresses (provider.ts);
 * - without struct pages (the 2019 RFC, reference §5.6 last patch): a write-combining kernel
 *   mapping and a pool with virtual and bus addresses, no page map, no memmap accounted.
 * The kernel container binds the page-backed one unless the strategy's module binds its own.
 */
import type { KernelLog } from '../kernel-log';
import type { PciDev } from '../pci/device';
import { pciP2pdmaAddResource } from './provider';
import type { P2pdmaDevices } from './state';

export const P2pMemory = Symbol.for('dmasim.P2pMemory');

export interface P2pMemory {
  /** Whether provider memory has struct pages (pages in scatterlists and bio_vecs). */
  readonly structPages: boolean;
  /**
   * pci_p2pdma_add_resource(pdev, bar, size, offset) as the design does it: 0 or -errno, with
   * the argument checks of reference §2.2 step 1 either way.
   */
  addResource(
    p2p: P2pdmaDevices,
    dev: PciDev,
    bar: number,
    size: number,
    offset: number,
    log?: KernelLog,
  ): number;
}

/** ZONE_DEVICE struct pages and a genalloc pool over them (mainline since v4.20). */
export const pageBackedP2pMemory: P2pMemory = Object.freeze({
  structPages: true,
  addResource: pciP2pdmaAddResource,
});
