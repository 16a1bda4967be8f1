/**
 * The DMA-API debug checker: CONFIG_DMA_API_DEBUG, kernel/dma/debug.c (reference §8; DBG is the
 * v6.16 file, with the v6.18 "phy" entry type of dma_map_phys() and the 2026 cache-clean
 * attributes). Restated from the kernel's rules, not translated.
 *
 * Every successful mapping becomes an entry (device, type, DMA address, size, direction, CPU
 * physical address, sg counts, map-error-check state) in a hash of 16384 buckets indexed by
 * (dev_addr >> 13) & 16383, taken from a pool of 65536 preallocated entries. Unmaps, syncs and
 * dma_mapping_error() look entries up the kernel's way: exact lookups compare device and address
 * in one bucket and pick the best fit when a buffer is mapped more than once; sync lookups accept
 * an entry containing the synced range and walk back through earlier buckets. A non-TO_DEVICE
 * mapping also claims the cacheline of its first byte, with an overlap count of up to 7.
 *
 * What it reports (each as a WARN "DMA-API: <driver> <device>: ..." in the kernel log and as a
 * DmaDebugReport), by the class numbers of §8:
 *  1. unmap of an address never mapped, or of the error cookie;
 *  2. unmap with a different size;       3. unmap with the wrong function (entry type);
 *  5. dma_unmap_sg() with a different nents; 6. unmap with a different direction;
 *  7. unmap of a phy/resource mapping whose dma_mapping_error() was never called;
 *  9. sync of memory not mapped (including past the end of a mapping: the lookup only finds
 *     entries that contain the whole synced range, so the kernel's "outside allocated range" check
 *     cannot fire), with a different direction, for the CPU of device-read-only memory, for the
 *     device of device-write-only memory, and of an sg list with a different nents;
 * 10. a mapped sg segment whose CPU length exceeds dma_get_max_seg_size() or whose DMA range
 *     crosses dma_get_seg_boundary(), P2P bus-address segments included;
 * 11. a second non-TO_DEVICE mapping of a cacheline (EEXIST) unless mapped with
 *     DMA_ATTR_SKIP_CPU_SYNC, or both mappings carry DMA_ATTR_DEBUGGING_IGNORE_CACHELINES /
 *     DMA_ATTR_REQUIRE_COHERENT (2026); more than 7 overlaps of one cacheline (WARN_ONCE). The
 *     EEXIST text is "cacheline tracking EEXIST, overlapping mappings aren't supported"; §8's
 *     "cpu touching an active dma mapped cacheline" was debug_dma_assert_idle(), removed in 2020;
 * 12. a driver unbound with mappings alive.
 * Not modelled, because the model has no API for them: 4 (dma_free_coherent() with a different
 * CPU address: there are no coherent allocations) and 8 (mapping stack, kernel text/rodata or
 * vmalloc memory: the model has no virtual addresses). Neither are the driver filter, the
 * "Mapped at:" stack traces, debugfs, or the 2026 suppression of EEXIST reports on architectures
 * without a DMA alignment requirement (the model reports as an architecture whose DMA alignment is
 * its L1 cacheline does).
 *
 * Two choices where the model's API differs from the kernel's:
 * - dma_map_phys() (and dma_map_page_attrs()) record "phy" entries, as v6.18 does; the model's
 *   dma_map_resource() keeps its own ops call, so its entries are "resource" entries as in v6.16
 *   (v6.18 records them as "phy"). A failed map_resource is not recorded: v6.16's
 *   debug_dma_map_resource() recorded even the error cookie, which v6.18 no longer does.
 * - The pool does not grow by default: §8 describes the fixed pool ("debugging out of memory -
 *   disabling" once it is used up, the behaviour before v4.20), and the model has no allocation
 *   that could fail to say when growing should stop. `poolGrowth: true` models v4.20+, which adds
 *   a page of entries (PAGE_SIZE / sizeof(struct dma_debug_entry) = 4096 / 128 = 32) whenever the
 *   pool is empty.
 *
 * The kernel prints only the first error unless debugfs num_errors / all_errors say otherwise
 * (show_num_errors = 1): the log follows that; errors() holds every report, with `shown`.
 */
import { ContainerModule } from 'inversify';
import { KernelLog, printkHex } from '../kernel-log';
import { PAGE_SHIFT } from '../mm/page';
import { sgEntries, sgPhys, type Scatterlist } from '../scatterlist/scatterlist';
import {
  DMA_ATTR_DEBUGGING_IGNORE_CACHELINES,
  DMA_ATTR_REQUIRE_COHERENT,
  DMA_ATTR_SKIP_CPU_SYNC,
} from './attrs';
import type { DmaDevice } from './device';
import { DmaDataDirection, dmaDirectionName } from './direction';
import { DMA_MAPPING_ERROR, DmaMapOps, type DmaMapOpsCapabilities } from './map-ops';
import { devDriverString } from '../printk';

