/**
 * The kernel release and command-line choices of the dma-iommu design (reference §4.2, §4.5).
 * Bound under the DmaIommuOptions symbol by the package's ContainerModule (createDmaIommuModule()).
 */

/** Injection symbol of the options. */
export const DmaIommuOptions = Symbol.for('dmasim.DmaIommuOptions');

export interface DmaIommuOptions {
  /**
   * v6.16+ (hch's a25e7962db0d refactor, still in every 2025-26 copy; reference §4.2 note): the
   * BUS_ADDR arm of iommu_dma_map_sg() stores sg_dma_len(s) = sg->length of the list head, not of
   * the entry. false: v6.0-v6.15, where pci_p2pdma_map_segment() used the entry's own length.
   * Default true (the newest behaviour).
   */
  readonly headLengthQuirk: boolean;
  /**
   * iommu.forcedac=1: PCI devices skip the 32-bit-first IOVA attempt (reference §4.5).
   * Default false.
   */
  readonly forcedac: boolean;
}

export const DEFAULT_DMA_IOMMU_OPTIONS: DmaIommuOptions = Object.freeze({
  headLengthQuirk: true,
  forcedac: false,
});
