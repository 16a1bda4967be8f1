/**
 * `--vary a.b.c=...`: a dotted path into the scenario document, set to each value in turn.
 *
 * - `steps.<id>` is the step with that id (its own or the default one, `nvme3`, `copy.dma1`;
 *   inner steps of a repeat too, since ids are global), whatever its position.
 * - A number indexes a list (`steps.2`, `clients.0`).
 * - A missing mapping on the way is created (`nvme.sgls` on a scenario without `nvme`).
 * - `platform.<key>` missing in the scenario starts as a copy of the topology's, so that setting
 *   one field (`platform.iommu.mode`) keeps the others.
 * - `topology.<...>` on a scenario that names a topology file changes a copy of that file's
 *   document, carried inline by the variant.
 *
 * Whether the key and value make a valid scenario is for the loader to say; a path that cannot
 * be followed at all is a usage error.
 */
import { CliError, EXIT_USAGE } from '../errors';
import { isDoc, type Doc, type ScenarioVariant } from './scenario-variant';
import type { SweepValue } from './types';

function pathError(key: string, why: string): CliError {
  return new CliError(`--vary ${key}: ${why}`, EXIT_USAGE);
}

/** Sets the value at `key` (dotted) in the variant's document. */
export function setDocumentPath(v: ScenarioVariant, key: string, value: SweepValue): void {
  const segs = key.split('.');
  let node: unknown = v.doc;
  let at = '';
  let i = 0;
  const child = (parent: Doc | unknown[], seg: string): unknown =>
    Array.isArray(parent) ? parent[Number(seg)] : parent[seg];
  while (i < segs.length) {
    const seg = segs[i]!;
    const last = i === segs.length - 1;
    if (Array.isArray(node)) {
      if (at === 'steps' || at.endsWith('.steps')) {
        // A step by id; ids may contain dots (a repeat's inner "copy.dma1"): take the longest.
        const steps = node;
        let found: { step: Doc; used: number } | undefined;
        for (let n = segs.length - i; n >= 1 && !found; n--) {
          const id = segs.slice(i, i + n).join('.');
          const s = v.steps().find((r) => r.id === id);
          if (s) found = { step: s.step, used: n };
        }
        if (!found && /^\d+$/.test(seg) && isDoc(steps[Number(seg)])) {
          found = { step: steps[Number(seg)] as Doc, used: 1 };
        }
        if (!found) {
          throw pathError(
            key,
            `no step "${seg}" in the scenario (steps: ${v
              .steps()
              .map((r) => r.id)
              .join(', ')})`,
          );
        }
        if (i + found.used >= segs.length) {
          throw pathError(key, 'a whole step cannot be varied: name one of its fields');
        }
        at = `${at}.${segs.slice(i, i + found.used).join('.')}`;
        node = found.step;
        i += found.used;
        continue;
      }
      if (!/^\d+$/.test(seg) || Number(seg) >= node.length) {
        throw pathError(key, `${at} is a list of ${node.length}: "${seg}" is not an index of it`);
      }
      if (last) {
        node[Number(seg)] = value;
        return;
      }
    } else if (isDoc(node)) {
      if (last) {
        node[seg] = value;
        return;
      }
      if (node === v.doc && seg === 'topology') {
        node = v.topology();
        at = 'topology';
        i++;
        continue;
      }
      if (node[seg] === undefined) {
        const inherited = node === v.doc.platform ? v.platformKey(seg) : undefined;
        node[seg] = isDoc(inherited) ? inherited : {};
      }
    } else {
      throw pathError(key, `${at} is ${JSON.stringify(node)}, not a mapping or a list`);
    }
    node = child(node as Doc | unknown[], seg);
    at = at ? `${at}.${seg}` : seg;
    i++;
  }
}
