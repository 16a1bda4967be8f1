/**
 * One NVMe read of 128 KiB, into RAM, into P2P memory under the controller's switch (BUS_ADDR)
 * and into P2P memory behind another host bridge (THRU_HOST_BRIDGE), built under each of the
 * three designs: the PRPs nvme_map_data() writes (§6.1) are what the kernel of that design would
 * build (§3.2 dma-direct, §4.2-§4.6 dma-iommu, §5.6 dma-vec; §6.3 for what P2P changes).
 *
 * The machine is the conformance fabric (@dmasim/core/testing): nvme0 (03:00.0) is the NVMe
 * controller doing the DMA; nvme1 (04:00.0) shares its switch (BUS_ADDR); `thru` (41:00.0) is
 * under the second allowlisted host bridge (THRU_HOST_BRIDGE). Both register BAR 2 (64 MiB) as
 * P2P memory. Host bridge 0's bus offset is 16 TiB. The controller has no SGL support, so every
 * data pointer is PRPs.
 *
 * 128 KiB = 32 controller pages. For a single segment starting page-aligned at A:
 * PRP1 = A covers the first 4 KiB; 124 KiB remain, more than one page, so PRP2 points at a list
 * of 31 entries A + 0x1000 ... A + 0x1f000; 31 <= 256 / 8 = 32, so the list is a 256-byte block
 * of the small pool.
 */
import {
  bioAddPage,
  bioAlloc,
  BLK_STS_OK,
  blkRqFromBio,
  createKernelContainer,
  createStrategyRegistry,
  DIRECT_MAP_BASE,
  DmaDataDirection,
  DmaDevices,
  KernelLog,
  Memmap,
  NvmeCtrls,
  nvmePrepRq,
  nvmePrpWalk,
  nvmeUnmapData,
  P2pdmaDevices,
  P2pMemory,
  Page,
  pciAllocP2pmem,
  pciP2pmemPublish,
  REQ_OP_READ,
  REQ_P2PDMA,
  type NvmeCtrl,
  type NvmeIod,
  type PciTopology,
  type Request,
  type StrategyDescriptor,
} from '@dmasim/core';
import { conformanceFabric, CONFORMANCE_BUS_OFFSETS } from '@dmasim/core/testing';
import { dmaDirectStrategy } from '@dmasim/dma-direct';
import { dmaIommuStrategy, IommuDmaOps } from '@dmasim/dma-iommu';
import {
  bioAddDmaAddr,
  bioDmaAlloc,
  blkDmaRqFromBio,
  blkRqIsDmaDirect,
  dmaVecStrategy,
  p2pmemDmaMap,
  WcMappings,
  type P2pmemDmaAddr,
} from '../src';

const KiB = 1024;
const LEN = 128 * KiB;
const PAGES = LEN / 4096;
const RAM = 0x1_0000_0000; // 4 GiB: the start of the RAM above the PCI hole
const registry = createStrategyRegistry([dmaDirectStrategy, dmaIommuStrategy, dmaVecStrategy]);
type Memory = 'ram' | 'bus' | 'thru';

/** A fresh kernel of `d` on the fabric (strict IOMMU or none) with both providers registered. */
function boot(d: StrategyDescriptor, iommu: boolean) {
  const topology: PciTopology = conformanceFabric(iommu ? { iommu: { mode: 'strict' } } : {});
  const c = createKernelContainer({
    topology,
    strategy: d,
    modules: registry.modulesFor(d, topology),
  });
  const p2p = c.get(P2pdmaDevices);
  const mem = c.get<P2pMemory>(P2pMemory);
  for (const name of ['nvme1', 'thru']) {
    expect(mem.addResource(p2p, topology.get(name), 2, 0, 0, c.get(KernelLog))).toBe(0);
    pciP2pmemPublish(p2p, topology.get(name), true);
  }
  const ctrl = c.get(NvmeCtrls).get('nvme0');
  return { c, p2p, ctrl, topology };
}

/** The request the submitter builds for `memory` (pages for page-backed designs, dma_vecs for dma-vec). */
function build(k: ReturnType<typeof boot>, memory: Memory, dmaVec: boolean): Request {
  const q = k.ctrl.queues.get(1)!;
  if (memory === 'ram') {
    // a user or kernel RAM buffer: 32 contiguous pages, bio_add_page merges them into one bvec
    const bio = bioAlloc(REQ_OP_READ, PAGES, q);
    for (let i = 0; i < PAGES; i++)
      expect(bioAddPage(bio, new Page(RAM / 4096 + i), 4096, 0)).toBe(4096);
    return blkRqFromBio(q, bio);
  }
  const provider = k.topology.get(memory === 'bus' ? 'nvme1' : 'thru');
  const virt = pciAllocP2pmem(k.p2p, provider, LEN)!;
  if (dmaVec) {
    // nvmet of the RFC: the DMA address for nvme0, in one dma_vec
    const dev = k.c.get(DmaDevices).get('nvme0');
    const wc = k.c.get(WcMappings);
    const a = p2pmemDmaMap(k.p2p, wc, provider, dev, virt, LEN, DmaDataDirection.DMA_FROM_DEVICE);
    const addr = (a as P2pmemDmaAddr).dmaAddr;
    const bio = bioDmaAlloc(REQ_OP_READ, 1, q);
    expect(bioAddDmaAddr(q, bio, addr, LEN)).toBe(LEN);
    return blkDmaRqFromBio(q, bio);
  }
  // nvmet with struct pages: the pool's pages, one ZONE_DEVICE page map
  const memmap = k.c.get(Memmap);
  const pfn0 = (virt - DIRECT_MAP_BASE) / 4096;
  const bio = bioAlloc(REQ_OP_READ, PAGES, q);
  for (let i = 0; i < PAGES; i++)
    expect(bioAddPage(bio, memmap.pfnToPage(pfn0 + i), 4096, 0)).toBe(4096);
  return blkRqFromBio(q, bio);
}

