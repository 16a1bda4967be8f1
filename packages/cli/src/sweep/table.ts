/**
 * The default output of `dmasim sweep`: a compact table, one line per grid point and strategy,
 * with the point's values, the outcome and a few key metrics in human units; then the sentence
 * that times are modelled. --csv and --json carry every metric.
 */
import type { Colors } from '../io';
import { alignColumns, cell, type Cell } from '../render/text';
import { formatBytes, formatCount, formatGBps, formatNs } from '../render/units';
import { wrapText } from '../render/run';
import type { SweepJson, SweepRow } from './types';

/** The metrics the table shows, in this order. */
export const TABLE_METRICS = [
  { key: 'effectiveGBps', format: formatGBps },
  { key: 'cpuNs', format: formatNs },
  { key: 'hostBridgeBytes', format: formatBytes },
  { key: 'dmaSegments', format: formatCount },
  { key: 'structPageBytes', format: formatBytes },
] as const;

/** "ok", or "FAILED <step>: <code>". */
export function outcomeText(r: SweepRow): string {
  if (r.ok) return 'ok';
  const what = [r.failedStep, r.error].filter((x) => x !== null).join(': ');
  return what ? `FAILED ${what}` : 'FAILED';
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function renderSweepTable(sweep: SweepJson, c: Colors, width = 100): string[] {
  const keys = sweep.parameters.map((p) => p.key);
  // Figures are right-aligned under their headers.
  const figures = TABLE_METRICS.map((m) => sweep.rows.map((r) => m.format(r.metrics[m.key])));
  const widths = TABLE_METRICS.map((m, j) =>
    Math.max(m.key.length, ...figures[j]!.map((t) => t.length)),
  );
  const header: Cell[] = [
    ...keys,
    'strategy',
    'outcome',
    ...TABLE_METRICS.map((m, j) => m.key.padStart(widths[j]!)),
  ].map((t) => cell(t, c.bold));
  const rows: Cell[][] = sweep.rows.map((r, i) => [
    ...keys.map((k) => cell(String(r.point[k]))),
    cell(r.strategy),
    cell(outcomeText(r), r.ok ? c.green : c.red),
    ...figures.map((f, j) => cell(f[i]!.padStart(widths[j]!))),
  ]);
  const points = new Set(sweep.rows.map((r) => JSON.stringify(r.point))).size;
  const strategies = new Set(sweep.rows.map((r) => r.strategy)).size;
  return [
    `${c.bold('Sweep')} ${sweep.scenario}: ${count(points, 'grid point')} x ${count(strategies, 'strategy', 'strategies')}`,
    '',
    ...alignColumns([header, ...rows]),
    '',
    ...wrapText(sweep.modelled, '', width),
  ];
}
