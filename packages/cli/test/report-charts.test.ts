/**
 * The report's charts: axes in the metric's unit, the x scale of a sweep, the bar chart (one bar
 * per design, the value written at its end) and the line chart (gaps where a design failed), and
 * the designs' colours.
 */
import { barChartSvg } from '../src/report/bar-chart';
import { contrastRatio, EXTRA_COLORS, PATH_COLORS, strategyColor } from '../src/report/colors';
import { lineChartSvg } from '../src/report/line-chart';
import { chartedMetrics, formatMetric, metricInfo, RUN_KEY_METRICS } from '../src/report/metrics';
import { niceStep, valueAxis, xScale } from '../src/report/scales';
import { metrics } from './report-fixtures';

/** Every match of `re`'s first group, as numbers. */
function numbers(text: string, re: RegExp): number[] {
  return [...text.matchAll(re)].map((m) => Number(m[1]));
}

describe('units and axes', () => {
  test('values are written as the text table writes them, without trailing zeros', () => {
    // 4 MiB of struct pages for a 256 MiB CMB (§9: 64 bytes per 4 KiB page).
    expect(formatMetric('bytes', 4 * 1024 * 1024)).toBe('4 MiB');
    // 2208 / 1024 = 2.156... -> "2.16 KiB"; 2560 / 1024 = 2.5 -> "2.50 KiB" -> "2.5 KiB".
    expect(formatMetric('bytes', 2208)).toBe('2.16 KiB');
    expect(formatMetric('bytes', 2560)).toBe('2.5 KiB');
    expect(formatMetric('bytes', 512)).toBe('512 B');
    expect(formatMetric('ns', 225)).toBe('225 ns');
    expect(formatMetric('ns', 2_500_000)).toBe('2.5 ms');
    expect(formatMetric('GBps', 0)).toBe('0 GB/s');
    expect(formatMetric('GBps', 6.692)).toBe('6.69 GB/s');
    expect(formatMetric('count', 262144)).toBe('262,144');
  });

  test('niceStep: 1, 2 or 5 times a power of ten', () => {
    // 3 / 4 = 0.75 -> 1; 5.345 / 4 = 1.34 -> 2; 40 / 4 = 10 -> 10; 0.9 / 4 = 0.225 -> 0.5.
    expect(niceStep(3, 4)).toBe(1);
    expect(niceStep(5.345, 4)).toBe(2);
    expect(niceStep(40, 4)).toBe(10);
    expect(niceStep(0.9, 4)).toBe(0.5);
  });

  test('a byte axis ticks in round MiB, a time axis in round µs', () => {
    // 3 MiB: step 1 MiB, ticks 0..3 MiB.
    const mib = 1024 * 1024;
    expect(valueAxis('bytes', 3 * mib)).toEqual({
      max: 3 * mib,
      ticks: [0, mib, 2 * mib, 3 * mib],
      labels: ['0', '1 MiB', '2 MiB', '3 MiB'],
    });
    // 5345 ns = 5.345 µs: step 2 µs, top 6 µs.
    expect(valueAxis('ns', 5345)).toEqual({
      max: 6000,
      ticks: [0, 2000, 4000, 6000],
      labels: ['0', '2 µs', '4 µs', '6 µs'],
    });
    // Nothing to show: an axis from 0 to 1 all the same.
    expect(valueAxis('count', 0).max).toBe(1);
  });

  test('x: sizes spanning more than 8x on a log2 scale, few-fold numbers linear, words by category', () => {
    // 4 KiB .. 1 MiB: log2 12, 14, 16, 18, 20 -> evenly spaced.
    const sizes = [4096, 16384, 65536, 262144, 1048576];
    const log = xScale(['4KiB', '16KiB', '64KiB', '256KiB', '1MiB'], sizes);
    expect(log.kind).toBe('log2');
    expect([0, 1, 2, 3, 4].map(log.pos)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    // 1, 2, 4: 4x is not more than 8x -> linear: (v - 1) / 3.
    const lin = xScale([1, 2, 4], [1, 2, 4]);
    expect(lin.kind).toBe('linear');
    expect([0, 1, 2].map(lin.pos)).toEqual([0, 1 / 3, 1]);
    const cat = xScale(['strict', 'lazy', 'off'], undefined);
    expect(cat.kind).toBe('category');
    expect([0, 1, 2].map(cat.pos)).toEqual([0, 0.5, 1]);
  });

  test('charted metrics: the key ones, then the others only where the designs differ; no all-zero ones', () => {
    const a = metrics({ iotlbMisses: 3, cpuNs: 10, effectiveGBps: 1 });
    const b = metrics({ iotlbMisses: 0, bounceBytes: 0, cpuNs: 20 });
    // Only iotlbMisses differs among the non-key metrics; of the key ones, only cpuNs and
    // effectiveGBps are not 0 in both.
    expect(chartedMetrics(RUN_KEY_METRICS, [a, b])).toEqual({
      charted: ['effectiveGBps', 'cpuNs', 'iotlbMisses'],
      zero: RUN_KEY_METRICS.filter((k) => k !== 'effectiveGBps' && k !== 'cpuNs'),
    });
  });
});

describe('colours', () => {
  test('the built-in designs keep fixed, distinct colours; others a stable hashed one', () => {
    const builtIn = ['dma-direct', 'dma-iommu', 'dma-vec'].map(strategyColor);
    expect(new Set(builtIn).size).toBe(3);
    expect(strategyColor('acme-vec')).toBe(strategyColor('acme-vec'));
    expect(EXTRA_COLORS).toContain(strategyColor('acme-vec'));
  });

  test('every colour has at least 4.5:1 contrast against the white page (WCAG 1.4.3)', () => {
    // White against black is 21:1 by definition; a sanity check of the formula.
    expect(contrastRatio('#ffffff', '#000000')).toBeCloseTo(21, 5);
    const all = [
      ...['dma-direct', 'dma-iommu', 'dma-vec'].map(strategyColor),
      ...EXTRA_COLORS,
      ...Object.values(PATH_COLORS),
    ];
    for (const c of all) expect(contrastRatio(c, '#ffffff')).toBeGreaterThanOrEqual(4.5);
  });
});

describe('bar chart', () => {
  const m = metricInfo('structPageBytes');
  const mib = 1024 * 1024;

  test('one bar per design, lengths proportional to the values, each value written out', () => {
    const svg = barChartSvg(
      m,
      [
        { label: 'dma-direct', value: 4 * mib, color: '#1f5fa8' },
        { label: 'dma-iommu', value: 2 * mib, color: '#7b3fa0' },
        { label: 'dma-vec', value: 1 * mib, color: '#8a5a00' },
      ],
      'b0',
    );
    expect(svg.startsWith('<svg class="chart bar-chart"')).toBe(true);
    expect(svg.match(/<g class="bar[ "]/g)).toHaveLength(3);
    // Bars are the rects with a fill: 4 : 2 : 1.
    const widths = numbers(svg, /<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="16"/g);
    expect(widths).toHaveLength(3);
    expect(widths[0] / widths[2]).toBeCloseTo(4, 1);
    expect(widths[1] / widths[2]).toBeCloseTo(2, 1);
    expect(numbers(svg, /data-value="(\d+)"/g)).toEqual([4 * mib, 2 * mib, mib]);
    for (const v of ['4 MiB', '2 MiB', '1 MiB']) expect(svg).toContain(`>${v}</text>`);
    // Fewer struct pages is better: dma-vec's bar is the best.
    expect(svg).toMatch(/<g class="bar best" data-strategy="dma-vec"/);
  });

  test("a failed design's bar is hatched and never the best; a zero still shows a sliver", () => {
    const svg = barChartSvg(
      m,
      [
        { label: 'dma-direct', value: 4 * mib, color: '#1f5fa8' },
        { label: 'acme<vec>', value: 0, color: '#0f6e78', incomplete: true },
      ],
      'b1',
    );
    expect(svg).toContain('<pattern id="b1-hatch-1"');
    expect(svg).toContain('fill="url(#b1-hatch-1)"');
    expect(svg).not.toContain('best');
    // The label is escaped; the zero bar is 1.5 px wide, its value "0 B".
    expect(svg).toContain('>acme&lt;vec&gt;</text>');
    expect(svg).toMatch(/width="1\.5" height="16"/);
    expect(svg).toContain('>0 B</text>');
  });
});

