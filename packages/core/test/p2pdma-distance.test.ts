/**
 * calc_map_type_and_dist() and the lookups around it: reference/kernel-dma.md §1.2 and §1.3.
 */
import {
  calcMapTypeAndDist,
  P2pdmaDevices,
  PciP2pdmaMapType,
  pciP2pdmaMapType,
  pciP2pdmaDistanceMany,
  pciP2pmemFindMany,
  P2PMEM_FIND_MAX_DEVS,
  PCI_ACS_SV,
  PCI_ACS_UF,
  type PciDev,
  type PciTopology,
  type WarnSink,
} from '@dmasim/core';
import {
  ACS_ISOLATED,
  ACS_SV_UF,
  ARM,
  build,
  INTEL,
  nestedSwitches,
  PRE_ZEN,
  switchFabric,
  twoHostBridges,
  ZEN,
} from './helpers/fabrics';

const { BUS_ADDR, THRU_HOST_BRIDGE, NOT_SUPPORTED, UNKNOWN } = PciP2pdmaMapType;

class Log implements WarnSink {
  lines: string[] = [];
  warn(dev: PciDev | string, msg: string) {
    this.lines.push(`${typeof dev === 'string' ? dev : dev.bdf}: ${msg}`);
  }
}

function calc(topo: PciTopology, p: string, c: string, verbose = true) {
  const p2p = new P2pdmaDevices(topo);
  const log = new Log();
  const r = calcMapTypeAndDist(p2p, topo.get(p), topo.get(c), verbose, log);
  return { ...r, log: log.lines, acs: r.acsPorts.map((d) => d.bdf) };
}

describe('§1.2 distances', () => {
  const topo = switchFabric();

  it('is 0 from a function to itself', () => {
    // a = provider = client: the inner walk finds a == bb before any hop
    expect(calc(topo, 'nvme0', 'nvme0')).toMatchObject({ mapType: BUS_ADDR, distance: 0 });
  });

  it('is 2 between two functions of one multi-function device', () => {
    // nic0 05:00.0 and nic1 05:00.1 share the upstream bridge 02:02.0: 1 hop each, 1 + 1 = 2
    expect(calc(topo, 'nic0', 'nic1')).toMatchObject({ mapType: BUS_ADDR, distance: 2 });
  });

  it('is 4 between two endpoints under one switch', () => {
    // nvme0 -> 02:00.0 -> 01:00.0 (2 hops); nvme1 -> 02:01.0 -> 01:00.0 (2 hops): 2 + 2 = 4
    const r = calc(topo, 'nvme0', 'nvme1');
    expect(r).toMatchObject({ mapType: BUS_ADDR, distance: 4 });
    expect(r.common?.bdf).toBe('0000:01:00.0');
  });

  it('is 8 between endpoints under two nested switches', () => {
    // ep0 05:00.0 -> 04:00.0 -> 03:00.0 -> 02:00.0 -> 01:00.0: 4 hops; ep1 mirrored: 4 + 4 = 8
    expect(calc(nestedSwitches(), 'ep0', 'ep1')).toMatchObject({ mapType: BUS_ADDR, distance: 8 });
  });

  it('[DERIVED] counts both whole chains when there is no common upstream bridge: 4 for two root ports of one root bus', () => {
    // nvme0 chain: 03:00.0, 02:00.0, 01:00.0, 00:01.1 = 4 nodes; gpu0 chain: 06:00.0, 00:03.1 = 2 nodes
    expect(calc(topo, 'nvme0', 'gpu0')).toMatchObject({
      mapType: THRU_HOST_BRIDGE,
      distance: 4 + 2,
      common: null,
    });
    // two endpoints each directly under its own root port: 2 + 2 = 4, the same as "same switch"
    const two = twoHostBridges(ZEN, [
      [0x1022, 0x14a4],
      [0x1022, 0x14a4],
    ]);
    expect(calc(two, 'ep0', 'ep1')).toMatchObject({ mapType: THRU_HOST_BRIDGE, distance: 4 });
  });

  it('is symmetric in distance for switch paths', () => {
    expect(calc(topo, 'nvme1', 'nic0').distance).toBe(calc(topo, 'nic0', 'nvme1').distance);
  });
});