function prps(ctrl: NvmeCtrl, iod: NvmeIod): number[] {
  const { prp1, prp2 } = iod.cmd.dptr as { prp1: number; prp2: number };
  const p = ctrl.pools;
  return nvmePrpWalk(prp1, prp2, LEN, (dma) => p.page.lookup(dma) ?? p.small.lookup(dma));
}

/** The 32 PRP data addresses of one 128 KiB segment at `a`. */
const run32 = (a: number) => Array.from({ length: PAGES }, (_, i) => a + i * 4096);

const designs = {
  'dma-direct': dmaDirectStrategy,
  'dma-iommu': dmaIommuStrategy,
  'dma-vec': dmaVecStrategy,
};

describe('§6.1/§6.3 one 128 KiB NVMe read under each design', () => {
  // [design, IOMMU?, memory, where the 32 data addresses start, IOVA allocated?]
  // - RAM without an IOMMU: its physical address, 4 GiB (dma-direct 1:1; dma-vec's platform ops).
  // - RAM behind a strict IOMMU: 32 pages, 32-bit first, top-down: 4 GiB - 128 KiB = 0xfffe0000.
  // - BUS_ADDR: BAR 2 of nvme1 + the 16 TiB bus offset, never an IOVA (all three designs).
  // - THRU_HOST_BRIDGE without an IOMMU: the BAR's CPU physical address (mapped like RAM / as a
  //   resource); behind the IOMMU: an IOVA, 0xfffe0000 again (a fresh kernel).
  const cases: [keyof typeof designs, boolean, Memory, (t: PciTopology) => number, boolean][] = [
    ['dma-direct', false, 'ram', () => RAM, false],
    [
      'dma-direct',
      false,
      'bus',
      (t) => t.get('nvme1').bar(2)!.cpuAddress + CONFORMANCE_BUS_OFFSETS.hb0,
      false,
    ],
    ['dma-direct', false, 'thru', (t) => t.get('thru').bar(2)!.cpuAddress, false],
    ['dma-iommu', true, 'ram', () => 0xfffe_0000, true],
    [
      'dma-iommu',
      true,
      'bus',
      (t) => t.get('nvme1').bar(2)!.cpuAddress + CONFORMANCE_BUS_OFFSETS.hb0,
      false,
    ],
    ['dma-iommu', true, 'thru', () => 0xfffe_0000, true],
    ['dma-vec', false, 'ram', () => RAM, false],
    [
      'dma-vec',
      false,
      'bus',
      (t) => t.get('nvme1').bar(2)!.cpuAddress + CONFORMANCE_BUS_OFFSETS.hb0,
      false,
    ],
    ['dma-vec', false, 'thru', (t) => t.get('thru').bar(2)!.cpuAddress, false],
    ['dma-vec', true, 'ram', () => 0xfffe_0000, true],
    [
      'dma-vec',
      true,
      'bus',
      (t) => t.get('nvme1').bar(2)!.cpuAddress + CONFORMANCE_BUS_OFFSETS.hb0,
      false,
    ],
    ['dma-vec', true, 'thru', () => 0xfffe_0000, true],
  ];

  it.each(cases)('%s, IOMMU %s, %s', (name, iommu, memory, start, iova) => {
    const d = designs[name];
    const k = boot(d, iommu);
    const rq = build(k, memory, name === 'dma-vec' && memory !== 'ram');
    // one physical segment: contiguous pages of one page map, or one dma_vec
    expect(rq.nrPhysSegments).toBe(1);
    // page designs mark P2P bios REQ_P2PDMA (§5.3, v6.16); dma-vec's carry REQ_DMA_DIRECT instead
    const dmaVec = name === 'dma-vec' && memory !== 'ram';
    expect((rq.cmdFlags & REQ_P2PDMA) !== 0).toBe(memory !== 'ram' && !dmaVec);
    expect(blkRqIsDmaDirect(rq)).toBe(dmaVec);
    const { status, iod } = nvmePrepRq(k.ctrl, rq);
    expect(status).toBe(BLK_STS_OK);
    // 128 KiB > 2 pages and no SGLs: never the fast path, always the general path's PRP list
    expect(iod.path).toBe('prp');
    expect(iod.npages).toBe(0); // a small-pool list
    expect(prps(k.ctrl, iod)).toEqual(run32(start(k.topology)));
    // the IOVA allocator ran only where the addresses are IOVAs
    const ops = iommu ? k.c.get(IommuDmaOps) : undefined;
    if (ops) expect(ops.stats.iovaAllocs > 0).toBe(iova);
    // dma-vec's P2P requests never touch the DMA API at unmap either; the page designs unmap
    nvmeUnmapData(k.ctrl, rq, iod);
    expect(iod.path).toBe('none');
  });
});
