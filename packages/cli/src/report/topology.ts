/**
 * The PCI topology as an SVG tree, top-down: the CPU and its RAM, each host bridge (a root
 * complex), the functions on its root bus, switches (their upstream and downstream ports boxed
 * together), endpoints at the leaves. The paths data took are drawn on it: along the PCIe links
 * each one crossed, peer-to-peer paths turning on the bus of the bridge where they turn (inside a
 * switch, as the fabric routes them), paths through a root complex entering its box, refused
 * ones dashed and ending with a cross where they were refused.
 */
import type { HostBridge, PciDev, PciTopology, TransferPath } from '@dmasim/core';
import { PATH_COLORS, type PathKind } from './colors';
import { attrs, esc } from './html';
import { px, svgElement, textWidth } from './svg';
import { PATH_KIND_TEXT, pathKind, payloadText, refusedText } from './transfer-paths';

type NodeKind = 'system' | 'host' | 'port' | 'endpoint';

interface Node {
  id: string;
  kind: NodeKind;
  /** The name (an endpoint's, a host bridge's) or the port's kind. */
  line1: string;
  line2: string;
  tooltip: string;
  dev?: PciDev;
  parent?: Node;
  children: Node[];
  depth: number;
  w: number;
  h: number;
  /** Centre. */
  x: number;
  y: number;
  /** Width of the subtree. */
  span: number;
  /**
   * The edge to the parent is a PCIe link of its own (a port or endpoint below a root port or a
   * switch's downstream port), not a bus inside a switch or a root complex.
   */
  physical: boolean;
  /** "Gen4 x4", the link's speed when the topology states it. */
  linkText?: string;
}

const ROW = 68;
const MARGIN = 14;
const GAP = 14;
const HOST_GAP = 30;
/** Room under the leaves for the paths' numbered badges. */
const BADGE_ROOM = 26;

const PORT_KIND: Readonly<Record<string, string>> = {
  'host-bridge': 'host bridge',
  'root-port': 'root port',
  'switch-upstream': 'switch up',
  'switch-downstream': 'switch down',
  'pci-bridge': 'PCI bridge',
};

/** BDFs without "0000:" when every function is in PCI domain 0 ("05:00.0"), else in full. */
export function shortBdfs(topo: PciTopology): (bdf: string) => string {
  const short = topo.devices.every((d) => d.domain === 0);
  return (bdf) => (short && bdf.startsWith('0000:') ? bdf.slice(5) : bdf);
}

function deviceNode(dev: PciDev, parent: Node, short: (b: string) => string): Node {
  const bdf = short(dev.bdf);
  const link = dev.props.link;
  const base = {
    id: dev.bdf,
    dev,
    parent,
    children: [],
    depth: parent.depth + 1,
    x: 0,
    y: 0,
    span: 0,
    physical: dev.upstream !== null && dev.upstream.kind !== 'switch-upstream',
    ...(link ? { linkText: `Gen${link.gen} x${link.width}` } : {}),
  };
  if (dev.kind === 'endpoint') {
    const cls = dev.props.class ?? 'endpoint';
    const line1 = dev.name ?? bdf;
    const line2 = dev.name ? `${cls} · ${bdf}` : cls;
    return {
      ...base,
      kind: 'endpoint',
      line1,
      line2,
      tooltip: `${dev.label}: ${cls}`,
      w: Math.max(92, textWidth(line1, 12.5, 'bold'), textWidth(line2, 10.5, 'sans')) + 18,
      h: 40,
    };
  }
  const kind = PORT_KIND[dev.kind] ?? dev.kind;
  return {
    ...base,
    kind: 'port',
    line1: kind,
    line2: bdf,
    tooltip: `${dev.bdf}: ${kind}`,
    w: Math.max(textWidth(kind, 10, 'sans'), textWidth(bdf, 10, 'mono')) + 14,
    h: 30,
  };
}

function hostNode(hb: HostBridge, parent: Node): Node {
  const line2 = hb.numaNode !== undefined ? `root complex · node ${hb.numaNode}` : 'root complex';
  return {
    id: `hb:${hb.index}`,
    kind: 'host',
    line1: hb.name,
    line2,
    tooltip: `${hb.label}: host bridge (root complex)`,
    parent,
    children: [],
    depth: 1,
    w: Math.max(textWidth(hb.name, 12.5, 'bold'), textWidth(line2, 10.5, 'sans')) + 20,
    h: 40,
    x: 0,
    y: 0,
    span: 0,
    physical: false,
  };
}

