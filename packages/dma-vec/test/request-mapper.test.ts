/**
 * dma-vec's request mapper (reference §5.6, RFC patch 19: nvme_map_data() takes a dma-direct
 * request's entry count as mapped and skips map and unmap), on the conformance fabric: nvme0
 * shares a switch with the client (BUS_ADDR), host bridge 0 has a 16 TiB bus offset. RAM
 * requests go through the platform's DMA ops bound from the registry (§4 with an IOMMU, §3
 * without).
 */
import {
  bioAddPage,
  bioAlloc,
  BLK_STS_OK,
  blkQueueFlagSet,
  blkRqFromBio,
  createKernelContainer,
  createStrategyRegistry,
  defaultQueueLimits,
  DmaDataDirection,
  DmaDevices,
  DmaDirectOps,
  DmaMapOps,
  Iommu,
  KernelLog,
  P2pdmaDevices,
  P2pMemory,
  Page,
  pciAllocP2pmem,
  pciP2pmemPublish,
  REQ_OP_WRITE,
  RequestMapper,
  RequestQueue,
  type DmaDevice,
  type PciTopology,
} from '@dmasim/core';
import { conformanceFabric, CONFORMANCE_BUS_OFFSETS } from '@dmasim/core/testing';
import { dmaDirectStrategy } from '@dmasim/dma-direct';
import { dmaIommuStrategy, IommuDmaOps } from '@dmasim/dma-iommu';
import {
  bioAddDmaAddr,
  bioDmaAlloc,
  blkDmaRqFromBio,
  DmaVecRequestMapper,
  dmaVecStrategy,
  p2pmemDmaMap,
  QUEUE_FLAG_DMA_DIRECT,
  WcMappings,
  type P2pmemDmaAddr,
} from '../src';

const registry = createStrategyRegistry([dmaDirectStrategy, dmaIommuStrategy, dmaVecStrategy]);
const TO_DEV = DmaDataDirection.DMA_TO_DEVICE;
/** 1 GiB: System RAM on the fabric (3 GiB below the PCI hole). */
const RAM = 0x4000_0000;

function kernel(topology: PciTopology) {
  const c = createKernelContainer({
    topology,
    strategy: dmaVecStrategy,
    modules: registry.modulesFor(dmaVecStrategy, topology),
  });
  const p2p = c.get(P2pdmaDevices);
  const nvme0 = topology.get('nvme0');
  expect(c.get<P2pMemory>(P2pMemory).addResource(p2p, nvme0, 2, 0, 0, c.get(KernelLog))).toBe(0);
  pciP2pmemPublish(p2p, nvme0, true);
  const q = new RequestQueue('nvme1n1', defaultQueueLimits(), c.get(KernelLog));
  blkQueueFlagSet(QUEUE_FLAG_DMA_DIRECT, q);
  return { c, p2p, nvme0, q, client: c.get(DmaDevices).get('client') };
}