/** HASH_SIZE / HASH_FN_SHIFT: 16384 buckets, indexed by bits 13..26 of the DMA address. */
export const DMA_DEBUG_HASH_SIZE = 16384;
export const DMA_DEBUG_HASH_FN_SHIFT = 13;
/** PREALLOC_DMA_DEBUG_ENTRIES: the pool dma_debug_init() allocates (dma_debug_entries=). */
export const PREALLOC_DMA_DEBUG_ENTRIES = 65536;
/** DMA_DEBUG_DYNAMIC_ENTRIES: entries per page (a 128-byte, cacheline-aligned entry on x86-64). */
export const DMA_DEBUG_DYNAMIC_ENTRIES = 32;
/** ACTIVE_CACHELINE_MAX_OVERLAP: (1 << RADIX_TREE_MAX_TAGS) - 1, RADIX_TREE_MAX_TAGS = 3. */
export const ACTIVE_CACHELINE_MAX_OVERLAP = 7;
/** L1_CACHE_SHIFT on x86-64 (64-byte lines). */
export const L1_CACHE_SHIFT = 6;

const HASH_FN_STEP = 2 ** DMA_DEBUG_HASH_FN_SHIFT;
const U64_MASK = (1n << 64n) - 1n;

/** Entry types (the enum of debug.c); "single" only names the references syncs look up with. */
export type DmaDebugType = 'single' | 'sg' | 'resource' | 'phy';

/** type2name[] */
const TYPE_NAMES: Record<DmaDebugType, string> = {
  single: 'single',
  sg: 'scatter-gather',
  resource: 'resource',
  phy: 'phy',
};

/** enum map_err_types: 'none' is MAP_ERR_CHECK_NOT_APPLICABLE (sg entries). */
export type DmaDebugMapErr = 'none' | 'not-checked' | 'checked';

/** struct dma_debug_entry (without the list head and the stack trace). */
export interface DmaDebugEntry {
  readonly dev: DmaDevice;
  readonly type: DmaDebugType;
  /** dev_addr */
  readonly devAddr: number;
  readonly size: number;
  readonly direction: DmaDataDirection;
  /** paddr: CPU physical address of the first byte (sg: of the paired CPU entry) */
  readonly paddr: number;
  /** sg_call_ents: the nents passed to dma_map_sg() */
  readonly sgCallEnts: number;
  /** sg_mapped_ents: what dma_map_sg() returned */
  readonly sgMappedEnts: number;
  readonly mapErrType: DmaDebugMapErr;
  /** is_cache_clean (2026): mapped with DEBUGGING_IGNORE_CACHELINES or REQUIRE_COHERENT */
  readonly isCacheClean: boolean;
}

type Entry = { -readonly [K in keyof DmaDebugEntry]: DmaDebugEntry[K] };

/** What a lookup is made with (the kernel's on-stack `ref` entry). */
interface Ref {
  dev: DmaDevice;
  type: DmaDebugType;
  devAddr: number;
  size: number;
  direction: DmaDataDirection;
  sgCallEnts: number;
}

/** The misuse a report is about; the §8 class in brackets. */
export type DmaDebugErrorKind =
  /** [1] unmap of an address that is not mapped */
  | 'free-not-allocated'
  /** [1] unmap of DMA_MAPPING_ERROR */
  | 'free-invalid-address'
  /** [2] */
  | 'free-different-size'
  /** [3] */
  | 'free-wrong-function'
  /** [5] */
  | 'free-different-entry-count'
  /** [6] */
  | 'free-different-direction'
  /** [7] */
  | 'map-error-not-checked'
  /** [9] */
  | 'sync-not-allocated'
  | 'sync-outside-range'
  | 'sync-different-direction'
  | 'sync-read-only-for-cpu'
  | 'sync-write-only-to-device'
  | 'sync-different-entry-count'
  /** [10] */
  | 'sg-segment-too-long'
  | 'sg-segment-across-boundary'
  /** [11] */
  | 'cacheline-overlap'
  | 'cacheline-overlap-limit'
  /** [12] */
  | 'pending-at-unbind';

export interface DmaDebugReport {
  kind: DmaDebugErrorKind;
  /** dev_name() of the device named, undefined for the overlap limit WARN_ONCE (it names none). */
  device: string | undefined;
  /** The WARN text as the kernel prints it (and the log holds it when shown). */
  message: string;
  /** Printed: the kernel prints the first num_errors reports only, unless all_errors. */
  shown: boolean;
}

/** Kernel command line and debugfs settings of the checker. */
export interface DmaApiDebugOptions {
  /** dma_debug=off */
  off?: boolean;
  /** dma_debug_entries= (rounded up to whole pages of 32 entries, as dma_debug_init() does) */
  entries?: number;
  /** Grow the pool a page at a time when it runs out (v4.20+); see the file comment. */
  poolGrowth?: boolean;
  /** debugfs all_errors: print every error (default false) */
  allErrors?: boolean;
  /** debugfs num_errors: how many errors to print (default 1) */
  numErrors?: number;
}

/** Injection symbol: bind DmaApiDebugOptions under it to configure the checker of a container. */
export const DmaApiDebugOptions = Symbol.for('dmasim.DmaApiDebugOptions');

/** "0x%016llx"; the error cookie is (dma_addr_t)~0. */
function hex016(n: number): string {
  if (n === DMA_MAPPING_ERROR) return '0xffffffffffffffff';
  return `0x${printkHex(n).slice(2).padStart(16, '0')}`;
}

/** hash_fn(): bits 13..26 of the DMA address; the error cookie lands in the last bucket. */
function hashFn(devAddr: number): number {
  if (devAddr === DMA_MAPPING_ERROR) return DMA_DEBUG_HASH_SIZE - 1;
  return Math.floor(devAddr / HASH_FN_STEP) % DMA_DEBUG_HASH_SIZE;
}

