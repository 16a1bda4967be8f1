/**
 * One simulated kernel for one conformance case (or one property run): the plugin's strategy in
 * a container built by createKernelContainer() with CONFIG_DMA_API_DEBUG on, every provider of
 * the fabric with its BAR registered as P2P memory (pci_p2pdma_add_resource(), §2.2) and
 * published, and one pool allocation per provider that the case's scatterlists are carved from.
 */
import type { Container, ContainerModule } from 'inversify';
import { createKernelContainer, DmaDevices } from '../di/kernel';
import type { StrategyDescriptor } from '../di/strategy';
import type { DmaDevice, DmaDeviceParams } from '../dma/device';
import { DmaMapOps } from '../dma/map-ops';
import { DmaApiDebug } from '../dma/debug';
import { KernelLog } from '../kernel-log';
import type { PhysMemoryMap } from '../mm/memory-map';
import { Memmap } from '../mm/memremap';
import { PAGE_SIZE } from '../mm/page';
import { PciP2pdmaMapType } from '../p2pdma/map-type';
import {
  directMapPhys,
  pciAllocP2pmem,
  pciP2pdmaAddResource,
  pciP2pmemPublish,
} from '../p2pdma/provider';
import { P2pdmaDevices } from '../p2pdma/state';
import type { PciTopology } from '../pci/topology';
import {
  sgAllocTable,
  sgEntries,
  sgSetPage,
  SgTable,
  type Scatterlist,
} from '../scatterlist/scatterlist';
import {
  CONFORMANCE_MAP_TYPES,
  CONFORMANCE_P2P_BAR,
  CONFORMANCE_PROVIDERS,
  conformanceDevices,
  type ConformanceDevices,
  type ConformanceRegion,
} from './conformance-fabric';
import {
  placeEntries,
  type EntryRecipe,
  type PlacedEntry,
  type RegionCursor,
  type SegmentLimits,
} from './scatterlist-recipe';

/** What a plugin exports: its strategy descriptor, or the ContainerModule that binds DmaMapOps. */
export type DmaMapOpsFactory = () => StrategyDescriptor | ContainerModule;

const MiB = 2 ** 20;
const GiB = 2 ** 30;
/** Bytes of each provider's P2P memory a kernel allocates for its lists (pci_alloc_p2pmem()). */
export const CONFORMANCE_P2P_ALLOC = 16 * MiB;
/** The System RAM lists are carved from: [1 GiB, 3 GiB), below the PCI hole. */
export const CONFORMANCE_RAM = { start: 1 * GiB, end: 3 * GiB } as const;
/** RAM above 4 GiB, out of reach of a 32-bit DMA mask (the fabric has RAM up to 17 GiB). */
export const CONFORMANCE_HIGH_RAM = 8 * GiB;

/** Limits that never clamp. */
const NO_LIMITS: SegmentLimits = {
  maxSegmentSize: Number.MAX_SAFE_INTEGER,
  segBoundaryMask: Number.MAX_SAFE_INTEGER,
};

/** A scatterlist built for a case: the table, where its entries' bytes are, and the entries. */
export interface BuiltList {
  sgt: SgTable;
  placed: PlacedEntry[];
  /** The orig_nents input entries (for_each_sg order). */
  entries: Scatterlist[];
}

export class ConformanceKernel {
  readonly container: Container;
  /** The DmaMapOps the kernel's devices use (the debug checker's wrapper around the plugin's). */
  readonly ops: DmaMapOps;
  readonly log: KernelLog;
  readonly p2p: P2pdmaDevices;
  readonly memmap: Memmap;
  readonly devices: DmaDevices;
  readonly debug: DmaApiDebug;
  readonly pci: ConformanceDevices;
  /** The machine's address map (RAM, BARs with their bus addresses). */
  readonly mem: PhysMemoryMap;
  private readonly cursors: Record<ConformanceRegion, RegionCursor>;

