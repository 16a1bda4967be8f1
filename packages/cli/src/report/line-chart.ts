/**
 * A line chart of one metric against a varied parameter, one line per design. Designs differ by
 * colour and also by dash and marker shape, so that lines that coincide (designs often cost the
 * same) both show, and the chart reads in grey. A point where the design failed is not plotted:
 * the line has a gap there and a cross sits on the axis, its tooltip saying what failed.
 */
import { attrs, esc } from './html';
import { formatMetric, type MetricInfo } from './metrics';
import { valueAxis, type XScale } from './scales';
import { px, svgElement, textWidth } from './svg';

/** One x position of a series: the value, why the design failed there, or no run at all. */
export type LinePoint = { value: number } | { failed: string } | { missing: true };

export interface LineSeries {
  label: string;
  color: string;
  /** One per x value, in order. */
  points: LinePoint[];
}

export interface LineChartSpec {
  metric: MetricInfo;
  /** The varied parameter's key, under the axis. */
  xKey: string;
  /** Tick labels: the parameter's values as given. */
  xLabels: string[];
  x: XScale;
  series: LineSeries[];
  /**
   * Keep a lane under the axis for failures even when this chart has none, so that the charts
   * of one sweep have plots of one height (default: only when this chart has failures).
   */
  failLane?: boolean;
}

const WIDTH = 580;
const HEIGHT = 290;
const DASHES = ['', '7 4', '2 3', '10 3 2 3'];
/** Where the legend starts: it may use the whole width, above the value axis' labels too. */
const LEGEND_X = 10;

/** A marker of shape `i` (circle, square, diamond, triangle) centred on (x, y). */
function marker(i: number, x: number, y: number, color: string): string {
  const s = 4;
  switch (i % 4) {
    case 0:
      return `<circle cx="${px(x)}" cy="${px(y)}" r="${s}" fill="${color}"/>`;
    case 1:
      return `<rect x="${px(x - s)}" y="${px(y - s)}" width="${2 * s}" height="${2 * s}" fill="${color}"/>`;
    case 2:
      return `<path d="M${px(x)} ${px(y - s - 1)}L${px(x + s + 1)} ${px(y)}L${px(x)} ${px(y + s + 1)}L${px(x - s - 1)} ${px(y)}z" fill="${color}"/>`;
    default:
      return `<path d="M${px(x)} ${px(y - s - 1)}L${px(x + s + 1)} ${px(y + s)}L${px(x - s - 1)} ${px(y + s)}z" fill="${color}"/>`;
  }
}

function cross(x: number, y: number, color: string): string {
  const r = 4.5;
  return `<path class="fail-mark" d="M${px(x - r)} ${px(y - r)}L${px(x + r)} ${px(y + r)}M${px(x + r)} ${px(y - r)}L${px(x - r)} ${px(y + r)}" stroke="${color}"/>`;
}

/** A legend entry: the series' index (its dash and marker), its text and its width. */
interface LegendItem {
  index: number;
  color: string;
  text: string;
  w: number;
}

/**
 * The legend's entries in rows that fit the chart's width. A design whose line is another's,
 * point for point, says so: the later line hides the other.
 */
function legendRows(series: readonly LineSeries[]): LegendItem[][] {
  const keys = series.map((s) => JSON.stringify(s.points));
  const rows: LegendItem[][] = [[]];
  let rowW = 0;
  series.forEach((s, index) => {
    const twin = keys.indexOf(keys[index]);
    const text = twin < index ? `${s.label} (= ${series[twin].label})` : s.label;
    const w = textWidth(text, 11.5, 'sans') + 42;
    if (rowW + w > WIDTH - 2 * LEGEND_X && rows[rows.length - 1].length) {
      rows.push([]);
      rowW = 0;
    }
    rows[rows.length - 1].push({ index, color: s.color, text, w });
    rowW += w;
  });
  return rows;
}

/** The legend above the plot: each entry's line style, marker and text. */
function legendSvg(rows: readonly LegendItem[][]): string {
  const parts: string[] = [];
  rows.forEach((row, ri) => {
    let x = LEGEND_X;
    const y = 12 + ri * 18;
    for (const { index, color, text, w } of row) {
      const dash = DASHES[index % DASHES.length];
      parts.push(
        `<g class="legend-item"><line x1="${px(x)}" y1="${px(y)}" x2="${px(x + 26)}" y2="${px(y)}"${attrs({ stroke: color, 'stroke-dasharray': dash || undefined })}/>` +
          `${marker(index, x + 13, y, color)}<text x="${px(x + 32)}" y="${px(y + 4)}">${esc(text)}</text></g>`,
      );
      x += w;
    }
  });
  return parts.join('');
}