function exactMatch(ref: Ref, e: Entry): boolean {
  return e.devAddr === ref.devAddr && e.dev === ref.dev;
}

function containingMatch(ref: Ref, e: Entry): boolean {
  return (
    e.dev === ref.dev && e.devAddr <= ref.devAddr && e.devAddr + e.size >= ref.devAddr + ref.size
  );
}

/**
 * __hash_bucket_find(): a perfect fit (size, type, direction and sg_call_ents equal) wins at
 * once; otherwise the best of the matches, but only when there is exactly one match (several
 * imperfect matches are ambiguous: none).
 */
function hashBucketFind(
  bucket: readonly Entry[] | undefined,
  ref: Ref,
  match: (ref: Ref, e: Entry) => boolean,
): Entry | undefined {
  if (!bucket) return undefined;
  let ret: Entry | undefined;
  let matches = 0;
  let lastLvl = -1;
  for (const e of bucket) {
    if (!match(ref, e)) continue;
    matches++;
    const lvl =
      Number(e.size === ref.size) +
      Number(e.type === ref.type) +
      Number(e.direction === ref.direction) +
      Number(e.sgCallEnts === ref.sgCallEnts);
    if (lvl === 4) return e;
    if (lvl > lastLvl) {
      lastLvl = lvl;
      ret = e;
    }
  }
  return matches === 1 ? ret : undefined;
}

/** The active cacheline tree: the first entry mapping a line, and how many more overlap it. */
interface ActiveCacheline {
  entry: Entry;
  overlap: number;
}

/**
 * The bookkeeping of kernel/dma/debug.c for one simulated kernel, with the debug_dma_*() hooks
 * the mapping layer calls. DmaApiDebugOps calls them around the wrapped DmaMapOps.
 */
export class DmaApiDebug {
  /** error_count */
  errorCount = 0;
  /** num_free_entries */
  numFreeEntries: number;
  /** min_free_entries */
  minFreeEntries: number;
  /** nr_total_entries */
  nrTotalEntries: number;
  /** nr_prealloc_entries */
  readonly nrPreallocEntries: number;

  private globalDisable = false;
  private showNumErrors: number;
  private readonly showAllErrors: boolean;
  private readonly poolGrowth: boolean;
  private readonly hash = new Map<number, Entry[]>();
  private readonly cachelines = new Map<number, ActiveCacheline>();
  private readonly reports: DmaDebugReport[] = [];
  private overlapLimitWarned = false;

  /** dma_debug_init() (and the dma_debug= / dma_debug_entries= command line). */
  constructor(
    readonly log: KernelLog,
    options: DmaApiDebugOptions = {},
  ) {
    this.nrPreallocEntries = options.entries ?? PREALLOC_DMA_DEBUG_ENTRIES;
    this.showAllErrors = options.allErrors ?? false;
    this.showNumErrors = options.numErrors ?? 1;
    this.poolGrowth = options.poolGrowth ?? false;
    const pages = Math.ceil(this.nrPreallocEntries / DMA_DEBUG_DYNAMIC_ENTRIES);
    this.nrTotalEntries = pages * DMA_DEBUG_DYNAMIC_ENTRIES;
    this.numFreeEntries = this.nrTotalEntries;
    this.minFreeEntries = this.numFreeEntries;
    if (options.off) {
      log.info(undefined, 'DMA-API: debugging disabled on kernel command line');
      this.globalDisable = true;
      return;
    }
    log.info(undefined, `DMA-API: preallocated ${this.nrTotalEntries} debug entries`);
    log.info(undefined, 'DMA-API: debugging enabled by kernel config');
  }

  /** debugfs "disabled": dma=off, or the pool ran out. */
  get disabled(): boolean {
    return this.globalDisable;
  }

  /** Every report so far, oldest first (copies). */
  errors(): DmaDebugReport[] {
    return this.reports.map((r) => ({ ...r }));
  }

  /** The live entries (debugfs "dump"), of one device or all, in bucket order (copies). */
  entries(dev?: DmaDevice): DmaDebugEntry[] {
    const out: DmaDebugEntry[] = [];
    for (const idx of [...this.hash.keys()].sort((a, b) => a - b)) {
      for (const e of this.hash.get(idx)!) if (!dev || e.dev === dev) out.push({ ...e });
    }
    return out;
  }

  /** debug_dma_map_phys() (v6.18): a mapping of a CPU physical range; failures are skipped. */
  debugDmaMapPhys(
    dev: DmaDevice,
    phys: number,
    size: number,
    dir: DmaDataDirection,
    dmaAddr: number,
    attrs: number,
  ): void {
    if (this.globalDisable) return;
    if (this.debugDmaMappingErrorCheck(dev, dmaAddr)) return;
    this.addSingleEntry(dev, 'phy', phys, size, dir, dmaAddr, attrs);
  }

  /** The entry of a single (phys or resource) mapping. */
  private addSingleEntry(
    dev: DmaDevice,
    type: 'phy' | 'resource',
    phys: number,
    size: number,
    dir: DmaDataDirection,
    dmaAddr: number,
    attrs: number,
  ): void {
    const e = this.dmaEntryAlloc();
    if (!e) return;
    Object.assign(e, {
      dev,
      type,
      paddr: phys,
      devAddr: dmaAddr,
      size,
      direction: dir,
      mapErrType: 'not-checked',
    } satisfies Partial<Entry>);
    this.addDmaEntry(e, attrs);
  }

