/**
 * What one dma-iommu instance did on the IOMMU path, for the cost model. The kernel keeps no such
 * counters; they count the work the modelled functions stand for. Devices that dma-iommu hands to
 * dma-direct (identity domains, no IOMMU) are counted in DmaDirectOps.stats instead.
 */
export class DmaIommuStats {
  /** iommu_dma_map_sg() calls on a translated domain, and the entries they were given. */
  mapSgCalls = 0;
  mapSgEntries = 0;
  /** DMA entries the successful calls returned (after merging). */
  mapSgOutEntries = 0;
  /** Input entries __finalise_sg() appended to the output entry before them. */
  merges = 0;
  /** BUS_ADDR entries: bus address, excluded from the IOVA range, nothing to unmap. */
  busAddrEntries = 0;
  /** Lists that took the per-entry swiotlb route (untrusted devices). */
  swiotlbRoutes = 0;
  /** iommu_dma_alloc_iova() calls that returned a range, and that found none. */
  iovaAllocs = 0;
  iovaAllocFailures = 0;
  /** iommu_dma_free_iova() calls (strict: freed now; lazy: queued). */
  iovaFrees = 0;
  /** IOVA bytes allocated (granule-aligned, padding included). */
  iovaBytes = 0;
  /** IOVA bytes allocated and not yet freed, and the most there ever were. */
  iovaBytesLive = 0;
  iovaBytesPeak = 0;
  /** iommu_map() calls (one per physically contiguous run of a list, one per single mapping). */
  iommuMapCalls = 0;
  /** Bytes those calls mapped. */
  bytesMapped = 0;
  /** __iommu_dma_unmap() calls, and the bytes they unmapped. */
  iommuUnmapCalls = 0;
  bytesUnmapped = 0;
  /** Single mappings (map_phys, map_resource) made, and unmapped. */
  mappings = 0;
  unmaps = 0;
  /** Single mappings bounced through swiotlb first (untrusted device, unaligned buffer). */
  bounced = 0;
  /** Mappings that failed (DMA_MAPPING_ERROR or a negative map_sg result). */
  mapErrors = 0;
  /** arch_sync_dma_for_device() / arch_sync_dma_for_cpu() calls for non-coherent devices. */
  cacheSyncsForDevice = 0;
  cacheSyncsForCpu = 0;
  /** P2P map-type lookups (pci_p2pdma_state() refreshing its cache on a provider change). */
  p2pLookups = 0;

  /** Every counter back to 0. */
  reset(): void {
    for (const k of Object.keys(this) as (keyof DmaIommuStats)[]) {
      if (typeof this[k] === 'number') (this as Record<string, unknown>)[k] = 0;
    }
  }
}
