/**
 * The DMA address a submitter puts in a dma_vec (reference §5.6): in the RFC the submitter
 * (nvmet, RDMA) holds P2P memory it allocated with pci_alloc_p2pmem() and computes, for the
 * device that will do the DMA, an address valid on that device's side of the fabric:
 * - BUS_ADDR (a common upstream switch, no ACS redirect): the PCI bus address,
 *   pci_p2pmem_virt_to_bus(), as the RFC's nvmet does;
 * - THRU_HOST_BRIDGE: the RFC left this case unhandled (its users only ran behind switches).
 *   This model maps the BAR range through the platform's DMA ops as a resource,
 *   dma_map_resource() (an IOVA under an IOMMU, the CPU physical address without one), which is
 *   what any driver doing MMIO P2P through the host bridge does, and unmaps it after the I/O;
 * - NOT_SUPPORTED: -EREMOTEIO, as pci_p2pdma_map_sg() fails the same topology.
 */
import {
  DMA_MAPPING_ERROR,
  EINVAL,
  EIO,
  EREMOTEIO,
  dmaMapResource,
  dmaUnmapResource,
  pciP2pdmaMapType,
  pciP2pmemVirtToBus,
  PciP2pdmaMapType,
  type DmaDataDirection,
  type DmaDevice,
  type P2pdmaDevices,
  type PciDev,
} from '@dmasim/core';
import type { WcMappings } from './p2pdma';

/** A DMA address for one range of P2P memory, and how it was obtained. */
export interface P2pmemDmaAddr {
  dmaAddr: number;
  len: number;
  mapType: PciP2pdmaMapType;
  /** dma_map_resource() was used: the address must be unmapped with p2pmemDmaUnmap(). */
  mapped: boolean;
}

/**
 * The DMA address `client` uses for `len` bytes of `provider`'s P2P memory at pool address
 * `virt` (see the file comment): the address, or -EREMOTEIO (topology), -EIO (the resource
 * mapping failed), -EINVAL (virt is not pool memory of the provider).
 */
export function p2pmemDmaMap(
  p2p: P2pdmaDevices,
  wc: WcMappings,
  provider: PciDev,
  client: DmaDevice,
  virt: number,
  len: number,
  dir: DmaDataDirection,
): P2pmemDmaAddr | number {
  if (!client.pci) return -EREMOTEIO;
  const mapType = pciP2pdmaMapType(p2p, provider, client.pci, client.log);
  switch (mapType) {
    case PciP2pdmaMapType.BUS_ADDR: {
      const bus = pciP2pmemVirtToBus(p2p, provider, virt);
      if (bus <= 0) return -EINVAL;
      return { dmaAddr: bus, len, mapType, mapped: false };
    }
    case PciP2pdmaMapType.THRU_HOST_BRIDGE: {
      const phys = wc.virtToPhys(virt);
      if (phys === undefined) return -EINVAL;
      const addr = dmaMapResource(client, phys, len, dir, 0);
      if (addr === DMA_MAPPING_ERROR) return -EIO;
      return { dmaAddr: addr, len, mapType, mapped: true };
    }
    default:
      return -EREMOTEIO;
  }
}

/** Undoes p2pmemDmaMap(): dma_unmap_resource() when the address was mapped. */
export function p2pmemDmaUnmap(client: DmaDevice, a: P2pmemDmaAddr, dir: DmaDataDirection): void {
  if (a.mapped) dmaUnmapResource(client, a.dmaAddr, a.len, dir, 0);
}