  /** debug_dma_unmap_phys() */
  debugDmaUnmapPhys(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection): void {
    if (this.globalDisable) return;
    this.checkUnmap({ dev, type: 'phy', devAddr: addr, size, direction: dir, sgCallEnts: 0 });
  }

  /**
   * debug_dma_map_resource() (≤ v6.17): an MMIO range; the model skips a failed mapping (see the
   * file comment).
   */
  debugDmaMapResource(
    dev: DmaDevice,
    phys: number,
    size: number,
    dir: DmaDataDirection,
    dmaAddr: number,
    attrs: number,
  ): void {
    if (this.globalDisable || dmaAddr === DMA_MAPPING_ERROR) return;
    this.addSingleEntry(dev, 'resource', phys, size, dir, dmaAddr, attrs);
  }

  /** debug_dma_unmap_resource() */
  debugDmaUnmapResource(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection): void {
    if (this.globalDisable) return;
    this.checkUnmap({ dev, type: 'resource', devAddr: addr, size, direction: dir, sgCallEnts: 0 });
  }

  /**
   * debug_dma_map_sg(): one entry per mapped DMA segment (the first `mappedEnts` entries), each
   * paired with the CPU entry in the same slot, and each segment checked against the device's
   * segment limits.
   */
  debugDmaMapSg(
    dev: DmaDevice,
    sgl: Scatterlist,
    nents: number,
    mappedEnts: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    if (this.globalDisable) return;
    for (const s of sgEntries(sgl, mappedEnts)) {
      const e = this.dmaEntryAlloc();
      if (!e) return;
      Object.assign(e, {
        dev,
        type: 'sg',
        paddr: sgPhys(s),
        size: s.dmaLength,
        devAddr: s.dmaAddress,
        direction: dir,
        sgCallEnts: nents,
        sgMappedEnts: mappedEnts,
      } satisfies Partial<Entry>);
      this.checkSgSegment(dev, s);
      this.addDmaEntry(e, attrs);
    }
  }

  /**
   * debug_dma_unmap_sg(): checks each DMA segment; how many there are comes from the entry of the
   * first (all of `nelems` when it is not found).
   */
  debugDmaUnmapSg(dev: DmaDevice, sgl: Scatterlist, nelems: number, dir: DmaDataDirection): void {
    if (this.globalDisable) return;
    let mappedEnts = 0;
    sgEntries(sgl, nelems).some((s, i) => {
      const ref: Ref = {
        dev,
        type: 'sg',
        devAddr: s.dmaAddress,
        size: s.dmaLength,
        direction: dir,
        sgCallEnts: nelems,
      };
      if (mappedEnts && i >= mappedEnts) return true;
      if (!i) mappedEnts = this.getNrMappedEntries(ref);
      this.checkUnmap(ref);
      return false;
    });
  }

  /**
   * debug_dma_mapping_error(): the driver checked `addr`; the first unchecked entry of the device
   * at that address becomes checked.
   */
  debugDmaMappingError(dev: DmaDevice, addr: number): void {
    if (this.globalDisable) return;
    for (const e of this.hash.get(hashFn(addr)) ?? []) {
      if (e.devAddr !== addr || e.dev !== dev) continue;
      if (e.mapErrType === 'not-checked') {
        e.mapErrType = 'checked';
        break;
      }
    }
  }

  /** debug_dma_sync_single_for_cpu() */
  debugDmaSyncSingleForCpu(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection) {
    if (this.globalDisable) return;
    this.checkSync(
      dev,
      { dev, type: 'single', devAddr: addr, size, direction: dir, sgCallEnts: 0 },
      true,
    );
  }

  /** debug_dma_sync_single_for_device() */
  debugDmaSyncSingleForDevice(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection) {
    if (this.globalDisable) return;
    this.checkSync(
      dev,
      { dev, type: 'single', devAddr: addr, size, direction: dir, sgCallEnts: 0 },
      false,
    );
  }

  /** debug_dma_sync_sg_for_cpu() */
  debugDmaSyncSgForCpu(dev: DmaDevice, sgl: Scatterlist, nelems: number, dir: DmaDataDirection) {
    this.syncSg(dev, sgl, nelems, dir, true);
  }

  /** debug_dma_sync_sg_for_device() */
  debugDmaSyncSgForDevice(dev: DmaDevice, sgl: Scatterlist, nelems: number, dir: DmaDataDirection) {
    this.syncSg(dev, sgl, nelems, dir, false);
  }

  /**
   * dma_debug_device_change(BUS_NOTIFY_UNBOUND_DRIVER): mappings the device still has are leaks;
   * one report names the count and the last entry found (bucket order). The driver is already
   * gone when the notifier runs, so the report names the bus ("pci").
   */
  debugDmaDeviceUnbound(dev: DmaDevice): void {
    if (this.globalDisable) return;
    let count = 0;
    let last: Entry | undefined;
    for (const idx of [...this.hash.keys()].sort((a, b) => a - b)) {
      for (const e of this.hash.get(idx)!) {
        if (e.dev !== dev) continue;
        count++;
        last = e;
      }
    }
    if (!count) return;
    this.errPrintk(
      dev,
      'pending-at-unbind',
      `device driver has pending DMA allocations while released from device [count=${count}]\n` +
        `One of leaked entries details: [device address=${hex016(last!.devAddr)}] ` +
        `[size=${last!.size} bytes] [mapped with ${dmaDirectionName(last!.direction)}] ` +
        `[mapped as ${TYPE_NAMES[last!.type]}]`,
    );
  }

