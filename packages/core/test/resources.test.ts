/**
 * Firmware-like resource assignment (assignResources): BARs naturally aligned and packed largest
 * first, bridge windows 1 MiB aligned around everything below them, fixed addresses honoured,
 * bus address = CPU physical address + host bridge busOffset. Addresses in the comments are
 * worked out by hand from the defaults: host bridge 0 decodes a 32-bit window at 0xc0000000
 * (128 MiB) and a 64-bit prefetchable window at 0x10000000000 (1 TiB, 1 TiB long).
 */
import fc from 'fast-check';
import {
  InputError,
  parseTopologyText,
  topologyFromSpecObject,
  type PciTopology,
  type PciWindow,
} from '@dmasim/core';

const HEAD = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: hb0
    bus: 0
    devices:
`;

function load(text: string): PciTopology {
  return parseTopologyText(text, 'topo.yaml');
}

function errorOf(text: string): string {
  try {
    load(text);
  } catch (e) {
    if (e instanceof InputError) return e.format();
    throw e;
  }
  throw new Error('expected an InputError');
}

const inside = (base: number, size: number, w: PciWindow) =>
  base >= w.base && base + size <= w.base + w.size;

/**
 * The invariants firmware assignment must keep: every BAR naturally aligned and inside a window
 * of the bridge above it (or of the host bridge on a root bus), every bridge window 1 MiB aligned
 * and inside a window above it, prefetchable kinds respected, and no two BARs overlapping.
 */
function checkInvariants(topo: PciTopology): void {
  const all: { base: number; end: number; who: string }[] = [];
  for (const dev of topo.devices) {
    const above = dev.upstream ? dev.upstream.windows : dev.hostBridge.windows;
    for (const b of dev.bars) {
      expect(b.cpuAddress % b.size).toBe(0);
      expect(b.busAddress).toBe(b.cpuAddress + dev.hostBridge.busOffset);
      const w = above.find((x) => inside(b.cpuAddress, b.size, x));
      expect(w).toBeDefined();
      if (!b.prefetchable) expect(w!.prefetchable).toBe(false);
      all.push({ base: b.cpuAddress, end: b.cpuAddress + b.size, who: `${dev.bdf} BAR ${b.bar}` });
    }
    for (const w of dev.windows) {
      expect(w.base % (1024 * 1024)).toBe(0);
      expect(w.size % (1024 * 1024)).toBe(0);
      expect(above.some((x) => inside(w.base, w.size, x))).toBe(true);
    }
  }
  all.sort((a, b) => a.base - b.base);
  for (let i = 1; i < all.length; i++) expect(all[i].base).toBeGreaterThanOrEqual(all[i - 1].end);
}

const hex = (n: number) => `0x${n.toString(16)}`;

describe('assignResources: addresses worked out by hand', () => {
  it('two BARs of 16 KiB and 1 MiB below a switch', () => {
    // Largest first: the 1 MiB BAR 2 at the window base 0xc0000000, the 16 KiB BAR 0 right after
    // it at 0xc0100000. Each bridge window (downstream, upstream, root port) spans 1 MiB + 16 KiB
    // rounded up to 1 MiB: [0xc0000000, 0xc0200000).
    const topo = load(`${HEAD}      - bdf: 00:01.0
        kind: root-port
        children:
          - bdf: 01:00.0
            kind: switch-upstream
            children:
              - bdf: 02:00.0
                kind: switch-downstream
                children:
                  - bdf: 03:00.0
                    kind: endpoint
                    bars:
                      - { bar: 0, size: 16KiB }
                      - { bar: 2, size: 1MiB }
`);
    const ep = topo.get('03:00.0');
    expect(ep.bars.map((b) => [b.bar, hex(b.cpuAddress)])).toEqual([
      [0, '0xc0100000'],
      [2, '0xc0000000'],
    ]);
    for (const bdf of ['00:01.0', '01:00.0', '02:00.0']) {
      expect(topo.get(bdf).windows).toEqual([
        { base: 0xc000_0000, size: 2 * 1024 * 1024, prefetchable: false },
      ]);
    }
    checkInvariants(topo);
  });

  it('sibling windows below a switch: the larger window first, each aligned to its largest BAR', () => {
    // 02:01.0 needs 32 MiB (aligned to 32 MiB), 02:00.0 needs 1 MiB: in the upstream port's
    // window 02:01.0 goes at offset 0 and 02:00.0 at 32 MiB. The upstream and root-port
    // windows are 33 MiB at 0xc0000000 (32 MiB aligned). So 04:00.0 BAR 0 is at 0xc0000000,
    // 03:00.0 BAR 0 at 0xc2000000.
    const topo = load(`${HEAD}      - bdf: 00:01.0
        kind: root-port
        children:
          - bdf: 01:00.0
            kind: switch-upstream
            children:
              - bdf: 02:00.0
                kind: switch-downstream
                children:
                  - { bdf: 03:00.0, kind: endpoint, bars: [{ bar: 0, size: 16KiB }] }
              - bdf: 02:01.0
                kind: switch-downstream
                children:
                  - { bdf: 04:00.0, kind: endpoint, bars: [{ bar: 0, size: 32MiB }] }
