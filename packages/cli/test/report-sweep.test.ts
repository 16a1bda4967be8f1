/**
 * `dmasim sweep --report`: the sweep report built from a hand-written sweep document
 * (report-fixtures.ts: ioSize 4 KiB .. 1 MiB × iommu strict/off × three designs, dma-vec
 * failing at 4 KiB with iommu=strict).
 */
import { sweepReportHtml } from '../src/report';
import { MAX_PANELS } from '../src/report/sweep-report';
import { SWEEP_KEY_METRICS } from '../src/report/metrics';
import type { SweepJson } from '../src/sweep/types';
import { embeddedJson, reportInput, sweepDoc, SWEEP_DESIGNS, SWEEP_SIZES } from './report-fixtures';

function section(html: string, id: string): string {
  const m = new RegExp(`<section id="${id}">([\\s\\S]*?)</section>`).exec(html);
  if (!m) throw new Error(`no section ${id}`);
  return m[1];
}

/** The key metrics the fixture's figures are not all 0 in. */
const CHARTED = SWEEP_KEY_METRICS.filter((m) => m !== 'hostBridgeBytes');

describe('the sweep report', () => {
  const sweep = sweepDoc();
  const html = sweepReportHtml(reportInput(), sweep);

  test('the header lists the varied parameters and counts the runs', () => {
    expect(html).toContain('<code>ioSize</code>: 4KiB, 16KiB, 64KiB, 256KiB, 1MiB');
    // 5 sizes × 2 iommu modes = 10 points, × 3 designs = 30 runs, 1 failed.
    expect(html).toContain('10 points × 3 designs = 30 runs, 1 failed');
  });

  test('a line chart per key metric and iommu mode, x = ioSize on a log2 axis, a line per design', () => {
    const s = section(html, 'charts');
    const charts = [...s.matchAll(/<svg class="chart line-chart"[^>]*data-metric="(\w+)"/g)].map(
      (m) => m[1],
    );
    // The made-up figures vary only in the key metrics, and hostBridgeBytes is 0 everywhere;
    // one chart per other key metric and value of iommu.
    expect(charts).toEqual(CHARTED.flatMap((m) => [m, m]));
    expect(s).toContain('0 at every point, so not charted: <code>hostBridgeBytes</code>.');
    expect(s).toContain('data-fixed="iommu = strict"');
    expect(s).toContain('data-fixed="iommu = off"');
    expect(s).toContain('ioSize on a log₂ scale');
    expect(s.match(/<g class="series"/g)).toHaveLength(3 * charts.length);
    // dma-vec fails once, at 4 KiB with iommu strict: a cross in each strict chart.
    expect(s.match(/<g class="failed-point">/g)).toHaveLength(CHARTED.length);
    expect(s).toContain('<title>dma-vec, ioSize=4KiB: failed at step flush: -EINVAL</title>');
  });

  test('the values plotted are the rows: cpuNs = 100 × (size index + 1) × (design index + 1)', () => {
    const s = section(html, 'charts');
    // dma-iommu (index 1) at 1 MiB (index 4): 100 × 5 × 2 = 1000 ns = 1 µs.
    expect(s).toContain('<title>dma-iommu, ioSize=1MiB: 1 µs</title>');
    // dma-vec's dma_vecs at 64 KiB: 16 segments × 16 bytes = 256 B; dma-direct's: 16 × 32 = 512 B.
    expect(s).toContain('<title>dma-vec, ioSize=64KiB: 256 B</title>');
    expect(s).toContain('<title>dma-direct, ioSize=64KiB: 512 B</title>');
    // dma-vec (index 2) at 16 KiB (index 1): 100 × 2 × 3 = 600 ns.
    expect(s).toContain('<title>dma-vec, ioSize=16KiB: 600 ns</title>');
  });

  test('the table: a row per point and design, the point spanning its designs', () => {
    const s = section(html, 'points');
    expect(s.match(/<tr[ >]/g)).toHaveLength(1 + SWEEP_SIZES.length * 2 * SWEEP_DESIGNS.length);
    expect(s.match(/<tr class="point-start">/g)).toHaveLength(10);
    // Each point is a row group headed by its values: 5 sizes x 2 iommu modes = 10 groups.
    expect(s.match(/<tbody>/g)).toHaveLength(10);
    expect(s.match(/<th scope="rowgroup" rowspan="3">/g)).toHaveLength(20);
    expect(s.match(/rowspan="3"/g)).toHaveLength(20);
    expect(s).toContain('<td class="failed" title="-EINVAL">FAILED flush: -EINVAL</td>');
  });

  test('the machine is drawn without paths, and the sweep document is embedded', () => {
    const s = section(html, 'machine');
    expect(s.match(/<g class="node /g)).toHaveLength(11);
    expect(s).not.toContain('class="path ');
    expect(JSON.parse(embeddedJson(html))).toEqual(sweep);
  });

  test(`more than ${MAX_PANELS} combinations of the other parameters: the first ${MAX_PANELS}, and a note`, () => {
    const big: SweepJson = {
      ...sweep,
      parameters: [
        sweep.parameters[0],
        { key: 'a', values: [1, 2, 3] },
        { key: 'b', values: ['x', 'y', 'z'] },
      ],
      // Rows of other points (no a, no b): every point of the charts is missing.
      rows: sweep.rows,
    };
    const h = sweepReportHtml(reportInput(), big);
    // 3 × 3 = 9 combinations; 6 charts per metric.
    expect(h).toContain('a × b take 9 combinations; the charts show the first 6');
    expect(h.match(/data-metric="effectiveGBps" data-fixed=/g)).toHaveLength(MAX_PANELS);
    // Nothing plotted, and no point marked as failed.
    expect(h).not.toContain('class="point"');
    expect(h).not.toContain('failed-point');
  });
});