  // --- internals -------------------------------------------------------------------------------

  /** dma_mapping_error() as debug.c calls it: tells the checker, then compares. */
  private debugDmaMappingErrorCheck(dev: DmaDevice, addr: number): boolean {
    this.debugDmaMappingError(dev, addr);
    return addr === DMA_MAPPING_ERROR;
  }

  /** err_printk(): counts every error, prints the first num_errors (or all). */
  private errPrintk(dev: DmaDevice, kind: DmaDebugErrorKind, text: string): void {
    this.errorCount++;
    const shown = this.showAllErrors || this.showNumErrors > 0;
    const message = `DMA-API: ${devDriverString(dev)} ${dev.name}: ${text}`;
    if (shown) this.log.warn(undefined, message);
    if (!this.showAllErrors && this.showNumErrors > 0) this.showNumErrors--;
    this.reports.push({ kind, device: dev.name, message, shown });
  }

  /** dma_entry_alloc(): a zeroed entry from the pool, or none (the checker disables itself). */
  private dmaEntryAlloc(): Entry | undefined {
    if (this.numFreeEntries === 0) {
      if (!this.poolGrowth) {
        this.globalDisable = true;
        this.log.err(undefined, 'DMA-API: debugging out of memory - disabling');
        return undefined;
      }
      // dma_debug_create_entries() + __dma_entry_alloc_check_leak()
      this.numFreeEntries += DMA_DEBUG_DYNAMIC_ENTRIES;
      this.nrTotalEntries += DMA_DEBUG_DYNAMIC_ENTRIES;
      if (this.nrTotalEntries % this.nrPreallocEntries < DMA_DEBUG_DYNAMIC_ENTRIES) {
        const pct = Math.floor(this.nrTotalEntries / this.nrPreallocEntries);
        this.log.info(
          undefined,
          `DMA-API: dma_debug_entry pool grown to ${this.nrTotalEntries} (${pct}00%)`,
        );
      }
    }
    this.numFreeEntries--;
    if (this.numFreeEntries < this.minFreeEntries) this.minFreeEntries = this.numFreeEntries;
    return {
      dev: undefined as unknown as DmaDevice,
      type: 'single',
      devAddr: 0,
      size: 0,
      direction: DmaDataDirection.DMA_BIDIRECTIONAL,
      paddr: 0,
      sgCallEnts: 0,
      sgMappedEnts: 0,
      mapErrType: 'none',
      isCacheClean: false,
    };
  }

  /** dma_entry_free(): the cacheline is released and the entry goes back to the pool. */
  private dmaEntryFree(e: Entry): void {
    this.activeCachelineRemove(e);
    this.numFreeEntries++;
  }

  /** to_cacheline_number(): the L1 line of the first byte. */
  private static cln(e: Entry): number {
    const pfn = Math.floor(e.paddr / 2 ** PAGE_SHIFT);
    const off = e.paddr - pfn * 2 ** PAGE_SHIFT;
    return pfn * 2 ** (PAGE_SHIFT - L1_CACHE_SHIFT) + Math.floor(off / 2 ** L1_CACHE_SHIFT);
  }

  /**
   * active_cacheline_insert(): TO_DEVICE mappings are not tracked (the device does not write,
   * so the CPU cannot read stale data). Returns whether the line was already active, and whether
   * the entry holding it is cache-clean.
   */
  private activeCachelineInsert(e: Entry): { exists: boolean; overlapCacheClean: boolean } {
    if (e.direction === DmaDataDirection.DMA_TO_DEVICE) {
      return { exists: false, overlapCacheClean: false };
    }
    const cln = DmaApiDebug.cln(e);
    const line = this.cachelines.get(cln);
    if (!line) {
      this.cachelines.set(cln, { entry: e, overlap: 0 });
      return { exists: false, overlapCacheClean: false };
    }
    // active_cacheline_inc_overlap(): the count saturates at 7 (three radix-tree tag bits).
    const overlap = line.overlap + 1;
    if (overlap > ACTIVE_CACHELINE_MAX_OVERLAP) {
      if (!e.isCacheClean && !this.overlapLimitWarned) {
        this.overlapLimitWarned = true;
        const message =
          `DMA-API: exceeded ${ACTIVE_CACHELINE_MAX_OVERLAP} overlapping mappings of cacheline ` +
          hex016(cln);
        this.log.warn(undefined, message);
        this.reports.push({
          kind: 'cacheline-overlap-limit',
          device: undefined,
          message,
          shown: true,
        });
      }
    } else line.overlap = overlap;
    return { exists: true, overlapCacheClean: line.entry.isCacheClean };
  }

