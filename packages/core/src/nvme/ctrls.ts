/**
 * The NVMe controllers of one simulated kernel: the nvme driver bound to every NVMe PCI function
 * it is asked for, each probed once (nvmeProbe()) with the kernel's DMA device, P2PDMA state and
 * the design's RequestMapper. A design that needs other controller settings (extra ops flags,
 * a fast-path veto) binds NvmeCtrlDefaults.
 */
import { inject, injectable, LazyServiceIdentifier, optional } from 'inversify';
import { RequestMapper } from '../block/request-mapper';
import { DmaDevices } from '../di/kernel';
import type { PciDev } from '../pci/device';
import { P2pdmaDevices } from '../p2pdma/state';
import { P2pMemory, pageBackedP2pMemory } from '../p2pdma/p2p-memory';
import { nvmeProbe, type NvmeCtrl, type NvmeCtrlOptions } from './ctrl';

/** Service id of the NvmeCtrlOptions every controller of a kernel starts from. */
export const NvmeCtrlDefaults = Symbol.for('dmasim.NvmeCtrlDefaults');

@injectable()
export class NvmeCtrls {
  private readonly byIndex: (NvmeCtrl | undefined)[] = [];
  private instances = 0;

  constructor(
    // Lazy: di/kernel.ts may bind this class, so the two modules import each other.
    @inject(new LazyServiceIdentifier(() => DmaDevices)) private readonly devices: DmaDevices,
    @inject(P2pdmaDevices) private readonly p2p: P2pdmaDevices,
    @inject(RequestMapper) private readonly mapper: RequestMapper,
    @inject(NvmeCtrlDefaults) @optional() private readonly defaults: NvmeCtrlOptions = {},
    // the design's pci_p2pdma_add_resource(), which nvme_map_cmb() registers the CMB with
    @inject(P2pMemory) @optional() private readonly mem: P2pMemory = pageBackedP2pMemory,
  ) {}

  /**
   * The controller of an NVMe PCI function, probed on first use with the defaults and `opts`
   * (which apply only then); instances are numbered nvme0, nvme1, ... in that order.
   */
  get(pci: PciDev | string, opts: NvmeCtrlOptions = {}): NvmeCtrl {
    const dev = this.devices.get(pci);
    const index = dev.pci!.index;
    let ctrl = this.byIndex[index];
    if (!ctrl) {
      ctrl = nvmeProbe(dev, this.p2p, this.mapper, {
        instance: this.instances++,
        ...this.defaults,
        ...opts,
        cmb: { addResource: this.mem.addResource, ...this.defaults.cmb, ...opts.cmb },
      });
      this.byIndex[index] = ctrl;
    }
    return ctrl;
  }

  /** Probes every NVMe endpoint of the topology (class 'nvme') not probed yet; all of them. */
  probeAll(): NvmeCtrl[] {
    return this.devices.topology.endpoints
      .filter((d) => d.props.class === 'nvme')
      .map((d) => this.get(d));
  }

  /** Controllers probed so far. */
  all(): NvmeCtrl[] {
    return this.byIndex.filter((c): c is NvmeCtrl => c !== undefined);
  }
}
