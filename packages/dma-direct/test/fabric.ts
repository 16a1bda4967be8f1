/**
 * The machine the dma-direct tests run on, and helpers to build scatterlists over it.
 *
 * Intel CPU (cpu_supports_p2pdma() false), so the host bridge allowlist decides every path that
 * leaves a switch (reference §1.2):
 *
 *   hb0 (bus 00, 00:00.0 = 8086:2020 allowlisted, bus offset 64 GiB = 0x10_0000_0000)
 *     00:01.0 root port -> 01:00.0 switch upstream
 *       02:00.0 -> 03:00.0 nvme0  the DMA client
 *       02:01.0 -> 04:00.0 gpuA   BAR0 64 MiB at 0x100_0000_0000: BUS_ADDR (common switch)
 *       02:02.0 -> 05:00.0 gpuB   BAR0 64 MiB at 0x100_0400_0000: BUS_ADDR
 *     00:02.0 root port -> 06:00.0 gpuC BAR0 64 MiB at 0x100_0800_0000: THRU_HOST_BRIDGE (same
 *       allowlisted host bridge, no common bridge)
 *   hb1 (bus 80, 80:00.0 = 8086:0001 not allowlisted, bus offset 0)
 *     80:01.0 root port -> 81:00.0 gpuD BAR0 64 MiB, placed by the loader at 0x200_0000_0000:
 *       NOT_SUPPORTED
 *
 * RAM: the default 64 GiB, laid out as [0, 3 GiB) and [4 GiB, 65 GiB). The default swiotlb pool
 * (64 MiB) sits at the top of the low range: [0xbc00_0000, 0xc000_0000).
 */
import {
  DmaDevice,
  KernelLog,
  P2pdmaDevices,
  Page,
  PAGE_SIZE,
  SgTable,
  Swiotlb,
  pciP2pdmaAddResource,
  sgAllocTableFromPagesSegment,
  sgEntries,
  topologyFromObject,
  type DmaDeviceParams,
  type PciTopology,
  type Scatterlist,
  type SwiotlbOptions,
  type TopologySpecInput,
} from '@dmasim/core';
import { DmaDirectOps, type DmaDirectOptions } from '../src';

export const GiB = 2 ** 30;
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
/** The default swiotlb pool: 64 MiB ending at 3 GiB. */
export const POOL_START = 0xc000_0000 - 64 * 2 ** 20;
/** First pfn of the RAM above 4 GiB. */
export const HIGH_PFN = 0x10_0000;

function ep(bdf: string, name: string, address?: number) {
  return {
    bdf,
    kind: 'endpoint',
    name,
    class: 'gpu',
    bars: [{ bar: 0, size: '64MiB', prefetchable: true, ...(address ? { address } : {}) }],
  };
}

export function fabric(): PciTopology {
  const spec = {
    platform: { cpu: { vendor: 'Intel', family: 6 } },
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
          { bdf: '00:02.0', kind: 'root-port', children: [ep('06:00.0', 'gpuC', BAR.gpuC)] },
        ],
      },
      {
        name: 'hb1',
        bus: 0x80,
        devices: [
          { bdf: '80:00.0', kind: 'host-bridge', vendor: 0x8086, device: 0x0001 },
          { bdf: '80:01.0', kind: 'root-port', children: [ep('81:00.0', 'gpuD')] },
        ],
      },
    ],
  };
  return topologyFromObject(spec as TopologySpecInput);
}

/** Registers BAR0 of every provider as P2P memory (pci_p2pdma_add_resource(pdev, 0, 0, 0)). */
export function addP2pMemory(topo: PciTopology, p2p: P2pdmaDevices, log: KernelLog): void {
  for (const name of PROVIDERS) {
    const err = pciP2pdmaAddResource(p2p, topo.get(name), 0, 0, 0, log);
    if (err) throw new Error(`pci_p2pdma_add_resource(${name}) = ${err}`);
  }
}

/** A dma-direct kernel on the fabric, without the container. */
export function machine(
  o: { swiotlb?: SwiotlbOptions; options?: Partial<DmaDirectOptions>; topo?: PciTopology } = {},
) {
  const topo = o.topo ?? fabric();
  const log = new KernelLog();
  const p2p = new P2pdmaDevices(topo);
  addP2pMemory(topo, p2p, log);
  log.clear();
  const swiotlb = new Swiotlb(topo.memoryMap, o.swiotlb ?? {}, log);
  const ops = new DmaDirectOps(p2p, swiotlb, topo.memoryMap, log, o.options ?? {});
  const nvme0 = topo.get('nvme0');
  return {
    topo,
    log,
    p2p,
    swiotlb,
    ops,
    /** The client's struct device with the given DMA parameters. */
    dev: (params?: DmaDeviceParams) => new DmaDevice(nvme0.bdf, nvme0, ops, log, params),
    /** Page `k` of a provider's P2P memory (pfn_to_page() of the kernel's memmap). */
    p2pPage: (name: Provider, k: number) => p2p.memmap.pfnToPage(BAR[name] / PAGE_SIZE + k),
  };
}

/** A RAM page. */
export function ram(pfn: number): Page {
  return new Page(pfn);
}

/** One entry per page (max_segment = PAGE_SIZE), each PAGE_SIZE long from offset 0. */
export function table(pages: Page[]): SgTable {
  const sgt = new SgTable();
  const err = sgAllocTableFromPagesSegment(sgt, pages, 0, pages.length * PAGE_SIZE, PAGE_SIZE);
  if (err) throw new Error(`sg_alloc_table_from_pages_segment = ${err}`);
  return sgt;
}

/** A one-entry table: `len` bytes at `offset` into `page`. */
export function single(page: Page, offset: number, len: number): SgTable {
  const sgt = new SgTable();
  const err = sgAllocTableFromPagesSegment(sgt, [page], offset, len, PAGE_SIZE);
  if (err) throw new Error(`sg_alloc_table_from_pages_segment = ${err}`);
  return sgt;
}

/** The table's entries. */
export function entries(sgt: SgTable): Scatterlist[] {
  return sgEntries(sgt.sgl, sgt.origNents);
}
