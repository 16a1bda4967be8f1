/**
 * struct pci_p2pdma: the per-device P2PDMA state a provider gets when it registers memory, held
 * apart from the hardware model so that each simulated kernel (one per strategy) has its own.
 */
import type { PciDev } from '../pci/device';
import type { PciTopology } from '../pci/topology';
import type { PciP2pdmaMapType } from './map-type';
import { pciP2pdmaWhitelist, type P2pdmaAllowlistEntry } from './allowlist';

/** A page-granular pool of provider memory (the kernel's genalloc pool); see pool.ts. */
export interface P2pdmaPool {
  /** Total bytes added to the pool. */
  readonly size: number;
  /** Bytes not allocated. */
  readonly available: number;
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
  readonly mapTypes = new Map<number, PciP2pdmaMapType>();

  constructor(readonly dev: PciDev) {}
}

/** The pdev->p2pdma pointers of one simulated kernel. */
export class P2pdmaDevices {
  private readonly states = new Map<PciDev, PciP2pdma>();

  /**
   * @param allowlist the host bridge allowlist this kernel was built with (default: mainline's
   *   pci_p2pdma_whitelist[]); a platform plugin may extend it.
   */
  constructor(
    readonly topology: PciTopology,
    readonly allowlist: readonly P2pdmaAllowlistEntry[] = pciP2pdmaWhitelist,
  ) {}

  /** pdev->p2pdma, or undefined when the device never registered P2P memory. */
  get(dev: PciDev): PciP2pdma | undefined {
    return this.states.get(dev);
  }

  /** pci_p2pdma_setup() / pcim_p2pdma_init(): creates the state once. */
  setup(dev: PciDev): PciP2pdma {
    let s = this.states.get(dev);
    if (!s) {
      s = new PciP2pdma(dev);
      this.states.set(dev, s);
    }
    return s;
  }

  /** Release of the provider's p2pdma state (device removal): the map-type cache goes with it. */
  teardown(dev: PciDev): void {
    this.states.delete(dev);
  }

  /** pci_has_p2pmem(): state exists, memory is published, and (newest kernels) a pool exists. */
  hasP2pmem(dev: PciDev): boolean {
    const s = this.states.get(dev);
    return s !== undefined && s.published && s.pool !== undefined;
  }

  /** Devices with P2PDMA state, in enumeration order (for_each_pci_dev order). */
  devices(): PciDev[] {
    return [...this.states.keys()].sort((a, b) => a.index - b.index);
  }
}
