/**
 * What one dma-direct instance did, for the cost model. The kernel keeps no such counters; they
 * count the work the modelled functions stand for.
 */
export class DmaDirectStats {
  /** dma_direct_map_phys() results that are DMA addresses (RAM, THRU_HOST_BRIDGE, map_phys, map_resource). */
  mappings = 0;
  /** BUS_ADDR entries: bus address arithmetic, nothing to unmap. */
  busAddrMappings = 0;
  /** Mappings that went through swiotlb. */
  bounced = 0;
  /** Mappings that failed (DMA_MAPPING_ERROR). */
  mapErrors = 0;
  /** dma_direct_unmap_phys() calls (bus-address entries only get their mark cleared). */
  unmaps = 0;
  /** arch_sync_dma_for_device() calls for non-coherent devices. */
  cacheSyncsForDevice = 0;
  /** arch_sync_dma_for_cpu() calls for non-coherent devices. */
  cacheSyncsForCpu = 0;
  /** P2P map-type lookups (pci_p2pdma_state() refreshing its cache on a provider change). */
  p2pLookups = 0;
  /** map_sg calls, and the entries they were given. */
  mapSgCalls = 0;
  mapSgEntries = 0;

  /** Every counter back to 0. */
  reset(): void {
    this.mappings = 0;
    this.busAddrMappings = 0;
    this.bounced = 0;
    this.mapErrors = 0;
    this.unmaps = 0;
    this.cacheSyncsForDevice = 0;
    this.cacheSyncsForCpu = 0;
    this.p2pLookups = 0;
    this.mapSgCalls = 0;
    this.mapSgEntries = 0;
  }
}
