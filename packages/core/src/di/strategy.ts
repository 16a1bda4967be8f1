/**
 * The strategy extension point: each design package (and each plugin) exports one descriptor and
 * one ContainerModule. The CLI and the scenario runner build one container per strategy.
 */
import type { ContainerModule } from 'inversify';
import type { PciTopology } from '../pci/topology';

/** Injection symbol under which a container lists its strategy descriptors. */
export const StrategyDescriptor = Symbol.for('dmasim.StrategyDescriptor');

export interface StrategyDescriptor {
  /** Short id used on the command line (`--strategy dma-direct`). */
  id: string;
  /** One-line title for tables. */
  title: string;
  /** Where the design comes from (series, release). */
  origin: string;
  /** Binds the design's DmaMapOps, P2P memory representation and request mapper. */
  module: ContainerModule;
  /**
   * The design brings no DmaMapOps of its own: what goes through dma_map_sg (RAM at least) uses
   * the platform's ops, which the composition root takes from another registered strategy that
   * can serve as them (see `platformDmaOps`, StrategyRegistry.modulesFor()), never by import.
   */
  usesPlatformDmaOps?: boolean;
  /**
   * This design's module can be the platform's DMA ops of such a design: 'iommu' on a platform
   * whose IOMMU is enabled, 'direct' on one without.
   */
  platformDmaOps?: PlatformDmaOpsKind;
  /**
   * The design's DMA addresses reach memory without the platform IOMMU translating them: its ops
   * hand out CPU or bus addresses (dma-direct; an architecture whose translation is elsewhere, as
   * under Xen, whose hypervisor owns the IOMMU and gives dom0 identity mappings). The scenario
   * runner boots such a kernel with iommu.passthrough=1 on a platform whose IOMMU translates,
   * rather than fault every DMA. Implied by platformDmaOps 'direct'.
   */
  untranslated?: boolean;
}

/** Which platforms a module serves as the DMA ops of: with an enabled IOMMU, or without. */
export type PlatformDmaOpsKind = 'iommu' | 'direct';

/** What get_dma_ops() is on this platform: the IOMMU's ops when it has an enabled IOMMU. */
export function platformDmaOpsKind(topology: PciTopology): PlatformDmaOpsKind {
  return topology.platform.iommu?.enabled ? 'iommu' : 'direct';
}
