/** The human-readable `dmasim topo` report: header, tree, IOMMU groups, pair matrix, reasons. */
import type { TopoAnalysis } from '@dmasim/core';
import type { Colors } from '../io';
import { renderGroups } from './groups';
import { renderPairs } from './matrix';
import { renderReasons } from './reasons';
import { renderTree } from './tree';

export interface ReportOptions {
  /** What the topology was read from, shown in the header. */
  source: string;
  /** Line width for wrapped lists. */
  width?: number;
}

export function renderTopoReport(a: TopoAnalysis, c: Colors, opts: ReportOptions): string[] {
  const topo = a.topology;
  const width = opts.width ?? 100;
  const title = topo.spec.name ? `${topo.spec.name} (${opts.source})` : opts.source;
  const cpu = topo.cpu;
  const cpuText =
    cpu.vendor === 'AMD' || cpu.vendor === 'Intel'
      ? `${cpu.vendor} family 0x${cpu.family.toString(16)}`
      : cpu.vendor;
  const lines: string[] = [`${c.bold('Topology')} ${title}`];
  if (topo.spec.description)
    lines.push(
      ...topo.spec.description
        .trim()
        .split('\n')
        .map((l) => `  ${l}`),
    );
  lines.push(
    `CPU ${cpuText}, ${topo.hostBridges.length} host bridge${topo.hostBridges.length === 1 ? '' : 's'}, ` +
      `${topo.devices.length} PCI functions, ${a.endpoints.length} endpoints`,
  );
  const section = (t: string): void => {
    lines.push('', c.bold(c.underline(t)));
  };
  section('PCI tree');
  lines.push(...renderTree(topo, c));
  section('IOMMU groups');
  lines.push(...renderGroups(a, c, width));
  section('Peer-to-peer map types (provider -> client)');
  lines.push(...renderPairs(a, c));
  section(
    "Why pairs are not BUS_ADDR (the kernel's messages; dmasim: lines explain silent decisions)",
  );
  lines.push(...renderReasons(a, c, width));
  return lines;
}
