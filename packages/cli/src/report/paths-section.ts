/**
 * "Where the data went": the topology drawn once per group of designs whose data took the same
 * paths (often every design: one drawing), each path numbered and explained in a list below it.
 */
import type { PciTopology, StrategyRunResult, TransferPath } from '@dmasim/core';
import { attrs, esc } from './html';
import { strategyChip } from './table';
import { shortBdfs, topologySvg, type DrawnPath } from './topology';
import { groupByTransfers, PATH_KIND_TEXT, payloadText, refusedText } from './transfer-paths';

/** The key to the drawings' line styles. */
export function pathKeyHtml(): string {
  return (
    `<ul class="path-key">` +
    `<li><span class="swatch p2p"></span>peer-to-peer: through PCIe switches only, never the root complex</li>` +
    `<li><span class="swatch rc"></span>through a root complex (RAM, or a peer the root complex forwards to)</li>` +
    `<li><span class="swatch refused"></span>refused: the DMAs stopped at the cross (IOMMU fault, dropped, Unsupported Request)</li>` +
    `</ul>` +
    `<p class="muted small">Arrows point from the device that issued the DMAs to the memory they addressed (a device's reads ` +
    `carry data against the arrow). The numbers under a device are the paths it started, listed below each drawing. ` +
    `Link speeds are those the topology states.</p>`
  );
}

/** What a node id names, for the legend: a device, or the host bridge / CPU. */
function where(topo: PciTopology, id: string): string {
  const d = topo.find(id);
  if (d) {
    const bdf = shortBdfs(topo)(d.bdf);
    return d.name ? `${d.name} (${bdf})` : `${d.kind.replace('-', ' ')} ${bdf}`;
  }
  if (id === 'system') return 'the CPU';
  const hb = topo.hostBridges.find((h) => `hb:${h.index}` === id);
  return hb ? `the root complex ${hb.name}` : id;
}

/** Where a peer-to-peer path turns down: inside a switch, or below a root port or bridge. */
function turnText(topo: PciTopology, id: string): string {
  const d = topo.find(id);
  if (d?.kind === 'switch-upstream')
    return `turning inside the switch of ${shortBdfs(topo)(d.bdf)}`;
  return `turning below ${where(topo, id)}`;
}

function legendItem(p: DrawnPath, topo: PciTopology): string {
  const t: TransferPath = p.transfer;
  const target = t.target === '(refused)' ? '' : ` → ${esc(t.target)}`;
  const how: string[] = [];
  if (p.kind === 'refused') {
    const end = p.route?.nodes[p.route.nodes.length - 1];
    how.push(`${refusedText(t.refused)}${end ? `, stopped at ${where(topo, end)}` : ''}`);
    if (t.writeBytes + t.readBytes > 0) how.push(payloadText(t));
  } else {
    how.push(payloadText(t));
    if (p.kind === 'p2p') {
      const turn = p.route?.turnAt;
      how.push(`${PATH_KIND_TEXT.p2p}${turn ? `, ${turnText(topo, turn)}` : ''}`);
    } else if (t.crossHostBridge) how.push('through both root complexes');
    else
      how.push(
        t.targetBdf ? 'peer traffic through the root complex' : 'to RAM through the root complex',
      );
  }
  const links = t.links.length;
  how.push(`${links} PCIe link${links === 1 ? '' : 's'}`);
  const missing = p.route ? '' : ' <em>(its initiator is not in the topology: not drawn)</em>';
  return (
    `<li${attrs({ class: `path-item ${p.kind}`, 'data-step': t.step })}>` +
    `<span class="badge-num ${p.kind}">${p.n}</span>` +
    `<span><code>${esc(t.step)}</code>: <b>${esc(t.initiator)}</b>${target}` +
    `<span class="how"> · ${how.map(esc).join(' · ')}</span>${missing}</span></li>`
  );
}

/** The section's body for a run's results. */
export function pathsSectionHtml(topo: PciTopology, results: readonly StrategyRunResult[]): string {
  const groups = groupByTransfers(results);
  const withPaths = groups.filter((g) => g.transfers.length > 0);
  const figures: string[] = [];
  withPaths.forEach((g, gi) => {
    const names = g.strategies.join(', ');
    const title = `Paths taken under ${names}`;
    const drawing = topologySvg(topo, g.transfers, `topo${gi}`, title);
    const caption =
      g.strategies.length === results.length && results.length > 1
        ? `every design: ${g.strategies.map(strategyChip).join(' ')}`
        : g.strategies.map(strategyChip).join(' ');
    figures.push(
      `<figure class="topology-figure"${attrs({ 'data-strategies': names })}>` +
        `<figcaption>${caption}</figcaption>` +
        `<div class="figure-body"><div class="svg-scroll">${drawing.svg}</div>` +
        `<ol class="path-list">${drawing.paths.map((p) => legendItem(p, topo)).join('')}</ol>` +
        `</div></figure>`,
    );
  });
  const idle = groups.filter((g) => g.transfers.length === 0).flatMap((g) => g.strategies);
  let note = '';
  if (withPaths.length === 0) {
    const drawing = topologySvg(topo, [], 'topo-plain', 'The machine');
    figures.push(
      `<figure class="topology-figure"><figcaption>The machine: no design issued a DMA</figcaption>` +
        `<div class="svg-scroll">${drawing.svg}</div></figure>`,
    );
  } else if (idle.length) {
    note = `<p class="muted">${idle.map(strategyChip).join(', ')} issued no DMA (${idle.length === 1 ? 'it' : 'they'} stopped before any data moved).</p>`;
  }
  const same =
    withPaths.length === 1 &&
    withPaths[0].strategies.length === results.length &&
    results.length > 1
      ? `<p class="muted small">The designs' data took the same paths, so one drawing shows them all.</p>`
      : '';
  return `${pathKeyHtml()}${same}<div class="figures">${figures.join('')}</div>${note}`;
}

/** A sweep records no paths: the machine alone. */
export function machineSectionHtml(topo: PciTopology): string {
  const drawing = topologySvg(topo, [], 'topo-plain', 'The machine');
  return (
    `<p class="muted small">A sweep records no paths; <code>dmasim run --report</code> on one point draws them.</p>` +
    `<figure class="topology-figure"><div class="svg-scroll">${drawing.svg}</div></figure>`
  );
}
