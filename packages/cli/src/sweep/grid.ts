/**
 * The grid of a sweep: `--vary key=v1,v2,...` parsed into SweepParameters (values read as YAML
 * scalars, so `4KiB` stays a size string, `256` is a number and `true` a boolean), and their
 * cartesian product in --vary order with the last parameter varying fastest.
 */
import { parseDocumentText, parseSize, type DocumentKind } from '@dmasim/core';
import { z } from 'zod';
import { CliError, EXIT_USAGE } from '../errors';
import { formatCount } from '../render/units';
import { namedParameter, NAMED_PARAMETER_KEYS } from './parameters';
import type { SweepParameter, SweepValue } from './types';

/** One grid point: one value per parameter, by key (the SweepRow's `point`). */
export type SweepPoint = Record<string, SweepValue>;

/** Any parsed YAML document, unchecked: the value is checked by its parameter. */
const YAML_VALUE: DocumentKind<z.ZodUnknown, unknown> = {
  schema: z.unknown(),
  build: (v) => v,
  name: 'the value',
  fileWhat: 'value',
};

/** `text` read as one YAML scalar ("4KiB" -> "4KiB", "0x1000" -> 4096, "true" -> true). */
export function parseSweepValue(key: string, text: string): SweepValue {
  const t = text.trim();
  if (t === '') {
    throw new CliError(
      `--vary ${key}: an empty value (values are separated by commas)`,
      EXIT_USAGE,
    );
  }
  let v: unknown;
  try {
    v = parseDocumentText(t, '--vary', YAML_VALUE);
  } catch {
    v = undefined;
  }
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  throw new CliError(
    `--vary ${key}: cannot read "${t}" as a value (a size, a number, a word or true/false)`,
    EXIT_USAGE,
  );
}

/** The values in bytes (sizes) or as numbers, when every value is one; else undefined. */
export function numericValues(values: readonly SweepValue[]): number[] | undefined {
  const out: number[] = [];
  for (const v of values) {
    const n = typeof v === 'number' ? v : typeof v === 'string' ? parseSize(v) : undefined;
    if (n === undefined) return undefined;
    out.push(n);
  }
  return out;
}

/** Names every JavaScript object has: never a scenario's field. */
const OBJECT_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * One `--vary key=v1,v2,...`. The key is a named parameter (ioSize, size, iommu, ...) or a dotted
 * path into the scenario document (steps.flush.nvme.ioSize); anything else is a usage error.
 */
export function parseVary(spec: string): SweepParameter {
  const eq = spec.indexOf('=');
  if (eq < 0) {
    throw new CliError(
      `--vary "${spec}": expected KEY=VALUE[,VALUE...] (for example ioSize=4KiB,16KiB)`,
      EXIT_USAGE,
    );
  }
  const key = spec.slice(0, eq).trim();
  if (key === '') throw new CliError(`--vary "${spec}": the key before "=" is missing`, EXIT_USAGE);
  const named = namedParameter(key);
  if (!named && !key.includes('.')) {
    throw new CliError(
      `--vary: unknown key "${key}": expected one of ${NAMED_PARAMETER_KEYS.join(', ')}, ` +
        'or a dotted path into the scenario (steps.<id>.nvme.ioSize, platform.iommu.mode, cost.<constant>)',
      EXIT_USAGE,
    );
  }
  if (key.split('.').some((s) => s === '')) {
    throw new CliError(`--vary ${key}: an empty segment in the path`, EXIT_USAGE);
  }
  // The path is followed through plain objects: these would reach Object.prototype and change
  // every object of the process (and no scenario has such a field).
  const inherited = key.split('.').find((s) => OBJECT_KEYS.has(s));
  if (inherited !== undefined) {
    throw new CliError(`--vary ${key}: "${inherited}" is not a field of a scenario`, EXIT_USAGE);
  }
  const values = spec
    .slice(eq + 1)
    .split(',')
    .map((t) => parseSweepValue(key, t));
  for (const v of values) named?.check?.(v);
  const seen = new Set<string>();
  for (const v of values) {
    const k = JSON.stringify(v);
    if (seen.has(k)) {
      throw new CliError(`--vary ${key}: the value ${String(v)} is given twice`, EXIT_USAGE);
    }
    seen.add(k);
  }
  const numeric = numericValues(values);
  return { key, values, ...(numeric ? { numeric } : {}) };
}

/**
 * The most grid points a sweep runs. A run of a small scenario takes some 10 ms per design, so
 * 10,000 points under three designs take about five minutes on one thread and their JSON some
 * 60 MB; a grid far beyond that is a typo (one --vary too many) more often than a plan, and
 * would exhaust memory before the first run.
 */
export const MAX_GRID_POINTS = 10_000;

/**
 * Every `--vary` in order; a key given twice, or a grid of more than MAX_GRID_POINTS points, is a
 * usage error.
 */
export function parseGrid(specs: readonly string[]): SweepParameter[] {
  if (specs.length === 0) {
    throw new CliError('give at least one --vary KEY=VALUE[,VALUE...]', EXIT_USAGE);
  }
  const params = specs.map(parseVary);
  const keys = new Set<string>();
  for (const p of params) {
    if (keys.has(p.key)) {
      throw new CliError(
        `--vary ${p.key} is given twice: list all its values in one --vary`,
        EXIT_USAGE,
      );
    }
    keys.add(p.key);
  }
  // Counted before the grid is built: a grid of 10^9 points must fail here, not in expandGrid().
  const points = params.reduce((n, p) => n * p.values.length, 1);
  if (points > MAX_GRID_POINTS) {
    throw new CliError(
      `--vary: the grid has ${formatCount(points)} points (${params.map((p) => p.values.length).join(' x ')}); ` +
        `a sweep runs at most ${formatCount(MAX_GRID_POINTS)}: vary fewer values, or split it into several sweeps`,
      EXIT_USAGE,
    );
  }
  return params;
}

/** The cartesian product of the parameters' values, the last parameter varying fastest. */
export function expandGrid(params: readonly SweepParameter[]): SweepPoint[] {
  let points: SweepPoint[] = [{}];
  for (const p of params) {
    points = points.flatMap((pt) => p.values.map((v) => ({ ...pt, [p.key]: v })));
  }
  return points;
}

/** "ioSize=4KiB iommu=strict": a grid point in messages and the table. */
export function pointLabel(point: SweepPoint): string {
  return Object.entries(point)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}