`);
    expect(hex(topo.get('04:00.0').bars[0].cpuAddress)).toBe('0xc0000000');
    expect(hex(topo.get('03:00.0').bars[0].cpuAddress)).toBe('0xc2000000');
    expect(topo.get('02:01.0').windows).toEqual([
      { base: 0xc000_0000, size: 32 * 1024 * 1024, prefetchable: false },
    ]);
    expect(topo.get('02:00.0').windows).toEqual([
      { base: 0xc200_0000, size: 1024 * 1024, prefetchable: false },
    ]);
    expect(topo.get('01:00.0').windows).toEqual([
      { base: 0xc000_0000, size: 33 * 1024 * 1024, prefetchable: false },
    ]);
    checkInvariants(topo);
  });

  it('prefetchable BARs go to the 64-bit window; busAddress adds the host bridge busOffset', () => {
    // busOffset 0x800000000: the 256 MiB prefetchable BAR 1 at CPU 0x10000000000 is at bus
    // 0x10800000000; the 16 MiB BAR 0 at CPU 0xc0000000 is at bus 0x8c0000000.
    const topo = load(`platform:
  cpu: { vendor: ARM }
hostBridges:
  - name: hb0
    bus: 0
    busOffset: 0x800000000
    devices:
      - bdf: 00:01.0
        kind: root-port
        children:
          - bdf: 01:00.0
            kind: endpoint
            bars:
              - { bar: 0, size: 16MiB }
              - { bar: 1, size: 256MiB, prefetchable: true }
`);
    const gpu = topo.get('01:00.0');
    expect(gpu.bars.map((b) => [hex(b.cpuAddress), hex(b.busAddress)])).toEqual([
      ['0xc0000000', '0x8c0000000'],
      ['0x10000000000', '0x10800000000'],
    ]);
    expect(topo.get('00:01.0').windows).toEqual([
      { base: 0xc000_0000, size: 16 * 1024 * 1024, prefetchable: false },
      { base: 0x100_0000_0000, size: 256 * 1024 * 1024, prefetchable: true },
    ]);
    checkInvariants(topo);
  });

  it('host bridge i gets default windows at 0xc0000000 + i * 128 MiB and (i + 1) TiB', () => {
    const topo =
      load(`${HEAD}      - { bdf: 00:02.0, kind: endpoint, bars: [{ bar: 0, size: 16KiB }] }
  - name: hb1
    bus: 0x80
    devices:
      - { bdf: 80:02.0, kind: endpoint, bars: [{ bar: 0, size: 16KiB }] }
`);
    expect(topo.hostBridges[1].windows).toEqual([
      { base: 0xc800_0000, size: 128 * 1024 * 1024, prefetchable: false },
      { base: 2 * 1024 ** 4, size: 1024 ** 4, prefetchable: true },
    ]);
    expect(hex(topo.get('80:02.0').bars[0].cpuAddress)).toBe('0xc8000000');
  });

  it('host bridge windows from the spec replace the defaults; without a prefetchable one, prefetchable BARs use the 32-bit window', () => {
    // the only window is 256 MiB at 0x80000000: the 64 MiB prefetchable BAR goes first at
    // 0x80000000, the 16 KiB one after it at 0x84000000.
    const topo = load(`platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: hb0
    bus: 0
    windows: [{ base: 0x80000000, size: 256MiB }]
    devices:
      - bdf: 00:02.0
        kind: endpoint
        bars:
          - { bar: 0, size: 16KiB }
          - { bar: 2, size: 64MiB, prefetchable: true }
`);
    expect(topo.get('00:02.0').bars.map((b) => hex(b.cpuAddress))).toEqual([
      '0x84000000',
      '0x80000000',
    ]);
  });

  it('fixed BAR addresses are honoured and anchor the bridge window above them', () => {
    // 01:00.0 BAR 0 is fixed at 0xc4000000, so the root port window is [0xc4000000, +1 MiB);
    // the loose BAR of 00:02.0 (on the root bus) packs at the host bridge window base.
    const topo = load(`${HEAD}      - bdf: 00:01.0
        kind: root-port
        children:
          - { bdf: 01:00.0, kind: endpoint, bars: [{ bar: 0, size: 1MiB, address: 0xc4000000 }] }
      - { bdf: 00:02.0, kind: endpoint, bars: [{ bar: 0, size: 2MiB }] }
