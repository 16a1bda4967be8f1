/**
 * @dmasim/dma-vec: design (3), the 2019 RFC "Removing struct page from P2PDMA" (reference §5.6):
 * P2P memory has no struct pages, submitters put DMA addresses for the target device straight
 * into dma_vec bios, the block layer splits and maps those without dma_map_sg, and RAM still goes
 * through the platform's DMA ops (dma-iommu with an enabled IOMMU, else dma-direct), which the
 * composition root binds from the registry (StrategyDescriptor.usesPlatformDmaOps).
 */
import { ContainerModule } from 'inversify';
import {
  KernelSubmitter,
  P2pdmaDevices,
  P2pMemory,
  RequestMapper,
  type StrategyDescriptor,
  NvmeCtrlDefaults,
  type NvmeCtrlOptions,
} from '@dmasim/core';
import { dmaVecNvmeCtrlOptions } from './nvme-dma-direct';
import { dmaVecP2pMemory, WcMappings } from './p2pdma';
import { DmaVecRequestMapper } from './request-mapper';
import { DmaVecKernelSubmitter } from './kernel-submitter';

export * from './p2pdma';
export * from './p2pmem-dma';
export * from './bio-dma';
export * from './blk-merge-dma';
export * from './blk-map-sg-dma';
export * from './blk-rq-dma';
export * from './request-mapper';
export * from './nvme-dma-direct';
export * from './kernel-submitter';

export const dmaVecModule = new ContainerModule(({ bind }) => {
  // one table per kernel: the module object is shared by every container that loads it
  bind(WcMappings)
    .toDynamicValue(() => new WcMappings())
    .inSingletonScope();
  bind<P2pMemory>(P2pMemory)
    .toDynamicValue((ctx) => dmaVecP2pMemory(ctx.get(WcMappings)))
    .inSingletonScope();
  // dma-direct requests skip the DMA API; RAM requests go through the platform's DMA ops
  bind<RequestMapper>(RequestMapper)
    .toDynamicValue(() => new DmaVecRequestMapper())
    .inSingletonScope();
  // nvme-pci with RFC patch 19: NVME_F_DMA_DIRECT, QUEUE_FLAG_DMA_DIRECT, no fast path for them
  bind<NvmeCtrlOptions>(NvmeCtrlDefaults).toConstantValue(dmaVecNvmeCtrlOptions);
  // nvmet and rdma_rw with the RFC: DMA addresses for P2P memory, pages for RAM
  bind<KernelSubmitter>(KernelSubmitter)
    .toDynamicValue((ctx) => new DmaVecKernelSubmitter(ctx.get(P2pdmaDevices), ctx.get(WcMappings)))
    .inSingletonScope();
});

export const dmaVecStrategy: StrategyDescriptor = {
  id: 'dma-vec',
  title: 'dma-vec: P2P memory without struct pages, DMA addresses in bios',
  origin: '2019 RFC "Removing struct page from P2PDMA"',
  module: dmaVecModule,
  usesPlatformDmaOps: true,
};
