/**
 * The machine the dma-iommu tests run on, a kernel on it, and helpers to build scatterlists.
 *
 * Intel CPU (cpu_supports_p2pdma() false), so the host bridge allowlist decides every path that
 * leaves a switch (reference §1.2); VT-d with `platform.iommu` (4 KiB granule, 48-bit, superpages):
 *
 *   hb0 (bus 00, 00:00.0 = 8086:2020 allowlisted, bus offset 64 GiB = 0x10_0000_0000)
 *     00:01.0 root port -> 01:00.0 switch upstream (no ACS: one IOMMU group below it)
 *       02:00.0 -> 03:00.0 nvme0  the DMA client
 *       02:01.0 -> 04:00.0 gpuA   BAR0 64 MiB at 0x100_0000_0000: BUS_ADDR (common switch)
 *       02:02.0 -> 05:00.0 gpuB   BAR0 64 MiB at 0x100_0400_0000: BUS_ADDR
 *     00:02.0 root port -> 06:00.0 gpuC BAR0 64 MiB at 0x100_0800_0000: THRU_HOST_BRIDGE
 *   hb1 (bus 80, 80:00.0 = 8086:0001 not allowlisted, bus offset 0)
 *     80:01.0 root port -> 81:00.0 gpuD BAR0 64 MiB at 0x200_0000_0000: NOT_SUPPORTED
 *
 * RAM: the default 64 GiB, [0, 3 GiB) and [4 GiB, 65 GiB); the default swiotlb pool (64 MiB) sits
 * at the top of the low range, [0xbc00_0000, 0xc000_0000).
 *
 * IOVA space of nvme0's domain (§4.5): IOVA 0 is never handed out; reserved are the MSI window
 * 0xfee00000-0xfeefffff and hb0's windows as bus addresses (CPU + 64 GiB): [0x10_c000_0000,
 * +128 MiB) and [0x110_0000_0000, 0x210_0000_0000). Below 4 GiB the highest free pfn is 0xfffff.
 */
import type { Container } from 'inversify';
import {
  createKernelContainer,
  DmaApiDebug,
  DmaDevices,
  DmaDirectOps,
  Iommu,
  KernelLog,
  Memmap,
  P2pdmaDevices,
  PAGE_SIZE,
  SgTable,
  SimClock,
  Swiotlb,
  pciP2pdmaAddResource,
  sgAllocTable,
  sgEntries,
  sgSetPage,
  topologyFromObject,
  type DmaDevice,
  type DmaDeviceParams,
  type IommuMode,
  type PciTopology,
  type Scatterlist,
  type SwiotlbOptions,
  type TopologySpecInput,
} from '@dmasim/core';
import { createDmaIommuModule, IommuDmaOps, type DmaIommuOptions } from '@dmasim/dma-iommu';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
/** hb0's bus offset: pci_bus_address() - pci_resource_start() of its BARs. */
export const HB0_BUS_OFFSET = 0x10_0000_0000;
/** CPU physical BAR0 address of each provider. */
export const BAR = {
  gpuA: 0x100_0000_0000,
  gpuB: 0x100_0400_0000,
  gpuC: 0x100_0800_0000,
  gpuD: 0x200_0000_0000,
} as const;
export type Provider = keyof typeof BAR;
export const PROVIDERS = Object.keys(BAR) as Provider[];
/** RAM above 4 GiB: plenty of room for the tests' buffers. */
export const HIGH = 0x1_0000_0000;
/** The default swiotlb pool: 64 MiB ending at 3 GiB. */
export const POOL_START = 0xc000_0000 - 64 * MiB;

function ep(bdf: string, name: string, address: number) {
  return {
    bdf,
    kind: 'endpoint',
    name,
    class: 'gpu',
    bars: [{ bar: 0, size: '64MiB', prefetchable: true, address }],
  };
}

/** The fabric, with `platform.iommu` when `iommu` is given. */
export function fabric(iommu?: Record<string, unknown>): PciTopology {
  const spec = {
    platform: { cpu: { vendor: 'Intel', family: 6 }, ...(iommu ? { iommu } : {}) },
    hostBridges: [
      {
        name: 'hb0',
        bus: 0,
        busOffset: HB0_BUS_OFFSET,
        devices: [
          { bdf: '00:00.0', kind: 'host-bridge', vendor: 0x8086, device: 0x2020 },
          {
            bdf: '00:01.0',
            kind: 'root-port',
            children: [
              {
                bdf: '01:00.0',
                kind: 'switch-upstream',
                children: [
                  {
                    bdf: '02:00.0',
                    kind: 'switch-downstream',
                    children: [{ bdf: '03:00.0', kind: 'endpoint', name: 'nvme0', class: 'nvme' }],
                  },
                  {
                    bdf: '02:01.0',
                    kind: 'switch-downstream',
                    children: [ep('04:00.0', 'gpuA', BAR.gpuA)],
                  },
                  {
                    bdf: '02:02.0',
                    kind: 'switch-downstream',
                    children: [ep('05:00.0', 'gpuB', BAR.gpuB)],
                  },
                ],
              },
            ],
          },
          {
            bdf: '00:02.0',
            kind: 'root-port',
            children: [ep('06:00.0', 'gpuC', BAR.gpuC)],
          },
        ],
      },
      {
        name: 'hb1',
        bus: 0x80,
        devices: [
          { bdf: '80:00.0', kind: 'host-bridge', vendor: 0x8086, device: 0x0001 },
          { bdf: '80:01.0', kind: 'root-port', children: [ep('81:00.0', 'gpuD', BAR.gpuD)] },
        ],
      },
    ],
  };
  return topologyFromObject(spec as TopologySpecInput);
}

