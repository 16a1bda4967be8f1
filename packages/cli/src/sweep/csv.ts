/**
 * `dmasim sweep --csv FILE`: one line per grid point and strategy. Columns: the varied keys in
 * --vary order, strategy, ok, failedStep, error, then every RunMetrics field in its order. RFC 4180:
 * CRLF line ends, a field holding a comma, a double quote, CR or LF is quoted with its quotes
 * doubled; empty fields for null.
 */
import type { RunMetrics } from '@dmasim/core';
import { METRICS } from '../metrics';
import type { SweepJson } from './types';

/** Every RunMetrics field, in the order result.ts declares them. */
export const METRIC_KEYS: readonly (keyof RunMetrics)[] = [
  ...METRICS.map((m) => m.key),
  'integrity',
];

/** One field, quoted when it must be (RFC 4180 section 2, rules 5-7). */
export function csvField(v: string | number | boolean | null): string {
  const s = v === null ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function sweepCsv(sweep: SweepJson): string {
  const keys = sweep.parameters.map((p) => p.key);
  const header = [...keys, 'strategy', 'ok', 'failedStep', 'error', ...METRIC_KEYS];
  const lines = [header.map(csvField).join(',')];
  for (const r of sweep.rows) {
    const fields = [
      ...keys.map((k) => r.point[k] ?? null),
      r.strategy,
      r.ok,
      r.failedStep,
      r.error,
      ...METRIC_KEYS.map((k) => r.metrics[k]),
    ];
    lines.push(fields.map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}
