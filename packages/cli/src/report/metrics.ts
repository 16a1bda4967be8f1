/**
 * The metrics a report charts: what each one means, its unit, which way is better, and which of
 * them a report draws (the key ones always, the others when the designs differ in them).
 */
import type { RunMetrics } from '@dmasim/core';
import {
  METRICS,
  UNIT_FORMAT,
  type MetricInfo,
  type MetricUnit,
  type NumericMetric,
} from '../metrics';

export { METRICS, type MetricInfo, type MetricUnit };

/** The metrics a run's report always charts, in the order shown. */
export const RUN_KEY_METRICS: readonly NumericMetric[] = [
  'effectiveGBps',
  'transferNs',
  'cpuNs',
  'hostBridgeBytes',
  'p2pBytes',
  'dmaSegments',
  'mappingMetadataBytes',
  'structPageBytes',
];

/** The metrics a sweep's report always charts against the varied parameter. */
export const SWEEP_KEY_METRICS: readonly NumericMetric[] = [
  'effectiveGBps',
  'cpuNs',
  'dmaSegments',
  'mappingMetadataBytes',
  'hostBridgeBytes',
  'structPageBytes',
];

/**
 * Which of `values` is best: among the designs that completed every step (a failed design's 0 is
 * not a saving), when at least two did, they differ, one alone is best, and the metric has a
 * better side; -1 otherwise.
 */
export function bestIndex(
  better: MetricInfo['better'],
  values: readonly number[],
  complete: readonly boolean[],
): number {
  const done = values.map((v, i) => ({ v, i })).filter((x) => complete[x.i]);
  if (!better || done.length < 2 || new Set(done.map((x) => x.v)).size < 2) return -1;
  const target = (better === 'lower' ? Math.min : Math.max)(...done.map((x) => x.v));
  const winners = done.filter((x) => x.v === target);
  return winners.length === 1 ? winners[0].i : -1;
}

export function metricInfo(key: NumericMetric): MetricInfo {
  const m = METRICS.find((x) => x.key === key);
  if (!m) throw new Error(`unknown metric ${key}`);
  return m;
}

/**
 * A value in its unit, as the text table prints it but without trailing zeros ("1 MiB",
 * "2.16 KiB", "5.34 µs", "6.69 GB/s", "0 GB/s").
 */
export function formatMetric(unit: MetricUnit, v: number): string {
  const text = UNIT_FORMAT[unit](v);
  return unit === 'count' ? text : trimZeros(text);
}

/** "4.00 MiB" -> "4 MiB", "2.50 ms" -> "2.5 ms". */
function trimZeros(text: string): string {
  return text.replace(/\.00(?= )/, '').replace(/(\.\d)0(?= )/, '$1');
}

/**
 * The metrics to chart: the key ones, then every other one in which the given metric sets are
 * not all equal (a metric that is the same everywhere says nothing about the designs); a metric
 * that is 0 in every set is left out of the charts and listed in `zero` instead.
 */
export function chartedMetrics(
  key: readonly NumericMetric[],
  sets: readonly RunMetrics[],
): { charted: NumericMetric[]; zero: NumericMetric[] } {
  const picked = [...key];
  for (const m of METRICS) {
    if (picked.includes(m.key)) continue;
    const vals = new Set(sets.map((s) => s[m.key]));
    if (vals.size > 1) picked.push(m.key);
  }
  const isZero = (k: NumericMetric): boolean => sets.every((s) => s[k] === 0);
  return { charted: picked.filter((k) => !isZero(k)), zero: picked.filter(isZero) };
}
