/**
 * The report of `dmasim run --report`: the outcome of each design at a glance, where the data
 * went (the topology with each path drawn), the comparison table, a bar chart per key metric,
 * what tells the designs apart, each design's steps and notes, and the raw JSON.
 */
import { MODELLED_NOTE, type ScenarioRunResult, type StrategyRunResult } from '@dmasim/core';
import { barChartSvg } from './bar-chart';
import { strategyColor } from './colors';
import { headerHtml } from './header';
import { attrs, esc, htmlDocument } from './html';
import type { ReportInput } from './index';
import { chartedMetrics, metricInfo, RUN_KEY_METRICS } from './metrics';
import { pathsSectionHtml } from './paths-section';
import { failedText, runTableHtml, strategyChip } from './table';

/** The registry's title without the "id: " it starts with. */
function titleOf(id: string, titles: Readonly<Record<string, string>>): string {
  const t = titles[id];
  if (!t) return '';
  return t.startsWith(`${id}:`) ? t.slice(id.length + 1).trim() : t;
}

/** "every step succeeded" or "failed at receive (iommu-fault: IO_PAGE_FAULT)". */
function outcomeText(r: StrategyRunResult): string {
  if (r.steps.every((s) => s.ok)) return `every step succeeded (${r.steps.length})`;
  const failed = r.steps.filter((s) => !s.ok && !s.skipped);
  const skipped = r.steps.filter((s) => s.skipped).length;
  const first = failed[0];
  const parts = first
    ? [`failed at ${first.id}: ${failedText(first).replace(/^FAILED /, '')}`]
    : ['did not complete'];
  if (failed.length > 1) parts.push(`${failed.length - 1} more failed`);
  if (skipped) parts.push(`${skipped} skipped`);
  return parts.join('; ');
}

function summaryHtml(results: readonly StrategyRunResult[], input: ReportInput): string {
  return `<div class="cards">${results
    .map(
      (r) =>
        `<div${attrs({ class: `card ${r.ok ? 'ok' : 'failed'}`, 'data-strategy': r.strategy, style: `border-top-color:${strategyColor(r.strategy)}` })}>` +
        `<div class="card-head"><span class="name">${strategyChip(r.strategy)}</span><span class="status">${r.ok ? '✓ ok' : '✗ failed'}</span></div>` +
        `<p class="card-title">${esc(titleOf(r.strategy, input.titles))}</p>` +
        `<p class="card-outcome">${esc(outcomeText(r))}</p></div>`,
    )
    .join('')}</div>`;
}

function chartsHtml(results: readonly StrategyRunResult[]): string {
  const { charted, zero } = chartedMetrics(
    RUN_KEY_METRICS,
    results.map((r) => r.metrics),
  );
  const figures = charted.map((key, i) => {
    const m = metricInfo(key);
    const better = m.better ? ` · ${m.better} is better` : '';
    const svg = barChartSvg(
      m,
      results.map((r) => ({
        label: r.strategy,
        value: r.metrics[key],
        color: strategyColor(r.strategy),
        ...(r.ok ? {} : { incomplete: true }),
      })),
      `bar${i}`,
    );
    return (
      `<figure class="chart-card"${attrs({ 'data-metric': key })}>` +
      `<figcaption><code>${esc(key)}</code><span class="what">${esc(m.what)}${esc(better)}</span></figcaption>` +
      `${svg}</figure>`
    );
  });
  const hatched = results.some((r) => !r.ok)
    ? `<p class="muted small">Hatched bars: the design failed a step, so its figures count only what ran.</p>`
    : '';
  const zeros = zero.length
    ? `<p class="zero-metrics">0 for every design, so not charted: ${zero.map((k) => `<code>${esc(k)}</code>`).join(', ')}.</p>`
    : '';
  return (
    `<p class="muted small">The key metrics, then any other in which the designs differ. Values are written at the end of each bar.</p>` +
    `${hatched}<div class="chart-grid">${figures.join('')}</div>${zeros}`
  );
}

function designHtml(r: StrategyRunResult, input: ReportInput): string {
  const steps = r.steps.map((s) => {
    const state = s.ok ? 'ok' : s.skipped ? 'skipped' : 'failed';
    const head = s.ok ? 'ok' : s.skipped ? 'skipped' : failedText(s);
    const msg = s.error?.message ?? (s.skipped ? 'a step it needs failed' : '');
    return (
      `<li class="${state}"><code>${esc(s.id)}</code> <span class="state">${esc(head)}</span>` +
      (msg ? `<div class="message">${esc(msg)}</div>` : '') +
      (s.detail ? `<div class="detail">${esc(s.detail)}</div>` : '') +
      `</li>`
    );
  });
  const notes = r.notes?.length
    ? `<h4>Notes</h4><ul class="notes">${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`
    : '';
  return (
    `<article class="design" id="design-${esc(r.strategy)}" style="border-left-color:${strategyColor(r.strategy)}">` +
    `<h3>${strategyChip(r.strategy)} <span class="title">${esc(titleOf(r.strategy, input.titles))}</span></h3>` +
    `<ul class="step-list">${steps.join('')}</ul>${notes}</article>`
  );
}

export function buildRunReport(input: ReportInput, result: ScenarioRunResult): string {
  const topo = input.scenario.buildTopology();
  const rs = result.results;
  const modelled = result.modelled ?? MODELLED_NOTE;
  const sections: string[] = [];
  const contents: [string, string][] = [];
  const section = (id: string, title: string, body: string): void => {
    contents.push([id, title]);
    sections.push(`<section id="${id}"><h2>${esc(title)}</h2>${body}</section>`);
  };
  if (rs.length === 0) {
    section('outcome', 'Outcome', '<p>No design ran.</p>');
  } else {
    section('outcome', 'Outcome', summaryHtml(rs, input));
    section('paths', 'Where the data went', pathsSectionHtml(topo, rs));
    section('comparison', 'Comparison', runTableHtml(rs));
    section('metrics', 'Metrics', chartsHtml(rs));
    if (result.notes?.length)
      section(
        'differences',
        'What differs',
        `<ul class="notes">${result.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`,
      );
    section('designs', 'Designs', rs.map((r) => designHtml(r, input)).join(''));
  }
  contents.push(['raw', 'Raw data']);
  const head = headerHtml({
    kind: 'dmasim run',
    input,
    topology: topo,
    strategies: rs.map((r) => r.strategy),
    modelled,
    contents,
  });
  const footer = `<footer><p>${esc(modelled)}</p><p>dmasim ${esc(input.version)}</p></footer>`;
  return htmlDocument({
    title: `${result.scenario} · dmasim run`,
    body: `${head}${sections.join('')}${footer}`,
    data: result,
    dataLabel: 'dmasim run --json',
  });
}