/** The tree of nodes, with sizes; positions are set by layout(). */
function buildTree(topo: PciTopology): { root: Node; byId: Map<string, Node> } {
  const short = shortBdfs(topo);
  const root: Node = {
    id: 'system',
    kind: 'system',
    line1: 'CPU · RAM',
    line2: 'system memory',
    tooltip: 'the CPU and system RAM, behind the host bridges',
    children: [],
    depth: 0,
    w: 116,
    h: 40,
    x: 0,
    y: 0,
    span: 0,
    physical: false,
  };
  const byId = new Map<string, Node>([[root.id, root]]);
  const add = (dev: PciDev, parent: Node): void => {
    const n = deviceNode(dev, parent, short);
    parent.children.push(n);
    byId.set(n.id, n);
    for (const ch of dev.children) add(ch, n);
  };
  for (const hb of topo.hostBridges) {
    const h = hostNode(hb, root);
    root.children.push(h);
    byId.set(h.id, h);
    for (const d of hb.rootDevices) add(d, h);
  }
  return { root, byId };
}

/** Subtree widths bottom-up, then each node centred over its children. */
function layout(root: Node): { width: number; height: number; depth: number } {
  let maxDepth = 0;
  const gapBelow = (n: Node): number => (n.kind === 'system' ? HOST_GAP : GAP);
  const measure = (n: Node): number => {
    maxDepth = Math.max(maxDepth, n.depth);
    const kids = n.children.map(measure);
    const sum = kids.reduce((a, b) => a + b, 0) + gapBelow(n) * Math.max(0, kids.length - 1);
    n.span = Math.max(n.w, sum);
    return n.span;
  };
  measure(root);
  const place = (n: Node, left: number): void => {
    n.x = left + n.span / 2;
    n.y = MARGIN + n.depth * ROW + 20;
    const total =
      n.children.reduce((a, c) => a + c.span, 0) + gapBelow(n) * Math.max(0, n.children.length - 1);
    let at = n.x - total / 2;
    for (const c of n.children) {
      place(c, at);
      at += c.span + gapBelow(n);
    }
  };
  place(root, MARGIN);
  return {
    width: root.span + 2 * MARGIN,
    height: MARGIN + maxDepth * ROW + 40 + BADGE_ROOM + MARGIN,
    depth: maxDepth,
  };
}

const top = (n: Node): number => n.y - n.h / 2;
const bottom = (n: Node): number => n.y + n.h / 2;
/** The y of the bus line below a parent, halfway to its children. */
const busY = (p: Node): number => bottom(p) + (ROW - p.h / 2 - 20) / 2;

/** The tree route of a transfer: its nodes in order, and where a peer path turns. */
export interface Route {
  nodes: string[];
  /** The bridge on whose bus the path turns down without entering it (peer-to-peer only). */
  turnAt?: string;
}

function chainUp(n: Node): Node[] {
  const out: Node[] = [];
  for (let x: Node | undefined = n; x; x = x.parent) out.push(x);
  return out;
}

/** Nodes from `a` up to the lowest common ancestor, then down to `b`. */
function treeRoute(a: Node, b: Node): { nodes: Node[]; lca: Node } {
  const upA = chainUp(a);
  const upB = chainUp(b);
  const lca = upA.find((n) => upB.includes(n)) ?? upA[upA.length - 1];
  const first = upA.slice(0, upA.indexOf(lca) + 1);
  const second = upB.slice(0, upB.indexOf(lca)).reverse();
  return { nodes: [...first, ...second], lca };
}

/** The host bridge node above `n`. */
function hostOf(n: Node): Node {
  let x = n;
  while (x.parent && x.kind !== 'host') x = x.parent;
  return x;
}

/**
 * The route of `t` on the tree, undefined when its initiator is not in the topology. Through a
 * root complex: up to the initiator's host bridge, then to RAM (the CPU node), or down to the
 * target (by way of the CPU node when under another host bridge). Peer-to-peer: up to the
 * lowest common bridge and down. Refused: to where it stopped (the root complex, or the bridge
 * above the last link it crossed).
 */
