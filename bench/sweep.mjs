/**
 * Benchmark: `dmasim sweep` of examples/scenarios/copy-offload.yaml over
 * ioSize=4KiB,8KiB,16KiB,32KiB,64KiB,128KiB under the three designs (6 points x 3 = 18 runs),
 * in one thread (--jobs 1) and with two jobs (the main thread and one worker thread). Each
 * measurement is a fresh process, as a user's command is (cold modules and JIT, in the workers
 * too): the figure is the process's wall time, and the part spent in the command's runSweep()
 * (scenario loading, grid, worker start-up, the runs). Checks that both give the same rows.
 *
 * Target (issue 7): under 30 s on a 2-core machine. Then a larger grid, the same I/O sizes x
 * iommu=off,passthrough,strict,lazy (24 points, 72 runs), still too short for a worker to repay
 * its start-up, and a long one (a 1 GiB stream at 32 points, one measurement each: about 10 s in
 * one thread), where it does and the default starts it. Figures are medians of 3 runs.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const SCENARIO = join(here, '..', 'examples', 'scenarios', 'copy-offload.yaml');
const IO_SIZES = 'ioSize=4KiB,8KiB,16KiB,32KiB,64KiB,128KiB';

if (process.argv[2] === '--child') {
  // One sweep in this process: print its time and a digest of its rows.
  const require = createRequire(import.meta.url);
  const { runSweep } = require('../packages/cli/dist/commands/sweep.js');
  const { Output } = require('../packages/cli/dist/io.js');
  const quiet = { write: () => true, isTTY: false }; // not a terminal: no progress bar
  const ctx = { out: new Output({ stdout: quiet, stderr: quiet, env: {} }), version: 'bench' };
  const jobs = process.argv[4] === 'auto' ? undefined : Number(process.argv[4]);
  const t0 = performance.now();
  const { sweep } = await runSweep(process.argv[3], { vary: process.argv.slice(5), jobs }, ctx);
  const ms = performance.now() - t0;
  if (!sweep.rows.every((r) => r.ok)) throw new Error('a design failed a point');
  const digest = createHash('sha256').update(JSON.stringify(sweep.rows)).digest('hex');
  console.log(JSON.stringify({ ms, rows: sweep.rows.length, digest }));
  process.exit(0);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function measure(scenario, jobs, vary) {
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [fileURLToPath(import.meta.url), '--child', scenario, String(jobs), ...vary],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`the sweep failed (${r.status})`);
  return { wall, ...JSON.parse(r.stdout.trim().split('\n').pop()) };
}

/** Medians of 3 with --jobs 1, --jobs 2 and no --jobs (the default: workers for long sweeps). */
function bench(label, vary, scenario = SCENARIO, times = 3) {
  const JOBS = [1, 2, 'auto'];
  const runs = { 1: [], 2: [], auto: [] };
  let digest;
  let rows = 0;
  for (let i = 0; i < times; i++) {
    for (const jobs of JOBS) {
      const m = measure(scenario, jobs, vary);
      digest ??= m.digest;
      if (m.digest !== digest) throw new Error(`${label}: --jobs ${jobs} gave other rows`);
      runs[jobs].push(m);
      rows = m.rows;
    }
  }
  for (const jobs of JOBS) {
    const wall = median(runs[jobs].map((m) => m.wall));
    const sweep = median(runs[jobs].map((m) => m.ms));
    const how = jobs === 'auto' ? 'no --jobs' : `--jobs ${jobs}`;
    console.log(
      `sweep ${label} (${rows} runs), ${how}: median ${(wall / 1000).toFixed(2)} s wall ` +
        `(process), ${(sweep / 1000).toFixed(2)} s in runSweep`,
    );
  }
  console.log(`sweep ${label}: every job count gave the same rows`);
}

bench('copy-offload, 6 I/O sizes x 3 designs', [IO_SIZES]);
console.log('  target: under 30 s');
bench('copy-offload, 6 I/O sizes x 4 IOMMU modes x 3 designs', [
  IO_SIZES,
  'iommu=off,passthrough,strict,lazy',
]);

// A long sweep, where workers repay their start-up: copy-offload as a 1 GiB stream of 128 KiB
// I/Os (8192 receives and 8192 NVMe writes per run), 32 points x 3 designs.
const dir = mkdtempSync(join(tmpdir(), 'dmasim-bench-'));
const stream = join(dir, 'stream.yaml');
writeFileSync(
  stream,
  `name: copy-offload-stream
topology: ${JSON.stringify(join(here, '..', 'examples', 'topologies', 'switch-2nvme-nic.yaml'))}
platform: { iommu: { enabled: true, mode: strict } }
steps:
  - id: cmb
    alloc: { kind: p2pmem, provider: auto, clients: [mlx5_0, nvme0], size: 128KiB }
  - id: copy
    repeat: 8192
    steps:
      - id: receive
        dma: { device: mlx5_0, op: write, buffer: cmb, data: { pattern: random, seed: 7 } }
      - id: flush
        nvme: { device: nvme0, op: write, buffer: cmb, ioSize: 128KiB }
  - id: check
    verify:
      a: { namespace: nvme0, offset: 0, length: 1GiB }
      b: { data: { pattern: random, seed: 7 } }
`,
);
try {
  bench(
    'of a 1 GiB copy-offload stream, 4 IOMMU modes x 4 MPS x SGLs on/off x 3 designs',
    ['iommu=off,passthrough,strict,lazy', 'mps=128,256,512,1024', 'sgls=on,off'],
    stream,
    1,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