`);
    expect(hex(topo.get('01:00.0').bars[0].cpuAddress)).toBe('0xc4000000');
    expect(topo.get('00:01.0').windows).toEqual([
      { base: 0xc400_0000, size: 1024 * 1024, prefetchable: false },
    ]);
    expect(hex(topo.get('00:02.0').bars[0].cpuAddress)).toBe('0xc0000000');
    checkInvariants(topo);
  });

  it('fixed bridge windows are honoured', () => {
    const topo = load(`${HEAD}      - bdf: 00:01.0
        kind: root-port
        windows: [{ base: 0xc1000000, size: 4MiB }]
        children:
          - { bdf: 01:00.0, kind: endpoint, bars: [{ bar: 0, size: 16KiB }] }
`);
    expect(hex(topo.get('01:00.0').bars[0].cpuAddress)).toBe('0xc1000000');
    expect(topo.get('00:01.0').windows).toEqual([
      { base: 0xc100_0000, size: 4 * 1024 * 1024, prefetchable: false },
    ]);
  });
});

describe('assignResources: errors point at the offending value', () => {
  // In these files the device list starts on line 7 (HEAD is 6 lines).
  it('a BAR size that is not a power of two', () => {
    // line 7: `      - { bdf: 00:02.0, kind: endpoint, bars: [{ bar: 0, size: 3KiB }] }`;
    // the size value `3KiB` is at column 64.
    expect(
      errorOf(`${HEAD}      - { bdf: 00:02.0, kind: endpoint, bars: [{ bar: 0, size: 3KiB }] }
`),
    ).toBe(
      'topo.yaml:7:64: BAR 0 size 3072 (3KiB) is not a power of two of at least 16 bytes, as PCI BAR sizes are',
    );
  });

  it('duplicate BAR numbers on one function', () => {
    // line 11: the second `bar: 0`; its value at column 20.
    expect(
      errorOf(`${HEAD}      - bdf: 00:02.0
        kind: endpoint
        bars:
          - { bar: 0, size: 16KiB }
          - { bar: 0, size: 16KiB }
`),
    ).toBe('topo.yaml:11:20: duplicate BAR 0 on 0000:00:02.0: already defined as bars[0]');
  });

  it('a fixed BAR address not aligned to its size', () => {
    // line 10: `address: 0xc0001000` of a 16 KiB BAR; the value at column 45.
    expect(
      errorOf(`${HEAD}      - bdf: 00:02.0
        kind: endpoint
        bars:
          - { bar: 0, size: 16KiB, address: 0xc0001000 }
`),
    ).toBe(
      'topo.yaml:10:45: BAR 0 address 0xc0001000 is not aligned to its size 16KiB: BARs are naturally aligned',
    );
  });

  it('a fixed BAR address outside its fixed bridge window', () => {
    // the window is [0xc1000000, 0xc11fffff]; BAR 0 at 0xc2000000 (line 14, address value at
    // column 49) is not in it.
    expect(
      errorOf(`${HEAD}      - bdf: 00:01.0
        kind: root-port
        windows: [{ base: 0xc1000000, size: 2MiB }]
        children:
          - bdf: 01:00.0
            kind: endpoint
            bars:
              - { bar: 0, size: 16KiB, address: 0xc2000000 }
`),
    ).toBe(
      'topo.yaml:14:49: BAR 0 of 0000:01:00.0 at [0xc2000000-0xc2003fff] is outside the non-prefetchable window of 0000:00:01.0 [0xc1000000-0xc11fffff]',
    );
  });

  it('overlapping fixed BARs', () => {
    // 00:03.0 BAR 0 (line 12, address value at column 48) sits inside 00:02.0's 1 MiB BAR.
    expect(
      errorOf(`${HEAD}      - bdf: 00:02.0
        kind: endpoint
        bars: [{ bar: 0, size: 1MiB, address: 0xc0000000 }]
      - bdf: 00:03.0
        kind: endpoint
        bars: [{ bar: 0, size: 16KiB, address: 0xc0004000 }]
`),
    ).toBe(
      'topo.yaml:12:48: BAR 0 of 0000:00:03.0 at [0xc0004000-0xc0007fff] overlaps BAR 0 of 0000:00:02.0 at [0xc0000000-0xc00fffff]',
    );
  });

  it('a BAR that does not fit in the remaining space of its window', () => {
    // a 2 MiB prefetchable window holds two 1 MiB BARs; the third (line 16, size at column 33)
    // does not fit.
    expect(
      errorOf(`${HEAD}      - bdf: 00:01.0
        kind: root-port
        windows: [{ base: 0x10000000000, size: 2MiB, prefetchable: true }]
        children:
          - bdf: 01:00.0
            kind: endpoint
            bars:
              - { bar: 0, size: 1MiB, prefetchable: true }
              - { bar: 2, size: 1MiB, prefetchable: true }
              - { bar: 4, size: 1MiB, prefetchable: true }
