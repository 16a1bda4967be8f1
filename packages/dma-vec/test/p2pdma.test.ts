/**
 * dma-vec's P2P memory (reference §5.6 last patch, §9) and the DMA addresses its submitters put in
 * dma_vecs (§5.6, §1.1), on the conformance fabric (@dmasim/core/testing): nvme0 and nvme1 share
 * a switch with the client (BUS_ADDR), `thru` sits under another allowlisted host bridge
 * (THRU_HOST_BRIDGE), `remote` under a host bridge outside the allowlist (NOT_SUPPORTED). Each
 * provider registers BAR 2, 64 MiB; host bridge 0 has a bus offset of 16 TiB.
 */
import {
  createKernelContainer,
  createStrategyRegistry,
  DmaDataDirection,
  DmaDevices,
  DmaDirectOps,
  DmaMapOps,
  EINVAL,
  EREMOTEIO,
  Iommu,
  KernelLog,
  Memmap,
  P2pdmaDevices,
  P2pMemory,
  PAGE_SIZE,
  PciP2pdmaMapType,
  pciAllocP2pmem,
  pciP2pdmaStructPageBytes,
  pciP2pmemVirtToBus,
  pciP2pmemPublish,
  type PciTopology,
} from '@dmasim/core';
import {
  conformanceFabric,
  CONFORMANCE_BUS_OFFSETS,
  CONFORMANCE_PROVIDERS,
} from '@dmasim/core/testing';

const CONFORMANCE_P2P_BAR = 2;
import { dmaDirectStrategy } from '@dmasim/dma-direct';
import { dmaIommuStrategy, IommuDmaOps } from '@dmasim/dma-iommu';
import {
  dmaVecStrategy,
  p2pmemDmaMap,
  p2pmemDmaUnmap,
  pciP2pdmaAddResourceWc,
  WC_MAP_BASE,
  WcMappings,
  type P2pmemDmaAddr,
} from '../src';

const MiB = 2 ** 20;
const registry = createStrategyRegistry([dmaDirectStrategy, dmaIommuStrategy, dmaVecStrategy]);

function kernel(topology: PciTopology, strategy = dmaVecStrategy) {
  const c = createKernelContainer({
    topology,
    strategy,
    modules: registry.modulesFor(strategy, topology),
  });
  const p2p = c.get(P2pdmaDevices);
  // The fabric's topology names no p2pmem: register BAR 2 of each provider as its driver would,
  // through the design's P2pMemory.
  const mem = c.get<P2pMemory>(P2pMemory);
  for (const name of CONFORMANCE_PROVIDERS) {
    const dev = topology.get(name);
    expect(mem.addResource(p2p, dev, CONFORMANCE_P2P_BAR, 0, 0, c.get(KernelLog))).toBe(0);
    pciP2pmemPublish(p2p, dev, true);
  }
  return { c, p2p, topology };
}

describe('§5.6 providers without struct pages (the RFC’s last patch)', () => {
  it('registers the BAR as a WC mapping and a pool: no page map, no memmap accounted (§9)', () => {
    const { c, p2p, topology } = kernel(conformanceFabric());
    const nvme0 = topology.get('nvme0');
    const bar = nvme0.bar(2)!;
    expect(c.get<P2pMemory>(P2pMemory).structPages).toBe(false);
    // Four providers of 64 MiB each: mainline would account 64 MiB / 4 KiB * 64 B = 1 MiB of
    // struct pages per provider (4 MiB in all); the RFC's providers account none.
    expect(pciP2pdmaStructPageBytes(p2p)).toBe(0);
    expect(p2p.get(nvme0)!.pgmaps).toEqual([]);
    // The BAR's pfns have no memmap at all: pfn_to_page() is invalid there (misuse, a throw).
    expect(() => c.get(Memmap).pfnToPage(bar.cpuAddress / PAGE_SIZE)).toThrow(/has no struct page/);
    // The pool hands out WC-mapping addresses, and virt_to_bus gives the bus address:
    // CPU address + the 16 TiB bus offset of host bridge 0.
    const virt = pciAllocP2pmem(p2p, nvme0, 8192)!;
    expect(virt).toBeGreaterThanOrEqual(WC_MAP_BASE);
    expect(pciP2pmemVirtToBus(p2p, nvme0, virt + 0x10)).toBe(
      bar.cpuAddress + CONFORMANCE_BUS_OFFSETS.hb0 + 0x10,
    );
    expect(c.get(KernelLog).messages()).toContainEqual({
      level: 'info',
      dev: nvme0.bdf,
      msg: `added peer-to-peer DMA memory 0x${bar.cpuAddress.toString(16)}-0x${(bar.cpuAddress + 64 * MiB - 1).toString(16)}`,
    });
  });

  it('the page-backed designs account 1 MiB of struct pages per 64 MiB provider (§9)', () => {
    const { p2p } = kernel(conformanceFabric(), dmaDirectStrategy);
    // 4 providers * (64 MiB / 4 KiB) pages * 64 B = 4 * 16384 * 64 = 4 MiB
    expect(pciP2pdmaStructPageBytes(p2p)).toBe(4 * MiB);
  });

  it('a range that is not 2 MiB aligned registers (devm_memremap has no sub-section rule)', () => {
    const topology = conformanceFabric();
    const p2p = new P2pdmaDevices(topology);
    const nvme1 = topology.get('nvme1');
    // offset 4 KiB, size 1 MiB: mainline's memremap_pages() refuses it; the RFC's mapping does not
    expect(pciP2pdmaAddResourceWc(new WcMappings(), p2p, nvme1, 2, MiB, 4096)).toBe(0);
    expect(p2p.get(nvme1)!.pool!.size).toBe(MiB);
    // §2.2 step 1 still holds: offset past the BAR, size past its end, a BAR that is not there
    expect(pciP2pdmaAddResourceWc(new WcMappings(), p2p, nvme1, 2, 0, 64 * MiB)).toBe(-EINVAL);
    expect(pciP2pdmaAddResourceWc(new WcMappings(), p2p, nvme1, 2, 64 * MiB, 4096)).toBe(-EINVAL);
    expect(pciP2pdmaAddResourceWc(new WcMappings(), p2p, nvme1, 4, 0, 0)).toBe(-EINVAL);
  });
});

