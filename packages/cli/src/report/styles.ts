/**
 * The report's stylesheet, inlined in the page: a light theme in the system's fonts (no web
 * fonts: nothing loads), styles for the inline SVG drawings, and print rules (colours kept,
 * figures not split across pages, the raw JSON left out unless opened).
 */
import { PATH_COLORS } from './colors';

export const REPORT_CSS = `
:root {
  color-scheme: light;
  --ink: #1d232b; --muted: #5a6470; --faint: #8a939d; --line: #d5dae0; --soft: #f4f6f8;
  --ok: #1b7f3b; --bad: #c1121f; --warn: #8a5a00;
  --p2p: ${PATH_COLORS.p2p}; --rc: ${PATH_COLORS.rc}; --refused: ${PATH_COLORS.refused};
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", Arial, sans-serif;
  --mono: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
html { background: #fff; }
body { margin: 0; color: var(--ink); font: 14px/1.5 var(--sans); }
main { max-width: 1240px; margin: 0 auto; padding: 28px 32px 40px; }
h1 { font-size: 28px; line-height: 1.2; margin: 2px 0 6px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 36px 0 12px; padding-bottom: 6px; border-bottom: 2px solid var(--ink); }
h3 { font-size: 15px; margin: 18px 0 8px; }
h4 { font-size: 13px; margin: 12px 0 4px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em; }
code, pre { font-family: var(--mono); font-size: 0.92em; }
a { color: #1f5fa8; }
.muted { color: var(--muted); }
.small { font-size: 12.5px; }
.nowrap { white-space: nowrap; }
.chip { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }

.report-head .kicker { margin: 0; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.08em; font-weight: 600; }
.report-head .description { font-size: 15.5px; margin: 0 0 14px; max-width: 70em; }
.facts { display: flex; flex-wrap: wrap; gap: 8px 40px; margin: 0 0 14px; padding: 12px 16px; background: var(--soft); border: 1px solid var(--line); border-radius: 6px; }
.facts div { min-width: 0; max-width: 100%; }
.facts dt { font-size: 11.5px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.05em; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.modelled { margin: 0 0 10px; padding: 8px 12px; border-left: 4px solid var(--warn); background: #fbf6ea; font-size: 13px; }
.contents { display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 13px; }
.contents a { text-decoration: none; border-bottom: 1px solid #b9c7da; }

.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(250px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-top: 4px solid var(--ink); border-radius: 6px; padding: 10px 14px; }
.card-head { display: flex; justify-content: space-between; align-items: baseline; font-weight: 650; font-size: 15px; }
.card .status { font-size: 13px; }
.card.ok .status { color: var(--ok); }
.card.failed .status { color: var(--bad); }
.card-title { margin: 2px 0 6px; color: var(--muted); font-size: 12.5px; }
.card-outcome { margin: 0; font-size: 13px; }
.card.failed .card-outcome { color: var(--bad); }

.path-key { list-style: none; padding: 0; margin: 0 0 4px; display: flex; flex-wrap: wrap; gap: 4px 22px; font-size: 13px; }
.swatch { display: inline-block; width: 28px; height: 0; border-top: 3px solid; vertical-align: middle; margin-right: 8px; }
.swatch.p2p { border-color: var(--p2p); }
.swatch.rc { border-color: var(--rc); }
.swatch.refused { border-color: var(--refused); border-top-style: dashed; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 540px), 1fr)); gap: 16px; margin-top: 12px; }
.topology-figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px 6px; break-inside: avoid; }
.topology-figure figcaption { font-weight: 650; margin-bottom: 6px; }
.figure-body { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 24px; }
.figure-body > .svg-scroll { flex: 0 1 auto; }
.figure-body > .path-list { flex: 1 1 320px; }
.svg-scroll { overflow-x: auto; max-width: 100%; }
.svg-scroll svg { display: block; margin: 0 auto; max-width: 100%; height: auto; }
.path-list { list-style: none; padding: 0; margin: 8px 0 4px; font-size: 13px; }
.path-list li { display: flex; gap: 8px; align-items: baseline; padding: 3px 0; border-top: 1px solid var(--soft); }
.badge-num { flex: none; display: inline-block; min-width: 19px; height: 19px; border-radius: 10px; color: #fff; font-size: 11.5px; font-weight: 700; text-align: center; line-height: 19px; }
.badge-num.p2p { background: var(--p2p); } .badge-num.rc { background: var(--rc); } .badge-num.refused { background: var(--refused); }
.how { color: var(--muted); }

svg text { font-family: var(--sans); }
svg.topology .edge { fill: none; stroke: #9aa3ad; stroke-width: 1.4; }
svg.topology .edge.internal { stroke: #c3c9d0; stroke-width: 1.1; stroke-dasharray: 3 2; }
svg.topology .link-speed { font-size: 9.5px; fill: var(--faint); }
svg.topology .switch rect { fill: #f7f8fa; stroke: #c9cfd6; stroke-dasharray: 4 3; }
svg.topology .switch text { font-size: 9.5px; fill: var(--faint); text-transform: uppercase; letter-spacing: 0.06em; }
svg.topology .node rect { fill: #fff; stroke: #8a939d; stroke-width: 1.1; }
svg.topology .node-port rect { fill: #f1f3f5; stroke: #b3bac2; }
svg.topology .node-host rect, svg.topology .node-system rect { fill: #e9eef5; stroke: #6f7d8c; }
svg.topology .node.on-path rect { stroke: var(--ink); stroke-width: 1.8; }
svg.topology .node text { text-anchor: middle; }
svg.topology .n1 { font-size: 12.5px; font-weight: 650; fill: var(--ink); }
svg.topology .n2 { font-size: 10.5px; fill: var(--muted); }
svg.topology .p1 { font-size: 9.5px; fill: var(--muted); }
svg.topology .p2 { font-size: 10px; font-family: var(--mono); fill: var(--ink); }
svg.topology .route { fill: none; stroke-width: 3.2; stroke-linejoin: round; stroke-linecap: round; }
svg.topology .path-refused .route { stroke-dasharray: 7 4; }
svg.topology .refused-end circle { fill: #fff; stroke: var(--refused); stroke-width: 1.2; }
svg.topology .refused-end path { stroke-width: 2.6; stroke-linecap: round; }
svg.topology .badge text { fill: #fff; font-size: 10.5px; font-weight: 700; text-anchor: middle; }

.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: baseline; }
thead th { border-bottom: 2px solid var(--ink); white-space: nowrap; }
tr.group th { background: var(--soft); font-size: 11.5px; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); padding-top: 8px; }
tbody th[scope="row"] { font-weight: 500; white-space: nowrap; }
td.what { color: var(--muted); font-size: 12px; min-width: 12em; }
.differs-key { display: inline-block; width: 3px; height: 12px; background: #1f5fa8; vertical-align: -1px; margin-right: 6px; }
th.num { text-align: right; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best { font-weight: 700; }
td.ok { color: var(--ok); }
td.failed { color: var(--bad); font-weight: 600; background: #fdf0f1; white-space: nowrap; }
td.skipped { color: var(--warn); }
td.partial { color: var(--muted); }
td.integrity-verified { color: var(--ok); } td.integrity-mismatch { color: var(--bad); font-weight: 600; }
tr.differs > th[scope="row"] { box-shadow: inset 3px 0 0 #1f5fa8; }
sup a { text-decoration: none; margin-left: 2px; }
.footnotes { font-size: 12.5px; color: var(--muted); padding-left: 22px; }
.footnotes li { margin: 3px 0; }
.table-note { font-size: 12px; color: var(--muted); }
.comparison { width: 100%; }
.sweep-table th[scope="rowgroup"] { font-weight: 600; background: #fafbfc; }
.sweep-table tr.point-start td, .sweep-table tr.point-start th { border-top: 1.5px solid #aab3bd; }

.chart-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 520px), 1fr)); gap: 14px 18px; }
.chart-grid.lines { grid-template-columns: repeat(auto-fill, minmax(min(100%, 560px), 1fr)); }
.chart-card { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px 4px; break-inside: avoid; }
.chart-card figcaption { font-size: 13px; margin-bottom: 2px; }
.chart-card figcaption.panel { font-weight: 600; }
.chart-card .what, h3 .what { color: var(--muted); font-weight: 400; margin-left: 8px; font-size: 12.5px; }
.chart-card svg { display: block; max-width: 100%; height: auto; }
svg.chart .bar-label { font-size: 11.5px; fill: var(--ink); text-anchor: end; }
svg.chart .bar-value { font-size: 11.5px; fill: var(--ink); }
svg.chart .best .bar-value { font-weight: 700; }
svg.chart .baseline { stroke: #6f7d8c; stroke-width: 1; }
svg.chart .grid { stroke: #e3e7eb; stroke-width: 1; }
svg.chart .grid.axis { stroke: #6f7d8c; }
svg.chart .x-tickmark { stroke: #6f7d8c; }
svg.chart .tick { font-size: 11px; fill: var(--muted); }
svg.chart .y-tick, svg.chart .lane-label { text-anchor: end; }
svg.chart .lane-label { fill: var(--bad); }
svg.chart .x-tick, svg.chart .axis-label { text-anchor: middle; }
svg.chart .axis-label { font-size: 12px; fill: var(--ink); font-family: var(--mono); }
svg.chart .line { fill: none; stroke-width: 2.2; stroke-linejoin: round; }
svg.chart .fail-mark { stroke-width: 2.4; stroke-linecap: round; }
svg.chart .legend-item line { stroke-width: 2.2; }
svg.chart .legend-item text { font-size: 11.5px; fill: var(--ink); }
.metric-block h3 { margin-top: 22px; }
.zero-metrics { font-size: 13px; color: var(--muted); margin: 12px 0 0; }

.design { border: 1px solid var(--line); border-left: 5px solid var(--ink); border-radius: 6px; padding: 4px 16px 10px; margin: 12px 0; }
.design h3 .title { font-weight: 400; color: var(--muted); margin-left: 6px; }
.step-list { list-style: none; padding: 0; margin: 0; font-size: 13px; }
.step-list li { padding: 4px 0; border-top: 1px solid var(--soft); }
.step-list .state { font-weight: 600; margin-left: 6px; }
.step-list .ok .state { color: var(--ok); }
.step-list .failed .state { color: var(--bad); }
.step-list .skipped .state { color: var(--warn); }
.step-list .message { margin: 2px 0 0 14px; }
.step-list .detail { margin: 1px 0 0 14px; color: var(--muted); }
ul.notes { margin: 4px 0; padding-left: 20px; font-size: 13px; }
ul.notes li { margin: 3px 0; }

.raw details { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; }
.raw summary { cursor: pointer; font-weight: 600; }
pre.json { max-height: 640px; overflow: auto; font-size: 12px; line-height: 1.4; background: var(--soft); padding: 10px; margin: 8px 0 4px; }
footer { margin-top: 36px; padding-top: 10px; border-top: 1px solid var(--line); font-size: 12px; color: var(--muted); }
footer p { margin: 2px 0; }

@media print {
  html, body { background: #fff; }
  main { max-width: none; padding: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-after: avoid; }
  figure, .card, .design, tr { break-inside: avoid; }
  .contents, .raw details:not([open]) { display: none; }
  pre.json { max-height: none; overflow: visible; white-space: pre-wrap; }
  td.failed { white-space: normal; }
  .table-wrap { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
`;
