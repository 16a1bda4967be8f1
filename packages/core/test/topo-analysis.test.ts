/** The `dmasim topo` analysis and its JSON document (reference §1.2 messages, anchors §2 levels). */
import { analyzeTopology, topoJson } from '@dmasim/core';
import { ACS_ISOLATED, INTEL, switchFabric, twoHostBridges } from './helpers/fabrics';

describe('topo analysis', () => {
  it('has a pair for every ordered pair of endpoints plus each endpoint with itself', () => {
    const a = analyzeTopology(switchFabric());
    // endpoints nvme0, nvme1, nic0, nic1, gpu0: 5 x 5 = 25
    expect(a.pairs).toHaveLength(25);
    const doc = topoJson(a);
    expect(doc.schemaVersion).toBe(1);
    expect(doc.devices).toHaveLength(12);
    const pair = doc.pairs.find(
      (p) => p.provider === '0000:03:00.0' && p.client === '0000:04:00.0',
    );
    expect(pair).toEqual({
      provider: '0000:03:00.0',
      client: '0000:04:00.0',
      mapType: 'BUS_ADDR',
      distance: 4,
      pathLevel: 'PIX',
      acsPorts: [],
      reasons: [],
    });
  });

  it("gives the kernel's words for ACS and host-bridge refusals, and explains silent host-bridge paths", () => {
    const intel = analyzeTopology(
      switchFabric({ cpu: INTEL, hostId: [0x8086, 0x1234], dspAcs: ACS_ISOLATED }),
    );
    const p = intel.pairs.find((x) => x.provider.name === 'nvme0' && x.client.name === 'nvme1')!;
    expect(p.mapType).toBe('NOT_SUPPORTED');
    expect(p.acsPorts.map((d) => d.bdf)).toEqual(['0000:02:00.0', '0000:02:01.0']);
    expect(p.reasons[0]).toBe(
      '0000:04:00.0: ACS redirect is set between the client and provider (0000:03:00.0)',
    );
    expect(p.reasons).toContain('0000:00:00.0: Host bridge not in P2PDMA whitelist: 8086:1234');

    const zen = analyzeTopology(switchFabric());
    const thru = zen.pairs.find((x) => x.provider.name === 'nvme0' && x.client.name === 'gpu0')!;
    expect(thru).toMatchObject({ mapType: 'THRU_HOST_BRIDGE', distance: 6, pathLevel: 'PHB' });
    expect(thru.reasons).toEqual([
      'dmasim: no common upstream bridge, so the TLPs go through host bridge hb0; allowed because the CPU is AMD family 0x19 (cpu_supports_p2pdma: AMD family >= 0x17)',
    ]);
  });

  it('names an allowlisted host bridge once when both sides share its IDs', () => {
    const a = analyzeTopology(
      twoHostBridges(INTEL, [
        [0x8086, 0x2020],
        [0x8086, 0x2020],
      ]),
    );
    const p = a.pairs.find((x) => x.provider.name === 'ep0' && x.client.name === 'ep1')!;
    expect(p).toMatchObject({ mapType: 'THRU_HOST_BRIDGE', distance: 4, pathLevel: 'SYS' });
    expect(p.reasons).toEqual([
      'dmasim: no common upstream bridge, so the TLPs go across host bridges hb0 and hb1; allowed because host bridge 8086:2020 is on the P2PDMA allowlist',
    ]);
  });
});
