/**
 * @dmasim/dma-direct: design (1), page-backed scatterlists through dma-direct (reference §3):
 * P2P memory has ZONE_DEVICE struct pages and map_sg decides per entry.
 */
import { ContainerModule } from 'inversify';
import {
  DEFAULT_DMA_DIRECT_OPTIONS,
  DmaDirectOps,
  DmaDirectOptions,
  DmaMapOps,
  type StrategyDescriptor,
} from '@dmasim/core';

// kernel/dma/direct.c is common kernel code (dma-iommu falls back to it for identity domains),
// so it lives in core; this design is "every device uses it".
export {
  DmaDirectOps,
  DEFAULT_DMA_DIRECT_OPTIONS,
  DmaDirectOptions,
  DmaDirectStats,
  dmaAddressingLimited,
  dmaCapable,
  dmaDirectGetRequiredMask,
  dmaToPhys,
  physToDma,
} from '@dmasim/core';

/**
 * The module of a dma-direct kernel with the given release choices (defaults: the fixed, newest
 * behaviour). Binds DmaMapOps to one DmaDirectOps and DmaDirectOptions to the options.
 */
export function createDmaDirectModule(options: Partial<DmaDirectOptions> = {}): ContainerModule {
  const opts: DmaDirectOptions = Object.freeze({ ...DEFAULT_DMA_DIRECT_OPTIONS, ...options });
  return new ContainerModule(({ bind, isBound, rebind }) => {
    // The kernel container binds the defaults; a design module may choose other releases.
    if (isBound(DmaDirectOptions)) rebind<DmaDirectOptions>(DmaDirectOptions).toConstantValue(opts);
    else bind<DmaDirectOptions>(DmaDirectOptions).toConstantValue(opts);
    // A binding of DmaMapOps itself (not toService()), so that the DMA-API debug checker's
    // activation hook wraps it when the kernel has CONFIG_DMA_API_DEBUG.
    bind<DmaMapOps>(DmaMapOps)
      .toDynamicValue((ctx) => ctx.get(DmaDirectOps))
      .inSingletonScope();
  });
}

export const dmaDirectModule = createDmaDirectModule();

export const dmaDirectStrategy: StrategyDescriptor = {
  id: 'dma-direct',
  title: 'dma-direct: page-backed scatterlists, bus-address segments marked',
  origin: '2021-22 "dma_map_sg for P2PDMA" series, merged in v6.0',
  module: dmaDirectModule,
  platformDmaOps: 'direct',
};
