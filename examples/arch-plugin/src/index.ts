/**
 * dmasim-plugin-xen-swiotlb: an example architecture plugin. It adds one strategy, Xen dom0's
 * swiotlb-xen dma_map_ops (drivers/xen/swiotlb-xen.c; reference §11 row 23), so that a scenario
 * can be run on a kernel whose DMA ops are not dma-direct or dma-iommu and see what that costs:
 * no PCI P2PDMA at all (§3.3), bounce buffers for what a device cannot reach.
 *
 * A plugin is a package (or a path) whose main module exports a StrategyDescriptor as `strategy`
 * (or an array as `strategies`, or `default`); its ContainerModule binds DmaMapOps in the one
 * kernel container dmasim builds per strategy. See README.md.
 */
import { ContainerModule } from 'inversify';
import { DmaMapOps, type StrategyDescriptor } from '@dmasim/core';
import { XenSwiotlbDmaOps } from './swiotlb-xen';

export { XenSwiotlbDmaOps } from './swiotlb-xen';
export { XenSwiotlbStats } from './stats';
export * from './xen-page';

/**
 * Binds DmaMapOps to one XenSwiotlbDmaOps per kernel. The container already provides what the
 * ops inject (core's Swiotlb and the physical memory map).
 */
export const xenSwiotlbModule = new ContainerModule(({ bind }) => {
  bind(XenSwiotlbDmaOps).toSelf().inSingletonScope();
  // A binding of DmaMapOps itself (not toService()), so that the DMA-API debug checker's
  // activation hook wraps it when the kernel has CONFIG_DMA_API_DEBUG.
  bind<DmaMapOps>(DmaMapOps)
    .toDynamicValue((ctx) => ctx.get(XenSwiotlbDmaOps))
    .inSingletonScope();
});

export const xenSwiotlbStrategy: StrategyDescriptor = {
  id: 'xen-swiotlb',
  title: 'xen-swiotlb: Xen dom0 swiotlb-xen dma_map_ops (no P2PDMA)',
  origin: 'drivers/xen/swiotlb-xen.c xen_swiotlb_dma_ops (reference §11, row 23), v6.16-v6.19',
  module: xenSwiotlbModule,
  // Xen's hypervisor owns the IOMMU and gives dom0 identity mappings: the runner boots this
  // kernel with iommu.passthrough=1 rather than have the platform IOMMU fault every DMA.
  untranslated: true,
};

/** What the CLI's plugin loader takes (it looks for `strategies`, `strategy`, then `default`). */
export const strategy = xenSwiotlbStrategy;
