/**
 * IOMMU groups as pci_device_group() forms them (the rules the issue names: ACS SV, RR, CR and UF
 * on every port up to the root; functions of a multi-function device without ACS share; everything
 * behind a conventional PCI bridge shares). Reference: kernel-dma.md §1 and anchors.md §6.2.
 */
import {
  computeIommuGroups,
  pciAcsEnabled,
  PCI_ACS_ISOLATED,
  type PciTopology,
} from '@dmasim/core';
import { ACS_ISOLATED, ACS_SV_UF, build, switchFabric, ZEN } from './helpers/fabrics';

function groups(topo: PciTopology): string[][] {
  return computeIommuGroups(topo).groups.map((g) => g.map((d) => d.name ?? d.bdf.slice(5)));
}

describe('IOMMU groups (pci_device_group)', () => {
  it('gives every function its own group when every port isolates with SV RR CR UF', () => {
    // enumeration order: root bus 00:00.0, 00:01.1, 00:03.1; bus 01; bus 02; then 03, 04, 05, 06.
    // nic0/nic1 are one multi-function device: with full ACS on both functions they are isolated too.
    const topo = switchFabric({ rpAcs: ACS_ISOLATED, dspAcs: ACS_ISOLATED, nicAcs: ACS_ISOLATED });
    expect(groups(topo)).toEqual([
      ['00:00.0'],
      ['00:01.1'],
      ['00:03.1'],
      ['01:00.0'],
      ['02:00.0'],
      ['02:01.0'],
      ['02:02.0'],
      ['nvme0'],
      ['nvme1'],
      ['nic0'],
      ['nic1'],
      ['gpu0'],
    ]);
  });

  it('puts functions of a multi-function device without ACS in one group', () => {
    const topo = switchFabric({ rpAcs: ACS_ISOLATED, dspAcs: ACS_ISOLATED });
    expect(groups(topo)).toContainEqual(['nic0', 'nic1']);
  });

  it('joins an endpoint to its downstream port when the port does not isolate (SV and UF without RR and CR)', () => {
    const topo = switchFabric({ rpAcs: ACS_ISOLATED, dspAcs: ACS_SV_UF, nicAcs: ACS_ISOLATED });
    const g = groups(topo);
    expect(g).toContainEqual(['02:00.0', 'nvme0']);
    expect(g).toContainEqual(['02:01.0', 'nvme1']);
    expect(g).toContainEqual(['02:02.0', 'nic0', 'nic1']);
  });

  it("puts everything below a root port without ACS into the root port's group", () => {
    // nvme0: its DSP isolates, but the path above (USP, then the root port) does not; DSP ->
    // USP -> root port all fall into the root port's group
    const topo = switchFabric({ dspAcs: ACS_ISOLATED, nicAcs: ACS_ISOLATED });
    const g = groups(topo);
    expect(g).toContainEqual([
      '00:01.1',
      '01:00.0',
      '02:00.0',
      '02:01.0',
      '02:02.0',
      'nvme0',
      'nvme1',
      'nic0',
      'nic1',
    ]);
    expect(g).toContainEqual(['00:03.1', 'gpu0']);
  });

  it('counts an ACS bit the capability lacks as hard-wired on, except Egress Control', () => {
    const topo = build({
      platform: { cpu: ZEN },
      hostBridges: [
        {
          name: 'hb0',
          bus: 0,
          devices: [
            { bdf: '00:01.0', kind: 'root-port', acs: { cap: ['RR', 'CR'], ctrl: ['RR', 'CR'] } },
            {
              bdf: '00:02.0',
              kind: 'root-port',
              acs: { cap: ['SV', 'RR', 'CR', 'UF'], ctrl: ['SV', 'RR', 'CR'] },
            },
          ],
        },
      ],
    });
    // 00:01.0 implements only RR and CR and enables both: SV and UF count as on
    expect(pciAcsEnabled(topo.get('00:01.0'), PCI_ACS_ISOLATED)).toBe(true);
    // 00:02.0 implements UF but leaves it off
    expect(pciAcsEnabled(topo.get('00:02.0'), PCI_ACS_ISOLATED)).toBe(false);
  });

  it('puts a PCIe-to-PCI bridge and every device behind it in one group', () => {
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
              acs: ACS_ISOLATED,
              children: [
                {
                  bdf: '01:00.0',
                  kind: 'pci-bridge',
                  children: [
                    { bdf: '02:00.0', kind: 'endpoint', name: 'old0' },
                    { bdf: '02:01.0', kind: 'endpoint', name: 'old1' },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    expect(groups(topo)).toEqual([['00:01.0'], ['01:00.0', 'old0', 'old1']]);
  });
});
