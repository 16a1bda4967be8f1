/**
 * Benchmark: dma-direct map_sg + unmap_sg throughput (reference §3.2) on tables of 1, 64, 4096 and
 * 1 M entries of 4 KiB RAM pages (pfns two apart, so no two pages merge and every entry is one
 * page), plus a mixed RAM/P2P variant of 4096 and 1 M entries: per 16 entries, RAM, BUS_ADDR
 * (gpuA), RAM, THRU_HOST_BRIDGE (gpuC), so a map-type lookup every 32 entries.
 *
 * The device is 64-bit and coherent: no bouncing, no cache maintenance. Tables are built before
 * the timed part; each sample maps and unmaps the whole table `repeat` times (small tables repeat
 * so that a sample is long enough to time). Target (issue): >= 10 M entries/s for large tables.
 */
import { createRequire } from 'node:module';
import { formatMedian, tableOfPages, timeMapUnmap } from './lib/map-sg.mjs';

const require = createRequire(import.meta.url);
const core = require('@dmasim/core');
const { DmaDirectOps } = require('@dmasim/dma-direct');
// read the exports once: the CommonJS re-exports are getters
const {
  DmaDevice,
  KernelLog,
  P2pdmaDevices,
  Page,
  PAGE_SIZE,
  Swiotlb,
  pciP2pdmaAddResource,
  topologyFromObject,
} = core;
const DMA_TO_DEVICE = core.DmaDataDirection.DMA_TO_DEVICE;

const ep = (bdf, name) => ({
  bdf,
  kind: 'endpoint',
  name,
  class: 'gpu',
  bars: [{ bar: 0, size: '2GiB', prefetchable: true }],
});
const topo = topologyFromObject({
  platform: { cpu: { vendor: 'Intel', family: 6 } },
  hostBridges: [
    {
      name: 'hb0',
      bus: 0,
      busOffset: 0x10_0000_0000,
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
                { bdf: '02:01.0', kind: 'switch-downstream', children: [ep('04:00.0', 'gpuA')] },
              ],
            },
          ],
        },
        { bdf: '00:02.0', kind: 'root-port', children: [ep('06:00.0', 'gpuC')] },
      ],
    },
  ],
});

const log = new KernelLog();
const p2p = new P2pdmaDevices(topo);
for (const name of ['gpuA', 'gpuC']) {
  const err = pciP2pdmaAddResource(p2p, topo.get(name), 0, 0, 0, log);
  if (err) throw new Error(`pci_p2pdma_add_resource(${name}) = ${err}`);
}
const swiotlb = new Swiotlb(topo.memoryMap, {}, log);
const ops = new DmaDirectOps(p2p, swiotlb, topo.memoryMap, log, {});
const nvme0 = topo.get('nvme0');
const dev = new DmaDevice(nvme0.bdf, nvme0, ops, log, { dmaMaskBits: 64 });
const pfnOf = (name) => topo.get(name).bar(0).cpuAddress / PAGE_SIZE;
const pgmapOf = (name) => p2p.get(topo.get(name)).pgmaps[0];
const HIGH_PFN = 0x10_0000; // RAM from 4 GiB

function buildTable(n, mixed) {
  const pages = new Array(n);
  const a = { pfn: pfnOf('gpuA'), pgmap: pgmapOf('gpuA'), k: 0 };
  const c = { pfn: pfnOf('gpuC'), pgmap: pgmapOf('gpuC'), k: 0 };
  let ramK = 0;
  for (let i = 0; i < n; i++) {
    const kind = mixed ? (i >> 4) & 3 : 0;
    const p = kind === 1 ? a : kind === 3 ? c : undefined;
    if (p) pages[i] = new Page(p.pfn + 2 * p.k++, p.pgmap);
    else pages[i] = new Page(HIGH_PFN + 2 * ramK++);
  }
  return tableOfPages(pages);
}

const cases = [
  { n: 1, mixed: false },
  { n: 64, mixed: false },
  { n: 4096, mixed: false },
  { n: 2 ** 20, mixed: false },
  { n: 4096, mixed: true },
  { n: 2 ** 20, mixed: true },
];

const rows = [];
for (const { n, mixed } of cases) {
  const sgt = buildTable(n, mixed);
  const sgl = sgt.sgl;
  const check = ops.mapSg(dev, sgl, n, DMA_TO_DEVICE, 0);
  if (check !== n) throw new Error(`map_sg of ${n} returned ${check}`);
  ops.unmapSg(dev, sgl, n, DMA_TO_DEVICE, 0);
  ops.stats.reset();

  const name = `map_sg + unmap_sg, ${n} ${n === 1 ? 'entry' : 'entries'}${mixed ? ' (RAM/P2P mixed)' : ' (RAM)'}`;
  rows.push({
    ...(await timeMapUnmap(ops, dev, sgl, n, name)),
    lookupsPerMap: ops.stats.p2pLookups / Math.max(1, ops.stats.mapSgCalls),
  });
}

for (const r of rows) {
  console.log(
    `${r.name}: median ${formatMedian(r.medianMs)} per map+unmap, ${(r.entriesPerS / 1e6).toFixed(1)} M entries/s` +
      (r.lookupsPerMap ? `, ${r.lookupsPerMap.toFixed(0)} P2P lookups per map_sg` : '') +
      ` (${r.samples} samples)`,
  );
}
console.log(`heap used ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`);