/** Records the name of every DmaMapOps method the device's ops are called with. */
function spyOnOps(dev: DmaDevice): string[] {
  const calls: string[] = [];
  const real = dev.dmaOps;
  dev.dmaOps = new Proxy(real, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return calls;
}

/** An 8 KiB write of two pages of RAM at RAM (one contiguous bvec). */
function ramRequest(q: RequestQueue) {
  const bio = bioAlloc(REQ_OP_WRITE, 2);
  expect(bioAddPage(bio, new Page(RAM / 4096), 4096, 0)).toBe(4096);
  expect(bioAddPage(bio, new Page(RAM / 4096 + 1), 4096, 0)).toBe(4096);
  return blkRqFromBio(q, bio);
}

describe('§5.6 the dma-vec request mapper', () => {
  it('is what the design binds as RequestMapper, one per kernel', () => {
    const { c } = kernel(conformanceFabric());
    const m = c.get<RequestMapper>(RequestMapper);
    expect(m).toBeInstanceOf(DmaVecRequestMapper);
    expect(c.get<RequestMapper>(RequestMapper)).toBe(m);
  });

  it('behind a strict IOMMU: a dma-direct request yields its bus addresses, no DMA API call, no IOVA', () => {
    const { c, p2p, nvme0, q, client } = kernel(conformanceFabric({ iommu: { mode: 'strict' } }));
    const ops = c.get<DmaMapOps>(DmaMapOps);
    expect(ops).toBeInstanceOf(IommuDmaOps);
    // the submitter's address for the client: BUS_ADDR, the BAR's first byte + 16 TiB
    const virt = pciAllocP2pmem(p2p, nvme0, 8192)!;
    const a = p2pmemDmaMap(
      p2p,
      c.get(WcMappings),
      nvme0,
      client,
      virt,
      8192,
      TO_DEV,
    ) as P2pmemDmaAddr;
    const bus = nvme0.bar(2)!.cpuAddress + CONFORMANCE_BUS_OFFSETS.hb0;
    expect(a.dmaAddr).toBe(bus);
    // two dma_vecs, 4 KiB each, contiguous: counted as 2 segments, mapped as one entry
    const bio = bioDmaAlloc(REQ_OP_WRITE, 2, q);
    expect(bioAddDmaAddr(q, bio, bus, 4096)).toBe(4096);
    expect(bioAddDmaAddr(q, bio, bus + 4096, 4096)).toBe(4096);
    const rq = blkDmaRqFromBio(q, bio);
    expect(rq.nrPhysSegments).toBe(2);

    const calls = spyOnOps(client);
    const mapper = c.get<RequestMapper>(RequestMapper);
    const m = mapper.mapRequest(client, rq, TO_DEV);
    expect(m.status).toBe(BLK_STS_OK);
    expect(m.segments).toEqual([{ dmaAddress: bus, length: 8192 }]);
    expect(m.needsUnmap).toBe(false);
    mapper.unmapRequest(client, rq, TO_DEV, m);
    expect(calls).toEqual([]);
    const stats = (ops as IommuDmaOps).stats;
    expect(stats.mapSgCalls).toBe(0);
    expect(stats.iovaAllocs).toBe(0);
  });

  it('behind a strict IOMMU: a RAM request goes through dma-iommu and gets an IOVA, unmapped after', () => {
    const { c, q, client } = kernel(conformanceFabric({ iommu: { mode: 'strict' } }));
    const ops = c.get<DmaMapOps>(DmaMapOps) as IommuDmaOps;
    const rq = ramRequest(q);
    const calls = spyOnOps(client);
    const mapper = c.get<RequestMapper>(RequestMapper);
    const m = mapper.mapRequest(client, rq, TO_DEV);
    expect(m.status).toBe(BLK_STS_OK);
    // 2 pages, 32-bit first and top-down, size-aligned (§4.5): pfns 0xffffe-0xfffff -> 0xffff_e000
    expect(m.segments).toEqual([{ dmaAddress: 0xffff_e000, length: 8192 }]);
    expect(m.needsUnmap).toBe(true);
    expect(calls).toContain('mapSg');
    expect(ops.stats.iovaAllocs).toBe(1);
    const iommu = c.get(Iommu);
    const domain = iommu.iommuGetDomainForDev('client')!;
    expect(iommu.iommuIovaToPhys(domain, 0xffff_e000)).toBe(RAM);
    mapper.unmapRequest(client, rq, TO_DEV, m);
    expect(calls).toContain('unmapSg');
    expect(iommu.iommuIovaToPhys(domain, 0xffff_e000)).toBe(0);
  });

  it('without an IOMMU: a RAM request goes through dma-direct (1:1), a dma-direct request is untouched', () => {
    const { c, q, client } = kernel(conformanceFabric());
    expect(c.get<DmaMapOps>(DmaMapOps)).toBeInstanceOf(DmaDirectOps);
    const calls = spyOnOps(client);
    const mapper = c.get<RequestMapper>(RequestMapper);
    const ram = mapper.mapRequest(client, ramRequest(q), TO_DEV);
    // dma-direct maps RAM at its physical address (§3.2)
    expect(ram.segments).toEqual([{ dmaAddress: RAM, length: 8192 }]);
    expect(calls).toEqual(['mapSg']);
    const bio = bioDmaAlloc(REQ_OP_WRITE, 1, q);
    expect(bioAddDmaAddr(q, bio, 2 ** 44, 4096)).toBe(4096);
    const dma = mapper.mapRequest(client, blkDmaRqFromBio(q, bio), TO_DEV);
    expect(dma.segments).toEqual([{ dmaAddress: 2 ** 44, length: 4096 }]);
    expect(calls).toEqual(['mapSg']);
  });
});
