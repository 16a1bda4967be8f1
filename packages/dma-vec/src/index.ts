/**
 * @dmasim/dma-vec. The design's bindings land with its issue; until then the module binds nothing
 * and the CLI does not list the strategy as runnable.
 */
import { ContainerModule } from 'inversify';
import type { StrategyDescriptor } from '@dmasim/core';

export const dmaVecModule = new ContainerModule(() => {
  // bindings arrive with the design's implementation
});

export const dmaVecStrategy: StrategyDescriptor = {
  id: 'dma-vec',
  title: 'dma-vec: P2P memory without struct pages, DMA addresses in bios',
  origin: '2019 RFC "Removing struct page from P2PDMA"',
  module: dmaVecModule,
};
