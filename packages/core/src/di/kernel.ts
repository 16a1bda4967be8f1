/**
 * One simulated kernel as an inversify container: the hardware it runs on (topology, address
 * map), its common state (log, memmap, P2PDMA state, swiotlb, devices) and the design under
 * test, whose ContainerModule binds DmaMapOps (and, in later layers, its P2P memory and request
 * mapper). The CLI and the scenario runner build one container per strategy from the same
 * topology, so runs share no state.
 */
import { Container, ContainerModule, inject, injectable } from 'inversify';
import { DmaApiDebug, DmaApiDebugOps, dmaApiDebugModule } from '../dma/debug';
import { DmaDevice, type DmaDeviceParams } from '../dma/device';
import { DmaDirectOps } from '../dma/direct/direct';
import { DEFAULT_DMA_DIRECT_OPTIONS, DmaDirectOptions } from '../dma/direct/options';
import { DmaMapOps } from '../dma/map-ops';
import { Swiotlb, type SwiotlbOptions } from '../dma/swiotlb';
import { SimClock } from '../clock';
import { Iommu } from '../iommu/iommu';
import { KernelLog } from '../kernel-log';
import { PhysMemoryMap } from '../mm/memory-map';
import { Memmap } from '../mm/memremap';
import { NvmeCtrls } from '../nvme/ctrls';
import { PageRefs } from '../mm/page-ref';
import type { PciDev } from '../pci/device';
import { PciTopology } from '../pci/topology';
import { P2pMemory, pageBackedP2pMemory } from '../p2pdma/p2p-memory';
import { DmaMapSgRequestMapper, RequestMapper } from '../block/request-mapper';
import { P2pdmaDevices } from '../p2pdma/state';
import { KernelSubmitter } from '../target/kernel-submitter';
import { PageKernelSubmitter } from '../target/page-submitter';
import { StrategyDescriptor } from './strategy';

/** Kernel command-line style options of one simulated kernel. */
export interface KernelOptions {
  /** swiotlb= */
  swiotlb?: SwiotlbOptions;
  /** CONFIG_DMA_API_DEBUG: wrap the DmaMapOps in the DMA-API debug checker (dma/debug.ts). */
  dmaApiDebug?: boolean;
}
export const KernelOptions = Symbol.for('dmasim.KernelOptions');

/** The struct devices of one kernel's PCI functions, with the DMA ops the kernel bound. */
@injectable()
export class DmaDevices {
  private readonly byIndex: (DmaDevice | undefined)[] = [];

  constructor(
    @inject(PciTopology) readonly topology: PciTopology,
    @inject(DmaMapOps) private readonly ops: DmaMapOps,
    @inject(KernelLog) private readonly log: KernelLog,
  ) {}

  /**
   * The DMA device of a PCI function, created (with a driver bound, named after its class) on
   * first use; `params` apply only then.
   */
  get(pci: PciDev | string, params?: DmaDeviceParams): DmaDevice {
    const dev = typeof pci === 'string' ? this.topology.get(pci) : pci;
    let d = this.byIndex[dev.index];
    if (!d) {
      d = new DmaDevice(dev.bdf, dev, this.ops, this.log, params);
      d.driver = dev.props.class ?? 'pci-driver';
      this.byIndex[dev.index] = d;
    }
    return d;
  }

  /** Devices created so far. */
  all(): DmaDevice[] {
    return this.byIndex.filter((d): d is DmaDevice => d !== undefined);
  }
}

export interface KernelContainerOptions {
  topology: PciTopology;
  /** The design under test: a strategy descriptor or its ContainerModule (binds DmaMapOps). */
  strategy: StrategyDescriptor | ContainerModule;
  /** Further modules (a platform plugin, test doubles). */
  modules?: ContainerModule[];
  options?: KernelOptions;
}

/** Builds one simulated kernel. */
export function createKernelContainer(o: KernelContainerOptions): Container {
  const c = new Container({ defaultScope: 'Singleton' });
  const options = o.options ?? {};
  const log = new KernelLog();
  const p2p = new P2pdmaDevices(o.topology);
  c.bind(PciTopology).toConstantValue(o.topology);
  c.bind(PhysMemoryMap).toConstantValue(o.topology.memoryMap);
  c.bind(KernelLog).toConstantValue(log);
  c.bind(SimClock).toConstantValue(new SimClock());
  c.bind(P2pdmaDevices).toConstantValue(p2p);
  // The IOMMU hardware; a platform without one gets a disabled Iommu (enabled === false).
  c.bind(Iommu).toConstantValue(new Iommu(o.topology, log));
  c.bind(Memmap).toConstantValue(p2p.memmap);
  // page refcounts and pins, by pfn (struct page's _refcount/_pincount; see mm/page-ref.ts)
  c.bind(PageRefs).toConstantValue(new PageRefs());
  c.bind<KernelOptions>(KernelOptions).toConstantValue(options);
  c.bind(Swiotlb).toDynamicValue(
    () => new Swiotlb(o.topology.memoryMap, options.swiotlb ?? {}, log),
  );
  c.bind(DmaDevices).toSelf();
  c.bind(NvmeCtrls).toSelf();
  // kernel/dma/direct.c is always built in: dma-direct's design uses it for every device,
  // dma-iommu for devices in identity domains.
  c.bind<DmaDirectOptions>(DmaDirectOptions).toConstantValue(DEFAULT_DMA_DIRECT_OPTIONS);
  c.bind(DmaDirectOps).toSelf();
  // Its onActivation hook wraps whatever DmaMapOps the strategy binds.
  if (options.dmaApiDebug) c.load(dmaApiDebugModule);
  const strategy = o.strategy instanceof ContainerModule ? o.strategy : o.strategy.module;
  c.load(strategy, ...(o.modules ?? []));
  // Common code a design may replace: bound here only when its module did not.
  if (!c.isBound(P2pMemory)) c.bind<P2pMemory>(P2pMemory).toConstantValue(pageBackedP2pMemory);
  if (!c.isBound(RequestMapper)) c.bind<RequestMapper>(RequestMapper).to(DmaMapSgRequestMapper);
  if (!c.isBound(KernelSubmitter)) {
    c.bind<KernelSubmitter>(KernelSubmitter).toConstantValue(new PageKernelSubmitter());
  }
  if (options.dmaApiDebug && c.isBound(DmaMapOps)) {
    // An ops bound with toService() reaches the container through another service id, so the
    // activation hook never sees it: wrap it here instead. Resolving now also starts the checker
    // at "boot", before anything maps.
    const ops = c.get<DmaMapOps>(DmaMapOps);
    if (!(ops instanceof DmaApiDebugOps)) {
      c.rebind<DmaMapOps>(DmaMapOps).toConstantValue(new DmaApiDebugOps(ops, c.get(DmaApiDebug)));
    }
  }
  return c;
}
