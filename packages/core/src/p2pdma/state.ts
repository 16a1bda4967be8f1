/**
 * struct pci_p2pdma: the per-device P2PDMA state a provider gets when it registers memory, held
 * apart from the hardware model so that each simulated kernel (one per strategy) has its own.
 */
import type { PciDev } from '../pci/device';
import type { PciTopology } from '../pci/topology';
import { MapTypeCache } from './map-type-cache';
import { Memmap } from '../mm/memremap';
import { isPciP2pdmaPage, type DevPagemap, type Page } from '../mm/page';
import { pciP2pdmaWhitelist, type P2pdmaAllowlistEntry } from './allowlist';

/** A page-granular pool of provider memory (the kernel's genalloc pool); see pool.ts. */
export interface P2pdmaPool {
  /** Total bytes added to the pool. */
  readonly size: number;
  /** Bytes not allocated. */
  readonly available: number;
}

/**
 * struct pci_p2pdma_pagemap: the dev_pagemap pci_p2pdma_add_resource() builds over part of a BAR
 * (one range), with the provider and the BAR's bus offset; see provider.ts.
 */
export interface PciP2pdmaPagemap extends DevPagemap {
  /** pgmap->type: MEMORY_DEVICE_PCI_P2PDMA */
  readonly type: number;
  provider: PciDev;
  bar: number;
  /** pci_bus_address(bar) - pci_resource_start(bar) */
  busOffset: number;
  /** Kernel virtual address of range.start (what devm_memremap_pages() returned). */
  virt: number;
  /** Number of struct pages (range length >> PAGE_SHIFT). */
  nrPages: number;
  /** Memory the memmap takes from RAM: nrPages * sizeof(struct page). */
  structPageBytes: number;
}

export class PciP2pdma {
  /** p2pmem_published: only published memory is visible to pci_p2pmem_find_many(). */
  published = false;
  /** The genalloc pool; created by the first pci_p2pdma_add_resource(). */
  pool: P2pdmaPool | undefined;
  /**
   * map_types: the xarray of map types by client, keyed by map_types_idx(client). Filled by
   * calc_map_type_and_dist() and never invalidated while the state lives (as in the kernel), so a
   * later ACS change is not noticed until the provider's state is torn down and set up again.
   */
  readonly mapTypes: MapTypeCache;
  /** The page maps pci_p2pdma_add_resource() created, in the order they were added. */
  readonly pgmaps: PciP2pdmaPagemap[] = [];

  constructor(
    readonly dev: PciDev,
    topologySize: number,
  ) {
    this.mapTypes = new MapTypeCache(topologySize);
  }
}

/** The pdev->p2pdma pointers of one simulated kernel. */
export class P2pdmaDevices {
  /** By PciDev.index: the lookup sits on the mapping hot path. */
  private readonly states: (PciP2pdma | undefined)[] = [];

  /**
   * @param allowlist the host bridge allowlist this kernel was built with (default: mainline's
   *   pci_p2pdma_whitelist[]); a platform plugin may extend it.
   */
  constructor(
    readonly topology: PciTopology,
    readonly allowlist: readonly P2pdmaAllowlistEntry[] = pciP2pdmaWhitelist,
    /** The kernel's memmap, where pci_p2pdma_add_resource() registers its page maps. */
    readonly memmap: Memmap = new Memmap(topology.memoryMap),
  ) {}

  /** pdev->p2pdma, or undefined when the device never registered P2P memory. */
  get(dev: PciDev): PciP2pdma | undefined {
    return this.states[dev.index];
  }

  /** pci_p2pdma_setup() / pcim_p2pdma_init(): creates the state once. */
  setup(dev: PciDev): PciP2pdma {
    let s = this.states[dev.index];
    if (!s) {
      s = new PciP2pdma(dev, this.topology.devices.length);
      this.states[dev.index] = s;
    }
    return s;
  }

  /** Release of the provider's p2pdma state (device removal): the map-type cache goes with it. */
  teardown(dev: PciDev): void {
    this.states[dev.index] = undefined;
  }

  /** pci_has_p2pmem(): state exists, memory is published, and (newest kernels) a pool exists. */
  hasP2pmem(dev: PciDev): boolean {
    const s = this.states[dev.index];
    return s !== undefined && s.published && s.pool !== undefined;
  }

  /** Devices with P2PDMA state, in enumeration order (for_each_pci_dev order). */
  devices(): PciDev[] {
    const out: PciDev[] = [];
    for (const s of this.states) if (s) out.push(s.dev);
    return out;
  }
}

/** to_p2p_pgmap(page_pgmap(page)) for a P2PDMA page, undefined for any other page. */
export function p2pPgmapOf(page: Page): PciP2pdmaPagemap | undefined {
  return isPciP2pdmaPage(page) ? (page.pgmap as PciP2pdmaPagemap) : undefined;
}
