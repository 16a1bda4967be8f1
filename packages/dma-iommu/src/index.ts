/**
 * @dmasim/dma-iommu. The design's bindings land with its issue; until then the module binds nothing
 * and the CLI does not list the strategy as runnable.
 */
import { ContainerModule } from 'inversify';
import type { StrategyDescriptor } from '@dmasim/core';

export const dmaIommuModule = new ContainerModule(() => {
  // bindings arrive with the design's implementation
});

export const dmaIommuStrategy: StrategyDescriptor = {
  id: 'dma-iommu',
  title: 'dma-iommu: page-backed scatterlists through an IOVA allocator',
  origin: '2021-22 series, dma-iommu half (v6.0)',
  module: dmaIommuModule,
};