export function lineChartSvg(spec: LineChartSpec, title: string): string {
  const { metric, series } = spec;
  const values = series.flatMap((s) => s.points.flatMap((p) => ('value' in p ? [p.value] : [])));
  const axis = valueAxis(metric.unit, Math.max(0, ...values));
  const left = Math.max(...axis.labels.map((l) => textWidth(l, 11, 'sans'))) + 18;
  const right = 24;
  const legend = legendRows(series);
  const topY = 20 + legend.length * 18;
  // Failures get a lane of their own under the x axis, so that they hide no plotted point.
  const failures = spec.failLane ?? series.some((s) => s.points.some((p) => 'failed' in p));
  const laneY = HEIGHT - 40;
  const bottomY = HEIGHT - 46 - (failures ? 22 : 0);
  const plotW = WIDTH - left - right;
  const inset = spec.x.kind === 'category' ? Math.min(40, plotW / (2 * spec.xLabels.length)) : 10;
  const xAt = (i: number): number => left + inset + spec.x.pos(i) * (plotW - 2 * inset);
  const yAt = (v: number): number => bottomY - (v / axis.max) * (bottomY - topY);
  const parts: string[] = [];

  // Grid and value ticks.
  axis.ticks.forEach((t, i) => {
    const y = yAt(t);
    parts.push(
      `<line class="grid${i === 0 ? ' axis' : ''}" x1="${px(left)}" y1="${px(y)}" x2="${px(WIDTH - right)}" y2="${px(y)}"/>`,
      `<text class="tick y-tick" x="${px(left - 6)}" y="${px(y + 4)}">${esc(axis.labels[i])}</text>`,
    );
  });
  // x ticks: every value, or every k-th when the labels would collide.
  const n = spec.xLabels.length;
  const widest = Math.max(...spec.xLabels.map((l) => textWidth(l, 11, 'sans'))) + 8;
  const minGap =
    n > 1 ? Math.min(...spec.xLabels.slice(1).map((_, i) => xAt(i + 1) - xAt(i))) : plotW;
  const every = Math.max(1, Math.ceil(widest / Math.max(1, minGap)));
  spec.xLabels.forEach((l, i) => {
    const x = xAt(i);
    parts.push(
      `<line class="x-tickmark" x1="${px(x)}" y1="${px(bottomY)}" x2="${px(x)}" y2="${px(bottomY + 4)}"/>`,
    );
    if (i % every === 0 || i === n - 1)
      parts.push(`<text class="tick x-tick" x="${px(x)}" y="${px(bottomY + 17)}">${esc(l)}</text>`);
  });
  if (series.some((s) => s.points.some((p) => 'failed' in p)))
    parts.push(
      `<text class="tick lane-label" x="${px(left - 6)}" y="${px(laneY + 4)}">failed</text>`,
    );
  const scaleNote = spec.x.kind === 'log2' ? ' (log₂ scale)' : '';
  parts.push(
    `<text class="axis-label" x="${px(left + plotW / 2)}" y="${px(HEIGHT - 10)}">${esc(spec.xKey)}${scaleNote}</text>`,
  );

  // The lines: a polyline per run of points where the design succeeded.
  series.forEach((s, si) => {
    const dash = DASHES[si % DASHES.length];
    const g: string[] = [];
    let run: [number, number][] = [];
    const flush = (): void => {
      if (run.length > 1) {
        const d = run.map((p, i) => `${i ? 'L' : 'M'}${px(p[0])} ${px(p[1])}`).join('');
        g.push(
          `<path${attrs({ class: 'line', d, stroke: s.color, 'stroke-dasharray': dash || undefined })}/>`,
        );
      }
      run = [];
    };
    s.points.forEach((p, i) => {
      if ('value' in p) run.push([xAt(i), yAt(p.value)]);
      else flush();
    });
    flush();
    s.points.forEach((p, i) => {
      const x = xAt(i);
      if ('value' in p) {
        const tip = `${s.label}, ${spec.xKey}=${spec.xLabels[i]}: ${formatMetric(metric.unit, p.value)}`;
        g.push(
          `<g class="point"><title>${esc(tip)}</title>${marker(si, x, yAt(p.value), s.color)}</g>`,
        );
      } else if ('failed' in p) {
        // Side by side in the failure lane, one place per design.
        const tip = `${s.label}, ${spec.xKey}=${spec.xLabels[i]}: ${p.failed}`;
        const dx = (si - (series.length - 1) / 2) * 11;
        g.push(
          `<g class="failed-point"><title>${esc(tip)}</title>${cross(x + dx, laneY, s.color)}</g>`,
        );
      }
    });
    parts.push(`<g${attrs({ class: 'series', 'data-strategy': s.label })}>${g.join('')}</g>`);
  });

  parts.push(legendSvg(legend));
  return svgElement('chart line-chart', WIDTH, HEIGHT, title, parts.join(''), {
    'data-metric': metric.key,
  });
}
