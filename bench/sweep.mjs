/**
 * Benchmark: `dmasim sweep` of examples/scenarios/copy-offload.yaml over
 * ioSize=4KiB,8KiB,16KiB,32KiB,64KiB,128KiB under the three designs (6 points x 3 = 18 runs),
 * in one thread (--jobs 1) and with two jobs (the main thread and one worker thread). Each
 * measurement is a fresh process, as a user's command is (cold modules and JIT, in the workers
 * too): the figure is the process's wall time, and the part spent in the command's runSweep()
 * (scenario loading, grid, worker start-up, the runs). Checks that both give the same rows.
 *
 * Target (issue 7): under 30 s on a 2-core machine. Then a larger grid, the same I/O sizes x
 * iommu=off,passthrough,strict,lazy (24 points, 72 runs), where the second job has more to win
 * than its start-up. Figures are medians of 3 runs.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
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
  const jobs = Number(process.argv[3]);
  const t0 = performance.now();
  const { sweep } = await runSweep(SCENARIO, { vary: process.argv.slice(4), jobs }, ctx);
  const ms = performance.now() - t0;
  if (!sweep.rows.every((r) => r.ok)) throw new Error('a design failed a point');
  const digest = createHash('sha256').update(JSON.stringify(sweep.rows)).digest('hex');
  console.log(JSON.stringify({ ms, rows: sweep.rows.length, digest }));
  process.exit(0);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function measure(jobs, vary) {
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [fileURLToPath(import.meta.url), '--child', String(jobs), ...vary],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`the sweep failed (${r.status})`);
  return { wall, ...JSON.parse(r.stdout.trim().split('\n').pop()) };
}

function bench(label, vary) {
  const runs = { 1: [], 2: [] };
  let digest;
  let rows = 0;
  for (let i = 0; i < 3; i++) {
    for (const jobs of [1, 2]) {
      const m = measure(jobs, vary);
      digest ??= m.digest;
      if (m.digest !== digest) throw new Error(`${label}: --jobs ${jobs} gave other rows`);
      runs[jobs].push(m);
      rows = m.rows;
    }
  }
  for (const jobs of [1, 2]) {
    const wall = median(runs[jobs].map((m) => m.wall));
    const sweep = median(runs[jobs].map((m) => m.ms));
    console.log(
      `sweep ${label} (${rows} runs), --jobs ${jobs}: median ${(wall / 1000).toFixed(2)} s wall ` +
        `(process), ${(sweep / 1000).toFixed(2)} s in runSweep`,
    );
  }
  console.log(`sweep ${label}: --jobs 2 gave the same rows as --jobs 1`);
}

bench('copy-offload, 6 I/O sizes x 3 designs', [IO_SIZES]);
console.log('  target: under 30 s');
bench('copy-offload, 6 I/O sizes x 4 IOMMU modes x 3 designs', [
  IO_SIZES,
  'iommu=off,passthrough,strict,lazy',
]);
