/**
 * IOMMU groups, one line per group (wrapped), as `/sys/kernel/iommu_groups/N/devices` would list
 * them: the members' BDFs, with the name of each named function. Groups that hold more than one
 * endpoint are marked, since their endpoints cannot be isolated from each other.
 */
import type { TopoAnalysis } from '@dmasim/core';
import type { Colors } from '../io';
import { wrapList } from './text';

export function renderGroups(a: TopoAnalysis, c: Colors, width = 100): string[] {
  const lines: string[] = [];
  const numWidth = String(Math.max(0, a.iommuGroups.length - 1)).length;
  a.iommuGroups.forEach((members, n) => {
    const items = members.map((d) => {
      const plain = d.name ? `${d.bdf} ${d.name}` : d.bdf;
      const shown = d.name
        ? `${d.bdf} ${c.bold(d.name)}`
        : d.kind === 'endpoint'
          ? d.bdf
          : c.dim(d.bdf);
      return { plain, shown };
    });
    const endpoints = members.filter((d) => d.kind === 'endpoint').length;
    if (endpoints > 1) {
      const note = `(${endpoints} endpoints share this group)`;
      items.push({ plain: note, shown: c.yellow(note) });
    }
    lines.push(...wrapList(`group ${String(n).padStart(numWidth)}: `, items, width));
  });
  return lines;
}
