/**
 * Colours of a report: one fixed colour per design (the built-in ones by id, any other, such as a
 * plugin's, by a hash of its id, so that it keeps its colour from one report to the next), and
 * one per kind of path drawn on the topology. Every colour has at least 4.5:1 contrast against
 * the white page (WCAG 2.1 1.4.3, more than the 3:1 that 1.4.11 asks of graphics), so a bar or
 * a line reads, and so does text written in it.
 */

/** The built-in designs' colours: blue, purple and brown (none is the paths' green or red). */
const BUILT_IN: Readonly<Record<string, string>> = {
  'dma-direct': '#1f5fa8',
  'dma-iommu': '#7b3fa0',
  'dma-vec': '#8a5a00',
};

/** Colours for other designs, chosen by hash: teal, magenta, indigo, olive, slate, rust. */
export const EXTRA_COLORS: readonly string[] = [
  '#0f6e78',
  '#a8326e',
  '#3d4ab8',
  '#5c6b12',
  '#4a5866',
  '#a0442a',
];

/** FNV-1a, 32 bits: a stable hash of the id. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The colour of a design, the same in every report. */
export function strategyColor(id: string): string {
  return BUILT_IN[id] ?? EXTRA_COLORS[hash(id) % EXTRA_COLORS.length];
}

/** What a drawn path is: peer-to-peer below a common bridge, through a root complex, or refused. */
export type PathKind = 'p2p' | 'rc' | 'refused';

export const PATH_COLORS: Readonly<Record<PathKind, string>> = {
  p2p: '#1b7f3b',
  rc: '#b94a00',
  refused: '#c1121f',
};

/** The WCAG relative luminance of "#rrggbb". */
export function relativeLuminance(hex: string): number {
  const ch = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  const lin = ch.map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}

/** The WCAG contrast ratio of two colours, from 1 to 21. */
export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [relativeLuminance(a), relativeLuminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