describe('§5.6 the DMA address a submitter computes for the target device', () => {
  const TO_DEV = DmaDataDirection.DMA_TO_DEVICE;

  it('BUS_ADDR: the bus address, nothing mapped; NOT_SUPPORTED: -EREMOTEIO', () => {
    const { c, p2p, topology } = kernel(conformanceFabric());
    const wc = c.get(WcMappings);
    const client = c.get(DmaDevices).get('client');
    const nvme0 = topology.get('nvme0');
    const virt = pciAllocP2pmem(p2p, nvme0, 4096)!;
    const a = p2pmemDmaMap(p2p, wc, nvme0, client, virt, 4096, TO_DEV) as P2pmemDmaAddr;
    // first page of the pool = BAR start; + 16 TiB bus offset
    expect(a).toEqual({
      dmaAddr: nvme0.bar(2)!.cpuAddress + CONFORMANCE_BUS_OFFSETS.hb0,
      len: 4096,
      mapType: PciP2pdmaMapType.BUS_ADDR,
      mapped: false,
    });
    const remote = topology.get('remote');
    const rv = pciAllocP2pmem(p2p, remote, 4096)!;
    expect(p2pmemDmaMap(p2p, wc, remote, client, rv, 4096, TO_DEV)).toBe(-EREMOTEIO);
  });

  it('THRU_HOST_BRIDGE without an IOMMU: dma_map_resource through dma-direct gives the CPU address', () => {
    const { c, p2p, topology } = kernel(conformanceFabric());
    expect(c.get<DmaMapOps>(DmaMapOps)).toBeInstanceOf(DmaDirectOps);
    const client = c.get(DmaDevices).get('client');
    const thru = topology.get('thru');
    const virt = pciAllocP2pmem(p2p, thru, 8192)!;
    const a = p2pmemDmaMap(p2p, c.get(WcMappings), thru, client, virt + 4096, 4096, TO_DEV);
    // dma-direct maps a resource 1:1 (§3.2): the CPU physical address of the second page, not the
    // bus address (hb1's 32 TiB offset applies to peers, not to the host bridge's own path)
    expect(a).toEqual({
      dmaAddr: thru.bar(2)!.cpuAddress + 4096,
      len: 4096,
      mapType: PciP2pdmaMapType.THRU_HOST_BRIDGE,
      mapped: true,
    });
  });

  it('THRU_HOST_BRIDGE behind a strict IOMMU: an IOVA from dma-iommu, unmapped afterwards', () => {
    const { c, p2p, topology } = kernel(conformanceFabric({ iommu: { mode: 'strict' } }));
    // the platform's ops on an IOMMU platform are dma-iommu's, bound through the registry
    expect(c.get<DmaMapOps>(DmaMapOps)).toBeInstanceOf(IommuDmaOps);
    const client = c.get(DmaDevices).get('client');
    const thru = topology.get('thru');
    const virt = pciAllocP2pmem(p2p, thru, 4096)!;
    const a = p2pmemDmaMap(p2p, c.get(WcMappings), thru, client, virt, 4096, TO_DEV);
    if (typeof a === 'number') throw new Error(`map failed: ${a}`);
    // 32-bit first for PCI devices (§4.5): one page, top-down below 4 GiB -> 0xffff_f000
    expect(a.dmaAddr).toBe(0xffff_f000);
    const iommu = c.get(Iommu);
    const domain = iommu.iommuGetDomainForDev('client')!;
    expect(iommu.iommuIovaToPhys(domain, 0xffff_f000)).toBe(thru.bar(2)!.cpuAddress);
    p2pmemDmaUnmap(client, a, TO_DEV);
    expect(iommu.iommuIovaToPhys(domain, 0xffff_f000)).toBe(0);
  });
});

describe('platform DMA ops through the registry', () => {
  it('dma-vec loads dma-direct’s module without an IOMMU and dma-iommu’s with one', () => {
    expect(registry.modulesFor(dmaVecStrategy, conformanceFabric())).toEqual([
      dmaDirectStrategy.module,
    ]);
    expect(
      registry.modulesFor(dmaVecStrategy, conformanceFabric({ iommu: { mode: 'lazy' } })),
    ).toEqual([dmaIommuStrategy.module]);
    expect(registry.modulesFor(dmaDirectStrategy, conformanceFabric())).toEqual([]);
    expect(registry.isRunnable(dmaVecStrategy)).toBe(true);
    // a registry with no strategy serving as the IOMMU platform's ops cannot run it there
    const partial = createStrategyRegistry([dmaDirectStrategy, dmaVecStrategy]);
    expect(partial.isRunnable(dmaVecStrategy)).toBe(false);
    expect(() =>
      partial.modulesFor(dmaVecStrategy, conformanceFabric({ iommu: { mode: 'strict' } })),
    ).toThrow(/no registered strategy serves as them on a platform with an IOMMU/);
  });
});
