/**
 * The human-readable `dmasim run` report: one column per design, a row per scenario step (ok,
 * FAILED <stage>: <code>, skipped), then a row per metric in human units; then "Why": each
 * design's failures with their messages, its step details and its notes; then the sentence that
 * the figures are modelled, not measured. The JSON (`--json`) is the ScenarioRunResult itself.
 */
import type { Integrity, ScenarioRunResult, StepResult, StrategyRunResult } from '@dmasim/core';
import type { Colors } from '../io';
import { alignColumns, cell, type Cell } from './text';
import { METRICS, UNIT_FORMAT, type NumericMetric } from '../metrics';

/** Printed when neither the result nor the caller supplies the runner's own sentence. */
export const MODELLED_SENTENCE =
  'Times and rates (cpuNs, transferNs, effectiveGBps) are modelled by the cost model, not measured; ' +
  'byte and segment counts are what the modelled kernel and fabric did.';

export type { NumericMetric } from '../metrics';

/** The metric rows, in the order of RunMetrics, each with its unit's format. */
export const METRIC_ROWS: readonly { key: NumericMetric; format: (v: number) => string }[] =
  METRICS.map((m) => ({ key: m.key, format: UNIT_FORMAT[m.unit] }));

export interface RunReportOptions {
  /** What the scenario was read from, shown in the header. */
  source?: string;
  /** Strategy id -> one-line title (the registry's), used to head each design's "Why" entry. */
  titles?: Readonly<Record<string, string>>;
  /** The runner's modelled-figures sentence, used when the result carries none. */
  modelledNote?: string;
  /** Line width for messages and notes (default 100). */
  width?: number;
}

/** Breaks `text` at spaces into lines of at most `width` characters, each prefixed by `indent`. */
export function wrapText(text: string, indent: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of text.split(/\s+/).filter((x) => x !== '')) {
    if (cur !== '' && indent.length + cur.length + 1 + w.length > width) {
      lines.push(indent + cur);
      cur = w;
    } else {
      cur = cur === '' ? w : `${cur} ${w}`;
    }
  }
  lines.push(indent + cur);
  return lines;
}

/** "ok", "FAILED map: -EREMOTEIO" or "skipped", as one table cell. */
export function stepCell(s: StepResult | undefined, c: Colors): Cell {
  if (!s) return cell('-', c.dim);
  if (s.skipped) return cell('skipped', c.yellow);
  if (s.ok) return cell('ok', c.green);
  const where = s.stage ? ` ${s.stage}` : '';
  const what = s.error ? `: ${s.error.code}` : '';
  return cell(`FAILED${where}${what}`, c.red);
}

function integrityCell(i: Integrity, c: Colors): Cell {
  return cell(i, i === 'verified' ? c.green : i === 'mismatch' ? c.red : c.dim);
}

/** Step ids in order of first appearance (every design runs the same steps, so usually one list). */
function stepIds(results: readonly StrategyRunResult[]): string[] {
  const ids: string[] = [];
  for (const r of results) for (const s of r.steps) if (!ids.includes(s.id)) ids.push(s.id);
  return ids;
}

/** The comparison table: designs as columns, steps then metrics as rows. */
export function renderRunTable(result: ScenarioRunResult, c: Colors): string[] {
  const rs = result.results;
  const rows: Cell[][] = [[cell(''), ...rs.map((r) => cell(r.strategy, c.bold))]];
  rows.push([cell('steps', c.dim)]);
  for (const id of stepIds(rs)) {
    rows.push([
      cell(id),
      ...rs.map((r) =>
        stepCell(
          r.steps.find((s) => s.id === id),
          c,
        ),
      ),
    ]);
  }
  rows.push([cell('metrics', c.dim)]);
  for (const m of METRIC_ROWS) {
    rows.push([cell(m.key), ...rs.map((r) => cell(m.format(r.metrics[m.key])))]);
  }
  rows.push([cell('integrity'), ...rs.map((r) => integrityCell(r.metrics.integrity, c))]);
  return alignColumns(rows).map((l) => `  ${l}`);
}

/** "dma-iommu: page-backed ..." (the title, prefixed with the id unless it starts with it). */
function strategyHeading(id: string, titles: RunReportOptions['titles']): string {
  const t = titles?.[id];
  if (!t) return id;
  return t.startsWith(`${id}:`) ? t : `${id}: ${t}`;
}

/** A cell's text in its colour, outside a table. */
function painted(x: Cell): string {
  return x.paint ? x.paint(x.text) : x.text;
}

/** One design's entry under "Why": failures with their messages, skips, step details, notes. */
export function renderWhy(r: StrategyRunResult, c: Colors, opts: RunReportOptions = {}): string[] {
  const width = opts.width ?? 100;
  const lines = [c.bold(strategyHeading(r.strategy, opts.titles))];
  if (r.steps.every((s) => s.ok)) lines.push(`  ${c.green('every step succeeded')}`);
  for (const s of r.steps.filter((x) => !x.ok && !x.skipped)) {
    lines.push(`  ${s.id}: ${painted(stepCell(s, c))}`);
    if (s.error?.message) lines.push(...wrapText(s.error.message, '    ', width));
    if (s.detail) lines.push(`    ${c.dim(s.detail)}`);
  }
  for (const s of r.steps.filter((x) => x.skipped)) {
    // The runner says which failed step it needed; without a message, say it generically.
    const why = s.error?.message ?? 'a step it needs failed';
    lines.push(`  ${s.id}: ${painted(stepCell(s, c))}: ${why}`);
  }
  for (const s of r.steps.filter((x) => x.ok && x.detail)) lines.push(`  ${s.id}: ${s.detail}`);
  for (const n of r.notes ?? []) {
    const [first, ...rest] = wrapText(n, '    ', width);
    lines.push(`  - ${first.slice(4)}`, ...rest);
  }
  return lines;
}

/** The whole report. */
export function renderRunReport(
  result: ScenarioRunResult,
  c: Colors,
  opts: RunReportOptions = {},
): string[] {
  const title = opts.source ? `${result.scenario} (${opts.source})` : result.scenario;
  const lines = [`${c.bold('Scenario')} ${title}`];
  const section = (t: string): void => {
    lines.push('', c.bold(c.underline(t)));
  };
  if (result.results.length === 0) {
    lines.push('No design ran.');
  } else {
    section('Comparison');
    lines.push(...renderRunTable(result, c));
    section('Why');
    result.results.forEach((r, i) => {
      if (i > 0) lines.push('');
      lines.push(...renderWhy(r, c, opts));
    });
    if (result.notes?.length) {
      section('What differs');
      for (const n of result.notes) {
        const [first = '', ...rest] = wrapText(n, '    ', opts.width ?? 100);
        lines.push(`  - ${first.slice(4)}`, ...rest);
      }
    }
  }
  const note = result.modelled ?? opts.modelledNote ?? MODELLED_SENTENCE;
  lines.push('', ...wrapText(note, '', opts.width ?? 100));
  return lines;
}
