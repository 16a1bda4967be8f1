/**
 * The PCI tree, drawn like `lspci -tv` (one root bus per host bridge, `+-`/`\-` branches, bridges
 * with their `[secondary-subordinate]` bus range), except that every function gets its own line
 * so that bridges show what matters for P2P: their kind, link and ACS control bits. ACS bits that
 * redirect peer traffic (RR, CR, EC: pci_bridge_has_acs_redir()) come first and are highlighted.
 *
 *   [0000:00] pci0000:00  NUMA node 0
 *   +-00.0                    host-bridge        [1022:14a4]
 *   \-01.1-[01-05]--          root-port          [1022:1483]  Gen4 x16
 *     \-00.0-[02-05]--        switch-upstream    [1000:c030]  Gen4 x16
 *       +-00.0-[03]--         switch-downstream  [1000:c030]  Gen4 x4   ACS ctl RR CR SV UF
 *       | \-00.0     nvme0    nvme               [144d:a824]  Gen4 x4   BAR0 16KiB ...
 */
import {
  ACS_FLAG_BITS,
  ACS_FLAG_NAMES,
  ACS_REDIR_MASK,
  formatBus,
  formatSize,
  type HostBridge,
  type PciDev,
  type PciTopology,
} from '@dmasim/core';
import type { Colors } from '../io';
import { alignColumns, cell, hex4, type Cell } from './text';

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** Highest bus number below a bridge (its subordinate bus). */
function subordinateBus(dev: PciDev): number | undefined {
  let max: number | undefined;
  const walk = (d: PciDev): void => {
    for (const ch of d.children) {
      max = max === undefined ? ch.bus : Math.max(max, ch.bus);
      walk(ch);
    }
  };
  walk(dev);
  return max;
}

/** "01.1-[02-05]--" for a bridge with devices below it, "00.0" otherwise. */
function branchLabel(dev: PciDev): string {
  const sf = `${hex2(dev.slot)}.${dev.fn}`;
  const sec = dev.secondaryBus;
  if (!dev.isBridge || sec === undefined) return sf;
  const sub = subordinateBus(dev) ?? sec;
  return sub === sec ? `${sf}-[${hex2(sec)}]--` : `${sf}-[${hex2(sec)}-${hex2(sub)}]--`;
}

/** "ACS ctl RR CR SV UF": redirect bits first (highlighted), then the other enabled bits. */
export function acsText(dev: PciDev): { text: string; redirect: boolean } | undefined {
  const acs = dev.acs;
  if (!acs) return undefined;
  const redir = ACS_FLAG_NAMES.filter((n) => ACS_FLAG_BITS[n] & ACS_REDIR_MASK & acs.ctrl);
  const other = ACS_FLAG_NAMES.filter((n) => ACS_FLAG_BITS[n] & ~ACS_REDIR_MASK & acs.ctrl);
  const bits = [...redir, ...other];
  return { text: `ACS ctl ${bits.length ? bits.join(' ') : '-'}`, redirect: redir.length > 0 };
}

function kindText(dev: PciDev): string {
  if (dev.kind === 'endpoint') return dev.props.class ?? 'endpoint';
  return dev.kind;
}

function idsText(dev: PciDev): string {
  if (dev.vendor === undefined) return '';
  return dev.device === undefined
    ? `[${hex4(dev.vendor)}]`
    : `[${hex4(dev.vendor)}:${hex4(dev.device)}]`;
}

function linkText(dev: PciDev): string {
  const l = dev.props.link;
  return l ? `Gen${l.gen} x${l.width}` : '';
}

/** BARs (as assigned, else as specified) and the CMB of an endpoint. */
function resourcesText(dev: PciDev): string {
  if (dev.kind !== 'endpoint') return '';
  const bars =
    dev.bars.length > 0
      ? dev.bars.map((b) => ({ bar: b.bar, size: b.size, pf: b.prefetchable }))
      : (dev.source?.bars ?? []).map((b) => ({
          bar: b.bar,
          size: b.size,
          pf: b.prefetchable ?? false,
        }));
  const parts = [...bars]
    .sort((a, b) => a.bar - b.bar)
    .map((b) => `BAR${b.bar} ${formatSize(b.size)}${b.pf ? ' pf' : ''}`);
  const cmb = dev.props.cmb;
  if (cmb) {
    const flags = [cmb.rds ? 'RDS' : '', cmb.wds ? 'WDS' : '', cmb.sqs ? 'SQS' : ''].filter(
      Boolean,
    );
    parts.push(
      `CMB ${formatSize(cmb.size)} in BAR${cmb.bar}${flags.length ? ` ${flags.join(' ')}` : ''}`,
    );
  }
  return parts.join(', ');
}

function hostBridgeHeader(hb: HostBridge, c: Colors): string {
  const bus = `[${formatBus(hb.domain, hb.bus)}]`;
  const numa = hb.numaNode !== undefined ? `  NUMA node ${hb.numaNode}` : '';
  return `${c.bold(bus)} ${hb.name}${numa}`;
}

/** Renders the tree of every host bridge; returns the lines. */
export function renderTree(topo: PciTopology, c: Colors): string[] {
  const lines: string[] = [];
  topo.hostBridges.forEach((hb, i) => {
    if (i > 0) lines.push('');
    lines.push(hostBridgeHeader(hb, c));
    const rows: Cell[][] = [];
    const walk = (devs: PciDev[], prefix: string): void => {
      devs.forEach((dev, j) => {
        const last = j === devs.length - 1;
        const tree = `${prefix}${last ? '\\-' : '+-'}${branchLabel(dev)}`;
        const acs = acsText(dev);
        const res = resourcesText(dev);
        // The last column holds the ACS bits and the resources; being last it is never padded,
        // so it may be painted piecewise.
        const details = [acs?.text ?? '', res].filter(Boolean);
        const painted = [
          acs ? (acs.redirect ? c.bold(c.red(acs.text)) : c.dim(acs.text)) : '',
          res,
        ].filter(Boolean);
        rows.push([
          cell(tree),
          cell(dev.name ?? '', c.bold),
          cell(kindText(dev), dev.kind === 'endpoint' ? c.cyan : undefined),
          cell(idsText(dev), c.dim),
          cell(linkText(dev)),
          cell(details.join('  '), () => painted.join('  ')),
        ]);
        walk(dev.children, `${prefix}${last ? '  ' : '| '}`);
      });
    };
    walk(hb.rootDevices, '');
    lines.push(...alignColumns(rows));
  });
  return lines;
}
