/**
 * Benchmark: the block layer and the NVMe driver per design (reference §5.2, §5.5, §5.6, §6.1):
 * a stream of 1 GiB of 128 KiB reads (8192 requests) submitted to nvme0's namespace queue, each
 * built from pages (or, for dma-vec P2P memory, one dma_vec), split to the queue limits,
 * turned into a request, mapped (RequestMapper + the design's DMA ops), given its PRPs
 * (nvme_map_data()), then unmapped (nvme_unmap_data()) so that the next one finds the same state.
 *
 * Machine: the conformance fabric (@dmasim/core/testing). dma-direct runs without an IOMMU,
 * dma-iommu and dma-vec behind a strict one (iommu.strict=1), which caps NVMe requests at
 * dma_opt_mapping_size() = 128 KiB, so none is split. Two kinds of memory per design:
 *  - RAM, scattered: 32 pages two pfns apart, so 32 physical segments per request;
 *  - P2P, BUS_ADDR: 32 contiguous pages of nvme1's BAR under the same switch (one segment),
 *    a single 128 KiB dma_vec for dma-vec.
 * Target (issue): under 1 s per design for the 1 GiB stream.
 */
import { createRequire } from 'node:module';
import { Bench } from 'tinybench';

const require = createRequire(import.meta.url);
const core = require('@dmasim/core');
const { conformanceFabric } = require('@dmasim/core/testing');
const { dmaDirectStrategy } = require('@dmasim/dma-direct');
const { dmaIommuStrategy } = require('@dmasim/dma-iommu');
const vec = require('@dmasim/dma-vec');
const {
  bioAddPage,
  bioAlloc,
  bioSplitToLimits,
  BLK_STS_OK,
  blkRqFromBio,
  createKernelContainer,
  createStrategyRegistry,
  DIRECT_MAP_BASE,
  DmaDataDirection,
  DmaDevices,
  Memmap,
  NvmeCtrls,
  nvmePrepRq,
  nvmeUnmapData,
  P2pdmaDevices,
  P2pMemory,
  Page,
  pciAllocP2pmem,
  pciP2pmemPublish,
  REQ_OP_READ,
} = core;
const { bioAddDmaAddr, bioDmaAlloc, blkDmaRqFromBio, blkQueueSplit, p2pmemDmaMap, WcMappings } =
  vec;

const LEN = 128 * 1024;
const PAGES = LEN / 4096;
const REQUESTS = 2 ** 30 / LEN;
const registry = createStrategyRegistry([dmaDirectStrategy, dmaIommuStrategy, vec.dmaVecStrategy]);

function boot(d, iommu) {
  const topology = conformanceFabric(iommu ? { iommu: { mode: 'strict' } } : {});
  const c = createKernelContainer({
    topology,
    strategy: d,
    modules: registry.modulesFor(d, topology),
  });
  const p2p = c.get(P2pdmaDevices);
  const nvme1 = topology.get('nvme1');
  if (c.get(P2pMemory).addResource(p2p, nvme1, 2, 0, 0) !== 0) throw new Error('p2pmem');
  pciP2pmemPublish(p2p, nvme1, true);
  const ctrl = c.get(NvmeCtrls).get('nvme0');
  return { c, p2p, ctrl, q: ctrl.queues.get(1), nvme1 };
}

/** One design and memory: a function that submits the whole stream once. */
function stream(name, d, iommu, memory) {
  const k = boot(d, iommu);
  const dmaVec = d === vec.dmaVecStrategy;
  let pages;
  let dmaAddr = 0;
  if (memory === 'ram') {
    pages = Array.from({ length: PAGES }, (_, i) => new Page(0x10_0000 + 2 * i));
  } else {
    const virt = pciAllocP2pmem(k.p2p, k.nvme1, LEN);
    if (dmaVec) {
      const dev = k.c.get(DmaDevices).get('nvme0');
      const a = p2pmemDmaMap(
        k.p2p,
        k.c.get(WcMappings),
        k.nvme1,
        dev,
        virt,
        LEN,
        DmaDataDirection.DMA_FROM_DEVICE,
      );
      dmaAddr = a.dmaAddr;
    } else {
      const memmap = k.c.get(Memmap);
      const pfn0 = (virt - DIRECT_MAP_BASE) / 4096;
      pages = Array.from({ length: PAGES }, (_, i) => memmap.pfnToPage(pfn0 + i));
    }
  }
  const { ctrl, q } = k;
  const one = (sector) => {
    let bio;
    if (pages) {
      bio = bioAlloc(REQ_OP_READ, PAGES, q);
      for (let i = 0; i < PAGES; i++) bioAddPage(bio, pages[i], 4096, 0);
    } else {
      bio = bioDmaAlloc(REQ_OP_READ, 1, q);
      bioAddDmaAddr(q, bio, dmaAddr, LEN);
    }
    bio.sector = sector;
    // the design's block layer: v6.16's for the page designs, the RFC's (v5.2) for dma-vec
    const s = dmaVec ? blkQueueSplit(q, bio) : bioSplitToLimits(bio);
    if (s.remainder) throw new Error(`${name}: a 128 KiB request was split`);
    const rq =
      dmaVec && !pages
        ? blkDmaRqFromBio(q, s.bio, { nrSegs: s.nrSegs })
        : blkRqFromBio(q, s.bio, s.nrSegs);
    const { status, iod } = nvmePrepRq(ctrl, rq);
    if (status !== BLK_STS_OK) throw new Error(`${name}: nvme_map_data ${status}`);
    nvmeUnmapData(ctrl, rq, iod);
  };
  return {
    name,
    run: () => {
      for (let r = 0; r < REQUESTS; r++) one(r * (LEN / 512));
    },
    check: () => one(0),
  };
}

const cases = [
  stream('dma-direct, RAM (32 scattered pages per request)', dmaDirectStrategy, false, 'ram'),
  stream('dma-direct, P2P BUS_ADDR pages', dmaDirectStrategy, false, 'p2p'),
  stream('dma-iommu (strict), RAM (32 scattered pages)', dmaIommuStrategy, true, 'ram'),
  stream('dma-iommu (strict), P2P BUS_ADDR pages', dmaIommuStrategy, true, 'p2p'),
  stream(
    'dma-vec (strict IOMMU), RAM page bios through dma-iommu',
    vec.dmaVecStrategy,
    true,
    'ram',
  ),
  stream('dma-vec (strict IOMMU), P2P BUS_ADDR dma_vec', vec.dmaVecStrategy, true, 'p2p'),
];

for (const c of cases) {
  c.check();
  const bench = new Bench({ time: 3000, iterations: 5, warmupTime: 500, warmupIterations: 1 });
  bench.add(c.name, c.run);
  await bench.run();
  const lat = bench.tasks[0].result.latency;
  const ms = lat.p50;
  console.log(
    `1 GiB of 128 KiB reads (${REQUESTS} requests: split + map + PRPs + unmap), ${c.name}: ` +
      `median ${(ms / 1000).toFixed(3)} s, ${(((REQUESTS / ms) * 1000) / 1e3).toFixed(1)} k requests/s ` +
      `(${lat.samplesCount ?? lat.samples?.length} samples)`,
  );
}
console.log(`heap used ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`);
