/**
 * The report's tables. A run's comparison: designs as columns, the scenario's steps then the
 * metrics as rows, as `dmasim run` prints it, failed cells marked and their messages numbered as
 * footnotes (and in the cell's tooltip); rows where the designs differ are flagged. A sweep's:
 * one row per grid point and design, the point's values spanning its designs' rows.
 */
import type { StepResult, StrategyRunResult } from '@dmasim/core';
import { strategyColor } from './colors';
import { attrs, esc } from './html';
import { bestIndex, formatMetric, METRICS, metricInfo } from './metrics';
import type { NumericMetric } from '../render/run';
import { outcomeText } from '../sweep/table';
import type { SweepJson, SweepValue } from '../sweep/types';

/** A design's name with its colour chip, for table heads and lists. */
export function strategyChip(id: string): string {
  return `<span class="chip" style="background:${strategyColor(id)}"></span>${esc(id)}`;
}

/** Step ids in order of first appearance. */
function stepIds(results: readonly StrategyRunResult[]): string[] {
  const ids: string[] = [];
  for (const r of results) for (const s of r.steps) if (!ids.includes(s.id)) ids.push(s.id);
  return ids;
}

/** "FAILED map: -EREMOTEIO", as the text table writes it. */
export function failedText(s: StepResult): string {
  const where = s.stage ? ` ${s.stage}` : '';
  const what = s.error ? `: ${s.error.code}` : '';
  return `FAILED${where}${what}`;
}

/** A failure message, once for every design that failed a step with it. */
interface Footnote {
  n: number;
  strategies: string[];
  step: string;
  text: string;
}

function stepCell(s: StepResult | undefined, strategy: string, notes: Footnote[]): string {
  if (!s) return '<td class="none">–</td>';
  if (s.ok) return `<td${attrs({ class: 'ok', title: s.detail })}>ok</td>`;
  const text = s.skipped ? 'skipped' : failedText(s);
  const message = s.error?.message ?? (s.skipped ? 'a step it needs failed' : '');
  let ref = '';
  if (message) {
    let note = notes.find((f) => f.step === s.id && f.text === message);
    if (note) note.strategies.push(strategy);
    else {
      note = { n: notes.length + 1, strategies: [strategy], step: s.id, text: message };
      notes.push(note);
    }
    ref = `<sup><a href="#note-${note.n}">${note.n}</a></sup>`;
  }
  return `<td${attrs({ class: s.skipped ? 'skipped' : 'failed', title: message || undefined })}>${esc(text)}${ref}</td>`;
}

/** The comparison table and its footnotes. */
export function runTableHtml(results: readonly StrategyRunResult[]): string {
  const notes: Footnote[] = [];
  const cols = results.length + 2;
  const head =
    `<thead><tr><th scope="col" class="corner"></th><th scope="col" class="what-col"></th>` +
    results.map((r) => `<th scope="col">${strategyChip(r.strategy)}</th>`).join('') +
    `</tr></thead>`;
  const steps = stepIds(results)
    .map((id) => {
      const cells = results.map((r) =>
        stepCell(
          r.steps.find((s) => s.id === id),
          r.strategy,
          notes,
        ),
      );
      const differs = new Set(results.map((r) => stepState(r.steps.find((s) => s.id === id))));
      // What the step did, when every design says the same (else each cell's tooltip says it).
      const details = new Set(results.map((r) => r.steps.find((s) => s.id === id)?.detail));
      const detail = details.size === 1 ? ([...details][0] ?? '') : '';
      return (
        `<tr${attrs({ class: differs.size > 1 ? 'differs' : undefined, 'data-step': id })}>` +
        `<th scope="row"><code>${esc(id)}</code></th><td class="what">${esc(detail)}</td>${cells.join('')}</tr>`
      );
    })
    .join('');
  const metrics = METRICS.map((m) => {
    const values = results.map((r) => r.metrics[m.key]);
    const best = bestIndex(
      m.better,
      values,
      results.map((r) => r.ok),
    );
    const differs = new Set(values).size > 1;
    const cells = values
      .map(
        (v, i) =>
          `<td${attrs({ class: `num${i === best ? ' best' : ''}`, 'data-value': v })}>${esc(formatMetric(m.unit, v))}</td>`,
      )
      .join('');
    return (
      `<tr${attrs({ class: differs ? 'differs' : undefined, 'data-metric': m.key })}>` +
      `<th scope="row"><code>${esc(m.key)}</code></th><td class="what">${esc(m.what)}</td>${cells}</tr>`
    );
  }).join('');
  const integrity = results
    .map((r) => `<td class="integrity-${r.metrics.integrity}">${esc(r.metrics.integrity)}</td>`)
    .join('');
  const table =
    `<table class="comparison">${head}` +
    `<tbody class="steps"><tr class="group"><th colspan="${cols}" scope="rowgroup">Steps</th></tr>${steps}</tbody>` +
    `<tbody class="metrics"><tr class="group"><th colspan="${cols}" scope="rowgroup">Metrics</th></tr>${metrics}` +
    `<tr${attrs({ class: new Set(results.map((r) => r.metrics.integrity)).size > 1 ? 'differs' : undefined, 'data-metric': 'integrity' })}>` +
    `<th scope="row"><code>integrity</code></th><td class="what">what verify steps found</td>${integrity}</tr></tbody>` +
    `</table>`;
  const foot = notes.length
    ? `<ol class="footnotes">${notes
        .map(
          (f) =>
            `<li id="note-${f.n}" value="${f.n}"><b>${esc(f.strategies.join(', '))}</b>, step <code>${esc(f.step)}</code>: ${esc(f.text)}</li>`,
        )
        .join('')}</ol>`
    : '';
  const key =
    `<p class="table-note"><span class="differs-key"></span>the designs differ in this row; ` +
    `<b>bold</b>: the best value, where one design that completed every step is best. ` +
    `Hover over a cell for the step's detail or error.</p>`;
  return `<div class="table-wrap">${table}</div>${key}${foot}`;
}

