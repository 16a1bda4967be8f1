/**
 * @dmasim/dma-direct. The design's bindings land with its issue; until then the module binds nothing
 * and the CLI does not list the strategy as runnable.
 */
import { ContainerModule } from 'inversify';
import type { StrategyDescriptor } from '@dmasim/core';

export const dmaDirectModule = new ContainerModule(() => {
  // bindings arrive with the design's implementation
});

export const dmaDirectStrategy: StrategyDescriptor = {
  id: 'dma-direct',
  title: 'dma-direct: page-backed scatterlists, bus-address segments marked',
  origin: '2021-22 "dma_map_sg for P2PDMA" series, merged in v6.0',
  module: dmaDirectModule,
};
