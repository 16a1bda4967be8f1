/**
 * The topology tree of a report and the paths drawn on it. The machine is switch-2nvme-nic (see
 * report-fixtures.ts): CPU, host bridge pci0000:00, on its root bus the host bridge function
 * 00:00.0 and root port 00:01.1, below it switch 01:00.0 with downstream ports 02:00.0, 02:01.0,
 * 02:02.0, and nvme0 03:00.0, nvme1 04:00.0, mlx5_0 05:00.0 below them.
 */
import { topologySvg, offsetPolyline } from '../src/report/topology';
import { groupByTransfers, pathKind } from '../src/report/transfer-paths';
import {
  metrics,
  P2P_RECEIVE,
  RAM_READ,
  RC_RECEIVE,
  REFUSED_RECEIVE,
  scenario,
  TWO_SOCKETS,
} from './report-fixtures';

const topo = () => scenario().buildTopology();

/** The <g> of a drawn path with the given class, and its attributes. */
function pathGroup(svg: string, kind: string): { route: string[]; turn?: string; d: string } {
  const m = new RegExp(
    `<g class="path path-${kind}"[^>]*?data-route="([^"]*)"(?: data-turn="([^"]*)")?>.*?<path class="route" d="([^"]*)"`,
  ).exec(svg);
  if (!m) throw new Error(`no ${kind} path`);
  return { route: m[1].split(' '), ...(m[2] ? { turn: m[2] } : {}), d: m[3] };
}

/** y coordinates of a path's points ("M1 2L3 4..."). */
function ys(d: string): number[] {
  return [...d.matchAll(/[ML]([-\d.]+) ([-\d.]+)/g)].map((m) => Number(m[2]));
}

/** The bottom edge (y + height) of a node's box. */
function boxBottom(svg: string, id: string): number {
  const m = new RegExp(
    `data-id="${id}"><title>[^<]*</title><rect x="[-\\d.]+" y="([-\\d.]+)" width="[-\\d.]+" height="([-\\d.]+)"`,
  ).exec(svg);
  if (!m) throw new Error(`no node ${id}`);
  return Number(m[1]) + Number(m[2]);
}

