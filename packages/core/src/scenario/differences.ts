/**
 * Sentences that explain how the designs' results differ: who failed where the others did not,
 * what struct pages cost, how much traffic went through the host bridge or the IOMMU, what the
 * mapping cost on the CPU. They are read after the comparison table.
 */
import type { RunMetrics, StrategyRunResult } from './result';

function mib(n: number): string {
  if (n >= 2 ** 30) return `${+(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${+(n / 2 ** 20).toFixed(2)} MiB`;
  if (n >= 2 ** 10) return `${+(n / 2 ** 10).toFixed(2)} KiB`;
  return `${n} bytes`;
}

/** The designs grouped by a metric's value, "a, b: X; c: Y". */
function byValue(
  rs: readonly StrategyRunResult[],
  key: keyof RunMetrics,
  fmt: (n: number) => string,
): string {
  const groups = new Map<string, string[]>();
  for (const r of rs) {
    const v = fmt(r.metrics[key] as number);
    groups.set(v, [...(groups.get(v) ?? []), r.strategy]);
  }
  return [...groups].map(([v, ids]) => `${ids.join(', ')}: ${v}`).join('; ');
}

function differs(rs: readonly StrategyRunResult[], key: keyof RunMetrics): boolean {
  return new Set(rs.map((r) => r.metrics[key])).size > 1;
}

/** What tells the designs apart, in sentences; empty for a single design. */
export function explainDifferences(rs: readonly StrategyRunResult[]): string[] {
  if (rs.length < 2) return [];
  const out: string[] = [];
  const ok = rs.filter((r) => r.ok);
  const failed = rs.filter((r) => !r.ok);
  if (ok.length && failed.length) {
    for (const r of failed) {
      const f = r.steps.find((s) => !s.ok && !s.skipped);
      if (f) {
        out.push(
          `${r.strategy} fails at step "${f.id}" (${f.stage}: ${f.error?.code}) where ${ok.map((x) => x.strategy).join(', ')} succeed${ok.length === 1 ? 's' : ''}.`,
        );
      }
    }
  }
  const lost = rs.filter((r) => r.metrics.integrity === 'mismatch');
  if (lost.length) {
    out.push(
      `Data was lost or misplaced under ${lost.map((r) => r.strategy).join(', ')}: a verify step found different bytes.`,
    );
  }
  if (differs(rs, 'structPageBytes')) {
    out.push(
      `struct pages for the P2P providers (64 bytes per 4 KiB page of registered BAR): ${byValue(rs, 'structPageBytes', mib)}.`,
    );
  }
  const ran = rs.filter((r) => r.metrics.bytesTransferred > 0);
  if (differs(ran, 'hostBridgeBytes')) {
    out.push(`Bytes through a root complex: ${byValue(ran, 'hostBridgeBytes', mib)}.`);
  }
  if (differs(ran, 'iommuTranslatedBytes')) {
    out.push(`Bytes the IOMMU translated: ${byValue(ran, 'iommuTranslatedBytes', mib)}.`);
  }
  if (differs(ran, 'mappingMetadataBytes')) {
    out.push(
      `Mapping metadata built (scatterlists 32 bytes per entry, bio_vecs and dma_vecs 16, NVMe descriptor blocks): ${byValue(ran, 'mappingMetadataBytes', mib)}.`,
    );
  }
  if (differs(ran, 'cpuNs')) {
    out.push(
      `Modelled CPU time of mapping and unmapping: ${byValue(ran, 'cpuNs', (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} ms` : `${(n / 1e3).toFixed(2)} µs`))}.`,
    );
  }
  return out;
}