  /** active_cacheline_remove(): the last mapping of a line deletes it. */
  private activeCachelineRemove(e: Entry): void {
    if (e.direction === DmaDataDirection.DMA_TO_DEVICE) return;
    const cln = DmaApiDebug.cln(e);
    const line = this.cachelines.get(cln);
    if (!line) return;
    if (line.overlap - 1 < 0) this.cachelines.delete(cln);
    else line.overlap--;
  }

  /** add_dma_entry() */
  private addDmaEntry(e: Entry, attrs: number): void {
    e.isCacheClean =
      (attrs & (DMA_ATTR_DEBUGGING_IGNORE_CACHELINES | DMA_ATTR_REQUIRE_COHERENT)) !== 0;
    const idx = hashFn(e.devAddr);
    let bucket = this.hash.get(idx);
    if (!bucket) this.hash.set(idx, (bucket = []));
    bucket.push(e);
    const { exists, overlapCacheClean } = this.activeCachelineInsert(e);
    if (exists && !(attrs & DMA_ATTR_SKIP_CPU_SYNC) && !(e.isCacheClean && overlapCacheClean)) {
      this.errPrintk(
        e.dev,
        'cacheline-overlap',
        "cacheline tracking EEXIST, overlapping mappings aren't supported",
      );
    }
  }

  private hashBucketDel(e: Entry): void {
    const idx = hashFn(e.devAddr);
    const bucket = this.hash.get(idx)!;
    bucket.splice(bucket.indexOf(e), 1);
    if (!bucket.length) this.hash.delete(idx);
  }

  /** bucket_find_contain(): this bucket, then up to 16383 earlier ones (not below address 0). */
  private bucketFindContain(ref: Ref): Entry | undefined {
    const limit =
      ref.devAddr === DMA_MAPPING_ERROR
        ? DMA_DEBUG_HASH_SIZE
        : Math.min(DMA_DEBUG_HASH_SIZE, Math.floor(ref.devAddr / HASH_FN_STEP) + 1);
    let idx = hashFn(ref.devAddr);
    for (let i = 0; i < limit; i++) {
      const e = hashBucketFind(this.hash.get(idx), ref, containingMatch);
      if (e) return e;
      idx = (idx + DMA_DEBUG_HASH_SIZE - 1) % DMA_DEBUG_HASH_SIZE;
    }
    return undefined;
  }

  /** get_nr_mapped_entries() */
  private getNrMappedEntries(ref: Ref): number {
    return hashBucketFind(this.hash.get(hashFn(ref.devAddr)), ref, exactMatch)?.sgMappedEnts ?? 0;
  }

  /** check_unmap() */
  private checkUnmap(ref: Ref): void {
    const entry = hashBucketFind(this.hash.get(hashFn(ref.devAddr)), ref, exactMatch);
    const dev = ref.dev;
    const at = `[device address=${hex016(ref.devAddr)}]`;
    if (!entry) {
      if (this.debugDmaMappingErrorCheck(dev, ref.devAddr)) {
        this.errPrintk(
          dev,
          'free-invalid-address',
          'device driver tries to free an invalid DMA memory address',
        );
      } else {
        this.errPrintk(
          dev,
          'free-not-allocated',
          `device driver tries to free DMA memory it has not allocated ${at} [size=${ref.size} bytes]`,
        );
      }
      return;
    }
    if (ref.size !== entry.size) {
      this.errPrintk(
        dev,
        'free-different-size',
        `device driver frees DMA memory with different size ${at} ` +
          `[map size=${entry.size} bytes] [unmap size=${ref.size} bytes]`,
      );
    }
    if (ref.type !== entry.type) {
      this.errPrintk(
        dev,
        'free-wrong-function',
        `device driver frees DMA memory with wrong function ${at} [size=${ref.size} bytes] ` +
          `[mapped as ${TYPE_NAMES[entry.type]}] [unmapped as ${TYPE_NAMES[ref.type]}]`,
      );
    }
    if (ref.sgCallEnts && ref.type === 'sg' && ref.sgCallEnts !== entry.sgCallEnts) {
      this.errPrintk(
        dev,
        'free-different-entry-count',
        'device driver frees DMA sg list with different entry count ' +
          `[map count=${entry.sgCallEnts}] [unmap count=${ref.sgCallEnts}]`,
      );
    }
    if (ref.direction !== entry.direction) {
      this.errPrintk(
        dev,
        'free-different-direction',
        `device driver frees DMA memory with different direction ${at} [size=${ref.size} bytes] ` +
          `[mapped with ${dmaDirectionName(entry.direction)}] ` +
          `[unmapped with ${dmaDirectionName(ref.direction)}]`,
      );
    }
    if (entry.mapErrType === 'not-checked') {
      // The kernel's format has no space before the bracket.
      this.errPrintk(
        dev,
        'map-error-not-checked',
        `device driver failed to check map error${at} [size=${ref.size} bytes] ` +
          `[mapped as ${TYPE_NAMES[entry.type]}]`,
      );
    }
    this.hashBucketDel(entry);
    this.dmaEntryFree(entry);
  }

