/**
 * Chart axes: a value axis from 0 to a round maximum, its ticks in the metric's unit (bytes in
 * KiB/MiB/GiB, times in µs/ms), and the x axis of a sweep (linear, log2 or by category).
 */
import { formatCount } from '../render/units';
import type { MetricUnit } from './metrics';

/** The tick interval: 1, 2 or 5 times a power of ten, giving about `count` intervals. */
export function niceStep(max: number, count: number): number {
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const f = raw / pow;
  const m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return m * pow;
}

export interface ValueAxis {
  /** The axis' end (the top of a chart, the right end of a bar). */
  max: number;
  /** Tick values, from 0 to max. */
  ticks: number[];
  /** Each tick's label, in the axis' unit ("512 KiB"). */
  labels: string[];
}

/** The unit ticks are written in: the largest that keeps `max` at 1 or above. */
function tickUnit(unit: MetricUnit, max: number): { div: number; suffix: string } {
  const ladder =
    unit === 'bytes'
      ? { step: 1024, names: ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] }
      : unit === 'ns'
        ? { step: 1000, names: ['ns', 'µs', 'ms', 's'] }
        : undefined;
  if (!ladder) return { div: 1, suffix: unit === 'GBps' ? 'GB/s' : '' };
  let div = 1;
  let i = 0;
  while (i < ladder.names.length - 1 && max / div >= ladder.step) {
    div *= ladder.step;
    i++;
  }
  return { div, suffix: ladder.names[i] };
}

/** 1.5 -> "1.5", 2 -> "2", 0.25 -> "0.25", 12000 -> "12,000". */
export function trimNumber(v: number): string {
  return formatCount(Number(v.toFixed(2)));
}

/**
 * A value axis from 0 that holds `max` (in base units: bytes, ns), ticks round in the unit they
 * are written in: 3 MiB gets 0, 1, 2, 3 MiB, not multiples of 10^6 bytes. With nothing to show
 * (max 0) the axis runs from 0 to 1 of the base unit.
 */
export function valueAxis(unit: MetricUnit, max: number, count = 4): ValueAxis {
  const { div, suffix } = tickUnit(unit, max);
  const label = (v: number): string =>
    v === 0 ? '0' : suffix ? `${trimNumber(v)} ${suffix}` : trimNumber(v);
  const scaled = max / div;
  if (!(scaled > 0)) return { max: div, ticks: [0, div], labels: ['0', label(1)] };
  const step = niceStep(scaled, count);
  const top = Math.ceil(scaled / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; i * step <= top + step * 1e-9; i++) ticks.push(i * step * div);
  return { max: top * div, ticks, labels: ticks.map((t) => label(t / div)) };
}

/** How a sweep's x axis places the values of the varied parameter. */
export type XScaleKind = 'log2' | 'linear' | 'category';

export interface XScale {
  kind: XScaleKind;
  /** Position of value i in [0, 1]. */
  pos: (i: number) => number;
}

/**
 * The x scale of a parameter: by category when its values are words; log2 when they are positive
 * numbers (or sizes) spanning more than 8x (4 KiB .. 1 MiB reads evenly that way); else linear.
 */
export function xScale(values: readonly unknown[], numeric: readonly number[] | undefined): XScale {
  const n = values.length;
  const even = (i: number): number => (n <= 1 ? 0.5 : i / (n - 1));
  if (!numeric || numeric.length !== n || n < 2) return { kind: 'category', pos: even };
  const min = Math.min(...numeric);
  const max = Math.max(...numeric);
  if (max === min) return { kind: 'category', pos: even };
  if (min > 0 && max / min > 8) {
    const lo = Math.log2(min);
    const span = Math.log2(max) - lo;
    return { kind: 'log2', pos: (i) => (Math.log2(numeric[i]) - lo) / span };
  }
  return { kind: 'linear', pos: (i) => (numeric[i] - min) / (max - min) };
}
