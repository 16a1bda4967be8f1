/**
 * Inline SVG pieces shared by the drawings: the <svg> element with an accessible title, text
 * widths estimated without a browser (the page runs no script to measure them), coordinates.
 */
import { attrs, esc } from './html';

/**
 * Width in px of `text` at `size` px. Estimates err wide so that boxes hold their text: DejaVu
 * Sans (Linux's usual system-ui) is among the widest sans-serif fonts, up to 0.67 em per
 * character in names such as "dma-iommu" (0.74 em in bold); monospace fonts take 0.6 em.
 */
export function textWidth(text: string, size: number, font: 'sans' | 'bold' | 'mono'): number {
  const em = font === 'mono' ? 0.61 : font === 'bold' ? 0.74 : 0.66;
  return Math.ceil(text.length * size * em);
}

/** A number for an SVG attribute: at most one decimal, no "-0". */
export function px(v: number): string {
  const r = Math.round(v * 10) / 10;
  return String(r === 0 ? 0 : r);
}

/**
 * An <svg> of the given size that scales down with the page (never up), titled for screen readers
 * and tooltips.
 */
export function svgElement(
  cls: string,
  width: number,
  height: number,
  title: string,
  content: string,
  extra: Record<string, string | number | undefined> = {},
): string {
  const w = Math.ceil(width);
  const h = Math.ceil(height);
  return (
    `<svg${attrs({
      class: cls,
      viewBox: `0 0 ${w} ${h}`,
      width: w,
      height: h,
      role: 'img',
      'aria-label': title,
      ...extra,
    })}>` + `<title>${esc(title)}</title>${content}</svg>`
  );
}
