/**
 * @dmasim/dma-iommu: design (2), page-backed scatterlists through dma-iommu (reference §4): one
 * IOVA range per list for every entry but the bus addresses, segments merged in IOVA space.
 * Devices without translation (no IOMMU, identity domains) fall back to dma-direct, as in the
 * kernel.
 */
import { ContainerModule } from 'inversify';
import { DmaMapOps, type StrategyDescriptor } from '@dmasim/core';
import { IommuDmaOps } from './dma-iommu';
import { DEFAULT_DMA_IOMMU_OPTIONS, DmaIommuOptions } from './options';

export * from './iova';
export * from './flush-queue';
export * from './cookie';
export * from './iova-alloc';
export * from './options';
export * from './stats';
export * from './dma-iommu';

/**
 * The module of a dma-iommu kernel with the given release choices (defaults: the newest
 * behaviour). Binds DmaIommuOptions, IommuDmaOps (one per kernel) and DmaMapOps to it.
 */
export function createDmaIommuModule(options: Partial<DmaIommuOptions> = {}): ContainerModule {
  const opts: DmaIommuOptions = Object.freeze({ ...DEFAULT_DMA_IOMMU_OPTIONS, ...options });
  return new ContainerModule(({ bind }) => {
    bind<DmaIommuOptions>(DmaIommuOptions).toConstantValue(opts);
    bind(IommuDmaOps).toSelf().inSingletonScope();
    // A binding of DmaMapOps itself (not toService()), so that the DMA-API debug checker's
    // activation hook wraps it when the kernel has CONFIG_DMA_API_DEBUG.
    bind<DmaMapOps>(DmaMapOps)
      .toDynamicValue((ctx) => ctx.get(IommuDmaOps))
      .inSingletonScope();
  });
}

export const dmaIommuModule = createDmaIommuModule();

export const dmaIommuStrategy: StrategyDescriptor = {
  id: 'dma-iommu',
  title: 'dma-iommu: page-backed scatterlists through an IOVA allocator',
  origin: '2021-22 series, dma-iommu half (v6.0)',
  module: dmaIommuModule,
  platformDmaOps: 'iommu',
};
