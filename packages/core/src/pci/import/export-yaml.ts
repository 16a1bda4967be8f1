/**
 * Writes a topology spec as the YAML a user would write by hand: ids and addresses in hex, sizes
 * with units ("64GiB"), ACS flags, links and BARs in flow style, importer notes as a header comment.
 */
import { Document, isMap, isSeq, Scalar, YAMLMap, YAMLSeq, type Node } from 'yaml';
import { formatSize } from '../units';
import type { TopologySpecInput } from '../topology-schema';

const HEX_KEYS = new Set(['vendor', 'device', 'address', 'base', 'family', 'bus']);
const SIZE_KEYS = new Set(['size', 'offset']);

/**
 * YAML text of a topology spec. `header` lines become `#` comments at the top; `comments` (by BDF,
 * e.g. an importer's `descriptions`) are written after each device's `bdf` value.
 */
export function topologySpecToYaml(
  spec: TopologySpecInput,
  header?: string[],
  comments?: Record<string, string>,
): string {
  const doc = new Document(spec, { keepUndefined: false });
  if (header && header.length > 0) {
    doc.commentBefore = header.map((l) => (l === '' ? '' : ` ${l}`)).join('\n');
  }
  decorate(doc.contents as Node | null, undefined, comments);
  return doc.toString({ lineWidth: 0 });
}

function decorate(
  node: Node | null | undefined,
  key: string | undefined,
  comments?: Record<string, string>,
): void {
  if (!node) return;
  if (isMap(node)) {
    const map = node as YAMLMap<Scalar, Node>;
    if (
      key === 'link' ||
      key === 'acs' ||
      (key === 'item' && isBarOrWindow(map)) ||
      key === 'cpu' ||
      key === 'cmb'
    ) {
      map.flow = true;
    }
    for (const pair of map.items) {
      const k = pair.key instanceof Scalar ? String(pair.key.value) : String(pair.key);
      const v = pair.value;
      if (v instanceof Scalar) {
        if (HEX_KEYS.has(k) && typeof v.value === 'number') {
          v.format = 'HEX';
        } else if (SIZE_KEYS.has(k) && typeof v.value === 'number') {
          const t = formatSize(v.value);
          if (!/^\d+$/.test(t)) v.value = t;
        } else if (k === 'bdf' && typeof v.value === 'string') {
          // quoted: YAML 1.1 readers take 0000:00:01.1 for a base-60 number
          v.type = 'QUOTE_DOUBLE';
          if (comments?.[v.value]) v.comment = ` ${comments[v.value]}`;
        }
      } else {
        decorate(v, k, comments);
      }
    }
  } else if (isSeq(node)) {
    const seq = node as YAMLSeq<Node>;
    if (key === 'cap' || key === 'ctrl') seq.flow = true;
    for (const item of seq.items)
      decorate(item, key === 'bars' || key === 'windows' ? 'item' : undefined, comments);
  }
}

function isBarOrWindow(map: YAMLMap<Scalar, Node>): boolean {
  return map.items.every((p) => !(p.value && (isMap(p.value) || isSeq(p.value))));
}
