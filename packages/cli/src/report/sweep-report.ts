/**
 * The report of `dmasim sweep --report`: the machine, a line chart per key metric against the
 * first varied parameter (one line per design), the table of every grid point and the raw JSON.
 * With more parameters, each combination of the others' values gets its own chart, up to
 * MAX_PANELS per metric (the rest are in the table and the JSON, and a note says so).
 */
import type { NumericMetric } from '../render/run';
import { expandGrid } from '../sweep/grid';
import type { SweepJson, SweepParameter, SweepRow, SweepValue } from '../sweep/types';
import { strategyColor } from './colors';
import { headerHtml } from './header';
import { attrs, esc, htmlDocument } from './html';
import type { ReportInput } from './index';
import { lineChartSvg, type LinePoint, type LineSeries } from './line-chart';
import { chartedMetrics, metricInfo, SWEEP_KEY_METRICS } from './metrics';
import { machineSectionHtml } from './paths-section';
import { xScale } from './scales';
import { sweepTableHtml } from './table';

/** Charts per metric at most: one per combination of the other parameters' values. */
export const MAX_PANELS = 6;

/**
 * The rows by design and grid point, for charts that look up every (design, point) of a grid of
 * up to MAX_GRID_POINTS points: a scan of the rows for each would take minutes.
 */
class RowIndex {
  private readonly rows = new Map<string, SweepRow>();

  constructor(
    private readonly params: readonly SweepParameter[],
    rows: readonly SweepRow[],
  ) {
    for (const r of rows) this.rows.set(this.key(r.strategy, r.point), r);
  }

  private key(strategy: string, point: Readonly<Record<string, SweepValue | undefined>>): string {
    return JSON.stringify([strategy, ...this.params.map((p) => String(point[p.key]))]);
  }

  /** The row of `strategy` at `point`, undefined when it did not run there. */
  get(strategy: string, point: Readonly<Record<string, SweepValue>>): SweepRow | undefined {
    return this.rows.get(this.key(strategy, point));
  }
}

function pointOf(row: SweepRow | undefined, metric: NumericMetric): LinePoint {
  if (!row) return { missing: true };
  if (row.ok) return { value: row.metrics[metric] };
  const step = row.failedStep ? ` at step ${row.failedStep}` : '';
  return { failed: `failed${step}${row.error ? `: ${row.error}` : ''}` };
}

function fixedText(fixed: Record<string, SweepValue>): string {
  return Object.entries(fixed)
    .map(([k, v]) => `${k} = ${String(v)}`)
    .join(', ');
}

function chartsHtml(sweep: SweepJson, strategies: readonly string[]): string {
  const [xp, ...others] = sweep.parameters;
  if (!xp) return '<p>The sweep varies no parameter.</p>';
  if (!sweep.rows.length) return '<p>No point ran.</p>';
  const combos = expandGrid(others);
  const index = new RowIndex(sweep.parameters, sweep.rows);
  const shown = combos.slice(0, MAX_PANELS);
  const x = xScale(xp.values, xp.numeric);
  const xLabels = xp.values.map(String);
  const failLane = sweep.rows.some((r) => !r.ok);
  const { charted, zero } = chartedMetrics(
    SWEEP_KEY_METRICS,
    sweep.rows.map((r) => r.metrics),
  );
  const blocks = charted.map((key) => {
    const m = metricInfo(key);
    const panels = shown.map((fixed) => {
      const series: LineSeries[] = strategies.map((s) => ({
        label: s,
        color: strategyColor(s),
        points: xp.values.map((v) => pointOf(index.get(s, { ...fixed, [xp.key]: v }), key)),
      }));
      const where = fixedText(fixed);
      const title = `${key} against ${xp.key}${where ? ` (${where})` : ''}`;
      const svg = lineChartSvg({ metric: m, xKey: xp.key, xLabels, x, series, failLane }, title);
      return (
        `<figure class="chart-card line"${attrs({ 'data-metric': key, 'data-fixed': where || undefined })}>` +
        (where ? `<figcaption class="panel">${esc(where)}</figcaption>` : '') +
        `${svg}</figure>`
      );
    });
    const better = m.better ? ` · ${m.better} is better` : '';
    return (
      `<div class="metric-block" data-metric="${esc(key)}">` +
      `<h3><code>${esc(key)}</code><span class="what">${esc(m.what)}${esc(better)}</span></h3>` +
      `<div class="chart-grid lines">${panels.join('')}</div></div>`
    );
  });
  const notes: string[] = [];
  notes.push(
    x.kind === 'log2'
      ? `x: ${xp.key} on a log₂ scale (its values span more than 8×).`
      : x.kind === 'linear'
        ? `x: ${xp.key}, linear.`
        : `x: ${xp.key}, one position per value.`,
  );
  notes.push(
    'A cross in the “failed” lane under the axis marks a point where a design failed; its line has a gap there (hover for the step and error).',
  );
  if (combos.length > shown.length)
    notes.push(
      `${others.map((p) => p.key).join(' × ')} take ${combos.length} combinations; the charts show the first ${shown.length}, the table below has every point.`,
    );
  else if (others.length)
    notes.push(`One chart per value of ${others.map((p) => p.key).join(' × ')}.`);
  const zeros = zero.length
    ? `<p class="zero-metrics">0 at every point, so not charted: ${zero.map((k) => `<code>${esc(k)}</code>`).join(', ')}.</p>`
    : '';
  return `<p class="muted small">${notes.map(esc).join(' ')}</p>${blocks.join('')}${zeros}`;
}

export function buildSweepReport(input: ReportInput, sweep: SweepJson): string {
  const topo = input.scenario.buildTopology();
  const strategies: string[] = [];
  for (const r of sweep.rows) if (!strategies.includes(r.strategy)) strategies.push(r.strategy);
  const params = sweep.parameters
    .map((p) => `<code>${esc(p.key)}</code>: ${p.values.map((v) => esc(String(v))).join(', ')}`)
    .join('<br>');
  const points = sweep.parameters.reduce((n, p) => n * p.values.length, 1);
  const failed = sweep.rows.filter((r) => !r.ok).length;
  const contents: [string, string][] = [
    ['charts', 'Charts'],
    ['points', 'Every point'],
    ['machine', 'Machine'],
    ['raw', 'Raw data'],
  ];
  const head = headerHtml({
    kind: 'dmasim sweep',
    input,
    topology: topo,
    strategies,
    modelled: sweep.modelled,
    extra: [
      ['Varied', params || 'nothing'],
      [
        'Runs',
        esc(
          `${points} point${points === 1 ? '' : 's'} × ${strategies.length} design${strategies.length === 1 ? '' : 's'} = ${sweep.rows.length} runs, ${failed} failed`,
        ),
      ],
    ],
    contents,
  });
  const metrics = SWEEP_KEY_METRICS;
  const body =
    head +
    `<section id="charts"><h2>Charts</h2>${chartsHtml(sweep, strategies)}</section>` +
    `<section id="points"><h2>Every point</h2>${sweepTableHtml(sweep, metrics)}</section>` +
    `<section id="machine"><h2>Machine</h2>${machineSectionHtml(topo)}</section>` +
    `<footer><p>${esc(sweep.modelled)}</p><p>dmasim ${esc(input.version)}</p></footer>`;
  return htmlDocument({
    title: `${sweep.scenario} · dmasim sweep`,
    body,
    data: sweep,
    dataLabel: 'dmasim sweep --json',
  });
}