  constructor(topology: PciTopology, factory: DmaMapOpsFactory) {
    this.container = createKernelContainer({
      topology,
      strategy: factory(),
      options: { dmaApiDebug: true },
    });
    this.ops = this.container.get<DmaMapOps>(DmaMapOps);
    this.log = this.container.get(KernelLog);
    this.p2p = this.container.get(P2pdmaDevices);
    this.memmap = this.container.get(Memmap);
    this.devices = this.container.get(DmaDevices);
    this.debug = this.container.get(DmaApiDebug);
    this.pci = conformanceDevices(topology);
    this.mem = topology.memoryMap;
    const cursors: Partial<Record<ConformanceRegion, RegionCursor>> = {
      ram: { base: CONFORMANCE_RAM.start, end: CONFORMANCE_RAM.end, next: undefined },
    };
    for (const name of CONFORMANCE_PROVIDERS) {
      const dev = this.pci.providers[name];
      const err = pciP2pdmaAddResource(this.p2p, dev, CONFORMANCE_P2P_BAR, 0, 0, this.log);
      const virt = err ? undefined : pciAllocP2pmem(this.p2p, dev, CONFORMANCE_P2P_ALLOC);
      if (virt === undefined) {
        throw new Error(
          `conformance suite: cannot register P2P memory of ${dev.label} (pci_p2pdma_add_resource ` +
            `returned ${err}); the kernel container is not usable (suite bug)`,
        );
      }
      pciP2pmemPublish(this.p2p, dev, true);
      const base = directMapPhys(virt);
      cursors[name] = { base, end: base + CONFORMANCE_P2P_ALLOC, next: undefined };
    }
    this.cursors = cursors as Record<ConformanceRegion, RegionCursor>;
  }

  /** The client's DMA device; `params` apply when it is created (the first call). */
  client(params?: DmaDeviceParams): DmaDevice {
    return this.devices.get(this.pci.client, params);
  }

  /** The map type the pages of `region` have for the client (NONE for RAM; §1.1). */
  mapType(region: ConformanceRegion): PciP2pdmaMapType {
    return region === 'ram' ? PciP2pdmaMapType.NONE : CONFORMANCE_MAP_TYPES[region];
  }

  /** pci_bus_address() - pci_resource_start() of the region's BAR (0 for RAM; §2.1). */
  busOffset(region: ConformanceRegion): number {
    if (region === 'ram') return 0;
    const bar = this.pci.providers[region].bar(CONFORMANCE_P2P_BAR)!;
    return bar.busAddress - bar.cpuAddress;
  }

  /**
   * A table of the recipe's entries (sg_alloc_table() + sg_set_page(); chained past 128
   * entries, §3.1), placed in this kernel's memory within `limits`.
   */
  build(entries: readonly EntryRecipe[], limits: SegmentLimits): BuiltList {
    return this.buildPlaced(this.place(entries, limits));
  }

  /** Places the recipe's entries in this kernel's memory (no limits: single mappings). */
  place(entries: readonly EntryRecipe[], limits: SegmentLimits = NO_LIMITS): PlacedEntry[] {
    return placeEntries(entries, this.cursors, limits);
  }

  /** A table of entries placed by place(), or anywhere in RAM / P2P memory the case chose. */
  buildPlaced(placed: PlacedEntry[]): BuiltList {
    const sgt = new SgTable();
    if (sgAllocTable(sgt, placed.length) !== 0) {
      throw new Error(`conformance suite: sg_alloc_table(${placed.length}) failed (suite bug)`);
    }
    const sgs = sgEntries(sgt.sgl, placed.length);
    placed.forEach((p, i) => {
      const page = this.memmap.pfnToPage(Math.floor(p.phys / PAGE_SIZE));
      sgSetPage(sgs[i]!, page, p.length, p.phys % PAGE_SIZE);
    });
    return { sgt, placed, entries: sgs };
  }
}
