/**
 * What one swiotlb-xen instance did, for the cost model and the tests. The kernel keeps no such
 * counters (a trace_swiotlb_bounced() event at most); they count the work the modelled functions
 * stand for.
 */
export class XenSwiotlbStats {
  /** map_phys results that are DMA addresses (direct, bounced or MMIO). */
  mappings = 0;
  /** Mappings that went through a swiotlb bounce buffer. */
  bounced = 0;
  /** Mappings that failed (DMA_MAPPING_ERROR). */
  mapErrors = 0;
  /** unmap_phys calls (one per entry from unmap_sg). */
  unmaps = 0;
  /** arch_sync_dma_for_device() / xen_dma_sync_for_device() for non-coherent devices. */
  cacheSyncsForDevice = 0;
  /** arch_sync_dma_for_cpu() / xen_dma_sync_for_cpu() for non-coherent devices. */
  cacheSyncsForCpu = 0;
  /** map_sg calls, and the entries they were given. */
  mapSgCalls = 0;
  mapSgEntries = 0;
  /** map_sg calls refused with -EREMOTEIO because an entry was a PCI P2PDMA page. */
  p2pdmaRefused = 0;
}
