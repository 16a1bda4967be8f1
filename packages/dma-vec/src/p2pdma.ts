/**
 * P2P memory without struct pages: pci_p2pdma_add_resource() as the last patch of the 2019 RFC
 * "Removing struct page from P2PDMA" changed it (reference §5.6; drivers/pci/p2pdma.c on
 * v5.2-rc5): devm_memremap(MEMREMAP_WC) of the BAR range instead of devm_memremap_pages(), and
 * gen_pool_add_virt() of that mapping with the bus address as the pool's "phys". No page map is
 * created, so no ZONE_DEVICE pages exist and no memmap is accounted (§9), and the percpu ref the
 * pages held moves into struct pci_p2pdma.
 *
 * What stays as in mainline: the argument checks of §2.2 step 1, the per-device state and pool
 * created on first use (page granular), the "added peer-to-peer DMA memory" line, publishing and
 * allocation (pci_alloc_p2pmem() returns the WC mapping's address, pci_p2pmem_virt_to_bus()
 * gives the bus address). What changes: devm_memremap() has no memory-hotplug sub-section rule,
 * so a BAR range that is not 2 MiB aligned registers (mainline refuses it).
 */
import {
  GenPool,
  pciP2pdmaResourceRange,
  printkHex,
  type KernelLog,
  type P2pdmaDevices,
  type P2pMemory,
  type PciDev,
} from '@dmasim/core';

const PAGE_SHIFT = 12;

/**
 * Where the model puts ioremap()/memremap(MEMREMAP_WC) mappings: 2^52 + 2^51, the top half of the
 * span the model gives the direct map (core's DIRECT_MAP_BASE = 2^52 + phys). Modelled physical
 * addresses stay far below 2^51, so a WC address is never a direct-map address of real memory
 * and __pa() of it names no RAM or BAR (virt_to_page() of it finds nothing, as intended).
 */
export const WC_MAP_BASE = 2 ** 52 + 2 ** 51;

/** One devm_memremap(MEMREMAP_WC) mapping of a BAR range. */
export interface WcMapping {
  readonly virt: number;
  readonly phys: number;
  readonly size: number;
  readonly dev: PciDev;
  readonly bar: number;
}

/**
 * The kernel's WC mappings of P2P BAR ranges (one table per simulated kernel): the RFC's pool
 * holds their addresses, and a submitter that must map a range through the host bridge needs its
 * CPU physical address back.
 */
export class WcMappings {
  private readonly maps: WcMapping[] = [];
  private next = WC_MAP_BASE;

  /** devm_memremap(dev, phys, size, MEMREMAP_WC): a fresh virtual range, page aligned. */
  memremapWc(dev: PciDev, bar: number, phys: number, size: number): WcMapping {
    const m: WcMapping = { virt: this.next, phys, size, dev, bar };
    this.next += Math.ceil(size / 2 ** PAGE_SHIFT) * 2 ** PAGE_SHIFT;
    if (!Number.isSafeInteger(this.next)) throw new RangeError('memremap: the WC area is full');
    this.maps.push(m);
    return m;
  }

  /** The mapping holding virtual address `virt`, if any. */
  find(virt: number): WcMapping | undefined {
    return this.maps.find((m) => virt >= m.virt && virt < m.virt + m.size);
  }

  /** The CPU physical address behind a WC virtual address, undefined outside every mapping. */
  virtToPhys(virt: number): number | undefined {
    const m = this.find(virt);
    return m ? m.phys + (virt - m.virt) : undefined;
  }
}

/**
 * pci_p2pdma_add_resource(pdev, bar, size, offset) of the RFC's last patch (see the file
 * comment): 0 or -EINVAL for a BAR that is not memory, offset >= BAR length or size + offset >
 * BAR length (size 0: the rest of the BAR).
 */
export function pciP2pdmaAddResourceWc(
  wc: WcMappings,
  p2p: P2pdmaDevices,
  dev: PciDev,
  bar: number,
  size: number,
  offset: number,
  log?: KernelLog,
): number {
  const r = pciP2pdmaResourceRange(dev, bar, size, offset);
  if (typeof r === 'number') return r;
  const { res } = r;
  size = r.size;

  const state = p2p.setup(dev);
  if (state.pool === undefined) state.pool = new GenPool(PAGE_SHIFT, dev.hostBridge.numaNode ?? -1);
  const pool = state.pool;
  if (!(pool instanceof GenPool)) {
    throw new TypeError(`the p2pdma state of ${dev.bdf} holds a pool that is not a GenPool`);
  }
  const start = res.cpuAddress + offset;
  const m = wc.memremapWc(dev, bar, start, size);
  // gen_pool_add_virt(): no owner, the pool's "phys" is the bus address
  pool.addOwner(m.virt, res.busAddress + offset, size);
  log?.info(
    dev,
    `added peer-to-peer DMA memory ${printkHex(start)}-${printkHex(start + size - 1)}`,
  );
  return 0;
}

/** The design's P2pMemory: providers register WC mappings, never struct pages. */
export function dmaVecP2pMemory(wc: WcMappings): P2pMemory {
  return Object.freeze({
    structPages: false,
    addResource: (
      p2p: P2pdmaDevices,
      dev: PciDev,
      bar: number,
      size: number,
      offset: number,
      log?: KernelLog,
    ) => pciP2pdmaAddResourceWc(wc, p2p, dev, bar, size, offset, log),
  });
}