function routeOf(t: TransferPath, byId: Map<string, Node>): Route | undefined {
  const init = byId.get(t.initiatorBdf);
  if (!init) return undefined;
  const target = t.targetBdf !== undefined ? byId.get(t.targetBdf) : undefined;
  const ids = (ns: Node[]): string[] => ns.map((n) => n.id);
  if (t.viaRootComplex) {
    const up = chainUp(init);
    const hbA = hostOf(init);
    const toHost = up.slice(0, up.indexOf(hbA) + 1);
    if (target) {
      const hbB = hostOf(target);
      const down = chainUp(target);
      const fromHost = down.slice(0, down.indexOf(hbB)).reverse();
      const via = hbA === hbB ? [] : [byId.get('system') as Node, hbB];
      return { nodes: ids([...toHost, ...via, ...fromHost]) };
    }
    if (t.refused > 0 && t.writeBytes + t.readBytes === 0) return { nodes: ids(toHost) };
    return { nodes: ids([...toHost, byId.get('system') as Node]) };
  }
  let end = target;
  if (!end) {
    const last = t.links[t.links.length - 1];
    const at = last ? byId.get(last.bdf) : undefined;
    end = at ? (last.dir === 'up' ? (at.parent ?? at) : at) : init;
  }
  const { nodes, lca } = treeRoute(init, end);
  const turns = lca !== init && lca !== end;
  return { nodes: ids(nodes), ...(turns ? { turnAt: lca.id } : {}) };
}

/** The centre line of a route along the tree's edges (a path turning on a bus stays on it). */
function routeCentre(route: Route, byId: Map<string, Node>): [number, number][] {
  const ns = route.nodes.map((id) => byId.get(id) as Node);
  const pts: [number, number][] = [];
  for (let i = 0; i + 1 < ns.length; i++) {
    const a = ns[i];
    const b = ns[i + 1];
    if (a.parent === b) {
      // Up from a to its parent b; a turn at b stays on b's bus.
      pts.push([a.x, top(a)], [a.x, busY(b)]);
      if (route.turnAt !== b.id) pts.push([b.x, busY(b)], [b.x, bottom(b)]);
    } else {
      // Down from a to its child b.
      if (route.turnAt !== a.id) pts.push([a.x, bottom(a)], [a.x, busY(a)]);
      pts.push([b.x, busY(a)], [b.x, top(b)]);
    }
  }
  return pts.filter((p, i) => i === 0 || p[0] !== pts[i - 1][0] || p[1] !== pts[i - 1][1]);
}

/**
 * `pts` (horizontal and vertical segments) moved `lane` px to the right of the direction of
 * travel, like traffic lanes: paths that share a link in opposite directions (up to a root
 * complex and back down) run on either side of it, paths in one direction side by side with
 * lanes of their own, and no two cross where they run together. A reversal (into a box and
 * back out) becomes a jog across the lane.
 */
export function offsetPolyline(pts: [number, number][], lane: number): [number, number][] {
  if (pts.length < 2) return pts;
  const dirs = pts
    .slice(1)
    .map((q, i) => [Math.sign(q[0] - pts[i][0]), Math.sign(q[1] - pts[i][1])]);
  // Right of travel on screen (y grows downwards): up -> +x, right -> +y.
  const nrm = (d: number[]): [number, number] => [-d[1] * lane, d[0] * lane];
  const out: [number, number][] = [];
  const first = nrm(dirs[0]);
  out.push([pts[0][0] + first[0], pts[0][1] + first[1]]);
  for (let i = 1; i < pts.length - 1; i++) {
    const n1 = nrm(dirs[i - 1]);
    const n2 = nrm(dirs[i]);
    const [x, y] = pts[i];
    const same = dirs[i - 1][0] === dirs[i][0] && dirs[i - 1][1] === dirs[i][1];
    const reverse = dirs[i - 1][0] === -dirs[i][0] && dirs[i - 1][1] === -dirs[i][1];
    if (same) out.push([x + n1[0], y + n1[1]]);
    else if (reverse) out.push([x + n1[0], y + n1[1]], [x + n2[0], y + n2[1]]);
    else out.push([x + n1[0] + n2[0], y + n1[1] + n2[1]]);
  }
  const last = nrm(dirs[dirs.length - 1]);
  const end = pts[pts.length - 1];
  out.push([end[0] + last[0], end[1] + last[1]]);
  return out;
}

