/**
 * What the map_sg benchmarks share: a table from a page array, and the median time of one
 * map_sg + unmap_sg of a whole table (small tables are mapped `repeat` times per sample so that a
 * sample is long enough to time).
 */
import { createRequire } from 'node:module';
import { Bench } from 'tinybench';

const require = createRequire(import.meta.url);
const core = require('@dmasim/core');
const { PAGE_SIZE, SgTable, sgAllocTableFromPagesSegment } = core;
const DMA_TO_DEVICE = core.DmaDataDirection.DMA_TO_DEVICE;

/** One entry per page: max_segment PAGE_SIZE keeps contiguous pages apart too. */
export function tableOfPages(pages) {
  const n = pages.length;
  const sgt = new SgTable();
  const err = sgAllocTableFromPagesSegment(sgt, pages, 0, n * PAGE_SIZE, PAGE_SIZE);
  if (err || sgt.origNents !== n) throw new Error(`table of ${n}: ${err}, ${sgt.origNents}`);
  return sgt;
}

/** Median of map_sg + unmap_sg (DMA_TO_DEVICE) of the first `n` entries of `sgl`. */
export async function timeMapUnmap(ops, dev, sgl, n, name) {
  const repeat = Math.max(1, Math.ceil(65536 / n));
  const bench = new Bench({ time: 1000, iterations: 10, warmupTime: 200, warmupIterations: 3 });
  bench.add(name, () => {
    for (let r = 0; r < repeat; r++) {
      ops.mapSg(dev, sgl, n, DMA_TO_DEVICE, 0);
      ops.unmapSg(dev, sgl, n, DMA_TO_DEVICE, 0);
    }
  });
  await bench.run();
  const lat = bench.tasks[0].result.latency;
  const medianMs = lat.p50 / repeat;
  return {
    name,
    medianMs,
    entriesPerS: n / (medianMs / 1000),
    samples: lat.samplesCount ?? lat.samples?.length,
  };
}

/** "0.83 µs" or "48.46 ms". */
export function formatMedian(ms) {
  return ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(2)} µs`;
}
