/**
 * Human units for the figures `dmasim run` reports: sizes in binary units (KiB = 1024 bytes, as
 * the kernel prints them), times in ns/µs/ms/s, rates in GB/s (10^9 bytes per second, as link
 * speeds are quoted), counts with thousands separators.
 */

/** `value` with two decimals in the first unit where it stays below `step` once rounded. */
function scaled(value: number, step: number, units: readonly string[]): string {
  let v = value;
  let i = 0;
  // Compare the rounded text, so 1023.999 KiB is printed as 1.00 MiB, not 1024.00 KiB.
  while (i < units.length - 1 && Math.abs(Number(v.toFixed(2))) >= step) {
    v /= step;
    i++;
  }
  return `${v.toFixed(2)} ${units[i]}`;
}

/** 512 -> "512 B", 1536 -> "1.50 KiB", 1073741824 -> "1.00 GiB". */
export function formatBytes(bytes: number): string {
  if (Math.abs(bytes) < 1024) return `${Math.round(bytes)} B`;
  return scaled(bytes / 1024, 1024, ['KiB', 'MiB', 'GiB', 'TiB', 'PiB']);
}

/** 850 -> "850 ns", 1754 -> "1.75 µs", 2_500_000 -> "2.50 ms", 3e9 -> "3.00 s". */
export function formatNs(ns: number): string {
  if (Math.abs(ns) < 1000) return `${Math.round(ns)} ns`;
  return scaled(ns / 1000, 1000, ['µs', 'ms', 's']);
}

/** 24.968 -> "24.97 GB/s". */
export function formatGBps(gbps: number): string {
  return `${gbps.toFixed(2)} GB/s`;
}

/** 262144 -> "262,144" (the same on every locale). */
export function formatCount(n: number): string {
  const [int, frac] = String(n).split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}