  /** check_sync() */
  private checkSync(dev: DmaDevice, ref: Ref, toCpu: boolean): void {
    const entry = this.bucketFindContain(ref);
    const at = `[device address=${hex016(ref.devAddr)}]`;
    if (!entry) {
      this.errPrintk(
        dev,
        'sync-not-allocated',
        `device driver tries to sync DMA memory it has not allocated ${at} [size=${ref.size} bytes]`,
      );
      return;
    }
    if (ref.size > entry.size) {
      this.errPrintk(
        dev,
        'sync-outside-range',
        'device driver syncs DMA memory outside allocated range ' +
          `[device address=${hex016(entry.devAddr)}] [allocation size=${entry.size} bytes] ` +
          `[sync offset+size=${ref.size}]`,
      );
    }
    if (entry.direction === DmaDataDirection.DMA_BIDIRECTIONAL) return;
    const dirs =
      `${at} [size=${entry.size} bytes] [mapped with ${dmaDirectionName(entry.direction)}] ` +
      `[synced with ${dmaDirectionName(ref.direction)}]`;
    if (ref.direction !== entry.direction) {
      this.errPrintk(
        dev,
        'sync-different-direction',
        `device driver syncs DMA memory with different direction ${dirs}`,
      );
    }
    if (
      toCpu &&
      entry.direction !== DmaDataDirection.DMA_FROM_DEVICE &&
      ref.direction !== DmaDataDirection.DMA_TO_DEVICE
    ) {
      this.errPrintk(
        dev,
        'sync-read-only-for-cpu',
        `device driver syncs device read-only DMA memory for cpu ${dirs}`,
      );
    }
    if (
      !toCpu &&
      entry.direction !== DmaDataDirection.DMA_TO_DEVICE &&
      ref.direction !== DmaDataDirection.DMA_FROM_DEVICE
    ) {
      this.errPrintk(
        dev,
        'sync-write-only-to-device',
        `device driver syncs device write-only DMA memory to device ${dirs}`,
      );
    }
    if (ref.sgCallEnts && ref.type === 'sg' && ref.sgCallEnts !== entry.sgCallEnts) {
      this.errPrintk(
        ref.dev,
        'sync-different-entry-count',
        'device driver syncs DMA sg list with different entry count ' +
          `[map count=${entry.sgCallEnts}] [sync count=${ref.sgCallEnts}]`,
      );
    }
  }

  /**
   * debug_dma_sync_sg_for_{cpu,device}(): like the unmap, but nothing at all is checked when the
   * first segment is not found (the loop ends at once).
   */
  private syncSg(
    dev: DmaDevice,
    sgl: Scatterlist,
    nelems: number,
    dir: DmaDataDirection,
    toCpu: boolean,
  ): void {
    if (this.globalDisable) return;
    let mappedEnts = 0;
    sgEntries(sgl, nelems).some((s, i) => {
      const ref: Ref = {
        dev,
        type: 'sg',
        devAddr: s.dmaAddress,
        size: s.dmaLength,
        direction: dir,
        sgCallEnts: nelems,
      };
      if (!i) mappedEnts = this.getNrMappedEntries(ref);
      if (i >= mappedEnts) return true;
      this.checkSync(dev, ref, toCpu);
      return false;
    });
  }

  /**
   * check_sg_segment() (always on in v6.16; older kernels needed CONFIG_DMA_API_DEBUG_SG): the
   * CPU length of the slot against dma_get_max_seg_size() (for a merged list, the CPU entry in
   * the same slot as the DMA segment, as the kernel pairs them), the DMA range of the slot
   * against dma_get_seg_boundary().
   */
  private checkSgSegment(dev: DmaDevice, s: Scatterlist): void {
    const maxSeg = dev.maxSegmentSize;
    if (s.length > maxSeg) {
      this.errPrintk(
        dev,
        'sg-segment-too-long',
        `mapping sg segment longer than device claims to support [len=${s.length}] [max=${maxSeg}]`,
      );
    }
    const start = BigInt(s.dmaAddress);
    const end = (start + BigInt(s.dmaLength) - 1n) & U64_MASK;
    const boundary = BigInt(dev.segBoundaryMask);
    if ((start ^ end) & ~boundary & U64_MASK) {
      const h = (n: bigint) => `0x${n.toString(16).padStart(16, '0')}`;
      this.errPrintk(
        dev,
        'sg-segment-across-boundary',
        `mapping sg segment across boundary [start=${h(start)}] [end=${h(end)}] ` +
          `[boundary=${h(boundary)}]`,
      );
    }
  }
}

/**
 * The DMA-API debug hooks of kernel/dma/mapping.c around any DmaMapOps: every call is forwarded
 * unchanged (same arguments, same result) and recorded in a DmaApiDebug, in the order
 * mapping.c runs them (maps and syncs after the ops, dma_unmap_sg() before them).
 *
 * The name and capabilities are the wrapped ops': CONFIG_DMA_API_DEBUG does not change
 * get_dma_ops(), and reports key on the ops name. `inner` is the wrapped ops. Optional ops
 * (map_resource, the size queries) exist only when the wrapped ops have them, so the generic
 * layer behaves as without the checker; the sync and unmap-resource hooks always exist because
 * the kernel checks those calls whether or not the ops implement them.
 */
export class DmaApiDebugOps implements DmaMapOps {
  readonly name: string;
  readonly capabilities: DmaMapOpsCapabilities;
  mapResource?: DmaMapOps['mapResource'];
  maxMappingSize?: DmaMapOps['maxMappingSize'];
  optMappingSize?: DmaMapOps['optMappingSize'];
  getMergeBoundary?: DmaMapOps['getMergeBoundary'];
  lastMapSgIova?: DmaMapOps['lastMapSgIova'];
  counters?: DmaMapOps['counters'];

