/** Parsing of the sizes and numbers that topology and scenario files accept. */

const UNITS: Record<string, number> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?$/;
const HEX_RE = /^0[xX][0-9a-fA-F]+$/;

/**
 * "16KiB", "1.5 GiB", "0x4000", "4096" -> bytes. Returns undefined when the text is not a size or
 * is not a whole number of bytes, so the caller can report where it is.
 */
export function parseSize(text: string): number | undefined {
  const t = text.trim();
  if (HEX_RE.test(t)) return Number.parseInt(t, 16);
  const m = SIZE_RE.exec(t);
  if (!m) return undefined;
  const bytes = Number(m[1]) * UNITS[m[2] ?? 'B'];
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** "0x8086" or "32902" -> number; undefined if malformed. */
export function parseIntText(text: string): number | undefined {
  const t = text.trim();
  if (HEX_RE.test(t)) return Number.parseInt(t, 16);
  if (/^\d+$/.test(t)) return Number(t);
  return undefined;
}

/** Largest unit that divides the size exactly: 16384 -> "16KiB", 3 GiB -> "3GiB". */
export function formatSize(bytes: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const u = UNITS[unit];
    if (bytes >= u && bytes % u === 0) return `${bytes / u}${unit}`;
  }
  return `${bytes}`;
}

export function hexAddr(n: number): string {
  return `0x${n.toString(16)}`;
}
