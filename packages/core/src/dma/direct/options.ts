/**
 * The kernel release choices of the dma-direct design (reference §3.2, §3.5). Bound under the
 * DmaDirectOptions symbol by the package's ContainerModule (createDmaDirectModule()).
 */

/** Injection symbol of the options. */
export const DmaDirectOptions = Symbol.for('dmasim.DmaDirectOptions');

export interface DmaDirectOptions {
  /**
   * Model the map_sg bugs of v6.16-v7.0 (hch's a25e7962db0d refactor; reference §3.2 DIR-616):
   * THRU_HOST_BRIDGE entries get no DMA address (the stale dma_address stays, the length is
   * right; fixed by 560000d619ef), and BUS_ADDR entries get no dma_length (fixed Nov 2025).
   * Default false: the fixed behaviour.
   */
  readonly v616Regressions: boolean;
  /**
   * v6.18+: THRU_HOST_BRIDGE entries are mapped with DMA_ATTR_MMIO, so they are never bounced
   * (a mapping that would need swiotlb fails instead) and get no CPU cache maintenance.
   * false: v6.0-v6.17, where they take the RAM path and may be bounced. Default true.
   */
  readonly thruHostBridgeMmio: boolean;
}

export const DEFAULT_DMA_DIRECT_OPTIONS: DmaDirectOptions = Object.freeze({
  v616Regressions: false,
  thruHostBridgeMmio: true,
});
