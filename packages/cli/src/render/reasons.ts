/**
 * Why pairs are not BUS_ADDR, in the kernel's own words (PairAnalysis.reasons: the kernel's
 * warnings, then dmasim's explanation of decisions the kernel takes silently). Each message is
 * printed once with the pairs (provider -> client) it was printed for, so a machine where one
 * port redirects everything stays short.
 */
import type { PairAnalysis, TopoAnalysis } from '@dmasim/core';
import type { Colors } from '../io';
import { devName, wrapList } from './text';
import { paintMapType } from './matrix';

/** "nvme0 -> nvme1": provider, then client. */
export function pairName(p: PairAnalysis): string {
  return `${devName(p.provider)} -> ${devName(p.client)}`;
}

/** Messages that were printed for exactly the same pairs. */
export interface ReasonGroup {
  /** Messages in the order the kernel prints them ('' stands for "no message"). */
  reasons: string[];
  pairs: PairAnalysis[];
}

/**
 * The reason without the `<client BDF>: ` prefix the kernel's pci_warn(client, ...) puts in front:
 * the pair list names the client, and without the prefix one message (say, "ACS redirect is set
 * between the client and provider (<provider>)") is shared by every pair it applies to.
 */
export function reasonText(p: PairAnalysis, reason: string): string {
  const prefix = `${p.client.bdf}: `;
  return reason.startsWith(prefix) ? reason.slice(prefix.length) : reason;
}

/**
 * Groups the pairs that are not BUS_ADDR: each message goes with the set of pairs it was printed
 * for, and messages printed for the same set of pairs are shown together, in order of first
 * appearance (dmesg order).
 */
export function groupReasons(pairs: readonly PairAnalysis[]): ReasonGroup[] {
  const pairsOf = new Map<string, PairAnalysis[]>();
  for (const p of pairs) {
    if (p.mapType === 'BUS_ADDR') continue;
    const reasons = p.reasons.length > 0 ? p.reasons.map((r) => reasonText(p, r)) : [''];
    for (const r of new Set(reasons)) {
      const list = pairsOf.get(r) ?? [];
      list.push(p);
      pairsOf.set(r, list);
    }
  }
  const groups = new Map<string, ReasonGroup>();
  for (const [reason, ps] of pairsOf) {
    const key = ps.map((p) => `${p.provider.index}>${p.client.index}`).join(',');
    const g = groups.get(key);
    if (g) g.reasons.push(reason);
    else groups.set(key, { reasons: [reason], pairs: ps });
  }
  return [...groups.values()];
}

/** Longest pair list printed under one message; the rest are counted (the JSON has them all). */
export const MAX_LISTED_PAIRS = 24;

export function renderReasons(a: TopoAnalysis, c: Colors, width = 100): string[] {
  const groups = groupReasons(a.pairs);
  if (groups.length === 0) return ['Every pair maps with BUS_ADDR.'];
  const distinct = a.pairs.filter((p) => p.provider !== p.client).length;
  const lines: string[] = [];
  for (const g of groups) {
    const types = [...new Set(g.pairs.map((p) => p.mapType))];
    const plainTag = `${types.join('/')} `;
    const shownTag = `${types.map((t) => paintMapType(c, t)(t)).join('/')} `;
    let items: { plain: string; shown: string }[];
    if (g.pairs.length === distinct && distinct > 2) {
      const all = `all ${distinct} pairs of distinct endpoints`;
      items = [{ plain: all, shown: c.bold(all) }];
    } else {
      items = g.pairs
        .slice(0, MAX_LISTED_PAIRS)
        .map((p) => ({ plain: pairName(p), shown: c.bold(pairName(p)) }));
      const more = g.pairs.length - items.length;
      if (more > 0) items.push({ plain: `and ${more} more`, shown: `and ${more} more` });
    }
    const wrapped = wrapList(plainTag, items, width);
    wrapped[0] = shownTag + wrapped[0].slice(plainTag.length);
    lines.push(...wrapped);
    for (const r of g.reasons) lines.push(r === '' ? `    ${c.dim('(no message)')}` : `    ${r}`);
  }
  return lines;
}
