/**
 * Benchmark: the full P2PDMA pair matrix of a generated 4096-endpoint fabric.
 *
 * "cold": every endpoint is a provider with p2pdma state; calc_map_type_and_dist() runs for each
 * of the 4096 x 4096 ordered pairs and fills the providers' map-type caches (as the kernel does on
 * first use). "warm": pci_p2pdma_map_type() for every pair, served from the caches.
 * Target (issue 2): the matrix in under 2 s on the project's machine (2 cores), with the cache.
 */
import { createRequire } from 'node:module';
import { Bench } from 'tinybench';
import { generatedFabric } from './fabric.mjs';

const require = createRequire(import.meta.url);
const core = require('@dmasim/core');
// read the exports once: the CommonJS re-exports are getters
const { calcMapTypeAndDist, pciP2pdmaMapType, P2pdmaDevices } = core;
const BUS_ADDR = core.PciP2pdmaMapType.BUS_ADDR;

const spec = generatedFabric();
const topo = core.topologyFromObject(spec);
const endpoints = topo.endpoints;
const n = endpoints.length;
if (n !== 4096) throw new Error(`expected 4096 endpoints, got ${n}`);

function freshKernel() {
  const p2p = new P2pdmaDevices(topo);
  for (const ep of endpoints) p2p.setup(ep);
  return p2p;
}

let p2p = freshKernel();
const mapTypes = new Uint8Array(n * n);
const distances = new Int32Array(n * n);

function coldMatrix() {
  for (let i = 0; i < n; i++) {
    const provider = endpoints[i];
    for (let j = 0; j < n; j++) {
      const r = calcMapTypeAndDist(p2p, provider, endpoints[j]);
      mapTypes[i * n + j] = r.mapType;
      distances[i * n + j] = r.distance;
    }
  }
}

function warmMatrix() {
  let busAddr = 0;
  for (let i = 0; i < n; i++) {
    const provider = endpoints[i];
    for (let j = 0; j < n; j++) {
      if (pciP2pdmaMapType(p2p, provider, endpoints[j]) === BUS_ADDR) busAddr++;
    }
  }
  return busAddr;
}

const bench = new Bench({ iterations: 7, time: 0, warmupIterations: 1, warmupTime: 0 });
bench
  .add(`calc_map_type_and_dist, ${n}x${n} pairs, filling the caches (cold)`, coldMatrix, {
    beforeEach() {
      p2p = freshKernel();
    },
  })
  .add(`pci_p2pdma_map_type, ${n}x${n} pairs from the caches (warm)`, warmMatrix, {
    beforeAll() {
      p2p = freshKernel();
      coldMatrix();
    },
  });

const t0 = performance.now();
core.topologyFromObject(spec);
const buildMs = performance.now() - t0;
const tg = performance.now();
core.computeIommuGroups(topo);
const groupsMs = performance.now() - tg;

await bench.run();

const counts = { BUS_ADDR: 0, THRU_HOST_BRIDGE: 0, NOT_SUPPORTED: 0 };
for (const t of mapTypes) counts[core.mapTypeName(t)]++;

console.log(
  `fabric: ${topo.devices.length} functions, ${n} endpoints, ${topo.hostBridges.length} host bridges`,
);
console.log(`build topology: ${buildMs.toFixed(0)} ms; IOMMU groups: ${groupsMs.toFixed(0)} ms`);
for (const task of bench.tasks) {
  const r = task.result;
  const lat = r.latency ?? r;
  const median = lat.p50 ?? lat.median;
  console.log(
    `${task.name}: median ${median.toFixed(0)} ms (min ${lat.min.toFixed(0)}, max ${lat.max.toFixed(0)}, ${lat.samples?.length ?? bench.iterations} runs)`,
  );
}
console.log(
  `pairs: ${JSON.stringify(counts)}; heap used ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`,
);