describe('§1.2 ACS redirect on the path', () => {
  it("on the client side (its downstream port) sends the path through the host bridge, with the kernel's two warnings", () => {
    // Only nvme1's port... all three DSPs have RR+CR here; the pair nvme0 -> nvme1 sees
    // provider side 02:00.0 (and 01:00.0 without ACS), client side 02:01.0: list "02:00.0;02:01.0"
    const topo = switchFabric({ dspAcs: ACS_ISOLATED });
    const r = calc(topo, 'nvme0', 'nvme1');
    expect(r.mapType).toBe(THRU_HOST_BRIDGE); // AMD family 0x19: cpu_supports_p2pdma()
    expect(r.distance).toBe(4);
    expect(r.acs).toEqual(['0000:02:00.0', '0000:02:01.0']);
    expect(r.log).toEqual([
      '0000:04:00.0: ACS redirect is set between the client and provider (0000:03:00.0)',
      '0000:04:00.0: to disable ACS redirect for this path, add the kernel parameter: pci=disable_acs_redir=0000:02:00.0;0000:02:01.0',
    ]);
  });

  it('on the provider endpoint itself counts (checked before the common-ancestor test)', () => {
    // nvme0 03:00.0 has ACS with RR set; its port has none: list = "0000:03:00.0"
    const topo = switchFabric({ nvme0Acs: { cap: ['RR'], ctrl: ['RR'] } });
    const r = calc(topo, 'nvme0', 'nvme1');
    expect(r.mapType).toBe(THRU_HOST_BRIDGE);
    expect(r.acs).toEqual(['0000:03:00.0']);
    // ... and even the function with itself is no longer BUS_ADDR (distance 0, a == bb at once)
    expect(calc(topo, 'nvme0', 'nvme0')).toMatchObject({ mapType: THRU_HOST_BRIDGE, distance: 0 });
  });

  it('on the common ancestor counts (it is visited on the provider side)', () => {
    // nic0/nic1 meet at 02:02.0, which has RR|CR: acs_cnt = 1 though neither side is below another port
    const topo = switchFabric({ dspAcs: ACS_ISOLATED });
    const r = calc(topo, 'nic0', 'nic1');
    expect(r).toMatchObject({ mapType: THRU_HOST_BRIDGE, distance: 2 });
    expect(r.acs).toEqual(['0000:02:02.0']);
  });

  it('above the common ancestor does not count', () => {
    // the root port has full ACS, but nvme0 and nvme1 meet at the switch upstream port below it
    expect(calc(switchFabric({ rpAcs: ACS_ISOLATED }), 'nvme0', 'nvme1').mapType).toBe(BUS_ADDR);
  });

  it('looks only at RR, CR and EC: SV and UF alone keep BUS_ADDR', () => {
    expect(calc(switchFabric({ dspAcs: ACS_SV_UF }), 'nvme0', 'nvme1').mapType).toBe(BUS_ADDR);
    expect(
      calc(switchFabric({ dspAcs: { cap: ['EC'], ctrl: ['EC'] } }), 'nvme0', 'nvme1').mapType,
    ).toBe(THRU_HOST_BRIDGE);
    expect(
      calc(switchFabric({ dspAcs: { cap: ['RR', 'CR'], ctrl: [] } }), 'nvme0', 'nvme1').mapType,
    ).toBe(BUS_ADDR);
  });

  it('with a host bridge off the allowlist is NOT_SUPPORTED, and the allowlist warning is printed', () => {
    // Intel CPU, host bridge 8086:1234 is not allowlisted; warn = acs_redirects = true
    const topo = switchFabric({ cpu: INTEL, hostId: [0x8086, 0x1234], dspAcs: ACS_ISOLATED });
    const r = calc(topo, 'nvme0', 'nvme1');
    expect(r.mapType).toBe(NOT_SUPPORTED);
    expect(r.log).toEqual([
      '0000:04:00.0: ACS redirect is set between the client and provider (0000:03:00.0)',
      '0000:04:00.0: to disable ACS redirect for this path, add the kernel parameter: pci=disable_acs_redir=0000:02:00.0;0000:02:01.0',
      '0000:00:00.0: Host bridge not in P2PDMA whitelist: 8086:1234',
      '0000:04:00.0: cannot be used for peer-to-peer DMA as the client and provider (0000:03:00.0) do not share an upstream bridge or whitelisted host bridge',
    ]);
  });

  it('prints nothing but the allowlist warning when not verbose', () => {
    const topo = switchFabric({ cpu: INTEL, hostId: [0x8086, 0x1234], dspAcs: ACS_ISOLATED });
    expect(calc(topo, 'nvme0', 'nvme1', false).log).toEqual([
      '0000:00:00.0: Host bridge not in P2PDMA whitelist: 8086:1234',
    ]);
  });

  it('prints the first 127 characters of the 128-byte acs_list when the ports do not fit', () => {
    // Every function below has RR. Provider side (upward, common ancestor 01:00.0 included):
    // 05:00.0 04:00.0 03:00.0 02:00.0 01:00.0; client side: 0a:00.0 09:00.0 08:00.0 07:00.0 06:00.0 02:01.0.
    // 11 names x 13 characters ("0000:05:00.0;") = 143 > 127: nine whole names (117) + "0000:06:00" (10).
    const rr = { ctrl: ['RR'] };
    const chain = (kinds: string[], bus: number, leaf: string): Record<string, unknown> => {
      const [kind, ...rest] = kinds;
      const bdf = `${bus.toString(16).padStart(2, '0')}:00.0`;
      return kind === 'endpoint'
        ? { bdf, kind, name: leaf, acs: rr }
        : { bdf, kind, acs: rr, children: [chain(rest, bus + 1, leaf)] };
    };
    const left = chain(['switch-upstream', 'switch-downstream', 'endpoint'], 0x03, 'p');
    const right = chain(
      ['switch-upstream', 'switch-downstream', 'switch-upstream', 'switch-downstream', 'endpoint'],
      0x06,
      'c',
    );
    const topo = build({
      platform: { cpu: ZEN },
      hostBridges: [
        {
          name: 'hb0',
          bus: 0,
          devices: [
            {
              bdf: '00:01.0',
              kind: 'root-port',
              children: [
                {
                  bdf: '01:00.0',
                  kind: 'switch-upstream',
                  acs: rr,
                  children: [
                    { bdf: '02:00.0', kind: 'switch-downstream', acs: rr, children: [left] },
                    { bdf: '02:01.0', kind: 'switch-downstream', acs: rr, children: [right] },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    const r = calc(topo, 'p', 'c');
    expect(r.acs).toHaveLength(11);
    expect(r.distance).toBe(4 + 6);
    const printed =
      '0000:05:00.0;0000:04:00.0;0000:03:00.0;0000:02:00.0;0000:01:00.0;0000:0a:00.0;0000:09:00.0;0000:08:00.0;0000:07:00.0;0000:06:00';
    expect(printed).toHaveLength(127);
    expect(r.log[1]).toBe(
      `0000:0a:00.0: to disable ACS redirect for this path, add the kernel parameter: pci=disable_acs_redir=${printed}`,
    );
  });
});

describe('§1.2 no common upstream bridge: the host bridge check', () => {
  it('AMD family >= 0x17 passes without looking at the allowlist (cpu_supports_p2pdma)', () => {
    const topo = twoHostBridges({ vendor: 'AMD', family: 0x17 }, [
      [0x1022, 0x9999],
      [0x1022, 0x9999],
    ]);
    const r = calc(topo, 'ep0', 'ep1');
    expect(r.mapType).toBe(THRU_HOST_BRIDGE);
    expect(r.log).toEqual([]); // the kernel is silent here
  });

  it('AMD before Zen (family 0x15) needs the allowlist like any other CPU', () => {
    expect(
      calc(
        twoHostBridges(PRE_ZEN, [
          [0x1022, 0x1450],
          [0x1022, 0x1450],
        ]),
        'ep0',
        'ep1',
      ).mapType,
    ).toBe(NOT_SUPPORTED);
  });

  it('allowlisted Intel host bridges without REQ_SAME_HOST_BRIDGE pass within one and across two host bridges', () => {
    // 8086:2020 (Skylake-E, flags 0)
    expect(
      calc(switchFabric({ cpu: INTEL, hostId: [0x8086, 0x2020] }), 'nvme0', 'gpu0').mapType,
    ).toBe(THRU_HOST_BRIDGE);
    expect(
      calc(
        twoHostBridges(INTEL, [
          [0x8086, 0x2020],
          [0x8086, 0x2020],
        ]),
        'ep0',
        'ep1',
      ).mapType,
    ).toBe(THRU_HOST_BRIDGE);
  });

  it('REQ_SAME_HOST_BRIDGE entries pass within one host bridge and fail across two', () => {
    // 8086:3c00 (Xeon E5): cross-socket QPI P2P "does not perform well"
    expect(
      calc(switchFabric({ cpu: INTEL, hostId: [0x8086, 0x3c00] }), 'nvme0', 'gpu0').mapType,
    ).toBe(THRU_HOST_BRIDGE);
    const r = calc(
      twoHostBridges(INTEL, [
        [0x8086, 0x3c00],
        [0x8086, 0x3c00],
      ]),
      'ep0',
      'ep1',
    );
    expect(r.mapType).toBe(NOT_SUPPORTED);
    // no ACS redirect, so warn is false: only the verbose "cannot be used" line
    expect(r.log).toEqual([
      '0000:81:00.0: cannot be used for peer-to-peer DMA as the client and provider (0000:01:00.0) do not share an upstream bridge or whitelisted host bridge',
    ]);
  });

  it('fails across two host bridges when only one is allowlisted', () => {
    expect(
      calc(
        twoHostBridges(INTEL, [
          [0x8086, 0x2020],
          [0x8086, 0x1234],
        ]),
        'ep0',
        'ep1',
      ).mapType,
    ).toBe(NOT_SUPPORTED);
  });

  it('fails on Intel with a host bridge off the allowlist, and on ARM and other CPUs', () => {
    expect(
      calc(switchFabric({ cpu: INTEL, hostId: [0x8086, 0x1234] }), 'nvme0', 'gpu0').mapType,
    ).toBe(NOT_SUPPORTED);
    expect(
      calc(switchFabric({ cpu: ARM, hostId: [0x8086, 0x1234] }), 'nvme0', 'gpu0').mapType,
    ).toBe(NOT_SUPPORTED);
    expect(
      calc(
        switchFabric({ cpu: { vendor: 'other', family: 0 }, hostId: [0x1022, 0x14a4] }),
        'nvme0',
        'gpu0',
      ).mapType,
    ).toBe(NOT_SUPPORTED);
  });

  it('matches PCI_ANY_ID entries (Google SoCs) on any device id', () => {
    expect(
      calc(switchFabric({ cpu: ARM, hostId: [0x1ae0, 0x0042] }), 'nvme0', 'gpu0').mapType,
    ).toBe(THRU_HOST_BRIDGE);
  });

  it('inspects only the first function of the root bus, and only if it is 00.0 or a root port', () => {
    // Skylake-style root bus without a 00.0 host bridge: the first function is root port 00:02.0
    // (8086:2032, allowlisted) -> accepted because it is a root port
    const rootPortFirst = build({
      platform: { cpu: INTEL },
      hostBridges: [
        {
          name: 'hb0',
          bus: 0,
          devices: [
            {
              bdf: '00:03.0',
              kind: 'root-port',
              vendor: 0x8086,
              device: 0x2033,
              children: [{ bdf: '02:00.0', kind: 'endpoint', name: 'b' }],
            },
            {
              bdf: '00:02.0',
              kind: 'root-port',
              vendor: 0x8086,
              device: 0x2032,
              children: [{ bdf: '01:00.0', kind: 'endpoint', name: 'a' }],
            },
          ],
        },
      ],
    });
    expect(calc(rootPortFirst, 'a', 'b').mapType).toBe(THRU_HOST_BRIDGE);
    // first function 00:02.0 is an allowlisted-id endpoint that is neither 00.0 nor a root port -> none inspected
    const endpointFirst = build({
      platform: { cpu: INTEL },
      hostBridges: [
        {
          name: 'hb0',
          bus: 0,
          devices: [
            { bdf: '00:02.0', kind: 'endpoint', vendor: 0x8086, device: 0x2020 },
            {
              bdf: '00:03.0',
              kind: 'root-port',
              vendor: 0x8086,
              device: 0x2020,
              children: [{ bdf: '01:00.0', kind: 'endpoint', name: 'a' }],
            },
            {
              bdf: '00:04.0',
              kind: 'root-port',
              vendor: 0x8086,
              device: 0x2020,
              children: [{ bdf: '02:00.0', kind: 'endpoint', name: 'b' }],
            },
          ],
        },
      ],
    });
    expect(calc(endpointFirst, 'a', 'b').mapType).toBe(NOT_SUPPORTED);
  });
});

describe('§1.3 the map-type cache', () => {
  it('is filled only for providers that have p2pdma state, keyed (domain << 16) | (bus << 8 | devfn)', () => {
    const topo = switchFabric();
    const p2p = new P2pdmaDevices(topo);
    const nvme0 = topo.get('nvme0');
    const nvme1 = topo.get('nvme1');
    calcMapTypeAndDist(p2p, nvme0, nvme1);
    expect(p2p.get(nvme0)).toBeUndefined();
    const state = p2p.setup(nvme0);
    calcMapTypeAndDist(p2p, nvme0, nvme1);
    // nvme1 is 0000:04:00.0: (0 << 16) | (0x04 << 8 | 0x00) = 0x400
    expect(state.mapTypes.entries()).toEqual([[0x400, BUS_ADDR]]);
  });

  it('pci_p2pdma_map_type: NOT_SUPPORTED without provider state, else computed once verbosely and then served from the cache', () => {
    const topo = switchFabric({ dspAcs: ACS_ISOLATED });
    const p2p = new P2pdmaDevices(topo);
    const [nvme0, nvme1] = [topo.get('nvme0'), topo.get('nvme1')];
    expect(pciP2pdmaMapType(p2p, nvme0, nvme1)).toBe(NOT_SUPPORTED);
    p2p.setup(nvme0);
    const log = new Log();
    expect(pciP2pdmaMapType(p2p, nvme0, nvme1, log)).toBe(THRU_HOST_BRIDGE);
    expect(log.lines).toHaveLength(2); // the ACS warnings of the first (verbose) computation
    expect(pciP2pdmaMapType(p2p, nvme0, nvme1, log)).toBe(THRU_HOST_BRIDGE);
    expect(log.lines).toHaveLength(2); // a cache hit prints nothing
  });

  it('is never invalidated: a runtime ACS change (setpci) is not noticed until the provider state is recreated', () => {
    const topo = switchFabric({ dspAcs: ACS_ISOLATED });
    const p2p = new P2pdmaDevices(topo);
    const [nvme0, nvme1] = [topo.get('nvme0'), topo.get('nvme1')];
    p2p.setup(nvme0);
    expect(pciP2pdmaMapType(p2p, nvme0, nvme1)).toBe(THRU_HOST_BRIDGE);
    // clear RR/CR on every downstream port, keep SV|UF
    for (const bdf of ['02:00.0', '02:01.0', '02:02.0'])
      topo.setAcsCtrl(topo.get(bdf), PCI_ACS_SV | PCI_ACS_UF);
    expect(pciP2pdmaMapType(p2p, nvme0, nvme1)).toBe(THRU_HOST_BRIDGE); // stale, as in the kernel
    expect(calcMapTypeAndDist(p2p, nvme0, nvme1).mapType).toBe(BUS_ADDR); // a fresh computation sees it
    p2p.teardown(nvme0);
    p2p.setup(nvme0);
    expect(p2p.get(nvme0)!.mapTypes.get(nvme1)).toBe(UNKNOWN);
    expect(pciP2pdmaMapType(p2p, nvme0, nvme1)).toBe(BUS_ADDR);
  });
});

describe('§1.3 pci_p2pdma_distance_many', () => {
  const topo = switchFabric({ cpu: INTEL, hostId: [0x8086, 0x1234] });
  const [nvme0, nvme1, nic0, gpu0] = ['nvme0', 'nvme1', 'nic0', 'gpu0'].map((n) => topo.get(n));

  it('returns -1 for no clients', () => {
    expect(pciP2pdmaDistanceMany(new P2pdmaDevices(topo), nvme0, [])).toBe(-1);
  });

  it('sums the distances of compatible clients (0 when the single client is the provider)', () => {
    const p2p = new P2pdmaDevices(topo);
    expect(pciP2pdmaDistanceMany(p2p, nvme0, [nvme0])).toBe(0);
    // nvme1: 4, nic0: 4 -> 8
    expect(pciP2pdmaDistanceMany(p2p, nvme0, [nvme1, nic0])).toBe(8);
  });

  it('uses the nearest PCI ancestor of a non-PCI client, and refuses a client without one', () => {
    const p2p = new P2pdmaDevices(topo);
    const rdmaPort = { name: 'mlx5_0', parent: nic0 };
    expect(pciP2pdmaDistanceMany(p2p, nvme0, [rdmaPort])).toBe(4);
    const log = new Log();
    expect(pciP2pdmaDistanceMany(p2p, nvme0, [{ name: 'nullb0', parent: null }], true, log)).toBe(
      -1,
    );
    expect(log.lines).toEqual([
      'nullb0: cannot be used for peer-to-peer DMA as it is not a PCI device',
    ]);
  });

  it('returns -1 when any client is NOT_SUPPORTED; without verbose it stops at the first failure', () => {
    // gpu0 is behind another root port and the host bridge is not allowlisted
    const quiet = new P2pdmaDevices(topo);
    quiet.setup(nvme0);
    expect(pciP2pdmaDistanceMany(quiet, nvme0, [gpu0, nvme1])).toBe(-1);
    // the loop broke after gpu0, so nvme1 was never computed (and not cached)
    expect(quiet.get(nvme0)!.mapTypes.has(nvme1)).toBe(false);
    const verbose = new P2pdmaDevices(topo);
    verbose.setup(nvme0);
    const log = new Log();
    expect(pciP2pdmaDistanceMany(verbose, nvme0, [gpu0, nvme1], true, log)).toBe(-1);
    expect(verbose.get(nvme0)!.mapTypes.get(nvme1)).toBe(BUS_ADDR);
    expect(log.lines).toHaveLength(1);
  });

  it('counts THRU_HOST_BRIDGE clients as compatible', () => {
    const zen = switchFabric();
    // nvme0 -> gpu0: no common bridge, chains 4 + 2 = 6
    expect(pciP2pdmaDistanceMany(new P2pdmaDevices(zen), zen.get('nvme0'), [zen.get('gpu0')])).toBe(
      6,
    );
  });
});

describe('§1.3 pci_p2pmem_find_many', () => {
  function providers(topo: PciTopology, names: string[], publish = true): P2pdmaDevices {
    const p2p = new P2pdmaDevices(topo);
    for (const n of names) {
      const s = p2p.setup(topo.get(n));
      s.pool = { size: 1 << 20, available: 1 << 20 };
      s.published = publish;
    }
    return p2p;
  }

  it('considers only published providers with a pool', () => {
    const topo = switchFabric();
    const p2p = providers(topo, ['nvme1'], false);
    expect(pciP2pmemFindMany(p2p, [topo.get('nic0')])).toBeUndefined();
    p2p.get(topo.get('nvme1'))!.published = true;
    expect(pciP2pmemFindMany(p2p, [topo.get('nic0')])?.name).toBe('nvme1');
  });

  it('picks the minimum total distance and chooses uniformly among ties with the injected random source', () => {
    const topo = switchFabric();
    // providers nvme0, nvme1, gpu0 for client nic0: nvme0 4, nvme1 4, gpu0 (through the host bridge) 4 + 2 = 6
    const p2p = providers(topo, ['nvme0', 'nvme1', 'gpu0']);
    const asked: number[] = [];
    const pick = (i: number) => (n: number) => {
      asked.push(n);
      return i;
    };
    expect(pciP2pmemFindMany(p2p, [topo.get('nic0')], pick(0))?.name).toBe('nvme0');
    expect(pciP2pmemFindMany(p2p, [topo.get('nic0')], pick(1))?.name).toBe('nvme1');
    expect(asked).toEqual([2, 2]);
    // for client gpu0 the providers are at 6, 6 and 0: gpu0 itself wins alone
    expect(pciP2pmemFindMany(p2p, [topo.get('gpu0')], pick(0))?.name).toBe('gpu0');
  });

  it('skips providers that are NOT_SUPPORTED for any client', () => {
    const topo = switchFabric({ cpu: INTEL, hostId: [0x8086, 0x1234] });
    const p2p = providers(topo, ['gpu0', 'nvme1']);
    expect(pciP2pmemFindMany(p2p, [topo.get('nvme0')])?.name).toBe('nvme1');
    expect(pciP2pmemFindMany(p2p, [topo.get('nvme0'), topo.get('gpu0')])).toBeUndefined();
  });

  it(`keeps at most ${P2PMEM_FIND_MAX_DEVS} equally close providers (PAGE_SIZE / sizeof(pointer))`, () => {
    // one switch with 600 single-function endpoints on 600 downstream ports... a bus holds 32
    // slots x 8 functions = 256 functions, so use three switches under one root port? Simpler:
    // 3 multi-function devices x ... -> 75 ports (buses 02..4c) with 8 functions each = 600.
    const ports = [];
    for (let i = 0; i < 75; i++) {
      const bus = (0x10 + i).toString(16).padStart(2, '0');
      ports.push({
        bdf: `02:${(i % 32).toString(16).padStart(2, '0')}.${Math.floor(i / 32)}`,
        kind: 'switch-downstream',
        children: Array.from({ length: 8 }, (_, f) => ({
          bdf: `${bus}:00.${f}`,
          kind: 'endpoint',
        })),
      });
    }
    const topo = build({
      platform: { cpu: ZEN },
      hostBridges: [
        {
          name: 'hb0',
          bus: 0,
          devices: [
            {
              bdf: '00:01.0',
              kind: 'root-port',
              children: [{ bdf: '01:00.0', kind: 'switch-upstream', children: ports }],
            },
            {
              bdf: '00:02.0',
              kind: 'root-port',
              children: [{ bdf: '05:00.0', kind: 'endpoint', name: 'client' }],
            },
          ],
        },
      ],
    });
    const eps = topo.endpoints.filter((e) => e.name !== 'client');
    expect(eps).toHaveLength(600);
    const p2p = providers(
      topo,
      eps.map((e) => e.bdf),
    );
    let asked = 0;
    // every provider is 4 nodes + 2 nodes = 6 from the client, through the host bridge
    const chosen = pciP2pmemFindMany(p2p, [topo.get('client')], (n) => {
      asked = n;
      return n - 1;
    });
    expect(asked).toBe(512);
    expect(chosen).toBe(eps[511]); // the 512th in for_each_pci_dev order
  });
});
