/**
 * struct pci_p2pdma_map_state and the per-page P2P decision the mapping code makes
 * (include/linux/pci-p2pdma.h pci_p2pdma_state(), pci_p2pdma_bus_addr_map(); v6.16+, and the
 * same decisions v6.0-v6.15 made in pci_p2pdma_map_segment(); reference §3.2).
 */
import type { KernelLog } from '../kernel-log';
import type { Page } from '../mm/page';
import type { PciDev } from '../pci/device';
import { pciP2pdmaMapType } from './distance';
import { PciP2pdmaMapType } from './map-type';
import { p2pPgmapOf, type P2pdmaDevices, type PciP2pdmaPagemap } from './state';

export class PciP2pdmaMapState {
  /** The page map of the last P2P page looked at. */
  pgmap: PciP2pdmaPagemap | undefined = undefined;
  /** Its map type for the client. */
  map: PciP2pdmaMapType = PciP2pdmaMapType.UNKNOWN;
  /** Its bus offset. */
  busOff = 0;
  /** How many times the map type was looked up (the model counts; the kernel does not). */
  lookups = 0;
}

/**
 * pci_p2pdma_map_type(pgmap, dev) for a DMA client that may not be a PCI function: a non-PCI
 * client gets NOT_SUPPORTED, as in the kernel.
 */
export function pciP2pdmaPgmapMapType(
  p2p: P2pdmaDevices,
  pgmap: PciP2pdmaPagemap,
  client: PciDev | undefined,
  log?: KernelLog,
): PciP2pdmaMapType {
  if (!p2p.get(pgmap.provider)) return PciP2pdmaMapType.NOT_SUPPORTED;
  if (!client) return PciP2pdmaMapType.NOT_SUPPORTED;
  return pciP2pdmaMapType(p2p, pgmap.provider, client, log);
}

/**
 * pci_p2pdma_state(state, dev, page) (v6.16+): NONE for a page that is not P2PDMA; otherwise the
 * map type for `client`, looked up only when the page map differs from the previous P2P page's.
 */
export function pciP2pdmaState(
  p2p: P2pdmaDevices,
  state: PciP2pdmaMapState,
  client: PciDev | undefined,
  page: Page,
  log?: KernelLog,
): PciP2pdmaMapType {
  const pgmap = p2pPgmapOf(page);
  if (!pgmap) return PciP2pdmaMapType.NONE;
  if (state.pgmap !== pgmap) {
    state.pgmap = pgmap;
    state.map = pciP2pdmaPgmapMapType(p2p, pgmap, client, log);
    state.busOff = pgmap.busOffset;
    state.lookups++;
  }
  return state.map;
}

/** pci_p2pdma_bus_addr_map(state, paddr): the PCI bus address of a BUS_ADDR page's byte. */
export function pciP2pdmaBusAddrMap(state: PciP2pdmaMapState, paddr: number): number {
  return paddr + state.busOff;
}