  constructor(
    readonly inner: DmaMapOps,
    readonly debug: DmaApiDebug,
  ) {
    this.name = inner.name;
    this.capabilities = inner.capabilities;
    if (inner.mapResource) {
      const map = inner.mapResource.bind(inner);
      this.mapResource = (dev, phys, size, dir, attrs) => {
        const addr = map(dev, phys, size, dir, attrs);
        debug.debugDmaMapResource(dev, phys, size, dir, addr, attrs);
        return addr;
      };
    }
    if (inner.maxMappingSize) this.maxMappingSize = inner.maxMappingSize.bind(inner);
    if (inner.optMappingSize) this.optMappingSize = inner.optMappingSize.bind(inner);
    if (inner.getMergeBoundary) this.getMergeBoundary = inner.getMergeBoundary.bind(inner);
    if (inner.lastMapSgIova) this.lastMapSgIova = inner.lastMapSgIova.bind(inner);
    if (inner.counters) this.counters = inner.counters.bind(inner);
  }

  /** dma_map_phys(): ops, then debug_dma_map_phys(). */
  mapPhys(dev: DmaDevice, phys: number, size: number, dir: DmaDataDirection, attrs: number) {
    const addr = this.inner.mapPhys(dev, phys, size, dir, attrs);
    this.debug.debugDmaMapPhys(dev, phys, size, dir, addr, attrs);
    return addr;
  }

  /** dma_unmap_phys(): ops, then debug_dma_unmap_phys(). */
  unmapPhys(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection, attrs: number) {
    this.inner.unmapPhys(dev, addr, size, dir, attrs);
    this.debug.debugDmaUnmapPhys(dev, addr, size, dir);
  }

  /** __dma_map_sg_attrs(): ops, then debug_dma_map_sg() when something was mapped. */
  mapSg(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection, attrs: number) {
    const ents = this.inner.mapSg(dev, sgl, nents, dir, attrs);
    if (ents > 0) this.debug.debugDmaMapSg(dev, sgl, nents, ents, dir, attrs);
    return ents;
  }

  /** dma_unmap_sg_attrs(): debug_dma_unmap_sg() first, then the ops. */
  unmapSg(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection, attrs: number) {
    this.debug.debugDmaUnmapSg(dev, sgl, nents, dir);
    this.inner.unmapSg(dev, sgl, nents, dir, attrs);
  }

  /** dma_unmap_resource(): ops (when they have it), then debug_dma_unmap_resource(). */
  unmapResource(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection, attrs: number) {
    this.inner.unmapResource?.(dev, addr, size, dir, attrs);
    this.debug.debugDmaUnmapResource(dev, addr, size, dir);
  }

  syncSingleForCpu(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection) {
    this.inner.syncSingleForCpu?.(dev, addr, size, dir);
    this.debug.debugDmaSyncSingleForCpu(dev, addr, size, dir);
  }

  syncSingleForDevice(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection) {
    this.inner.syncSingleForDevice?.(dev, addr, size, dir);
    this.debug.debugDmaSyncSingleForDevice(dev, addr, size, dir);
  }

  syncSgForCpu(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection) {
    this.inner.syncSgForCpu?.(dev, sgl, nents, dir);
    this.debug.debugDmaSyncSgForCpu(dev, sgl, nents, dir);
  }

  syncSgForDevice(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection) {
    this.inner.syncSgForDevice?.(dev, sgl, nents, dir);
    this.debug.debugDmaSyncSgForDevice(dev, sgl, nents, dir);
  }

  dmaToPhys(dev: DmaDevice, addr: number): number | undefined {
    return this.inner.dmaToPhys(dev, addr);
  }

  /** dma_mapping_error() -> debug_dma_mapping_error() (and any hook of the wrapped ops). */
  debugMappingError(dev: DmaDevice, addr: number): void {
    this.inner.debugMappingError?.(dev, addr);
    this.debug.debugDmaMappingError(dev, addr);
  }

  /** BUS_NOTIFY_UNBOUND_DRIVER -> dma_debug_device_change() (and any hook of the wrapped ops). */
  debugDriverUnbound(dev: DmaDevice, driver: string): void {
    this.inner.debugDriverUnbound?.(dev, driver);
    this.debug.debugDmaDeviceUnbound(dev);
  }
}

/**
 * CONFIG_DMA_API_DEBUG for a kernel container: one DmaApiDebug per container (configured by a
 * DmaApiDebugOptions binding when there is one) and every DmaMapOps the container activates
 * wrapped in DmaApiDebugOps, so no strategy changes for it. createKernelContainer() loads it when
 * options.dmaApiDebug is set.
 */
export const dmaApiDebugModule = new ContainerModule(({ bind, onActivation }) => {
  bind(DmaApiDebug)
    .toDynamicValue(
      (ctx) =>
        new DmaApiDebug(
          ctx.get(KernelLog),
          ctx.get<DmaApiDebugOptions>(DmaApiDebugOptions, { optional: true }) ?? {},
        ),
    )
    .inSingletonScope();
  onActivation<DmaMapOps>(DmaMapOps, (ctx, ops) => new DmaApiDebugOps(ops, ctx.get(DmaApiDebug)));
});