export interface KernelSetup {
  /** platform.iommu.mode; undefined: no `iommu` key at all (no IOMMU). */
  mode?: IommuMode;
  /** Further platform.iommu fields. */
  iommu?: Record<string, unknown>;
  options?: Partial<DmaIommuOptions>;
  /** swiotlb= of the kernel command line. */
  swiotlb?: SwiotlbOptions;
}

/** A kernel (container) running dma-iommu with CONFIG_DMA_API_DEBUG on the fabric. */
export class TestKernel {
  readonly topo: PciTopology;
  readonly c: Container;
  readonly ops: IommuDmaOps;
  readonly direct: DmaDirectOps;
  readonly iommu: Iommu;
  readonly log: KernelLog;
  readonly p2p: P2pdmaDevices;
  readonly memmap: Memmap;
  readonly debug: DmaApiDebug;
  readonly swiotlb: Swiotlb;
  readonly clock: SimClock;

  constructor(o: KernelSetup = { mode: 'strict' }) {
    this.topo = fabric(o.mode === undefined ? undefined : { mode: o.mode, ...o.iommu });
    this.c = createKernelContainer({
      topology: this.topo,
      strategy: createDmaIommuModule(o.options),
      options: { dmaApiDebug: true, swiotlb: o.swiotlb },
    });
    this.ops = this.c.get(IommuDmaOps);
    this.direct = this.c.get(DmaDirectOps);
    this.iommu = this.c.get(Iommu);
    this.log = this.c.get(KernelLog);
    this.p2p = this.c.get(P2pdmaDevices);
    this.memmap = this.c.get(Memmap);
    this.debug = this.c.get(DmaApiDebug);
    this.swiotlb = this.c.get(Swiotlb);
    this.clock = this.c.get(SimClock);
    for (const name of PROVIDERS) {
      const err = pciP2pdmaAddResource(this.p2p, this.topo.get(name), 0, 0, 0, this.log);
      if (err) throw new Error(`pci_p2pdma_add_resource(${name}) = ${err}`);
    }
    this.log.clear();
  }

  /** nvme0's struct device; `params` apply on first use. */
  dev(params?: DmaDeviceParams): DmaDevice {
    return this.c.get(DmaDevices).get('nvme0', params);
  }

  /** Kernel log lines so far. */
  messages(): string[] {
    return this.log.messages().map((m) => (m.dev ? `${m.dev}: ${m.msg}` : m.msg));
  }

  /** The DMA-API debug checker's reports so far. */
  debugErrors(): string[] {
    return this.debug.errors().map((e) => `[${e.kind}] ${e.message}`);
  }

  /**
   * A table of `pieces`: `phys` is a CPU physical address (RAM or P2P memory, whose struct pages
   * come from the memmap), `len` the entry's length.
   */
  table(pieces: readonly { phys: number; len: number }[]): SgTable {
    const sgt = new SgTable();
    if (sgAllocTable(sgt, pieces.length)) throw new Error('sg_alloc_table failed');
    sgEntries(sgt.sgl, pieces.length).forEach((s, i) => {
      const p = pieces[i]!;
      const page = this.memmap.pfnToPage(Math.floor(p.phys / PAGE_SIZE));
      sgSetPage(s, page, p.len, p.phys % PAGE_SIZE);
    });
    return sgt;
  }
}

/** The first `n` entries of a table. */
export function entries(sgt: SgTable, n = sgt.origNents): Scatterlist[] {
  return sgEntries(sgt.sgl, n);
}

/** The DMA side of the first `n` entries: [address, length, bus-address mark]. */
export function dmaOf(sgt: SgTable, n: number): [number, number, boolean][] {
  return entries(sgt, n).map((s) => [s.dmaAddress, s.dmaLength, (s.dmaFlags & 1) !== 0]);
}

/** The CPU side of every entry: [offset, length]. */
export function cpuOf(sgt: SgTable): [number, number][] {
  return entries(sgt).map((s) => [s.offset, s.length]);
}
