/**
 * The HTML document of a report: escaping, the page skeleton, and the raw JSON embedded twice (a
 * machine-readable `<script type="application/json">` block and a pretty-printed `<details>`).
 * A report loads nothing: a Content-Security-Policy that allows only inline styles proves it.
 */
import { REPORT_CSS } from './styles';

/** Text for an HTML element's content or an attribute value (also valid inside SVG). */
export function esc(text: string | number): string {
  return String(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** ` name="value"` pairs from an object; undefined and false are left out, true is bare. */
export function attrs(a: Record<string, string | number | boolean | undefined>): string {
  let out = '';
  for (const [k, v] of Object.entries(a)) {
    if (v === undefined || v === false) continue;
    out += v === true ? ` ${k}` : ` ${k}="${esc(v)}"`;
  }
  return out;
}

/**
 * JSON for a `<script type="application/json">` block. Every "<" becomes the JSON escape \u003c,
 * so neither "</script>" nor "<!--" in a message can end the block early; JSON.parse of the
 * block's text gives back the same value.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

export interface DocumentParts {
  /** The page title (the browser tab). */
  title: string;
  /** The body's HTML, already escaped. */
  body: string;
  /** The raw document (`dmasim run --json` or `dmasim sweep --json`), embedded and shown. */
  data: unknown;
  /** What `data` is, in the details' summary ("dmasim run --json"). */
  dataLabel: string;
}

/**
 * The raw JSON section: a collapsed <details> with the document pretty-printed (readable, and
 * printable, without JavaScript).
 */
function rawDataSection(data: unknown, label: string): string {
  const pretty = JSON.stringify(data, null, 2);
  return (
    `<section class="raw" id="raw"><h2>Raw data</h2>` +
    `<p class="muted">The same document as <code>${esc(label)}</code>; it is also embedded in ` +
    `this file as <code>&lt;script type="application/json" id="dmasim-data"&gt;</code> for tools.</p>` +
    `<details><summary>Show the JSON (${esc(formatLength(pretty.length))})</summary>` +
    `<pre class="json">${esc(pretty)}</pre></details></section>`
  );
}

function formatLength(chars: number): string {
  return chars < 1024 ? `${chars} characters` : `${(chars / 1024).toFixed(1)} K characters`;
}

/** The whole page. */
export function htmlDocument(p: DocumentParts): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Nothing may load: no scripts run, no network, no fonts; inline styles and data: images only.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light">',
    '<meta name="generator" content="dmasim">',
    `<title>${esc(p.title)}</title>`,
    `<style>${REPORT_CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    p.body,
    rawDataSection(p.data, p.dataLabel),
    '</main>',
    `<script type="application/json" id="dmasim-data">${scriptJson(p.data)}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