describe('line chart', () => {
  test('one line per design; a failed point leaves a gap and a cross with the error as tooltip', () => {
    const x = xScale(['4KiB', '16KiB', '64KiB'], [4096, 16384, 65536]);
    const svg = lineChartSvg(
      {
        metric: metricInfo('effectiveGBps'),
        xKey: 'ioSize',
        xLabels: ['4KiB', '16KiB', '64KiB'],
        x,
        series: [
          {
            label: 'dma-direct',
            color: '#1f5fa8',
            points: [{ value: 1 }, { value: 2 }, { value: 3 }],
          },
          {
            label: 'dma-vec',
            color: '#8a5a00',
            points: [{ value: 1 }, { failed: 'failed at step flush: -EINVAL' }, { value: 3 }],
          },
        ],
      },
      'effectiveGBps against ioSize',
    );
    // dma-direct: one line through 3 points; dma-vec: two single points, no line between them.
    expect(svg.match(/<path class="line"/g)).toHaveLength(1);
    expect(svg.match(/<g class="point">/g)).toHaveLength(5);
    expect(svg.match(/<g class="failed-point">/g)).toHaveLength(1);
    expect(svg).toContain('<title>dma-vec, ioSize=16KiB: failed at step flush: -EINVAL</title>');
    // x ticks are the values as given; the y axis: step 1 (3 / 4 = 0.75 -> 1), 0 .. 3 GB/s.
    for (const l of ['4KiB', '16KiB', '64KiB']) expect(svg).toContain(`>${l}</text>`);
    const yTicks = [...svg.matchAll(/class="tick y-tick"[^>]*>([^<]*)</g)].map((m) => m[1]);
    expect(yTicks).toEqual(['0', '1 GB/s', '2 GB/s', '3 GB/s']);
    expect(svg).toContain('ioSize (log₂ scale)');
    expect(svg).toContain('<title>dma-direct, ioSize=64KiB: 3 GB/s</title>');
  });
});
