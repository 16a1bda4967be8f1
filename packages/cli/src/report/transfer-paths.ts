/**
 * The paths data took (core's TransferPath, one per step, initiator and route): what kind each
 * is, a sentence for the drawing's legend, and which designs took the same ones, so that designs
 * whose data went the same way share one drawing.
 */
import type { StrategyRunResult, TransferPath } from '@dmasim/core';
import type { PathKind } from './colors';
import { formatMetric } from './metrics';

/**
 * Refused when any DMA on it was refused (it then ends where they were); else peer-to-peer when
 * it reached a device's BAR without a root complex (PCI_P2PDMA_MAP_BUS_ADDR); else through a root
 * complex (RAM, or peer memory the root complex forwarded).
 */
export function pathKind(t: TransferPath): PathKind {
  if (t.refused > 0) return 'refused';
  if (t.targetBdf !== undefined && !t.viaRootComplex) return 'p2p';
  return 'rc';
}

export const PATH_KIND_TEXT: Readonly<Record<PathKind, string>> = {
  p2p: 'peer-to-peer',
  rc: 'through the root complex',
  refused: 'refused',
};

/** "1 MiB written", "64 KiB read", "1 MiB written, 4 KiB read", "nothing moved". */
export function payloadText(t: TransferPath): string {
  const parts: string[] = [];
  if (t.writeBytes > 0) parts.push(`${formatMetric('bytes', t.writeBytes)} written`);
  if (t.readBytes > 0) parts.push(`${formatMetric('bytes', t.readBytes)} read`);
  return parts.length ? parts.join(', ') : 'nothing moved';
}

/** "3 DMAs refused" */
export function refusedText(n: number): string {
  return `${n} DMA${n === 1 ? '' : 's'} refused`;
}

/**
 * Designs grouped by the paths they took: each group lists designs (in run order) whose
 * transfers are identical, with those transfers. Designs that issued no DMA form their own group.
 */
export function groupByTransfers(
  results: readonly StrategyRunResult[],
): { strategies: string[]; transfers: TransferPath[] }[] {
  const groups: { key: string; strategies: string[]; transfers: TransferPath[] }[] = [];
  for (const r of results) {
    const transfers = r.transfers ?? [];
    const key = JSON.stringify(transfers);
    const g = groups.find((x) => x.key === key);
    if (g) g.strategies.push(r.strategy);
    else groups.push({ key, strategies: [r.strategy], transfers });
  }
  return groups.map(({ strategies, transfers }) => ({ strategies, transfers }));
}
