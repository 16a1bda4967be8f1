/**
 * @dmasim/dma-iommu. The design's bindings land with its issue; until then the module binds nothing
 * and the CLI does not list the strategy as runnable. The IOVA allocator and the flush queue are
 * exported for the map_sg that will use them.
 */
import { ContainerModule } from 'inversify';
import type { StrategyDescriptor } from '@dmasim/core';

export * from './iova';
export * from './flush-queue';
export * from './cookie';
export * from './iova-alloc';

export const dmaIommuModule = new ContainerModule(() => {
  // bindings arrive with the design's implementation
});

export const dmaIommuStrategy: StrategyDescriptor = {
  id: 'dma-iommu',
  title: 'dma-iommu: page-backed scatterlists through an IOVA allocator',
  origin: '2021-22 series, dma-iommu half (v6.0)',
  module: dmaIommuModule,
};