`),
    ).toBe(
      'topo.yaml:16:33: BAR 4 of 0000:01:00.0 needs 1MiB (aligned to 1MiB), which does not fit in the remaining space of the prefetchable window of 0000:00:01.0 [0x10000000000-0x100001fffff]',
    );
  });

  it('a BAR larger than the default 32-bit host bridge window', () => {
    // 512 MiB non-prefetchable cannot fit the 128 MiB window; line 7, size value at column 64.
    expect(
      errorOf(`${HEAD}      - { bdf: 00:02.0, kind: endpoint, bars: [{ bar: 0, size: 512MiB }] }
`),
    ).toBe(
      'topo.yaml:7:64: BAR 0 of 0000:00:02.0 is 512MiB, larger than the non-prefetchable window of host bridge hb0 [0xc0000000-0xc7ffffff] (128MiB)',
    );
  });

  it('a CMB in a BAR the device does not have', () => {
    // line 10: `cmb: { bar: 2, ... }`; the bar value at column 21.
    expect(
      errorOf(`${HEAD}      - bdf: 00:02.0
        kind: endpoint
        bars: [{ bar: 0, size: 16KiB }]
        cmb: { bar: 2, size: 4KiB, rds: true, wds: true }
`),
    ).toBe('topo.yaml:10:21: CMB is in BAR 2, but 0000:00:02.0 has only BAR 0');
  });

  it('host bridge windows that overlap', () => {
    // hb1's window (line 10, the list item `{` at column 15) overlaps hb0's default 32-bit window.
    expect(
      errorOf(`${HEAD}      - { bdf: 00:02.0, kind: endpoint }
  - name: hb1
    bus: 0x80
    windows: [{ base: 0xc4000000, size: 64MiB }]
    devices: []
`),
    ).toBe(
      'topo.yaml:10:15: window [0xc4000000-0xc7ffffff] of host bridge hb1 overlaps window [0xc0000000-0xc7ffffff] of host bridge hb0',
    );
  });
});

describe('assignResources: invariants on generated trees', () => {
  // A random tree of switches and endpoints with random BAR sizes: whatever fits must satisfy
  // the invariants (alignment, containment, no overlap); whatever does not must be an InputError.
  type Node = { bars: { size: number; pf: boolean }[]; children?: Node[] };
  const barArb = fc.record({
    size: fc.integer({ min: 4, max: 24 }).map((e) => 2 ** e),
    pf: fc.boolean(),
  });
  const endpointArb: fc.Arbitrary<Node> = fc.record({ bars: fc.array(barArb, { maxLength: 3 }) });
  const switchArb: fc.Arbitrary<Node> = fc.record({
    bars: fc.array(barArb, { maxLength: 1 }),
    children: fc.array(endpointArb, { minLength: 1, maxLength: 4 }),
  });
  const rootArb = fc.array(fc.oneof(endpointArb, switchArb), { minLength: 1, maxLength: 4 });

  function toSpec(roots: Node[]): unknown {
    let bus = 1;
    const bars = (n: Node) => n.bars.map((b, i) => ({ bar: i, size: b.size, prefetchable: b.pf }));
    const devices = roots.map((r, i) => {
      const rpBus = bus++;
      const slot = (i + 1).toString(16).padStart(2, '0');
      const hexBus = (b: number) => b.toString(16).padStart(2, '0');
      let below: unknown[];
      if (r.children) {
        const swBus = bus++;
        below = [
          {
            bdf: `${hexBus(rpBus)}:00.0`,
            kind: 'switch-upstream',
            bars: bars(r),
            children: r.children.map((c, j) => {
              const epBus = bus++;
              return {
                bdf: `${hexBus(swBus)}:${j.toString(16).padStart(2, '0')}.0`,
                kind: 'switch-downstream',
                children: [{ bdf: `${hexBus(epBus)}:00.0`, kind: 'endpoint', bars: bars(c) }],
              };
            }),
          },
        ];
      } else {
        below = [{ bdf: `${hexBus(rpBus)}:00.0`, kind: 'endpoint', bars: bars(r) }];
      }
      return { bdf: `00:${slot}.0`, kind: 'root-port', children: below };
    });
    return {
      platform: { cpu: { vendor: 'Intel' } },
      hostBridges: [{ name: 'hb0', bus: 0, devices }],
    };
  }

  it('keeps every BAR aligned, inside its bridge window, and apart from the others', () => {
    fc.assert(
      fc.property(rootArb, (roots) => {
        let topo: PciTopology;
        try {
          topo = topologyFromSpecObject(toSpec(roots), 'gen.yaml');
        } catch (e) {
          expect(e).toBeInstanceOf(InputError);
          return;
        }
        checkInvariants(topo);
      }),
      { numRuns: 200 },
    );
  });
});