/** A path drawn on the tree, numbered as in its legend. */
export interface DrawnPath {
  n: number;
  transfer: TransferPath;
  kind: PathKind;
  route?: Route;
}

export interface TopologyDrawing {
  svg: string;
  paths: DrawnPath[];
}

function nodeSvg(n: Node, onPath: boolean): string {
  const cls = `node node-${n.kind}${onPath ? ' on-path' : ''}`;
  const x = n.x - n.w / 2;
  const y = top(n);
  const big = n.kind !== 'port';
  const l1 = big
    ? `<text class="n1" x="${px(n.x)}" y="${px(n.y - 3)}">${esc(n.line1)}</text>`
    : `<text class="p1" x="${px(n.x)}" y="${px(n.y - 3)}">${esc(n.line1)}</text>`;
  const l2 = big
    ? `<text class="n2" x="${px(n.x)}" y="${px(n.y + 11)}">${esc(n.line2)}</text>`
    : `<text class="p2" x="${px(n.x)}" y="${px(n.y + 10)}">${esc(n.line2)}</text>`;
  return (
    `<g${attrs({ class: cls, 'data-id': n.id })}><title>${esc(n.tooltip)}</title>` +
    `<rect x="${px(x)}" y="${px(y)}" width="${px(n.w)}" height="${px(n.h)}" rx="${big ? 5 : 3}"/>` +
    `${l1}${l2}</g>`
  );
}

/** The edge from a node to its parent: down from the parent to the bus, along it, down to the node. */
function edgeSvg(n: Node): string {
  const p = n.parent as Node;
  const d = `M${px(n.x)} ${px(top(n))}V${px(busY(p))}H${px(p.x)}V${px(bottom(p))}`;
  const cls = n.physical ? 'edge link' : 'edge internal';
  const label = n.physical && n.linkText ? n.linkText : undefined;
  const text = label
    ? `<text class="link-speed" x="${px(n.x + 12)}" y="${px(top(n) - 5)}">${esc(label)}</text>`
    : '';
  return `<path${attrs({ class: cls, d, 'data-child': n.id })}/>${text}`;
}

/** The box around a switch: its upstream port and the downstream ports below it. */
function switchBox(usp: Node): string {
  const members = [usp, ...usp.children.filter((c) => c.dev?.kind === 'switch-downstream')];
  const x0 = Math.min(...members.map((m) => m.x - m.w / 2)) - 8;
  const x1 = Math.max(...members.map((m) => m.x + m.w / 2)) + 8;
  const y0 = top(usp) - 8;
  const y1 = Math.max(...members.map(bottom)) + 8;
  return (
    `<g class="switch"><rect x="${px(x0)}" y="${px(y0)}" width="${px(x1 - x0)}" height="${px(y1 - y0)}" rx="8"/>` +
    `<text x="${px(x0 + 7)}" y="${px(y0 + 12)}">PCIe switch</text></g>`
  );
}

function markerDefs(prefix: string): string {
  return (['p2p', 'rc', 'refused'] as PathKind[])
    .map(
      (k) =>
        `<marker id="${prefix}-arrow-${k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="3.4" markerHeight="3.4" orient="auto-start-reverse">` +
        `<path d="M0 0L10 5L0 10z" fill="${PATH_COLORS[k]}"/></marker>`,
    )
    .join('');
}

function pathTitle(p: DrawnPath): string {
  const t = p.transfer;
  const where = t.target === '(refused)' ? '' : ` → ${t.target}`;
  const what =
    p.kind === 'refused'
      ? `${refusedText(t.refused)}${t.writeBytes + t.readBytes > 0 ? `, ${payloadText(t)}` : ''}`
      : payloadText(t);
  return `${p.n}. ${t.step}: ${t.initiator}${where}, ${what} (${PATH_KIND_TEXT[p.kind]})`;
}

