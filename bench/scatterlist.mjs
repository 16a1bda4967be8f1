/**
 * Benchmark: sg_alloc_table_from_pages_segment() (reference §10.1) on page arrays of 2^20 pages
 * (4 GiB) and 4096 pages (16 MiB) in three shapes:
 * - contiguous, max_segment 64 KiB: 16 pages per entry;
 * - contiguous, max_segment UINT_MAX (0xFFFFF000 after rounding): 1048575 pages per entry;
 * - random discontiguous: runs of 1..16 pages at random gaps (fixed seed), as a fragmented
 *   user buffer pinned by GUP would look; and, for 1M pages, no two pages contiguous (one entry
 *   per page, the most slots).
 * Each case builds its page array before it runs; only building the table is timed.
 */
import { createRequire } from 'node:module';
import { Bench } from 'tinybench';

const require = createRequire(import.meta.url);
const core = require('@dmasim/core');
// read the exports once: the CommonJS re-exports are getters
const { Page, SgTable, sgAllocTableFromPagesSegment } = core;

const UINT_MAX = 0xffff_ffff;
const SEED = 20261121;

/** mulberry32: a small seeded PRNG, so every run sees the same random page array. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function contiguous(n, firstPfn = 0x100000) {
  const pages = new Array(n);
  for (let i = 0; i < n; i++) pages[i] = new Page(firstPfn + i);
  return pages;
}

/** Runs of 1..maxRun pages separated by gaps of 1..64 pages. */
function fragmented(n, seed, maxRun = 16) {
  const rand = rng(seed);
  const pages = new Array(n);
  let pfn = 0x100000;
  let i = 0;
  while (i < n) {
    pfn += 1 + Math.floor(rand() * 64);
    const run = 1 + Math.floor(rand() * maxRun);
    for (let k = 0; k < run && i < n; k++) pages[i++] = new Page(pfn++);
  }
  return pages;
}

const M = 2 ** 20;
const cases = [
  { name: '1M pages contiguous, max_segment 64 KiB', n: M, make: contiguous, maxSeg: 64 * 1024 },
  { name: '1M pages contiguous, max_segment UINT_MAX', n: M, make: contiguous, maxSeg: UINT_MAX },
  {
    name: `1M pages random runs (seed ${SEED})`,
    n: M,
    make: (n) => fragmented(n, SEED),
    maxSeg: UINT_MAX,
  },
  {
    name: `1M pages, none contiguous (seed ${SEED})`,
    n: M,
    make: (n) => fragmented(n, SEED, 1),
    maxSeg: UINT_MAX,
  },
  {
    name: '4096 pages contiguous, max_segment 64 KiB',
    n: 4096,
    make: contiguous,
    maxSeg: 64 * 1024,
  },
  {
    name: '4096 pages contiguous, max_segment UINT_MAX',
    n: 4096,
    make: contiguous,
    maxSeg: UINT_MAX,
  },
  {
    name: `4096 pages random runs (seed ${SEED})`,
    n: 4096,
    make: (n) => fragmented(n, SEED),
    maxSeg: UINT_MAX,
  },
];

function build(c) {
  const sgt = new SgTable();
  const ret = sgAllocTableFromPagesSegment(sgt, c.pages, 0, c.n * 4096, c.maxSeg);
  if (ret !== 0) throw new Error(`${c.name}: ${ret}`);
  return sgt;
}

const bench = new Bench({ iterations: 9, time: 0, warmupIterations: 2, warmupTime: 0 });
for (const c of cases) {
  bench.add(
    c.name,
    () => {
      build(c);
    },
    {
      // Only this case's pages are alive while it runs, so the other cases' millions of Page
      // objects do not slow down its garbage collections.
      beforeAll() {
        c.pages = c.make(c.n);
        c.nents = build(c).nents;
      },
      afterAll() {
        c.pages = undefined;
      },
    },
  );
}

await bench.run();

for (const [i, task] of bench.tasks.entries()) {
  const c = cases[i];
  const r = task.result;
  const lat = r.latency ?? r;
  const median = lat.p50 ?? lat.median;
  const pagesPerSec = c.n / (median / 1000);
  console.log(
    `${task.name}: ${c.nents} entries, median ${median.toFixed(2)} ms ` +
      `(min ${lat.min.toFixed(2)}, max ${lat.max.toFixed(2)}, ${lat.samples?.length ?? 9} runs), ` +
      `${(pagesPerSec / 1e6).toFixed(1)} M pages/s`,
  );
}
