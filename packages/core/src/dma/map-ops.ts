/**
 * The DmaMapOps extension point: struct dma_map_ops (include/linux/dma-map-ops.h, v6.0-v6.18;
 * reference §3.3, §11). Every design (dma-direct, dma-iommu, dma-vec's RAM path) and every
 * architecture plugin implements it; a container binds one under the DmaMapOps symbol and the
 * generic layer (mapping.ts) calls it for every device of that kernel.
 *
 * Return conventions, as the kernel's:
 * - mapPhys / mapResource return a DMA address, or DMA_MAPPING_ERROR;
 * - mapSg returns the number of DMA entries (> 0; fewer than nents when it merged) or one of
 *   -EINVAL, -ENOMEM, -EIO, -EREMOTEIO. Anything else (0 included) is a bug the generic layer
 *   WARNs about and turns into -EIO. On failure the list must be left as it was (nothing mapped).
 * - unmapSg is passed the nents given to mapSg, not the count it returned.
 */
import type { Scatterlist } from '../scatterlist/scatterlist';
import type { DmaDevice } from './device';
import type { DmaDataDirection } from './direction';

/** Injection symbol of the DmaMapOps a kernel uses. */
export const DmaMapOps = Symbol.for('dmasim.DmaMapOps');

/** (dma_addr_t)~0 modelled as -1: no valid DMA address is negative. */
export const DMA_MAPPING_ERROR = -1;

/** DMA_F_PCI_P2PDMA_SUPPORTED: dma_map_ops.flags bit (v6.0-v6.11). */
export const DMA_F_PCI_P2PDMA_SUPPORTED = 1 << 0;

/**
 * What an implementation claims. The conformance suite skips what is not claimed and checks
 * that what is claimed holds.
 */
export interface DmaMapOpsCapabilities {
  /**
   * DMA_F_PCI_P2PDMA_SUPPORTED: mapSg maps PCI P2PDMA pages by their map type (BUS_ADDR,
   * THRU_HOST_BRIDGE) and fails NOT_SUPPORTED ones with -EREMOTEIO. false: every P2PDMA page
   * fails with -EREMOTEIO, and dma_pci_p2pdma_supported() is false for its devices.
   */
  readonly pciP2pdma: boolean;
  /** mapSg may return fewer entries than it was given (an IOMMU merging segments). */
  readonly mergesSegments: boolean;
  /** mapResource / unmapResource are implemented. */
  readonly mapResource: boolean;
  /** Buffers the device cannot reach are bounced (swiotlb) rather than refused. */
  readonly bounce: boolean;
}

/**
 * Hooks the generic layer calls for the DMA-API debug checker (kernel/dma/debug.c hooks that sit
 * outside the ops). Not kernel ops; ordinary implementations leave them out.
 */
export interface DmaDebugHooks {
  /** debug_dma_mapping_error(): the driver checked `addr` with dma_mapping_error(). */
  debugMappingError?(dev: DmaDevice, addr: number): void;
  /** The bus notifier's BUS_NOTIFY_UNBOUND_DRIVER: the driver let go of `dev`. */
  debugDriverUnbound?(dev: DmaDevice, driver: string): void;
}

/** An IOVA range a translating design allocated for one mapping (model introspection). */
export interface DmaIovaRange {
  /** dev_name() of the device. */
  readonly device: string;
  /** First IOVA of the range. */
  readonly iova: number;
  /** Bytes allocated: whole granules, padding included. */
  readonly size: number;
  /** The IOMMU page size. */
  readonly granule: number;
}

export interface DmaMapOps extends DmaDebugHooks {
  /** A short name for reports ("dma-direct", "gart_dma_ops"). */
  readonly name: string;
  readonly capabilities: DmaMapOpsCapabilities;

  /**
   * map_phys (the callback since v6.19, dma_map_phys() since v6.18; map_page before): maps `size` bytes at CPU physical `phys`. Returns the
   * DMA address or DMA_MAPPING_ERROR.
   */
  mapPhys(dev: DmaDevice, phys: number, size: number, dir: DmaDataDirection, attrs: number): number;
  /** unmap_phys / unmap_page */
  unmapPhys(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection, attrs: number): void;

  /**
   * map_sg: maps the first `nents` entries of `sgl`, filling dma_address / dma_length (and the
   * DMA flags) of the output entries. See the file comment for the return convention.
   */
  mapSg(
    dev: DmaDevice,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number;
  /** unmap_sg: `nents` is what was passed to mapSg. */
  unmapSg(
    dev: DmaDevice,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void;

  /** map_resource: an MMIO range (another device's BAR) by CPU physical address. */
  mapResource?(
    dev: DmaDevice,
    phys: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number;
  unmapResource?(
    dev: DmaDevice,
    addr: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void;

  syncSingleForCpu?(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection): void;
  syncSingleForDevice?(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection): void;
  syncSgForCpu?(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void;
  syncSgForDevice?(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void;

  /** max_mapping_size: the largest single mapping (absent: SIZE_MAX). */
  maxMappingSize?(dev: DmaDevice): number;
  /** opt_mapping_size: the largest mapping without a performance penalty (absent: SIZE_MAX). */
  optMappingSize?(): number;
  /** get_merge_boundary: segments may be merged across this mask by the block layer (absent: 0). */
  getMergeBoundary?(dev: DmaDevice): number;

  /**
   * Model introspection, not a kernel op: the CPU physical address whose byte the device reaches
   * at `addr`, following bus offsets, IOMMU or aperture translation, and bounce buffers back to
   * the mapped buffer (the byte it holds once the syncs have run); undefined when `addr` reaches
   * nothing. A translated address (an IOVA, an aperture slot, a bounce buffer) must stop
   * translating once unmapped; an untranslated one (RAM or a bus address under dma-direct)
   * reaches its memory whether mapped or not, as the hardware does.
   */
  dmaToPhys(dev: DmaDevice, addr: number): number | undefined;

  /**
   * Model introspection, optional: the IOVA range the last successful mapSg allocated, for ops
   * that translate (dma-iommu); undefined when it allocated none (an all-bus-address list).
   */
  lastMapSgIova?(): DmaIovaRange | undefined;

  /**
   * Model introspection, optional: what the ops did so far, for the scenario cost model. The
   * kernel keeps no such counters; they count the work the modelled functions stand for.
   */
  counters?(): DmaMapOpsCounters;
}

/** Work counted by a DmaMapOps for the cost model (see counters()). */
export interface DmaMapOpsCounters {
  /** Entries and single mappings given a DMA address by the DMA layer (BUS_ADDR ones excluded). */
  segmentsMapped: number;
  /** IOVA ranges allocated (iommu_dma_alloc_iova() successes); 0 for ops that do not translate. */
  iovaAllocs: number;
  /** The most IOVA space allocated at once, in bytes (frees counted when unmap asks for them). */
  iovaBytesPeak: number;
  /** Unmaps whose IOTLB invalidation a flush queue deferred (lazy mode, queue_iova()). */
  fqQueued: number;
  /** BUS_ADDR entries: a bus-offset addition, nothing to map or unmap. */
  busAddrSegments: number;
  /** P2P map-type lookups (pci_p2pdma_state() on a provider change). */
  p2pLookups: number;
}
