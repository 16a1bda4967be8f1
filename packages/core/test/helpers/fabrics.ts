/**
 * Small topologies for tests, written as topology specs so they read like the files users write.
 */
import { topologyFromObject, type PciTopology, type TopologySpecInput } from '@dmasim/core';

type Cpu = { vendor: 'AMD' | 'Intel' | 'ARM' | 'other'; family: number };
type Acs = { cap?: string[]; ctrl?: string[] } | undefined;

export const ZEN: Cpu = { vendor: 'AMD', family: 0x19 };
export const PRE_ZEN: Cpu = { vendor: 'AMD', family: 0x15 };
export const INTEL: Cpu = { vendor: 'Intel', family: 6 };
export const ARM: Cpu = { vendor: 'ARM', family: 0 };

/** Full isolation as Linux enables it when an IOMMU is present: SV RR CR UF. */
export const ACS_ISOLATED: Acs = {
  cap: ['SV', 'RR', 'CR', 'UF', 'EC', 'TB', 'DT'],
  ctrl: ['SV', 'RR', 'CR', 'UF'],
};
/** ACS present, with only the non-redirecting bits on (what the ESC8000A-E13P ran with). */
export const ACS_SV_UF: Acs = { cap: ['SV', 'RR', 'CR', 'UF'], ctrl: ['SV', 'UF'] };

export function build(spec: unknown): PciTopology {
  return topologyFromObject(spec as TopologySpecInput);
}

/**
 * host bridge hb0 (bus 00; 00.0 = host bridge `hostId`), root port 00:01.1 -> switch upstream
 * 01:00.0 -> downstream ports 02:00.0, 02:01.0, 02:02.0 -> nvme0 03:00.0, nvme1 04:00.0, nic0
 * 05:00.0 (two functions 05:00.0 and 05:00.1). A second root port 00:03.1 holds gpu0 06:00.0.
 */
export function switchFabric(
  opts: {
    cpu?: Cpu;
    hostId?: [number, number];
    rpAcs?: Acs;
    uspAcs?: Acs;
    dspAcs?: Acs;
    nicAcs?: Acs;
    nvme0Acs?: Acs;
  } = {},
): PciTopology {
  const [hv, hd] = opts.hostId ?? [0x1022, 0x14a4];
  return build({
    platform: { cpu: opts.cpu ?? ZEN },
    hostBridges: [
      {
        name: 'hb0',
        bus: 0,
        devices: [
          { bdf: '00:00.0', kind: 'host-bridge', vendor: hv, device: hd },
          {
            bdf: '00:01.1',
            kind: 'root-port',
            acs: opts.rpAcs,
            children: [
              {
                bdf: '01:00.0',
                kind: 'switch-upstream',
                acs: opts.uspAcs,
                children: [
                  {
                    bdf: '02:00.0',
                    kind: 'switch-downstream',
                    acs: opts.dspAcs,
                    children: [
                      {
                        bdf: '03:00.0',
                        kind: 'endpoint',
                        name: 'nvme0',
                        class: 'nvme',
                        acs: opts.nvme0Acs,
                      },
                    ],
                  },
                  {
                    bdf: '02:01.0',
                    kind: 'switch-downstream',
                    acs: opts.dspAcs,
                    children: [{ bdf: '04:00.0', kind: 'endpoint', name: 'nvme1', class: 'nvme' }],
                  },
                  {
                    bdf: '02:02.0',
                    kind: 'switch-downstream',
                    acs: opts.dspAcs,
                    children: [
                      {
                        bdf: '05:00.0',
                        kind: 'endpoint',
                        name: 'nic0',
                        class: 'nic',
                        acs: opts.nicAcs,
                      },
                      {
                        bdf: '05:00.1',
                        kind: 'endpoint',
                        name: 'nic1',
                        class: 'nic',
                        acs: opts.nicAcs,
                      },
                    ],
                  },
                ],
              },
            ],
          },
          {
            bdf: '00:03.1',
            kind: 'root-port',
            acs: opts.rpAcs,
            children: [{ bdf: '06:00.0', kind: 'endpoint', name: 'gpu0', class: 'gpu' }],
          },
        ],
      },
    ],
  });
}

/**
 * Two host bridges (buses 00 and 80, NUMA nodes 0 and 1), each with function 00.0 = `hostIds[i]`
 * and one root port holding one endpoint: ep0 01:00.0 and ep1 81:00.0.
 */
export function twoHostBridges(
  cpu: Cpu,
  hostIds: [[number, number], [number, number]],
  numa: [number, number] = [0, 1],
): PciTopology {
  const hb = (i: number, bus: number) => ({
    name: `hb${i}`,
    bus,
    numaNode: numa[i],
    devices: [
      {
        bdf: `${hex2(bus)}:00.0`,
        kind: 'host-bridge',
        vendor: hostIds[i][0],
        device: hostIds[i][1],
      },
      {
        bdf: `${hex2(bus)}:01.0`,
        kind: 'root-port',
        children: [{ bdf: `${hex2(bus + 1)}:00.0`, kind: 'endpoint', name: `ep${i}` }],
      },
    ],
  });
  return build({ platform: { cpu }, hostBridges: [hb(0, 0x00), hb(1, 0x80)] });
}

/**
 * Nested switches: root port 00:01.0 -> USP 01:00.0 -> DSPs 02:00.0 and 02:01.0, each -> a
 * second-level switch (USP 03:00.0 / 06:00.0 -> DSP 04:00.0 / 07:00.0 -> endpoint 05:00.0 / 08:00.0).
 */
export function nestedSwitches(cpu: Cpu = ZEN, dspAcs?: Acs): PciTopology {
  const leaf = (usp: number, ep: string) => ({
    bdf: `${hex2(usp)}:00.0`,
    kind: 'switch-upstream',
    children: [
      {
        bdf: `${hex2(usp + 1)}:00.0`,
        kind: 'switch-downstream',
        acs: dspAcs,
        children: [{ bdf: `${hex2(usp + 2)}:00.0`, kind: 'endpoint', name: ep }],
      },
    ],
  });
  return build({
    platform: { cpu },
    hostBridges: [
      {
        name: 'hb0',
        bus: 0,
        devices: [
          { bdf: '00:00.0', kind: 'host-bridge', vendor: 0x1022, device: 0x14a4 },
          {
            bdf: '00:01.0',
            kind: 'root-port',
            children: [
              {
                bdf: '01:00.0',
                kind: 'switch-upstream',
                children: [
                  { bdf: '02:00.0', kind: 'switch-downstream', children: [leaf(0x03, 'ep0')] },
                  { bdf: '02:01.0', kind: 'switch-downstream', children: [leaf(0x06, 'ep1')] },
                ],
              },
            ],
          },
        ],
      },
    ],
  });
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
