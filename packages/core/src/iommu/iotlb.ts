/**
 * The IOTLB of one IOMMU unit and the kernel's invalidation bookkeeping around it.
 *
 * Hardware side: a fully associative cache of `entries` translations, each tagged with the domain
 * ID and holding one leaf (a granule page or a superpage), replaced least-recently-used. A DMA
 * looks its page up here first; a miss walks the page table and fills an entry. Entries live on
 * until invalidated: in lazy mode a device can still reach a page through a stale entry after
 * the unmap, until the flush queue flushes (the window strict mode closes).
 *
 * Kernel side: struct iommu_iotlb_gather (include/linux/iommu.h) collects the range an unmap
 * cleared; iommu_iotlb_sync() turns it into one range invalidation (VT-d page-selective
 * invalidation, AMD-Vi INVALIDATE_IOMMU_PAGES); iommu_flush_iotlb_all() invalidates the whole
 * domain (VT-d domain-selective, what the flush queue issues). The counters separate the two,
 * since the cost model charges them differently (anchors §4: strict 1754 ns, lazy 518 ns per I/O).
 */

/** struct iommu_iotlb_gather: start/end (inclusive) of the IOVA range to invalidate. */
export class IommuIotlbGather {
  start = Number.POSITIVE_INFINITY;
  /** Last byte (inclusive), as the kernel keeps it. */
  end = 0;
  /** Size of the pages gathered so far (0 before the first). */
  pgsize = 0;
  /** The unmap belongs to a flush-queue domain: page tables do not gather, the queue flushes. */
  queued = false;

  /** True when nothing has been gathered. */
  get empty(): boolean {
    return this.start > this.end;
  }
}

/** iommu_iotlb_gather_init(): an empty gather. */
export function iommuIotlbGatherInit(gather: IommuIotlbGather): void {
  gather.start = Number.POSITIVE_INFINITY;
  gather.end = 0;
  gather.pgsize = 0;
}

/** iommu_iotlb_gather_is_disjoint(): [iova, iova + size) neither overlaps nor touches the range. */
export function iommuIotlbGatherIsDisjoint(
  gather: IommuIotlbGather,
  iova: number,
  size: number,
): boolean {
  const start = iova;
  const end = iova + size - 1;
  return !gather.empty && (end + 1 < gather.start || start > gather.end + 1);
}

/** iommu_iotlb_gather_add_range(): grows the range to cover [iova, iova + size). */
export function iommuIotlbGatherAddRange(
  gather: IommuIotlbGather,
  iova: number,
  size: number,
): void {
  const end = iova + size - 1;
  if (gather.start > iova) gather.start = iova;
  if (gather.end < end) gather.end = end;
}

/** One cached translation. */
export interface IotlbEntry {
  readonly domainId: number;
  /** IOVA of the leaf's first byte. */
  readonly iova: number;
  readonly size: number;
  readonly paddr: number;
  readonly prot: number;
}

/** Counters of one IOTLB (or their sum over units). */
export interface IotlbStats {
  /** Lookups one page of a DMA satisfied from the cache. */
  hits: number;
  /** Lookups that had to walk the page table (including walks that then faulted). */
  misses: number;
  /** Valid entries pushed out by a fill when the IOTLB was full. */
  evictions: number;
  /** Range (page-selective) invalidation commands: one per iommu_iotlb_sync() with a range. */
  rangeInvalidations: number;
  /** Domain-wide invalidation commands: one per iommu_flush_iotlb_all(). */
  globalInvalidations: number;
  /** Entries the invalidations dropped. */
  entriesInvalidated: number;
}

export function emptyIotlbStats(): IotlbStats {
  return {
    hits: 0,
    misses: 0,
    evictions: 0,
    rangeInvalidations: 0,
    globalInvalidations: 0,
    entriesInvalidated: 0,
  };
}

export class Iotlb {
  /** Entries in least- to most-recently-used order (Map iteration order). */
  private readonly cache = new Map<string, IotlbEntry>();
  readonly stats: IotlbStats = emptyIotlbStats();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`IOTLB capacity must be a positive integer, got ${capacity}`);
    }
  }

  private static key(domainId: number, size: number, index: number): string {
    return `${domainId}:${size}:${index}`;
  }

  /**
   * Looks up the page holding `iova` for `domainId` among the leaf sizes the domain uses
   * (largest first); counts a hit or a miss. A hit becomes most recently used.
   */
  lookup(domainId: number, iova: number, pageSizes: readonly number[]): IotlbEntry | undefined {
    for (const size of pageSizes) {
      const k = Iotlb.key(domainId, size, Math.floor(iova / size));
      const e = this.cache.get(k);
      if (e) {
        this.cache.delete(k);
        this.cache.set(k, e);
        this.stats.hits++;
        return e;
      }
    }
    this.stats.misses++;
    return undefined;
  }

  /** Fills an entry after a page walk, evicting the least recently used one if full. */
  fill(entry: IotlbEntry): void {
    const k = Iotlb.key(entry.domainId, entry.size, Math.floor(entry.iova / entry.size));
    if (this.cache.has(k)) this.cache.delete(k);
    else if (this.cache.size >= this.capacity) {
      const lru = this.cache.keys().next().value as string;
      this.cache.delete(lru);
      this.stats.evictions++;
    }
    this.cache.set(k, entry);
  }

  /** A range invalidation: drops the domain's entries overlapping [start, end] (inclusive). */
  invalidateRange(domainId: number, start: number, end: number): void {
    this.stats.rangeInvalidations++;
    for (const [k, e] of this.cache) {
      if (e.domainId === domainId && e.iova <= end && e.iova + e.size - 1 >= start) {
        this.cache.delete(k);
        this.stats.entriesInvalidated++;
      }
    }
  }

  /** A domain-wide invalidation: drops every entry of the domain. */
  invalidateDomain(domainId: number): void {
    this.stats.globalInvalidations++;
    for (const [k, e] of this.cache) {
      if (e.domainId === domainId) {
        this.cache.delete(k);
        this.stats.entriesInvalidated++;
      }
    }
  }

  /** Entries cached now, least recently used first. */
  entries(): IotlbEntry[] {
    return [...this.cache.values()];
  }

  get size(): number {
    return this.cache.size;
  }
}
