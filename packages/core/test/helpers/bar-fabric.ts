/**
 * A topology with BARs everywhere, for the fabric tests (routing and delivery need targets):
 *
 *   hb0 (bus 00, 00:00.0 = 8086:2020; busOffset `busOffset`, default 16 TiB, so bus != CPU address)
 *     00:01.0 root port -> 01:00.0 switch upstream port
 *       02:00.0 DSP -> 03:00.0 nvme0   BAR 0 16 KiB, BAR 2 64 MiB prefetchable
 *       02:01.0 DSP -> 04:00.0 nvme1   same BARs
 *       02:02.0 DSP -> 05:00.0 nic0, 05:00.1 nic1 (two functions of one device), BAR 0 1 MiB each
 *     00:02.0 root port -> 06:00.0 gpu0   BAR 2 256 MiB prefetchable
 *   hb1 (bus 80, 80:00.0 = 8086:2020, busOffset 0)
 *     80:01.0 root port -> 81:00.0 ep1   BAR 2 64 MiB prefetchable
 *
 * The DSPs and the NIC functions have an ACS capability offering SV RR CR UF; `dspAcs` and
 * `nicAcs` say which of those are on. 16 GiB of RAM.
 */
import { topologyFromObject, type PciTopology } from '../../src/pci/topology';

export const TiB = 2 ** 40;
const ACS_CAP = ['SV', 'RR', 'CR', 'UF'];

export interface BarFabricOptions {
  dspAcs?: string[];
  nicAcs?: string[];
  iommu?: Record<string, unknown>;
  rootComplexP2p?: { write?: boolean; read?: boolean };
  busOffset?: number;
  /** Per BDF: fields merged into that function (link, mps, mrrs). */
  props?: Record<string, Record<string, unknown>>;
}

export function barFabric(o: BarFabricOptions = {}): PciTopology {
  const p = (bdf: string, spec: Record<string, unknown>) => ({ bdf, ...spec, ...o.props?.[bdf] });
  const dspAcs = { cap: ACS_CAP, ctrl: o.dspAcs ?? [] };
  const nicAcs = { cap: ACS_CAP, ctrl: o.nicAcs ?? [] };
  const nvmeBars = [
    { bar: 0, size: '16KiB' },
    { bar: 2, size: '64MiB', prefetchable: true },
  ];
  return topologyFromObject({
    platform: {
      cpu: { vendor: 'Intel', family: 6 },
      memory: '16GiB',
      ...(o.iommu ? { iommu: o.iommu } : {}),
      ...(o.rootComplexP2p ? { rootComplexP2p: o.rootComplexP2p } : {}),
    },
    hostBridges: [
      {
        name: 'hb0',
        bus: 0,
        busOffset: o.busOffset ?? 16 * TiB,
        devices: [
          { bdf: '00:00.0', kind: 'host-bridge', vendor: 0x8086, device: 0x2020 },
          p('00:01.0', {
            kind: 'root-port',
            children: [
              p('01:00.0', {
                kind: 'switch-upstream',
                children: [
                  p('02:00.0', {
                    kind: 'switch-downstream',
                    acs: dspAcs,
                    children: [p('03:00.0', { kind: 'endpoint', name: 'nvme0', bars: nvmeBars })],
                  }),
                  p('02:01.0', {
                    kind: 'switch-downstream',
                    acs: dspAcs,
                    children: [p('04:00.0', { kind: 'endpoint', name: 'nvme1', bars: nvmeBars })],
                  }),
                  p('02:02.0', {
                    kind: 'switch-downstream',
                    acs: dspAcs,
                    children: [
                      p('05:00.0', {
                        kind: 'endpoint',
                        name: 'nic0',
                        acs: nicAcs,
                        bars: [{ bar: 0, size: '1MiB' }],
                      }),
                      p('05:00.1', {
                        kind: 'endpoint',
                        name: 'nic1',
                        acs: nicAcs,
                        bars: [{ bar: 0, size: '1MiB' }],
                      }),
                    ],
                  }),
                ],
              }),
            ],
          }),
          p('00:02.0', {
            kind: 'root-port',
            children: [
              p('06:00.0', {
                kind: 'endpoint',
                name: 'gpu0',
                bars: [{ bar: 2, size: '256MiB', prefetchable: true }],
              }),
            ],
          }),
        ],
      },
      {
        name: 'hb1',
        bus: 0x80,
        devices: [
          { bdf: '80:00.0', kind: 'host-bridge', vendor: 0x8086, device: 0x2020 },
          p('80:01.0', {
            kind: 'root-port',
            children: [
              p('81:00.0', {
                kind: 'endpoint',
                name: 'ep1',
                bars: [{ bar: 2, size: '64MiB', prefetchable: true }],
              }),
            ],
          }),
        ],
      },
    ],
  });
}
