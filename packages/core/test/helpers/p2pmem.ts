/**
 * A machine with two P2P providers and a user address space, for the mm, p2pmem mmap and O_DIRECT
 * tests: nvme0 (01:00.0) and nvme1 (02:00.0), each with BAR2 = 2 MiB registered whole with
 * pci_p2pdma_add_resource(), and 64 GiB of RAM (the default).
 *
 * nvme0 BAR2 is at 0x100_0000_0000 (pfns 0x1000_0000 .. 0x1000_01ff), nvme1 BAR2 at
 * 0x100_0020_0000 (pfns 0x1000_0200 .. 0x1000_03ff); both 2 MiB aligned, so each pool is one
 * chunk of 512 pages and first-fit hands out pages from the BAR start.
 */
import { KernelLog } from '../../src/kernel-log';
import { MmStruct, type MmStructOptions } from '../../src/mm/mm';
import { PageRefs } from '../../src/mm/page-ref';
import { pciP2pdmaAddResource } from '../../src/p2pdma/provider';
import { P2pdmaDevices } from '../../src/p2pdma/state';
import { topologyFromObject } from '../../src/pci/topology';

export const MiB = 2 ** 20;
/** First pfn of nvme0's BAR2: 0x100_0000_0000 / 4096. */
export const NVME0_PFN = 0x1000_0000;
/** First pfn of nvme1's BAR2: 0x100_0020_0000 / 4096. */
export const NVME1_PFN = 0x1000_0200;
/** A RAM pfn (256 MiB into RAM node 0). */
export const RAM_PFN = 0x10000;

export function p2pmemMachine(mmOpts: Omit<MmStructOptions, 'log' | 'memmap'> = {}) {
  const topo = topologyFromObject({
    platform: { cpu: { vendor: 'AMD', family: 0x19 } },
    hostBridges: [
      {
        name: 'hb0',
        bus: 0,
        devices: [
          { bdf: '00:00.0', kind: 'host-bridge' },
          {
            bdf: '00:01.0',
            kind: 'root-port',
            children: [
              {
                bdf: '01:00.0',
                kind: 'endpoint',
                class: 'nvme',
                name: 'nvme0',
                bars: [{ bar: 2, size: '2MiB', prefetchable: true, address: 0x100_0000_0000 }],
              },
            ],
          },
          {
            bdf: '00:02.0',
            kind: 'root-port',
            children: [
              {
                bdf: '02:00.0',
                kind: 'endpoint',
                class: 'nvme',
                name: 'nvme1',
                bars: [{ bar: 2, size: '2MiB', prefetchable: true, address: 0x100_0020_0000 }],
              },
            ],
          },
          {
            bdf: '00:03.0',
            kind: 'root-port',
            children: [
              {
                bdf: '03:00.0',
                kind: 'endpoint',
                class: 'nvme',
                name: 'nvme2',
                bars: [{ bar: 2, size: '2MiB', prefetchable: true, address: 0x100_0040_0000 }],
              },
            ],
          },
        ],
      },
    ],
  });
  const p2p = new P2pdmaDevices(topo);
  const log = new KernelLog();
  const nvme0 = topo.get('01:00.0');
  const nvme1 = topo.get('02:00.0');
  /** nvme2 never registers P2P memory. */
  const nvme2 = topo.get('03:00.0');
  if (pciP2pdmaAddResource(p2p, nvme0, 2, 0, 0, log)) throw new Error('nvme0 add_resource');
  if (pciP2pdmaAddResource(p2p, nvme1, 2, 0, 0, log)) throw new Error('nvme1 add_resource');
  log.clear();
  const refs = new PageRefs();
  const mm = new MmStruct(refs, { log, memmap: p2p.memmap, comm: 'fio', ...mmOpts });
  return { topo, p2p, log, nvme0, nvme1, nvme2, refs, mm };
}