function pathSvg(p: DrawnPath, pts: [number, number][], prefix: string): string {
  const color = PATH_COLORS[p.kind];
  const d = pts.map((q, i) => `${i ? 'L' : 'M'}${px(q[0])} ${px(q[1])}`).join('');
  return (
    `<g${attrs({
      class: `path path-${p.kind}`,
      'data-step': p.transfer.step,
      'data-n': p.n,
      'data-route': p.route?.nodes.join(' '),
      'data-turn': p.route?.turnAt,
    })}>` +
    `<title>${esc(pathTitle(p))}</title>` +
    `<path${attrs({
      class: 'route',
      d,
      stroke: color,
      'marker-end': p.kind === 'refused' ? undefined : `url(#${prefix}-arrow-${p.kind})`,
    })}/></g>`
  );
}

/** A cross where a refused path stopped, drawn over the boxes so that it shows at their edge. */
function refusedEndSvg(p: DrawnPath, pts: [number, number][]): string {
  if (p.kind !== 'refused' || !pts.length) return '';
  const [x, y] = pts[pts.length - 1];
  const r = 5.5;
  return (
    `<g class="refused-end"><title>${esc(pathTitle(p))}</title>` +
    `<circle cx="${px(x)}" cy="${px(y)}" r="${r + 3}"/>` +
    `<path d="M${px(x - r)} ${px(y - r)}L${px(x + r)} ${px(y + r)}M${px(x + r)} ${px(y - r)}L${px(x - r)} ${px(y + r)}" stroke="${PATH_COLORS.refused}"/></g>`
  );
}

/** Numbered badges under each initiator, one per path it starts, in the path's colour. */
function badgesSvg(paths: DrawnPath[], byId: Map<string, Node>): string {
  const byInit = new Map<string, DrawnPath[]>();
  for (const p of paths) {
    if (!p.route) continue;
    const list = byInit.get(p.transfer.initiatorBdf) ?? [];
    list.push(p);
    byInit.set(p.transfer.initiatorBdf, list);
  }
  let out = '';
  for (const [id, list] of byInit) {
    const n = byId.get(id) as Node;
    const step = 18;
    const x0 = n.x - ((list.length - 1) * step) / 2;
    list.forEach((p, i) => {
      const cx = x0 + i * step;
      const cy = bottom(n) + 12;
      out +=
        `<g class="badge"><title>${esc(pathTitle(p))}</title>` +
        `<circle cx="${px(cx)}" cy="${px(cy)}" r="8" fill="${PATH_COLORS[p.kind]}"/>` +
        `<text x="${px(cx)}" y="${px(cy + 3.5)}">${p.n}</text></g>`;
    });
  }
  return out;
}

/**
 * The tree of `topo` with `transfers` drawn on it. `prefix` makes the SVG's ids unique in the page
 * (arrowhead markers); `title` is its accessible name.
 */
export function topologySvg(
  topo: PciTopology,
  transfers: readonly TransferPath[],
  prefix: string,
  title: string,
): TopologyDrawing {
  const { root, byId } = buildTree(topo);
  const size = layout(root);
  const all: Node[] = [...byId.values()];
  const paths: DrawnPath[] = transfers.map((t, i) => {
    const route = routeOf(t, byId);
    return { n: i + 1, transfer: t, kind: pathKind(t), ...(route ? { route } : {}) };
  });
  const drawn = paths.filter((p) => p.route && p.route.nodes.length > 1);
  // Lanes: 3 px right of the centre line for the first path, then every 6 px (less when many).
  const spacing = drawn.length > 1 ? Math.min(6, 30 / (drawn.length - 1)) : 0;
  const onPath = new Set<string>();
  for (const p of paths) for (const id of p.route?.nodes ?? []) onPath.add(id);

  const parts: string[] = [`<defs>${markerDefs(prefix)}</defs>`];
  for (const n of all)
    if (n.dev?.kind === 'switch-upstream' && n.children.length) parts.push(switchBox(n));
  parts.push('<g class="edges">');
  for (const n of all) if (n.parent) parts.push(edgeSvg(n));
  parts.push('</g><g class="paths">');
  let ends = '';
  drawn.forEach((p, i) => {
    const pts = offsetPolyline(routeCentre(p.route as Route, byId), 3 + i * spacing);
    parts.push(pathSvg(p, pts, prefix));
    ends += refusedEndSvg(p, pts);
  });
  parts.push('</g><g class="nodes">');
  for (const n of all) parts.push(nodeSvg(n, onPath.has(n.id)));
  parts.push('</g>', ends, badgesSvg(paths, byId));
  return {
    svg: svgElement('topology', size.width, size.height, title, parts.join('')),
    paths,
  };
}
