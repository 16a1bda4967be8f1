/** Small text-layout helpers shared by the renderers: aligned columns, wrapping, device labels. */
import type { PciDev } from '@dmasim/core';
import type { Colors } from '../io';

/** A piece of text and the colour to paint it with once it has been padded. */
export interface Cell {
  text: string;
  paint?: (s: string) => string;
}

export function cell(text: string, paint?: (s: string) => string): Cell {
  return { text, paint };
}

/**
 * Lays rows out in aligned columns separated by `gap` spaces. Widths are computed on the plain
 * text, so colour codes never disturb the alignment. Trailing empty cells are dropped.
 */
export function alignColumns(rows: Cell[][], gap = 2): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.text.length);
    });
  }
  return rows.map((row) => {
    let last = row.length - 1;
    while (last >= 0 && row[last].text === '') last--;
    let line = '';
    for (let i = 0; i <= last; i++) {
      const c = row[i];
      const padded = i < last ? c.text.padEnd(widths[i] + gap) : c.text;
      const body =
        c.paint && c.text !== '' ? c.paint(c.text) + padded.slice(c.text.length) : padded;
      line += body;
    }
    return line;
  });
}

/**
 * Joins items with ", " into lines of at most `width` characters (measured on `plain`), the first
 * line starting with `first`, the others indented to the same column.
 */
export function wrapList(
  first: string,
  items: { plain: string; shown: string }[],
  width: number,
): string[] {
  const indent = ' '.repeat(first.length);
  const lines: string[] = [];
  let cur = first;
  let curLen = first.length;
  let empty = true;
  items.forEach((it, i) => {
    const sep = i < items.length - 1 ? ',' : '';
    const add = (empty ? '' : ' ') + it.plain + sep;
    if (!empty && curLen + add.length > width) {
      lines.push(cur);
      cur = indent;
      curLen = indent.length;
      empty = true;
    }
    cur += (empty ? '' : ' ') + it.shown + sep;
    curLen += (empty ? 0 : 1) + it.plain.length + sep.length;
    empty = false;
  });
  lines.push(cur);
  return lines;
}

/** "03:00.0" for domain 0, else the full "0001:03:00.0". */
export function shortBdf(dev: PciDev): string {
  return dev.domain === 0 ? dev.bdf.slice(5) : dev.bdf;
}

/** What to call an endpoint in the matrix and the reasons: its name, else its short BDF. */
export function devName(dev: PciDev): string {
  return dev.name ?? shortBdf(dev);
}

/** "nvme0 (0000:03:00.0)", or the BDF alone for an unnamed function. */
export function devLabel(dev: PciDev): string {
  return dev.name ? `${dev.name} (${dev.bdf})` : dev.bdf;
}

export { hex4 } from '@dmasim/core';

/** A rule under a section title. */
export function heading(c: Colors, title: string): string {
  return c.bold(title);
}
