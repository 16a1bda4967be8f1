/**
 * A horizontal bar chart of one metric, one bar per design, each value written at the end of its
 * bar in the metric's unit so that it reads without hovering (and on paper). Bars of designs
 * that did not complete every step are hatched: their figures count only what ran.
 */
import { attrs, esc } from './html';
import { bestIndex, formatMetric, type MetricInfo } from './metrics';
import { px, svgElement, textWidth } from './svg';

export interface Bar {
  /** The design's id. */
  label: string;
  value: number;
  color: string;
  /** The design failed a step: its figures are partial. */
  incomplete?: boolean;
}

const WIDTH = 540;
const ROW = 26;
const BAR_H = 16;
const PAD = 8;

/** The SVG; `prefix` makes its pattern ids unique in the page. */
export function barChartSvg(metric: MetricInfo, bars: readonly Bar[], prefix: string): string {
  const labels = bars.map((b) => formatMetric(metric.unit, b.value));
  const labelW = Math.max(64, ...bars.map((b) => textWidth(b.label, 11.5, 'sans'))) + 10;
  const valueW = Math.max(...labels.map((l) => textWidth(l, 11.5, 'bold')), 40) + 10;
  const x0 = PAD + labelW;
  const barMax = WIDTH - x0 - valueW - PAD;
  const max = Math.max(0, ...bars.map((b) => b.value));
  const height = PAD * 2 + bars.length * ROW;
  const best = bestIndex(
    metric.better,
    bars.map((b) => b.value),
    bars.map((b) => !b.incomplete),
  );
  const parts: string[] = ['<defs>'];
  bars.forEach((b, i) => {
    if (!b.incomplete) return;
    parts.push(
      `<pattern id="${prefix}-hatch-${i}" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">` +
        `<rect width="6" height="6" fill="#ffffff"/><rect width="3" height="6" fill="${b.color}"/></pattern>`,
    );
  });
  parts.push('</defs>');
  parts.push(
    `<line class="baseline" x1="${px(x0)}" y1="${PAD - 2}" x2="${px(x0)}" y2="${px(height - PAD + 2)}"/>`,
  );
  bars.forEach((b, i) => {
    const y = PAD + i * ROW + (ROW - BAR_H) / 2;
    const w = max > 0 ? (b.value / max) * barMax : 0;
    const fill = b.incomplete ? `url(#${prefix}-hatch-${i})` : b.color;
    const tip = `${b.label}: ${metric.key} ${labels[i]}${b.incomplete ? ' (the design failed a step: partial figures)' : ''}`;
    parts.push(
      `<g${attrs({ class: `bar${b.incomplete ? ' incomplete' : ''}${i === best ? ' best' : ''}`, 'data-strategy': b.label, 'data-value': b.value })}>` +
        `<title>${esc(tip)}</title>` +
        `<text class="bar-label" x="${px(x0 - 8)}" y="${px(y + BAR_H / 2 + 4)}">${esc(b.label)}</text>` +
        `<rect x="${px(x0)}" y="${px(y)}" width="${px(Math.max(w, 1.5))}" height="${BAR_H}" fill="${fill}" stroke="${b.color}" stroke-width="${b.incomplete ? 1 : 0}"/>` +
        `<text class="bar-value" x="${px(x0 + Math.max(w, 1.5) + 6)}" y="${px(y + BAR_H / 2 + 4)}">${esc(labels[i])}</text>` +
        `</g>`,
    );
  });
  const title = `${metric.key} per design: ${bars.map((b, i) => `${b.label} ${labels[i]}`).join(', ')}`;
  return svgElement('chart bar-chart', WIDTH, height, title, parts.join(''), {
    'data-metric': metric.key,
  });
}
