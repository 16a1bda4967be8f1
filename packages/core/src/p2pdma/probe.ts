/**
 * What drivers do with P2P memory when they probe: NVMe maps its CMB (nvme_map_cmb()), other
 * drivers register a BAR range and publish it (pci_p2pdma_add_resource() +
 * pci_p2pmem_publish()), as the topology's `cmb` and `p2pmem` say. Devices are probed in
 * enumeration order, as the PCI core binds drivers.
 */
import type { KernelLog } from '../kernel-log';
import type { PciDev } from '../pci/device';
import { nvmeMapCmb } from './cmb';
import { pciP2pmemPublish } from './provider';
import { pageBackedP2pMemory, type P2pMemory } from './p2p-memory';
import type { P2pdmaDevices } from './state';

export interface P2pmemProbeResult {
  dev: PciDev;
  source: 'cmb' | 'p2pmem';
  /** 0 or the -errno of pci_p2pdma_add_resource(); for a CMB, -1 when nvme_map_cmb() skipped it. */
  ret: number;
  published: boolean;
  /** Why nothing was registered, when it was not. */
  detail?: string;
}

/**
 * Registers every P2P provider the topology describes, through the design's P2P memory
 * representation (page-backed by default).
 */
export function probeP2pmemProviders(
  p2p: P2pdmaDevices,
  log?: KernelLog,
  mem: P2pMemory = pageBackedP2pMemory,
): P2pmemProbeResult[] {
  const out: P2pmemProbeResult[] = [];
  for (const dev of p2p.topology.devices) {
    if (dev.props.cmb) {
      const r = nvmeMapCmb(p2p, dev, log, { addResource: mem.addResource });
      out.push({
        dev,
        source: 'cmb',
        ret: r.registered ? 0 : (r.error ?? -1),
        published: r.published,
        detail: r.registered ? undefined : (r.detail ?? r.reason),
      });
    }
    const pm = dev.props.p2pmem;
    if (pm) {
      const ret = mem.addResource(p2p, dev, pm.bar, pm.size, pm.offset, log);
      if (ret === 0 && pm.publish) pciP2pmemPublish(p2p, dev, true);
      out.push({
        dev,
        source: 'p2pmem',
        ret,
        published: ret === 0 && pm.publish,
        detail: ret === 0 ? undefined : 'pci_p2pdma_add_resource() failed (see the kernel log)',
      });
    }
  }
  return out;
}
