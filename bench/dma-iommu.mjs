/**
 * Benchmark: dma-iommu map_sg + unmap_sg throughput (reference §4.2-§4.4) in a strict-mode IOMMU
 * domain (iommu.strict=1: every unmap syncs the IOTLB, every IOVA is freed at once) on tables of
 * 1, 64, 4096 and 1 M entries of 4 KiB RAM pages, in two layouts:
 *  - scattered: pfns two apart, so no two pages are physically contiguous: one iommu_map() and one
 *    4 KiB leaf per entry, and __finalise_sg() merges every 16 entries into a 64 KiB segment;
 *  - contiguous: consecutive pfns from a 2 MiB-aligned base: iommu_map_sg() maps the whole list in
 *    one call, with 2 MiB superpages wherever the IOVA and the physical address line up.
 *
 * The device is nvme0, 64-bit, coherent, PCI default limits (64 KiB segments, 4 GiB boundary):
 * no bouncing, no cache maintenance. Tables of up to 4096 entries (16 MiB) get a 32-bit IOVA; the
 * 1 M-entry table (4 GiB) cannot, so the first map logs "Using 48-bit DMA addresses" and later
 * ones go straight to the 64-bit space. Tables are built before the timed part; each sample maps
 * and unmaps the whole table `repeat` times (small tables repeat so that a sample is long enough
 * to time). Target (issue): >= 3 M entries/s for large tables.
 */
import { createRequire } from 'node:module';
import { formatMedian, tableOfPages, timeMapUnmap } from './lib/map-sg.mjs';

const require = createRequire(import.meta.url);
const core = require('@dmasim/core');
const { createDmaIommuModule, IommuDmaOps } = require('@dmasim/dma-iommu');
// read the exports once: the CommonJS re-exports are getters
const { createKernelContainer, DmaDevices, Iommu, Page, topologyFromObject } = core;
const DMA_TO_DEVICE = core.DmaDataDirection.DMA_TO_DEVICE;

const topo = topologyFromObject({
  platform: { cpu: { vendor: 'Intel', family: 6 }, iommu: { mode: 'strict' } },
  hostBridges: [
    {
      name: 'hb0',
      bus: 0,
      devices: [
        { bdf: '00:00.0', kind: 'host-bridge', vendor: 0x8086, device: 0x2020 },
        {
          bdf: '00:01.0',
          kind: 'root-port',
          children: [{ bdf: '01:00.0', kind: 'endpoint', name: 'nvme0', class: 'nvme' }],
        },
      ],
    },
  ],
});

const c = createKernelContainer({ topology: topo, strategy: createDmaIommuModule() });
const ops = c.get(IommuDmaOps);
const iommu = c.get(Iommu);
const dev = c.get(DmaDevices).get('nvme0', { dmaMaskBits: 64 });
const HIGH_PFN = 0x10_0000; // RAM from 4 GiB (2 MiB aligned)

function buildTable(n, contiguous) {
  const pages = new Array(n);
  for (let i = 0; i < n; i++) pages[i] = new Page(HIGH_PFN + (contiguous ? i : 2 * i));
  return tableOfPages(pages);
}

const cases = [
  { n: 1, contiguous: false },
  { n: 64, contiguous: false },
  { n: 4096, contiguous: false },
  { n: 2 ** 20, contiguous: false },
  { n: 4096, contiguous: true },
  { n: 2 ** 20, contiguous: true },
];

const rows = [];
for (const { n, contiguous } of cases) {
  const sgt = buildTable(n, contiguous);
  const sgl = sgt.sgl;
  const count = ops.mapSg(dev, sgl, n, DMA_TO_DEVICE, 0);
  if (!(count > 0)) throw new Error(`map_sg of ${n} returned ${count}`);
  ops.unmapSg(dev, sgl, n, DMA_TO_DEVICE, 0);
  ops.stats.reset();
  const mapsBefore = iommu.counters.iommuMap;

  const name = `map_sg + unmap_sg, ${n} ${n === 1 ? 'entry' : 'entries'} (RAM, ${contiguous ? 'contiguous' : 'scattered'})`;
  const timed = await timeMapUnmap(ops, dev, sgl, n, name);
  const calls = Math.max(1, ops.stats.mapSgCalls);
  rows.push({
    ...timed,
    outPerMap: ops.stats.mapSgOutEntries / calls,
    iommuMapsPerMap: (iommu.counters.iommuMap - mapsBefore) / calls,
  });
}

for (const r of rows) {
  console.log(
    `${r.name}: median ${formatMedian(r.medianMs)} per map+unmap, ${(r.entriesPerS / 1e6).toFixed(2)} M entries/s, ` +
      `${r.outPerMap.toFixed(0)} DMA entries and ${r.iommuMapsPerMap.toFixed(0)} iommu_map() per map_sg ` +
      `(${r.samples} samples)`,
  );
}
console.log(`heap used ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`);
