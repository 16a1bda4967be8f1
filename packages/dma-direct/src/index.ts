/**
 * @dmasim/dma-direct: design (1), page-backed scatterlists through dma-direct (reference §3):
 * P2P memory has ZONE_DEVICE struct pages and map_sg decides per entry.
 */
import { ContainerModule } from 'inversify';
import { DmaMapOps, type StrategyDescriptor } from '@dmasim/core';
import { DmaDirectOps } from './direct';
import { DEFAULT_DMA_DIRECT_OPTIONS, DmaDirectOptions } from './options';

export { DmaDirectOps } from './direct';
export { DEFAULT_DMA_DIRECT_OPTIONS, DmaDirectOptions } from './options';
export { DmaDirectStats } from './stats';
export {
  dmaAddressingLimited,
  dmaCapable,
  dmaDirectGetRequiredMask,
  dmaToPhys,
  physToDma,
} from './addressing';

/**
 * The module of a dma-direct kernel with the given release choices (defaults: the fixed, newest
 * behaviour). Binds DmaMapOps to one DmaDirectOps and DmaDirectOptions to the options.
 */
export function createDmaDirectModule(options: Partial<DmaDirectOptions> = {}): ContainerModule {
  const opts: DmaDirectOptions = Object.freeze({ ...DEFAULT_DMA_DIRECT_OPTIONS, ...options });
  return new ContainerModule(({ bind }) => {
    bind<DmaDirectOptions>(DmaDirectOptions).toConstantValue(opts);
    bind(DmaDirectOps).toSelf().inSingletonScope();
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
};