describe('the tree', () => {
  const { svg } = topologySvg(topo(), [], 't', 'The machine');

  test('a box per PCI function, host bridge and the CPU; an edge to the parent of each', () => {
    // 9 functions + 1 host bridge + the CPU.
    expect(svg.match(/<g class="node /g)).toHaveLength(11);
    expect(svg.match(/<path class="edge /g)).toHaveLength(10);
    expect(svg).toContain('data-id="system"');
    expect(svg).toContain('data-id="hb:0"');
    for (const n of ['nvme0', 'nvme1', 'mlx5_0', 'pci0000:00', '01:00.0', '02:02.0'])
      expect(svg).toContain(`>${n}</text>`);
  });

  test('PCIe links are solid (with their speed), buses inside a switch or root complex dashed', () => {
    // Links of their own: 01:00.0 (to the root port) and the three endpoints. Inside: the CPU to
    // the host bridge, 00:00.0 and 00:01.1 on the root bus, the three downstream ports.
    expect(svg.match(/<path class="edge link"/g)).toHaveLength(4);
    expect(svg.match(/<path class="edge internal"/g)).toHaveLength(6);
    expect(svg).toContain('>Gen4 x16</text>');
    expect(svg).toContain('>Gen4 x4</text>');
    expect(svg.match(/<g class="switch">/g)).toHaveLength(1);
  });

  test('nothing is highlighted when no data moved', () => {
    expect(svg).not.toContain('on-path');
    expect(svg).not.toContain('class="path ');
  });
});

describe('paths on the tree', () => {
  test('kinds: BUS_ADDR is peer-to-peer, THRU_HOST_BRIDGE and RAM through the root complex (§1.1)', () => {
    expect(pathKind(P2P_RECEIVE)).toBe('p2p');
    expect(pathKind(RC_RECEIVE)).toBe('rc');
    expect(pathKind(RAM_READ)).toBe('rc');
    expect(pathKind(REFUSED_RECEIVE)).toBe('refused');
  });

  test('a peer path below one switch turns inside it, never entering its upstream port (§1.2)', () => {
    const { svg } = topologySvg(topo(), [P2P_RECEIVE], 't', 'x');
    const p = pathGroup(svg, 'p2p');
    // Distance 4: endpoint -> downstream port -> (switch) <- downstream port <- endpoint.
    expect(p.route).toEqual([
      '0000:05:00.0',
      '0000:02:02.0',
      '0000:01:00.0',
      '0000:02:01.0',
      '0000:04:00.0',
    ]);
    expect(p.turn).toBe('0000:01:00.0');
    expect(Math.min(...ys(p.d))).toBeGreaterThan(boxBottom(svg, '0000:01:00.0'));
    // The nodes on the route are highlighted, the others not; one badge under mlx5_0.
    expect(svg.match(/class="node [a-z-]+ on-path"/g)).toHaveLength(5);
    expect(svg.match(/<g class="badge">/g)).toHaveLength(1);
    expect(svg).toContain('marker-end="url(#t-arrow-p2p)"');
  });

  test('ACS redirect sends the same write up into the root complex and back down (§1.2)', () => {
    const { svg } = topologySvg(topo(), [RC_RECEIVE], 't', 'x');
    const p = pathGroup(svg, 'rc');
    expect(p.route).toEqual([
      '0000:05:00.0',
      '0000:02:02.0',
      '0000:01:00.0',
      '0000:00:01.1',
      'hb:0',
      '0000:00:01.1',
      '0000:01:00.0',
      '0000:02:01.0',
      '0000:04:00.0',
    ]);
    expect(p.turn).toBeUndefined();
    // It reaches the host bridge's box.
    expect(Math.min(...ys(p.d))).toBeLessThanOrEqual(boxBottom(svg, 'hb:0'));
  });

  test('RAM is the CPU node above the host bridge', () => {
    const { svg } = topologySvg(topo(), [RAM_READ], 't', 'x');
    expect(pathGroup(svg, 'rc').route).toEqual([
      '0000:03:00.0',
      '0000:02:00.0',
      '0000:01:00.0',
      '0000:00:01.1',
      'hb:0',
      'system',
    ]);
  });

  test('a refused path ends at the root complex that refused it, with a cross and no arrow', () => {
    const { svg } = topologySvg(topo(), [REFUSED_RECEIVE], 't', 'x');
    const p = pathGroup(svg, 'refused');
    expect(p.route[p.route.length - 1]).toBe('hb:0');
    expect(svg).toContain('<g class="refused-end">');
    expect(svg).not.toContain('marker-end');
  });

  test('across host bridges a path goes through the CPU (§1.2: no common upstream bridge)', () => {
    const t = scenario(TWO_SOCKETS).buildTopology();
    const { svg } = topologySvg(
      t,
      [
        {
          ...RC_RECEIVE,
          initiator: 'nvme0',
          initiatorBdf: '0000:01:00.0',
          target: 'nvme1',
          targetBdf: '0000:81:00.0',
          crossHostBridge: true,
          links: [
            { bdf: '0000:01:00.0', dir: 'up' },
            { bdf: '0000:81:00.0', dir: 'down' },
          ],
        },
      ],
      't',
      'x',
    );
    expect(pathGroup(svg, 'rc').route).toEqual([
      '0000:01:00.0',
      '0000:00:02.0',
      'hb:0',
      'system',
      'hb:1',
      '0000:80:02.0',
      '0000:81:00.0',
    ]);
  });

  test('paths run in lanes right of their direction: up and back down on opposite sides', () => {
    // Up 50, right 40, up 50, lane 3: up -> x + 3, right -> y + 3, corners take both.
    expect(
      offsetPolyline(
        [
          [0, 100],
          [0, 50],
          [40, 50],
          [40, 0],
        ],
        3,
      ),
    ).toEqual([
      [3, 100],
      [3, 53],
      [43, 53],
      [43, 0],
    ]);
    // Up and straight back down: the way up at x + 3, the way down at x - 3.
    expect(
      offsetPolyline(
        [
          [0, 100],
          [0, 0],
          [0, 100],
        ],
        3,
      ),
    ).toEqual([
      [3, 100],
      [3, 0],
      [-3, 0],
      [-3, 100],
    ]);
  });

  test('designs whose data took the same paths share a drawing', () => {
    const r = (strategy: string, transfers: (typeof P2P_RECEIVE)[] | undefined) => ({
      strategy,
      ok: true,
      steps: [],
      metrics: metrics(),
      ...(transfers ? { transfers } : {}),
    });
    const groups = groupByTransfers([
      r('dma-direct', [P2P_RECEIVE]),
      r('dma-iommu', [RC_RECEIVE]),
      r('dma-vec', [P2P_RECEIVE]),
      r('acme', undefined),
    ]);
    expect(groups.map((g) => g.strategies)).toEqual([
      ['dma-direct', 'dma-vec'],
      ['dma-iommu'],
      ['acme'],
    ]);
  });
});
