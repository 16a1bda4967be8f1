/**
 * The machine the DmaMapOps conformance suite runs on: one DMA client and P2P providers placed so
 * that each map type of reference §1.1 arises from the §1.2 algorithm.
 *
 * The CPU is an Intel one, so cpu_supports_p2pdma() is false and the host bridge allowlist decides
 * every path that leaves a switch (§1.2 HOST_BRIDGE_CHECK):
 *
 *   hb0 (bus 00, 00:00.0 = 8086:2020 Skylake-E, allowlisted; bus offset 16 TiB)
 *     00:01.0 root port -> 01:00.0 switch upstream port
 *       02:00.0 -> 03:00.0 nvme0   provider, BUS_ADDR for the client (common switch, no ACS)
 *       02:01.0 -> 04:00.0 nvme1   provider, BUS_ADDR
 *       02:02.0 -> 05:00.0 client  the DMA device every case maps for
 *   hb1 (bus 40, 40:00.0 = 8086:2020, allowlisted; bus offset 32 TiB)
 *     40:01.0 root port -> 41:00.0 thru    provider, THRU_HOST_BRIDGE (both host bridges allowlisted)
 *   hb2 (bus 80, 80:00.0 = 8086:6f00, not in the allowlist; bus offset 0)
 *     80:01.0 root port -> 81:00.0 remote  provider, NOT_SUPPORTED
 *
 * The bus offsets (pci_bus_address() - pci_resource_start(), §2.1) are non-zero so that a mapper
 * that forgets to add them to BUS_ADDR entries, or adds them to THRU_HOST_BRIDGE entries, is seen.
 * They are multiples of 4 GiB, so an input entry that does not cross a segment boundary (a mask up
 * to 0xffffffff) in CPU physical addresses does not cross it in bus addresses either.
 */
import type { PciDev } from '../pci/device';
import { topologyFromObject, type PciTopology } from '../pci/topology';
import type { TopologySpecInput } from '../pci/topology-schema';
import { PciP2pdmaMapType } from '../p2pdma/map-type';

const TiB = 2 ** 40;

/** The P2P providers of the fabric, by the map type they have for the client. */
export const CONFORMANCE_PROVIDERS = ['nvme0', 'nvme1', 'thru', 'remote'] as const;
export type ConformanceProvider = (typeof CONFORMANCE_PROVIDERS)[number];

/** Where the bytes of a scatterlist entry come from: System RAM or one provider's P2P memory. */
export type ConformanceRegion = 'ram' | ConformanceProvider;

/** The map type each provider's pages have for the client (§1.2, worked out in the file comment). */
export const CONFORMANCE_MAP_TYPES: Readonly<Record<ConformanceProvider, PciP2pdmaMapType>> = {
  nvme0: PciP2pdmaMapType.BUS_ADDR,
  nvme1: PciP2pdmaMapType.BUS_ADDR,
  thru: PciP2pdmaMapType.THRU_HOST_BRIDGE,
  remote: PciP2pdmaMapType.NOT_SUPPORTED,
};

/** Bus offsets of the three host bridges (see the file comment). */
export const CONFORMANCE_BUS_OFFSETS = { hb0: 16 * TiB, hb1: 32 * TiB, hb2: 0 } as const;

/** The BAR every provider registers as P2P memory, and its size (2 MiB sub-section aligned). */
export const CONFORMANCE_P2P_BAR = 2;
export const CONFORMANCE_P2P_BAR_SIZE = 64 * 2 ** 20;

function provider(bdf: string, name: ConformanceProvider) {
  return {
    bdf,
    kind: 'endpoint',
    name,
    class: 'nvme',
    bars: [
      { bar: 0, size: '16KiB' },
      { bar: CONFORMANCE_P2P_BAR, size: CONFORMANCE_P2P_BAR_SIZE, prefetchable: true },
    ],
  };
}

function remoteBridge(
  name: string,
  bus: number,
  hostDevice: number,
  busOffset: number,
  ep: object,
) {
  const b = bus.toString(16).padStart(2, '0');
  return {
    name,
    bus,
    busOffset,
    devices: [
      { bdf: `${b}:00.0`, kind: 'host-bridge', vendor: 0x8086, device: hostDevice },
      { bdf: `${b}:01.0`, kind: 'root-port', children: [ep] },
    ],
  };
}

/**
 * The suite's topology (see the file comment). 16 GiB of RAM: 3 GiB below the PCI hole, 13 above
 * 4 GiB; no IOMMU unless `platform` (merged into the fabric's platform) adds one.
 */
export function conformanceFabric(
  platform: Partial<TopologySpecInput['platform']> = {},
): PciTopology {
  const dsp = (bdf: string, child: object) => ({
    bdf,
    kind: 'switch-downstream',
    children: [child],
  });
  return topologyFromObject({
    name: 'dmasim conformance fabric',
    platform: { cpu: { vendor: 'Intel', family: 6 }, memory: '16GiB', ...platform },
    hostBridges: [
      {
        name: 'hb0',
        bus: 0,
        busOffset: CONFORMANCE_BUS_OFFSETS.hb0,
        devices: [
          { bdf: '00:00.0', kind: 'host-bridge', vendor: 0x8086, device: 0x2020 },
          {
            bdf: '00:01.0',
            kind: 'root-port',
            children: [
              {
                bdf: '01:00.0',
                kind: 'switch-upstream',
                children: [
                  dsp('02:00.0', provider('03:00.0', 'nvme0')),
                  dsp('02:01.0', provider('04:00.0', 'nvme1')),
                  dsp('02:02.0', {
                    bdf: '05:00.0',
                    kind: 'endpoint',
                    name: 'client',
                    class: 'accelerator',
                    bars: [{ bar: 0, size: '1MiB' }],
                  }),
                ],
              },
            ],
          },
        ],
      },
      remoteBridge('hb1', 0x40, 0x2020, CONFORMANCE_BUS_OFFSETS.hb1, provider('41:00.0', 'thru')),
      remoteBridge('hb2', 0x80, 0x6f00, CONFORMANCE_BUS_OFFSETS.hb2, provider('81:00.0', 'remote')),
    ],
  });
}

/** The client and the providers of a conformance fabric. */
export interface ConformanceDevices {
  client: PciDev;
  providers: Record<ConformanceProvider, PciDev>;
}

export function conformanceDevices(topo: PciTopology): ConformanceDevices {
  return {
    client: topo.get('client'),
    providers: {
      nvme0: topo.get('nvme0'),
      nvme1: topo.get('nvme1'),
      thru: topo.get('thru'),
      remote: topo.get('remote'),
    },
  };
}
