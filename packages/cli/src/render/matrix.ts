/**
 * The endpoint-by-endpoint view of calc_map_type_and_dist(): a matrix (rows = provider, the
 * device whose memory is used; columns = client, the device that does the DMA) for up to
 * MATRIX_MAX_ENDPOINTS endpoints, a pair list beyond that, and a legend.
 */
import Table from 'cli-table3';
import type { PairAnalysis, PairMapType, PciDev, TopoAnalysis } from '@dmasim/core';
import type { Colors } from '../io';
import { alignColumns, cell, devName, shortBdf, type Cell } from './text';

/** Above this many endpoints the matrix gets too wide to read and a pair list is printed. */
export const MATRIX_MAX_ENDPOINTS = 16;

export const MAP_TYPE_ABBREV: Record<PairMapType, string> = {
  BUS_ADDR: 'BUS',
  THRU_HOST_BRIDGE: 'HB',
  NOT_SUPPORTED: '--',
};

const ASCII_CHARS = {
  top: '-',
  'top-mid': '+',
  'top-left': '+',
  'top-right': '+',
  bottom: '-',
  'bottom-mid': '+',
  'bottom-left': '+',
  'bottom-right': '+',
  left: '|',
  'left-mid': '+',
  mid: '-',
  'mid-mid': '+',
  right: '|',
  'right-mid': '+',
  middle: '|',
};

/** Looks pairs up by (provider, client). */
export class PairIndex {
  private readonly byKey = new Map<string, PairAnalysis>();
  constructor(pairs: readonly PairAnalysis[]) {
    for (const p of pairs) this.byKey.set(`${p.provider.index}:${p.client.index}`, p);
  }
  get(provider: PciDev, client: PciDev): PairAnalysis | undefined {
    return this.byKey.get(`${provider.index}:${client.index}`);
  }
}

export function paintMapType(c: Colors, t: PairMapType): (s: string) => string {
  switch (t) {
    case 'BUS_ADDR':
      return c.green;
    case 'THRU_HOST_BRIDGE':
      return c.yellow;
    case 'NOT_SUPPORTED':
      return c.red;
  }
}

function distWidth(a: TopoAnalysis): number {
  return Math.max(1, ...a.pairs.map((p) => String(p.distance).length));
}

/** "BUS 4 PIX", "HB  8 PHB", "--  4 PHB" (distance right-aligned to the widest one). */
export function pairCellText(p: PairAnalysis, width: number): string {
  return `${MAP_TYPE_ABBREV[p.mapType].padEnd(3)} ${String(p.distance).padStart(width)} ${p.pathLevel}`;
}

export function renderMatrix(a: TopoAnalysis, c: Colors): string[] {
  const eps = a.endpoints;
  const idx = new PairIndex(a.pairs);
  const w = distWidth(a);
  const table = new Table({
    head: [c.dim('provider \\ client'), ...eps.map((e) => c.bold(devName(e)))],
    chars: ASCII_CHARS,
    style: { head: [], border: [], compact: true, 'padding-left': 1, 'padding-right': 1 },
  });
  for (const prov of eps) {
    const row: string[] = [
      `${c.bold(devName(prov))}${prov.name ? ` ${c.dim(shortBdf(prov))}` : ''}`,
    ];
    for (const cl of eps) {
      const p = idx.get(prov, cl);
      if (!p) {
        row.push(c.dim('?'));
        continue;
      }
      const text = pairCellText(p, w);
      row.push(prov === cl ? c.dim(text) : paintMapType(c, p.mapType)(text));
    }
    table.push(row);
  }
  return table.toString().split('\n');
}

/** One line per ordered pair of distinct endpoints, for topologies too large for a matrix. */
export function renderPairList(a: TopoAnalysis, c: Colors): string[] {
  const w = distWidth(a);
  const rows: Cell[][] = [
    [
      cell('provider', c.dim),
      cell('client', c.dim),
      cell('map', c.dim),
      cell('path ACS redirect at', c.dim),
    ],
  ];
  for (const p of a.pairs) {
    if (p.provider === p.client) continue;
    rows.push([
      cell(devName(p.provider), c.bold),
      cell(devName(p.client), c.bold),
      cell(pairCellText(p, w), paintMapType(c, p.mapType)),
      cell(p.acsPorts.map((d) => d.bdf).join(' ')),
    ]);
  }
  return alignColumns(rows);
}

export function renderLegend(c: Colors, matrix: boolean): string[] {
  const k = (s: string): string => c.bold(s);
  return [
    matrix
      ? 'Rows are providers (whose memory is used), columns are clients (which do the DMA).'
      : 'Each line is one provider (whose memory is used) and one client (which does the DMA).',
    `  ${k('BUS')} PCI_P2PDMA_MAP_BUS_ADDR          below a common bridge: the client uses the PCI bus address`,
    `  ${k('HB ')} PCI_P2PDMA_MAP_THRU_HOST_BRIDGE  through the root complex: mapped like RAM (IOVA under an IOMMU)`,
    `  ${k('-- ')} PCI_P2PDMA_MAP_NOT_SUPPORTED     no usable path: DMA mapping fails with -EREMOTEIO`,
    `  The number is the distance calc_map_type_and_dist() computes (pci_p2pdma_distance());`,
    `  PIX/PXB/PHB/NODE/SYS is the path level nvidia-smi topo -m would print.`,
  ];
}

/** Matrix (or pair list) plus legend and a one-line count of each map type. */
export function renderPairs(a: TopoAnalysis, c: Colors): string[] {
  if (a.endpoints.length === 0) return ['(no endpoints)'];
  const matrix = a.endpoints.length <= MATRIX_MAX_ENDPOINTS;
  const lines = matrix ? renderMatrix(a, c) : renderPairList(a, c);
  const counts: Record<PairMapType, number> = {
    BUS_ADDR: 0,
    THRU_HOST_BRIDGE: 0,
    NOT_SUPPORTED: 0,
  };
  let distinct = 0;
  for (const p of a.pairs) {
    if (p.provider === p.client) continue;
    distinct++;
    counts[p.mapType]++;
  }
  return [
    ...lines,
    ...renderLegend(c, matrix),
    `${distinct} pairs of distinct endpoints: ${c.green(`${counts.BUS_ADDR} BUS_ADDR`)}, ` +
      `${c.yellow(`${counts.THRU_HOST_BRIDGE} THRU_HOST_BRIDGE`)}, ${c.red(`${counts.NOT_SUPPORTED} NOT_SUPPORTED`)}`,
  ];
}