function stepState(s: StepResult | undefined): string {
  if (!s) return '-';
  if (s.ok) return 'ok';
  return s.skipped ? 'skipped' : failedText(s);
}

function valueText(v: SweepValue | undefined): string {
  return v === undefined ? '–' : String(v);
}

/**
 * A sweep's rows: one per grid point and design. Each point is a <tbody> of its designs' rows, so
 * that the point's values head that group (scope="rowgroup") for screen readers.
 */
export function sweepTableHtml(sweep: SweepJson, metrics: readonly NumericMetric[]): string {
  const keys = sweep.parameters.map((p) => p.key);
  const head =
    `<thead><tr>${keys.map((k) => `<th scope="col"><code>${esc(k)}</code></th>`).join('')}` +
    `<th scope="col">design</th><th scope="col">outcome</th>` +
    metrics.map((m) => `<th scope="col" class="num"><code>${esc(m)}</code></th>`).join('') +
    `</tr></thead>`;
  // Rows of one point are consecutive (points in grid order, designs in run order).
  const groups: string[] = [];
  const rows = sweep.rows;
  for (let i = 0; i < rows.length;) {
    let j = i;
    const same = JSON.stringify(rows[i].point);
    while (j < rows.length && JSON.stringify(rows[j].point) === same) j++;
    const body: string[] = [];
    for (let k = i; k < j; k++) {
      const r = rows[k];
      const pointCells =
        k === i
          ? keys
              .map(
                (key) =>
                  `<th scope="rowgroup"${attrs({ rowspan: j - i > 1 ? j - i : undefined })}>${esc(valueText(r.point[key]))}</th>`,
              )
              .join('')
          : '';
      const outcome = `<td${attrs({ class: r.ok ? 'ok' : 'failed', title: r.error ?? undefined })}>${esc(outcomeText(r))}</td>`;
      const cells = metrics
        .map((m) => {
          const v = r.metrics[m];
          return `<td${attrs({ class: `num${r.ok ? '' : ' partial'}`, 'data-value': v })}>${esc(formatMetric(metricInfo(m).unit, v))}</td>`;
        })
        .join('');
      body.push(
        `<tr${attrs({ class: k === i ? 'point-start' : undefined })}>${pointCells}<td>${strategyChip(r.strategy)}</td>${outcome}${cells}</tr>`,
      );
    }
    groups.push(`<tbody>${body.join('')}</tbody>`);
    i = j;
  }
  return `<div class="table-wrap"><table class="sweep-table">${head}${groups.join('')}</table></div>`;
}
