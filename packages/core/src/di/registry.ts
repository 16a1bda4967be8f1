/**
 * The strategy registry: collects every StrategyDescriptor contributed to a container (the
 * built-in designs, plugins) with @multiInject, in the style of Theia's contribution points.
 */
import { Container, injectable, multiInject, optional, type ContainerModule } from 'inversify';
import { DmaMapOps } from '../dma/map-ops';
import type { PciTopology } from '../pci/topology';
import { platformDmaOpsKind, StrategyDescriptor, type PlatformDmaOpsKind } from './strategy';

@injectable()
export class StrategyRegistry {
  constructor(
    @multiInject(StrategyDescriptor)
    @optional()
    private readonly contributions: StrategyDescriptor[] = [],
  ) {
    const seen = new Set<string>();
    for (const d of this.contributions) {
      if (seen.has(d.id)) throw new Error(`two strategies are registered as "${d.id}"`);
      seen.add(d.id);
    }
  }

  /** Every registered strategy, in registration order. */
  list(): readonly StrategyDescriptor[] {
    return this.contributions;
  }

  get(id: string): StrategyDescriptor | undefined {
    return this.contributions.find((d) => d.id === id);
  }

  /** The registered strategy that serves as the platform's DMA ops of this kind, if any. */
  platformDmaOps(kind: PlatformDmaOpsKind): StrategyDescriptor | undefined {
    return this.contributions.find((d) => d.platformDmaOps === kind);
  }

  /**
   * The modules a kernel running `d` on `topology` loads besides d.module: for a design that uses
   * the platform's DMA ops, the module of the strategy that serves as them there. Throws when
   * no registered strategy does (a registry without dma-iommu cannot run such a design on an
   * IOMMU platform).
   */
  modulesFor(d: StrategyDescriptor, topology: PciTopology): ContainerModule[] {
    if (!d.usesPlatformDmaOps) return [];
    const kind = platformDmaOpsKind(topology);
    const p = this.platformDmaOps(kind);
    if (!p) {
      throw new Error(
        `strategy "${d.id}" uses the platform's DMA ops, but no registered strategy serves as them on a platform ${kind === 'iommu' ? 'with' : 'without'} an IOMMU`,
      );
    }
    return [p.module];
  }

  /**
   * Whether the strategy can map: its module binds DmaMapOps (a design still being built binds
   * nothing), or it uses the platform's and this registry has a strategy serving as them.
   */
  isRunnable(d: StrategyDescriptor): boolean {
    if (d.usesPlatformDmaOps) {
      return (
        this.platformDmaOps('iommu') !== undefined && this.platformDmaOps('direct') !== undefined
      );
    }
    return StrategyRegistry.isRunnable(d);
  }

  /** Whether the strategy's module binds DmaMapOps (a design still being built binds nothing). */
  static isRunnable(d: StrategyDescriptor): boolean {
    const c = new Container();
    c.load(d.module);
    return c.isBound(DmaMapOps);
  }
}

/** A registry over the given descriptors. */
export function createStrategyRegistry(
  descriptors: readonly StrategyDescriptor[],
): StrategyRegistry {
  const c = new Container();
  for (const d of descriptors) c.bind<StrategyDescriptor>(StrategyDescriptor).toConstantValue(d);
  c.bind(StrategyRegistry).toSelf();
  return c.get(StrategyRegistry);
}
