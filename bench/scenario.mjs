/**
 * Benchmark: the copy-offload scenario (examples/scenarios/copy-offload.yaml) end to end - the
 * NIC receiving into nvme1's CMB, nvme0 writing it to flash, each I/O built, split, mapped,
 * given its PRPs or SGL, executed by the controller model through the fabric, unmapped - and
 * the namespace verified against the data at the end.
 *
 * 1. 1 GiB in 128 KiB I/Os (8192 iterations of NIC receive + NVMe write) under each of the three
 *    designs. Target (issue 6): under 5 s for the three together.
 * 2. 1 TiB in 2 MiB I/Os (524288 iterations) under dma-vec, with SGL-capable controllers, in a
 *    child process so that its peak memory (max RSS) is its own. Target: peak memory under 1 GiB;
 *    time and memory scale with the number of I/Os, not the bytes (the extent store keeps data as
 *    references, and the namespace ends as one extent).
 *
 * Figures are medians of 3 runs for (1); (2) runs once.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const core = require('@dmasim/core');
const { dmaDirectStrategy } = require('@dmasim/dma-direct');
const { dmaIommuStrategy } = require('@dmasim/dma-iommu');
const { dmaVecStrategy } = require('@dmasim/dma-vec');

const here = dirname(fileURLToPath(import.meta.url));
const SCENARIO_FILE = join(here, '..', 'examples', 'scenarios', 'copy-offload.yaml');
const registry = core.createStrategyRegistry([dmaDirectStrategy, dmaIommuStrategy, dmaVecStrategy]);

/** copy-offload.yaml with the stream repeated: `total` bytes in `io`-byte I/Os. */
function copyOffload(total, io, extra = {}) {
  return core.scenarioFromObject(
    {
      name: `copy-offload ${total / 2 ** 30} GiB in ${io / 1024} KiB I/Os`,
      topology: '../topologies/switch-2nvme-nic.yaml',
      platform: { iommu: { enabled: true, mode: 'strict' } },
      ...extra,
      steps: [
        {
          id: 'cmb',
          alloc: { kind: 'p2pmem', provider: 'auto', clients: ['mlx5_0', 'nvme0'], size: io },
        },
        {
          id: 'copy',
          repeat: total / io,
          steps: [
            {
              id: 'receive',
              dma: {
                device: 'mlx5_0',
                op: 'write',
                buffer: 'cmb',
                data: { pattern: 'random', seed: 7 },
              },
            },
            { id: 'flush', nvme: { device: 'nvme0', op: 'write', buffer: 'cmb', ioSize: io } },
          ],
        },
        {
          id: 'check',
          verify: {
            a: { namespace: 'nvme0', length: total },
            b: { data: { pattern: 'random', seed: 7 } },
          },
        },
      ],
    },
    SCENARIO_FILE,
  );
}

function check(r, total) {
  if (!r.ok || r.metrics.integrity !== 'verified' || r.metrics.bytesTransferred !== 2 * total) {
    throw new Error(`${r.strategy}: ${JSON.stringify(r.steps.filter((s) => !s.ok))}`);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (process.argv[2] === '--tib') {
  const total = 2 ** 40;
  const io = 2 * 2 ** 20;
  const s = copyOffload(total, io, { nvme: { sgls: true } });
  const t0 = performance.now();
  const r = core.runScenarioStrategy(s, dmaVecStrategy, registry);
  const ms = performance.now() - t0;
  check(r, total);
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  console.log(
    JSON.stringify({ ms, maxRssMiB, ios: total / io, nvmeDescriptors: r.metrics.nvmeDescriptors }),
  );
  process.exit(0);
}

const GiB = 2 ** 30;
const IO = 128 * 1024;
const s = copyOffload(GiB, IO);
const totals = [];
const per = { 'dma-direct': [], 'dma-iommu': [], 'dma-vec': [] };
for (let run = 0; run < 3; run++) {
  let sum = 0;
  for (const d of [dmaDirectStrategy, dmaIommuStrategy, dmaVecStrategy]) {
    const t0 = performance.now();
    const r = core.runScenarioStrategy(s, d, registry);
    const ms = performance.now() - t0;
    check(r, GiB);
    per[d.id].push(ms);
    sum += ms;
  }
  totals.push(sum);
}
for (const [id, xs] of Object.entries(per)) {
  console.log(
    `copy-offload, 1 GiB in 128 KiB I/Os (8192 receives + 8192 NVMe writes), ${id}: median ${(median(xs) / 1000).toFixed(2)} s`,
  );
}
console.log(
  `copy-offload, 1 GiB in 128 KiB I/Os, all three designs: median ${(median(totals) / 1000).toFixed(2)} s (target < 5 s)`,
);

const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--tib'], {
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
});
if (child.status !== 0) throw new Error(`the 1 TiB run failed (${child.status})`);
const tib = JSON.parse(child.stdout.trim().split('\n').pop());
console.log(
  `copy-offload, 1 TiB in 2 MiB I/Os (${tib.ios} receives + ${tib.ios} NVMe writes, SGLs), dma-vec: ` +
    `${(tib.ms / 1000).toFixed(1)} s, peak memory (max RSS) ${tib.maxRssMiB.toFixed(0)} MiB (target < 1024 MiB)`,
);
