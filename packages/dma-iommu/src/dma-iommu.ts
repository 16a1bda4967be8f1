/**
 * dma-iommu as a DmaMapOps (drivers/iommu/dma-iommu.c and iommu_map_sg() of
 * drivers/iommu/iommu.c; reference §4.1-§4.4, §4.6, §3.5): the DMA ops of a device whose IOMMU
 * group has a translated default domain (IOMMU_DOMAIN_DMA, or DMA_FQ with flush queues).
 *
 * Which code a device's call runs, as iommu_setup_dma_ops() and use_dma_iommu() decide it:
 * - no IOMMU, a device that is not a PCI function, or an IDENTITY default domain
 *   (iommu.passthrough=1): dma-direct (kernel/dma/direct.c, core's DmaDirectOps);
 * - the group's current domain is BLOCKED: every mapping fails (-EINVAL, DMA_MAPPING_ERROR) rather
 *   than hand out IOVAs the device cannot use;
 * - otherwise the default DMA domain (iommu_get_dma_domain(): the default domain even while the
 *   group is attached to another), with one IommuDmaCookie per domain, set up lazily as
 *   iommu_dma_init_domain() does for the first device.
 *
 * Releases: map_sg / unmap_sg / __finalise_sg / __invalidate_sg as in v6.16-7.0 (per-entry
 * pci_p2pdma_state(), the BUS_ADDR head-length quirk unless DmaIommuOptions.headLengthQuirk is
 * off); single mappings as v6.18 iommu_dma_map_phys() (DMA_ATTR_MMIO: IOMMU_MMIO, never bounced),
 * map_resource as v6.18 routes it (dma_map_phys() with DMA_ATTR_MMIO).
 *
 * Not modelled: deferred attach, dma_kmalloc_needs_bounce() (no kmalloc buffers in the model),
 * iommu_dma_alloc() and the two-step IOVA API, MSI cookies, the zeroing of bounce-buffer padding.
 */
import { inject, injectable } from 'inversify';
import {
  DMA_ATTR_MMIO,
  DMA_ATTR_PRIVILEGED,
  DMA_ATTR_REQUIRE_COHERENT,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_MAPPING_ERROR,
  DmaDirectOps,
  EINVAL,
  EIO,
  ENOMEM,
  EREMOTEIO,
  IOMMU_CACHE,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_MMIO,
  IOMMU_PRIV,
  Iommu,
  IommuIotlbGather,
  KernelLog,
  KernelOptions,
  P2pdmaDevices,
  PAGE_SIZE,
  PciP2pdmaMapState,
  PciP2pdmaMapType,
  SG_DMA_BUS_ADDRESS,
  SG_DMA_SWIOTLB,
  SIZE_MAX_MODEL,
  SimClock,
  Swiotlb,
  dmaDirToProt,
  pciP2pdmaState,
  sgNext as coreSgNext,
  warnOnce,
  type DmaDataDirection,
  type DmaDevice,
  type DmaMapOps,
  type DmaMapOpsCapabilities,
  type DmaMapOpsCounters,
  type IommuDomain,
  type PhysMemoryMap,
  type Scatterlist,
  type DmaIovaRange,
  printkPad,
  devDriverString,
} from '@dmasim/core';
import { IommuDmaCookie } from './cookie';
import { iommuDmaAllocIova, iommuDmaFreeIova } from './iova-alloc';
import { IOVA_RANGE_CACHE_MAX_SIZE } from './iova';
import { DEFAULT_DMA_IOMMU_OPTIONS, DmaIommuOptions } from './options';
import { DmaIommuStats } from './stats';

// The per-entry loops read module constants: @dmasim/core's CommonJS re-exports are getters
// (docs/architecture.md, packages/core/src/dma/direct/direct.ts).
const NONE = PciP2pdmaMapType.NONE;
const BUS_ADDR = PciP2pdmaMapType.BUS_ADDR;
const THRU_HOST_BRIDGE = PciP2pdmaMapType.THRU_HOST_BRIDGE;
const MAPPING_ERROR = DMA_MAPPING_ERROR;
const ATTR_MMIO = DMA_ATTR_MMIO;
const ATTR_PRIVILEGED = DMA_ATTR_PRIVILEGED;
const ATTR_REQUIRE_COHERENT = DMA_ATTR_REQUIRE_COHERENT;
const ATTR_SKIP_CPU_SYNC = DMA_ATTR_SKIP_CPU_SYNC;
const SG_BUS_ADDRESS = SG_DMA_BUS_ADDRESS;
const SG_SWIOTLB = SG_DMA_SWIOTLB;
const PAGE_BYTES = PAGE_SIZE;
const PROT_CACHE = IOMMU_CACHE;
const PROT_MMIO = IOMMU_MMIO;
const PROT_PRIV = IOMMU_PRIV;
const DOMAIN_BLOCKED = IOMMU_DOMAIN_BLOCKED;
const DOMAIN_IDENTITY = IOMMU_DOMAIN_IDENTITY;
const SIZE_MAX = SIZE_MAX_MODEL;
const Gather = IommuIotlbGather;
const p2pdmaState = pciP2pdmaState;
const dirToProt = dmaDirToProt;
const sgNext = coreSgNext;
const U32 = 2 ** 32;

/** iova_rcache_range(): PAGE_SIZE << (IOVA_RANGE_CACHE_MAX_SIZE - 1) = 128 KiB (§4.1). */
export const IOVA_RCACHE_RANGE = PAGE_SIZE * 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1);

/** What the ops keep per DMA domain: its cookie and what the hot paths read from it. */
export interface DmaDomainContext {
  readonly domain: IommuDomain;
  readonly cookie: IommuDmaCookie;
  /** 1 << __ffs(pgsize_bitmap) (§4.1). */
  readonly granule: number;
  /** cookie->fq_domain != NULL: unmaps are queued, the IOTLB flushed in batches. */
  readonly lazy: boolean;
}

const ROUTE_DIRECT = 0;
const ROUTE_BLOCKED = 1;
type Route = DmaDomainContext | typeof ROUTE_DIRECT | typeof ROUTE_BLOCKED;

/** The IOVA range of the last successful map_sg on the IOMMU path (model introspection). */
/** The IOVA range of one mapping (core's DmaIovaRange). */
export type IommuDmaIovaRange = DmaIovaRange;

/** ALIGN(x, a) for a power of two `a`, without 32-bit bit operations (x may exceed 2^32). */
function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/**
 * x mod m for a power of two m <= 2^53 and 0 <= x < 2^53: exact (x / m only shifts the exponent)
 * and, for numbers beyond int32, much cheaper than `%`, which is a floating-point fmod.
 */
function modPow2(x: number, m: number): number {
  return x - Math.floor(x / m) * m;
}

/**
 * dma_info_to_prot(dir, coherent, attrs) (v6.18+): IOMMU_MMIO for DMA_ATTR_MMIO, else
 * IOMMU_CACHE for a coherent device; IOMMU_PRIV for DMA_ATTR_PRIVILEGED; the direction's
 * READ/WRITE bits; 0 (no access) for DMA_NONE.
 */
export function dmaInfoToProt(dir: DmaDataDirection, coherent: boolean, attrs: number): number {
  let prot = attrs & ATTR_MMIO ? PROT_MMIO : coherent ? PROT_CACHE : 0;
  if (attrs & ATTR_PRIVILEGED) prot |= PROT_PRIV;
  const rw = dirToProt(dir);
  return rw ? prot | rw : 0;
}

/** sg_next() inside a walk of `nents` entries; a list shorter than nents is misuse. */
function nextOf(fn: string, sg: Scatterlist, i: number, nents: number): Scatterlist {
  const n = sgNext(sg);
  if (n === undefined)
    throw new RangeError(`${fn}: the list ends before entry ${i + 1} of ${nents}`);
  return n;
}

@injectable()
export class IommuDmaOps implements DmaMapOps {
  readonly name = 'dma-iommu';
  readonly capabilities: DmaMapOpsCapabilities = Object.freeze({
    pciP2pdma: true,
    mergesSegments: true,
    mapResource: true,
    bounce: true,
  });
  /** Counters for the cost model (the IOMMU path; dma-direct keeps its own). */
  readonly stats = new DmaIommuStats();
  readonly options: DmaIommuOptions;
  private readonly mem: PhysMemoryMap;
  /** domain->iova_cookie, null when iommu_dma_init_domain() failed (dma-direct kept). */
  private readonly contexts = new Map<IommuDomain, DmaDomainContext | null>();
  private lastIova: IommuDmaIovaRange | undefined = undefined;
  /** dev_warn_once() of iommu_dma_map_swiotlb(), per device. */
  private readonly warnedInactiveBounce = new WeakSet<DmaDevice>();

  constructor(
    @inject(Iommu) readonly iommu: Iommu,
    @inject(DmaDirectOps) readonly direct: DmaDirectOps,
    @inject(Swiotlb) readonly swiotlb: Swiotlb,
    @inject(P2pdmaDevices) readonly p2p: P2pdmaDevices,
    @inject(KernelLog) readonly log: KernelLog,
    @inject(SimClock) readonly clock: SimClock,
    /**
     * The kernel's command line, kept for reports; swiotlb=force does not reach dma-iommu, whose
     * bouncing is dev_use_swiotlb()'s decision (untrusted devices).
     */
    @inject(KernelOptions) readonly kernelOptions: KernelOptions,
    @inject(DmaIommuOptions) options: Partial<DmaIommuOptions> = DEFAULT_DMA_IOMMU_OPTIONS,
  ) {
    this.options = Object.freeze({ ...DEFAULT_DMA_IOMMU_OPTIONS, ...options });
    this.mem = iommu.topology.memoryMap;
  }

  // ---------------------------------------------------------------------------------------------
  // Which code a device's calls run, and the per-domain cookie.

  /** use_dma_iommu(dev) and iommu_get_dma_domain(dev), as described in the file comment. */
  private route(dev: DmaDevice): Route {
    const iommu = this.iommu;
    const pci = dev.pci;
    if (!iommu.enabled || pci === undefined) return ROUTE_DIRECT;
    const group = iommu.iommuGroupGet(pci);
    if (group === undefined) return ROUTE_DIRECT;
    if (group.domain.type === DOMAIN_BLOCKED) return ROUTE_BLOCKED;
    const def = group.defaultDomain;
    if (def.type === DOMAIN_IDENTITY) return ROUTE_DIRECT;
    if (!def.isPaging) return ROUTE_BLOCKED;
    let ctx = this.contexts.get(def);
    if (ctx === undefined) ctx = this.iommuDmaInitDomain(def, dev);
    return ctx ?? ROUTE_DIRECT;
  }

  /**
   * iommu_get_dma_cookie() + iommu_dma_init_domain(domain, dev) for the first device of a DMA
   * domain: granule and geometry from the domain, a flush queue whose flush is the IOMMU's
   * flush_iotlb_all() for a DMA_FQ domain, then iova_reserve_iommu_regions(dev) (host bridge
   * windows as bus addresses, the resv regions but SW_MSI). An IOVA granule above PAGE_SIZE cannot
   * back an iova_domain (init_iova_domain()); the model then keeps dma-direct for the domain's
   * devices with iommu_setup_dma_ops()'s warning.
   */
  private iommuDmaInitDomain(domain: IommuDomain, dev: DmaDevice): DmaDomainContext | null {
    let cookie: IommuDmaCookie;
    try {
      cookie = new IommuDmaCookie({
        pgsizeBitmap: domain.pgsizeBitmap,
        geometry: domain.geometry,
        clock: this.clock,
        log: this.log,
        lazy: domain.usesFlushQueue,
        flushIotlbAll: () => this.iommu.iommuFlushIotlbAll(domain),
        forcedac: this.options.forcedac,
      });
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      this.log.warn(
        undefined,
        `iommu: Failed to set up IOMMU for device ${dev.name}; retaining platform DMA ops (${e.message})`,
      );
      this.contexts.set(domain, null);
      return null;
    }
    for (const r of this.iommu.iovaReservedRanges(dev.pci!)) cookie.reserve(r.start, r.end - 1);
    const ctx: DmaDomainContext = {
      domain,
      cookie,
      granule: cookie.iovad.granule,
      lazy: cookie.fq !== null,
    };
    this.contexts.set(domain, ctx);
    return ctx;
  }

  /** domain->iova_cookie of the device's DMA domain; undefined when it does not use dma-iommu. */
  iommuDmaCookie(dev: DmaDevice): IommuDmaCookie | undefined {
    const r = this.route(dev);
    return typeof r === 'number' ? undefined : r.cookie;
  }

  /**
   * Model introspection, not a kernel op: the IOVA range the last map_sg allocated, undefined
   * when the last map_sg failed, allocated nothing (only bus addresses, the swiotlb route) or did
   * not run dma-iommu's code (dma-direct fallback).
   */
  counters(): DmaMapOpsCounters {
    const s = this.stats;
    const d = this.direct.counters();
    let fqQueued = 0;
    for (const ctx of this.contexts.values()) fqQueued += ctx?.cookie.fq?.stats.queued ?? 0;
    return {
      segmentsMapped: s.mapSgEntries - s.busAddrEntries + s.mappings + d.segmentsMapped,
      iovaAllocs: s.iovaAllocs,
      iovaBytesPeak: s.iovaBytesPeak,
      fqQueued,
      busAddrSegments: s.busAddrEntries + d.busAddrSegments,
      p2pLookups: s.p2pLookups + d.p2pLookups,
    };
  }

  lastMapSgIova(): IommuDmaIovaRange | undefined {
    return this.lastIova;
  }

  // ---------------------------------------------------------------------------------------------
  // IOVA allocation, mapping and unmapping of one range.

  private allocIova(dev: DmaDevice, ctx: DmaDomainContext, size: number): number {
    const iova = iommuDmaAllocIova(ctx.cookie, dev, size, dev.dmaMask);
    const s = this.stats;
    if (iova) {
      s.iovaAllocs++;
      s.iovaBytes += size;
      s.iovaBytesLive += size;
      if (s.iovaBytesLive > s.iovaBytesPeak) s.iovaBytesPeak = s.iovaBytesLive;
    } else s.iovaAllocFailures++;
    return iova;
  }

  private freeIova(
    ctx: DmaDomainContext,
    iova: number,
    size: number,
    gather: IommuIotlbGather | undefined,
  ): void {
    this.stats.iovaFrees++;
    this.stats.iovaBytesLive -= size;
    iommuDmaFreeIova(ctx.cookie, iova, size, gather);
  }

  /** iommu_map() of one granule-aligned range; 0 or -errno. */
  private iommuMap(
    domain: IommuDomain,
    iova: number,
    paddr: number,
    size: number,
    prot: number,
  ): number {
    const s = this.stats;
    s.iommuMapCalls++;
    const ret = this.iommu.iommuMap(domain, iova, paddr, size, prot);
    if (!ret) s.bytesMapped += size;
    return ret;
  }

  /**
   * __iommu_dma_map(dev, phys, size, prot, dma_mask): an IOVA range covering the granules of
   * [phys, phys + size), mapped; the IOVA of `phys`, or DMA_MAPPING_ERROR (a min_align_mask wider
   * than the granule is refused with dev_WARN_ONCE "Unsupported alignment constraint").
   */
  private iommuDmaMapCore(
    dev: DmaDevice,
    ctx: DmaDomainContext,
    phys: number,
    size: number,
    prot: number,
  ): number {
    const g = ctx.granule;
    if (dev.minAlignMask > g - 1) {
      warnOnce(
        dev.log,
        'drivers/iommu/dma-iommu.c __iommu_dma_map',
        `${devDriverString(dev)} ${dev.name}: Unsupported alignment constraint`,
      );
      return MAPPING_ERROR;
    }
    const off = modPow2(phys, g);
    const sz = alignUp(size + off, g);
    const iova = this.allocIova(dev, ctx, sz);
    if (!iova) return MAPPING_ERROR;
    if (this.iommuMap(ctx.domain, iova, phys - off, sz, prot)) {
      this.freeIova(ctx, iova, sz, undefined);
      return MAPPING_ERROR;
    }
    return iova + off;
  }

  /**
   * __iommu_dma_unmap(dev, dma_addr, size): the range aligned out to granules,
   * iommu_unmap_fast() with a gather, the IOTLB sync unless the domain queues (lazy), and
   * iommu_dma_free_iova() with the gather (queued behind the next flush when lazy).
   */
  private iommuDmaUnmap(ctx: DmaDomainContext, dmaAddr: number, size: number): void {
    const g = ctx.granule;
    const off = modPow2(dmaAddr, g);
    dmaAddr -= off;
    size = alignUp(size + off, g);
    const gather = new Gather();
    gather.queued = ctx.lazy;
    const iommu = this.iommu;
    const domain = ctx.domain;
    const unmapped = iommu.iommuUnmapFast(domain, dmaAddr, size, gather);
    const s = this.stats;
    s.iommuUnmapCalls++;
    s.bytesUnmapped += unmapped;
    if (unmapped !== size) {
      // WARN_ON(unmapped != size)
      this.log.warn(
        undefined,
        `WARNING: at drivers/iommu/dma-iommu.c __iommu_dma_unmap: unmapped ${unmapped} of ` +
          `${size} bytes at IOVA ${printkPad(dmaAddr)}`,
      );
    }
    if (!gather.queued) iommu.iommuIotlbSync(domain, gather);
    this.freeIova(ctx, dmaAddr, size, gather);
  }

  /** iommu_iova_to_phys() of a DMA domain: the mapped physical address, undefined if unmapped. */
  private iovaToPhys(ctx: DmaDomainContext, iova: number): number | undefined {
    return ctx.domain.pageTable?.iovaToPhys(iova);
  }

  // ---------------------------------------------------------------------------------------------
  // Single mappings.

  /**
   * iommu_dma_map_swiotlb(): a bounce buffer aligned to the granule (alloc_align_mask =
   * iova_mask()), or DMA_MAPPING_ERROR; without a swiotlb pool dev_warn_once "DMA bounce buffers
   * are inactive, unable to map unaligned transaction."
   */
  private iommuDmaMapSwiotlb(
    dev: DmaDevice,
    ctx: DmaDomainContext,
    phys: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    const sw = this.swiotlb;
    if (!sw.active) {
      if (!this.warnedInactiveBounce.has(dev)) {
        this.warnedInactiveBounce.add(dev);
        dev.log.warn(
          dev.name,
          'DMA bounce buffers are inactive, unable to map unaligned transaction.',
        );
      }
      return MAPPING_ERROR;
    }
    return sw.tblMapSingle(dev, phys, size, ctx.granule - 1, dir, attrs);
  }

  /**
   * iommu_dma_map_phys(dev, phys, size, dir, attrs) (v6.18): an untrusted device's buffer that
   * does not start and end on granules is bounced first (dev_use_swiotlb() && iova_unaligned();
   * DMA_ATTR_MMIO / REQUIRE_COHERENT: DMA_MAPPING_ERROR instead), then CPU cache maintenance for a
   * non-coherent device (not for SKIP_CPU_SYNC or MMIO), then __iommu_dma_map(); a failed map
   * releases the bounce buffer.
   */
  private iommuDmaMapPhys(
    dev: DmaDevice,
    ctx: DmaDomainContext,
    phys: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    const s = this.stats;
    const g = ctx.granule;
    const prot = dmaInfoToProt(dir, dev.coherent, attrs);
    if (dev.untrusted && (modPow2(phys, g) !== 0 || modPow2(size, g) !== 0)) {
      if (attrs & (ATTR_MMIO | ATTR_REQUIRE_COHERENT)) {
        s.mapErrors++;
        return MAPPING_ERROR;
      }
      phys = this.iommuDmaMapSwiotlb(dev, ctx, phys, size, dir, attrs);
      if (phys === MAPPING_ERROR) {
        s.mapErrors++;
        return MAPPING_ERROR;
      }
      s.bounced++;
    }
    if (!dev.coherent && !(attrs & (ATTR_SKIP_CPU_SYNC | ATTR_MMIO))) s.cacheSyncsForDevice++;
    const iova = this.iommuDmaMapCore(dev, ctx, phys, size, prot);
    if (iova === MAPPING_ERROR) {
      s.mapErrors++;
      const sw = this.swiotlb;
      if (!(attrs & (ATTR_MMIO | ATTR_REQUIRE_COHERENT)) && sw.isSwiotlbBuffer(phys)) {
        sw.tblUnmapSingle(dev, phys, size, dir, attrs);
      }
      return MAPPING_ERROR;
    }
    s.mappings++;
    return iova;
  }

  /**
   * iommu_dma_unmap_phys(dev, dma_handle, size, dir, attrs) (v6.18): MMIO / REQUIRE_COHERENT
   * mappings are only unmapped; otherwise the physical address is looked up (WARN_ON when the
   * IOVA maps nothing), the CPU sync done for a non-coherent device, the IOVA unmapped and a
   * bounce buffer released (copied back first unless SKIP_CPU_SYNC).
   */
  private iommuDmaUnmapPhys(
    dev: DmaDevice,
    ctx: DmaDomainContext,
    addr: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    const s = this.stats;
    if (attrs & (ATTR_MMIO | ATTR_REQUIRE_COHERENT)) {
      s.unmaps++;
      this.iommuDmaUnmap(ctx, addr, size);
      return;
    }
    const phys = this.iovaToPhys(ctx, addr);
    if (!phys) {
      this.log.warn(
        undefined,
        `WARNING: at drivers/iommu/dma-iommu.c iommu_dma_unmap_phys: WARN_ON(!phys) for ${dev.name} ` +
          `IOVA ${printkPad(addr)}`,
      );
      return;
    }
    s.unmaps++;
    if (!(attrs & ATTR_SKIP_CPU_SYNC) && !dev.coherent) s.cacheSyncsForCpu++;
    this.iommuDmaUnmap(ctx, addr, size);
    const sw = this.swiotlb;
    if (sw.isSwiotlbBuffer(phys)) sw.tblUnmapSingle(dev, phys, size, dir, attrs);
  }

  mapPhys(dev: DmaDevice, phys: number, size: number, dir: DmaDataDirection, attrs: number) {
    const r = this.route(dev);
    if (r === ROUTE_DIRECT) return this.direct.mapPhys(dev, phys, size, dir, attrs);
    if (r === ROUTE_BLOCKED) {
      this.stats.mapErrors++;
      return MAPPING_ERROR;
    }
    return this.iommuDmaMapPhys(dev, r, phys, size, dir, attrs);
  }

  unmapPhys(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection, attrs: number) {
    const r = this.route(dev);
    if (r === ROUTE_DIRECT) return this.direct.unmapPhys(dev, addr, size, dir, attrs);
    if (r === ROUTE_BLOCKED) return;
    this.iommuDmaUnmapPhys(dev, r, addr, size, dir, attrs);
  }

  /**
   * dma_map_resource() as v6.18 routes it: dma_map_phys() with DMA_ATTR_MMIO, i.e. an IOVA mapped
   * IOMMU_MMIO (no IOMMU_CACHE), never bounced, no cache maintenance (v6.0-v6.17
   * iommu_dma_map_resource() mapped the same way through __iommu_dma_map()).
   */
  mapResource(dev: DmaDevice, phys: number, size: number, dir: DmaDataDirection, attrs: number) {
    const r = this.route(dev);
    if (r === ROUTE_DIRECT) return this.direct.mapResource(dev, phys, size, dir, attrs);
    if (r === ROUTE_BLOCKED) {
      this.stats.mapErrors++;
      return MAPPING_ERROR;
    }
    return this.iommuDmaMapPhys(dev, r, phys, size, dir, attrs | ATTR_MMIO);
  }

  /** dma_unmap_resource(): dma_unmap_phys() with DMA_ATTR_MMIO (only the IOVA is unmapped). */
  unmapResource(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection, attrs: number) {
    const r = this.route(dev);
    if (r === ROUTE_DIRECT) return this.direct.unmapResource(dev, addr, size, dir, attrs);
    if (r === ROUTE_BLOCKED) return;
    this.iommuDmaUnmapPhys(dev, r, addr, size, dir, attrs | ATTR_MMIO);
  }

  // ---------------------------------------------------------------------------------------------
  // Scatterlists.

  /**
   * iommu_dma_map_sg(dev, sg, nents, dir, attrs) (§4.2). Untrusted devices take the per-entry
   * swiotlb route. Otherwise, after the CPU sync (unless SKIP_CPU_SYNC), each entry in turn:
   * - BUS_ADDR page: dma_address = CPU physical + the provider's bus offset, dma_length = the
   *   list head's length (v6.16+ quirk; the entry's own with headLengthQuirk off), marked
   *   SG_DMA_BUS_ADDRESS, left out of the IOVA range;
   * - NONE (RAM) and THRU_HOST_BRIDGE: the offset within the granule and the length are stashed
   *   in dma_address / dma_length, the entry is widened to whole granules, and if it would
   *   straddle a segment boundary the previous entry is padded up to the boundary;
   * - NOT_SUPPORTED: -EREMOTEIO.
   * Then one IOVA range for all of it (-ENOMEM when none is left), iommu_map_sg(), and
   * __finalise_sg(). On failure the list is restored (__invalidate_sg()) and the error is
   * -ENOMEM, -EREMOTEIO or -EINVAL.
   */
  mapSg(
    dev: DmaDevice,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    this.lastIova = undefined;
    const r = this.route(dev);
    if (r === ROUTE_DIRECT) return this.direct.mapSg(dev, sgl, nents, dir, attrs);
    if (r === ROUTE_BLOCKED) {
      this.stats.mapErrors++;
      return -EINVAL;
    }
    return this.iommuDmaMapSg(dev, r, sgl, nents, dir, attrs);
  }

  private iommuDmaMapSg(
    dev: DmaDevice,
    ctx: DmaDomainContext,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    const s = this.stats;
    s.mapSgCalls++;
    s.mapSgEntries += nents;
    // dev_use_sg_swiotlb(): untrusted devices (kmalloc bouncing is not modelled).
    if (dev.untrusted) return this.iommuDmaMapSgSwiotlb(dev, ctx, sgl, nents, dir, attrs);
    if (!(attrs & ATTR_SKIP_CPU_SYNC)) this.iommuDmaSyncSgForDevice(dev, nents);

    const granule = ctx.granule;
    const gmask = granule - 1;
    // seg_mask + 1: a power of two up to 2^53 (ULONG_MAX saturates at 2^53 - 1); the kernel's
    // `(mask - iova_len + 1) & mask` is the distance from iova_len up to the next multiple of it.
    const segWindow = dev.segBoundaryMask + 1;
    const state = new PciP2pdmaMapState();
    const client = dev.pci;
    const log = dev.log;
    const p2p = this.p2p;
    const headQuirk = this.options.headLengthQuirk;
    let iovaLen = 0;
    let prev: Scatterlist | undefined;
    let sg: Scatterlist | undefined = sgl;
    let ret = 0;
    let i = 0;
    for (; i < nents; i++) {
      if (sg === undefined) {
        throw new RangeError(`iommu_dma_map_sg: the list ends before entry ${i} of ${nents}`);
      }
      const page = sg.page;
      if (page === undefined) throw new RangeError(`iommu_dma_map_sg: entry ${i} has no page`);
      const pgmap = page.pgmap;
      const map =
        pgmap === undefined
          ? NONE
          : pgmap === state.pgmap
            ? state.map
            : p2pdmaState(p2p, state, client, page, log);
      if (map === BUS_ADDR) {
        // pci_p2pdma_bus_addr_map(); iommu_map_sg() skips the entry, __finalise_sg() copies it.
        sg.dmaAddress = page.pfn * PAGE_BYTES + sg.offset + state.busOff;
        sg.dmaLength = headQuirk ? sgl.length : sg.length;
        sg.dmaFlags |= SG_BUS_ADDRESS;
        s.busAddrEntries++;
        sg = sgNext(sg);
        continue;
      }
      if (map !== NONE && map !== THRU_HOST_BRIDGE) {
        ret = -EREMOTEIO;
        break;
      }
      const rem = iovaLen < segWindow ? iovaLen : modPow2(iovaLen, segWindow);
      const pad = rem === 0 ? 0 : segWindow - rem;
      const off = sg.offset & gmask;
      const len = sg.length;
      sg.dmaAddress = off;
      sg.dmaLength = len;
      sg.offset -= off;
      const sLength = alignUp(len + off, granule);
      sg.length = sLength;
      // The IOVA range is size-aligned, so when it is larger than a segment it starts on a
      // boundary and lengths alone say where the boundaries fall; pad is 0 while iovaLen is 0.
      if (pad !== 0 && pad < sLength - 1) {
        prev!.length += pad;
        iovaLen += pad;
      }
      iovaLen += sLength;
      prev = sg;
      sg = sgNext(sg);
    }
    s.p2pLookups += state.lookups;
    if (ret) return this.invalidateSg(sgl, nents, i, ret);

    if (iovaLen === 0) return this.finaliseSg(dev, sgl, nents, 0);
    const iova = this.allocIova(dev, ctx, iovaLen);
    if (!iova) return this.invalidateSg(sgl, nents, nents, -ENOMEM);
    const mapped = this.iommuMapSg(
      ctx.domain,
      iova,
      sgl,
      nents,
      dmaInfoToProt(dir, dev.coherent, attrs),
    );
    if (mapped < 0 || mapped < iovaLen) {
      this.freeIova(ctx, iova, iovaLen, undefined);
      return this.invalidateSg(sgl, nents, nents, mapped);
    }
    const count = this.finaliseSg(dev, sgl, nents, iova);
    this.lastIova = { device: dev.name, iova, size: iovaLen, granule };
    return count;
  }

  /**
   * iommu_map_sg(domain, iova, sg, nents, prot) (drivers/iommu/iommu.c, v6.0+): one iommu_map()
   * per run of physically contiguous entries (widened and padded as map_sg left them) at
   * iova + what is mapped so far; bus-address entries are skipped and end a run. The walk runs
   * one step past the last entry, re-reading it, which is what maps the final run. On an error
   * what was mapped is unmapped and the error returned; else the bytes mapped.
   */
  private iommuMapSg(
    domain: IommuDomain,
    iova: number,
    sgl: Scatterlist,
    nents: number,
    prot: number,
  ): number {
    let len = 0;
    let mapped = 0;
    let start = 0;
    let sg = sgl;
    for (let i = 0; i <= nents;) {
      const sPhys = sg.page!.pfn * PAGE_BYTES + sg.offset;
      if (len && sPhys !== start + len) {
        const ret = this.iommuMap(domain, iova + mapped, start, len, prot);
        if (ret) {
          if (mapped) this.iommu.iommuUnmap(domain, iova, mapped);
          return ret;
        }
        mapped += len;
        len = 0;
      }
      if (!(sg.dmaFlags & SG_BUS_ADDRESS)) {
        if (len) len += sg.length;
        else {
          len = sg.length;
          start = sPhys;
        }
      }
      if (++i < nents) sg = nextOf('iommu_map_sg', sg, i - 1, nents);
    }
    return mapped;
  }

  /**
   * __finalise_sg(dev, sg, nents, dma_addr) (§4.3): restores each entry's offset and length and
   * writes the output entries in place, from slot 0 on. A bus-address entry is copied (marked)
   * into the next slot and never merges; any other is appended to the current output entry iff
   * that one is open (cur_len != 0), the entry starts on a granule, its IOVA is not on a segment
   * boundary and the result stays within max_segment_size (u32 arithmetic, as the kernel's);
   * else it starts the next slot at its IOVA + offset. An entry that does not fill its granules
   * (or was padded) closes the output entry. Returns the number of output entries.
   */
  private finaliseSg(dev: DmaDevice, sgl: Scatterlist, nents: number, dmaAddr: number): number {
    const segWindow = dev.segBoundaryMask + 1;
    const maxLen = dev.maxSegmentSize;
    let cur = sgl;
    let curLen = 0;
    let count = 0;
    let merges = 0;
    let s: Scatterlist = sgl;
    for (let i = 0; i < nents; i++) {
      if (i > 0) s = nextOf('__finalise_sg', s, i - 1, nents);
      const sDmaAddr = s.dmaAddress;
      const sIovaOff = sDmaAddr;
      const sLength = s.dmaLength;
      const sIovaLen = s.length;
      s.dmaAddress = MAPPING_ERROR;
      s.dmaLength = 0;
      if (s.dmaFlags & SG_BUS_ADDRESS) {
        if (i > 0) cur = sgNext(cur)!;
        s.dmaFlags &= ~SG_BUS_ADDRESS;
        cur.dmaAddress = sDmaAddr;
        cur.dmaLength = sLength;
        cur.dmaFlags |= SG_BUS_ADDRESS;
        count++;
        curLen = 0;
        continue;
      }
      s.offset += sIovaOff;
      s.length = sLength;
      let room = maxLen - curLen;
      if (room < 0) room += U32;
      if (curLen !== 0 && sIovaOff === 0 && modPow2(dmaAddr, segWindow) !== 0 && room >= sLength) {
        curLen += sLength;
        merges++;
      } else {
        if (i > 0) cur = sgNext(cur)!;
        curLen = sLength;
        count++;
        cur.dmaAddress = dmaAddr + sIovaOff;
      }
      cur.dmaLength = curLen;
      dmaAddr += sIovaLen;
      if (sLength + sIovaOff < sIovaLen) curLen = 0;
    }
    const st = this.stats;
    st.merges += merges;
    st.mapSgOutEntries += count;
    return count;
  }

  /**
   * __invalidate_sg() on a failed map, then the error map_sg returns (-ENOMEM and -EREMOTEIO as
   * they are, anything else -EINVAL). Every entry loses its bus-address mark and gets
   * dma_address = DMA_MAPPING_ERROR, dma_length = 0; the first `processed` entries (those the
   * stashing loop reached) get their offset and length back from the stash. The kernel tells
   * stashed entries by their DMA fields instead, which for entries it never reached are whatever
   * an earlier mapping left; the model does not rely on them.
   */
  private invalidateSg(sgl: Scatterlist, nents: number, processed: number, ret: number): number {
    let sg: Scatterlist | undefined = sgl;
    for (let i = 0; i < nents && sg !== undefined; i++) {
      if (sg.dmaFlags & SG_BUS_ADDRESS) sg.dmaFlags &= ~SG_BUS_ADDRESS;
      else if (i < processed) {
        if (sg.dmaAddress !== MAPPING_ERROR) sg.offset += sg.dmaAddress;
        if (sg.dmaLength) sg.length = sg.dmaLength;
      }
      sg.dmaAddress = MAPPING_ERROR;
      sg.dmaLength = 0;
      sg = sgNext(sg);
    }
    this.stats.mapErrors++;
    return ret === -ENOMEM || ret === -EREMOTEIO ? ret : -EINVAL;
  }

  /**
   * iommu_dma_map_sg_swiotlb() (§3.5): the list head is marked SG_DMA_SWIOTLB and every entry is
   * mapped on its own with iommu_dma_map_phys() (own IOVA, bounced when not granule-aligned); the
   * P2P state is not consulted and nothing merges. A failure at entry i unmaps entries 0..i-1
   * with SKIP_CPU_SYNC and returns -EIO. The kernel leaves the head's mark set after a failure
   * (and after unmap); the model clears it so that a failed map leaves no flag behind.
   */
  private iommuDmaMapSgSwiotlb(
    dev: DmaDevice,
    ctx: DmaDomainContext,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    this.stats.swiotlbRoutes++;
    sgl.dmaFlags |= SG_SWIOTLB;
    let sg = sgl;
    for (let i = 0; i < nents; i++) {
      if (i > 0) sg = nextOf('iommu_dma_map_sg_swiotlb', sg, i - 1, nents);
      const phys = sg.page!.pfn * PAGE_BYTES + sg.offset;
      const addr = this.iommuDmaMapPhys(dev, ctx, phys, sg.length, dir, attrs);
      sg.dmaAddress = addr;
      if (addr === MAPPING_ERROR) {
        this.iommuDmaUnmapSgSwiotlb(dev, ctx, sgl, i, dir, attrs | ATTR_SKIP_CPU_SYNC);
        sgl.dmaFlags &= ~SG_SWIOTLB;
        return -EIO;
      }
      sg.dmaLength = sg.length;
    }
    return nents;
  }

  /** iommu_dma_unmap_sg_swiotlb(): iommu_dma_unmap_phys() of every entry. */
  private iommuDmaUnmapSgSwiotlb(
    dev: DmaDevice,
    ctx: DmaDomainContext,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    let sg = sgl;
    for (let i = 0; i < nents; i++) {
      if (i > 0) sg = nextOf('iommu_dma_unmap_sg_swiotlb', sg, i - 1, nents);
      this.iommuDmaUnmapPhys(dev, ctx, sg.dmaAddress, sg.dmaLength, dir, attrs);
    }
  }

  /**
   * iommu_dma_unmap_sg(dev, sg, nents, dir, attrs) (§4.4): a list mapped by the swiotlb route is
   * unmapped entry by entry. Otherwise, after the CPU sync (unless SKIP_CPU_SYNC): the first
   * output entry that is not a bus address gives the start (bus marks are cleared on the way; an
   * entry with dma_length 0 ends the walk), the last such entry the end, and the single IOVA
   * range [start, end) is unmapped and freed (__iommu_dma_unmap()).
   */
  unmapSg(
    dev: DmaDevice,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    const r = this.route(dev);
    if (r === ROUTE_DIRECT) return this.direct.unmapSg(dev, sgl, nents, dir, attrs);
    if (r === ROUTE_BLOCKED) return;
    this.iommuDmaUnmapSg(dev, r, sgl, nents, dir, attrs);
  }

  private iommuDmaUnmapSg(
    dev: DmaDevice,
    ctx: DmaDomainContext,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    if (sgl.dmaFlags & SG_SWIOTLB) {
      this.iommuDmaUnmapSgSwiotlb(dev, ctx, sgl, nents, dir, attrs);
      sgl.dmaFlags &= ~SG_SWIOTLB;
      return;
    }
    if (!(attrs & ATTR_SKIP_CPU_SYNC)) this.iommuDmaSyncSgForCpu(dev, nents);
    let tmp = sgl;
    let i = 0;
    let start = 0;
    for (; i < nents; i++) {
      if (i > 0) tmp = nextOf('iommu_dma_unmap_sg', tmp, i - 1, nents);
      if (tmp.dmaFlags & SG_BUS_ADDRESS) {
        tmp.dmaFlags &= ~SG_BUS_ADDRESS;
        continue;
      }
      if (tmp.dmaLength === 0) break;
      start = tmp.dmaAddress;
      break;
    }
    let end = 0;
    for (let j = i; j < nents; j++) {
      if (j > i) tmp = nextOf('iommu_dma_unmap_sg', tmp, j - 1, nents);
      if (tmp.dmaFlags & SG_BUS_ADDRESS) {
        tmp.dmaFlags &= ~SG_BUS_ADDRESS;
        continue;
      }
      if (tmp.dmaLength === 0) break;
      end = tmp.dmaAddress + tmp.dmaLength;
    }
    if (end) this.iommuDmaUnmap(ctx, start, end - start);
  }

  // ---------------------------------------------------------------------------------------------
  // Syncs.

  /** iommu_dma_sync_sg_for_device() of a list not mapped by the swiotlb route. */
  private iommuDmaSyncSgForDevice(dev: DmaDevice, nents: number): void {
    // arch_sync_dma_for_device() of every entry for a non-coherent device.
    if (!dev.coherent) this.stats.cacheSyncsForDevice += nents;
  }

  /** iommu_dma_sync_sg_for_cpu() of a list not mapped by the swiotlb route. */
  private iommuDmaSyncSgForCpu(dev: DmaDevice, nents: number): void {
    if (!dev.coherent) this.stats.cacheSyncsForCpu += nents;
  }

  /**
   * iommu_dma_sync_single_for_cpu(): nothing for a coherent device that never bounces; else the
   * CPU cache maintenance (non-coherent) and the swiotlb copy back of a bounce buffer.
   */
  private syncSingleForCpuIommu(
    dev: DmaDevice,
    ctx: DmaDomainContext,
    addr: number,
    size: number,
    dir: DmaDataDirection,
  ): void {
    if (dev.coherent && !dev.untrusted) return;
    const phys = this.iovaToPhys(ctx, addr) ?? 0;
    if (!dev.coherent) this.stats.cacheSyncsForCpu++;
    const sw = this.swiotlb;
    if (sw.isSwiotlbBuffer(phys)) sw.syncSingleForCpu(dev, phys, size, dir);
  }

  /** iommu_dma_sync_single_for_device(): the swiotlb copy, then the cache maintenance. */
  private syncSingleForDeviceIommu(
    dev: DmaDevice,
    ctx: DmaDomainContext,
    addr: number,
    size: number,
    dir: DmaDataDirection,
  ): void {
    if (dev.coherent && !dev.untrusted) return;
    const phys = this.iovaToPhys(ctx, addr) ?? 0;
    const sw = this.swiotlb;
    if (sw.isSwiotlbBuffer(phys)) sw.syncSingleForDevice(dev, phys, size, dir);
    if (!dev.coherent) this.stats.cacheSyncsForDevice++;
  }

  syncSingleForCpu(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection): void {
    const r = this.route(dev);
    if (r === ROUTE_DIRECT) return this.direct.syncSingleForCpu(dev, addr, size, dir);
    if (r === ROUTE_BLOCKED) return;
    this.syncSingleForCpuIommu(dev, r, addr, size, dir);
  }

  syncSingleForDevice(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection): void {
    const r = this.route(dev);
    if (r === ROUTE_DIRECT) return this.direct.syncSingleForDevice(dev, addr, size, dir);
    if (r === ROUTE_BLOCKED) return;
    this.syncSingleForDeviceIommu(dev, r, addr, size, dir);
  }

  /**
   * iommu_dma_sync_sg_for_cpu(): a list of the swiotlb route syncs each entry as a single mapping
   * (by sg->length); any other needs only the cache maintenance of a non-coherent device.
   */
  syncSgForCpu(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void {
    const r = this.route(dev);
    if (r === ROUTE_DIRECT) return this.direct.syncSgForCpu(dev, sgl, nents, dir);
    if (r === ROUTE_BLOCKED) return;
    if (!(sgl.dmaFlags & SG_SWIOTLB)) return this.iommuDmaSyncSgForCpu(dev, nents);
    let sg = sgl;
    for (let i = 0; i < nents; i++) {
      if (i > 0) sg = nextOf('iommu_dma_sync_sg_for_cpu', sg, i - 1, nents);
      this.syncSingleForCpuIommu(dev, r, sg.dmaAddress, sg.length, dir);
    }
  }

  /** iommu_dma_sync_sg_for_device(): as syncSgForCpu(), towards the device. */
  syncSgForDevice(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void {
    const r = this.route(dev);
    if (r === ROUTE_DIRECT) return this.direct.syncSgForDevice(dev, sgl, nents, dir);
    if (r === ROUTE_BLOCKED) return;
    if (!(sgl.dmaFlags & SG_SWIOTLB)) return this.iommuDmaSyncSgForDevice(dev, nents);
    let sg = sgl;
    for (let i = 0; i < nents; i++) {
      if (i > 0) sg = nextOf('iommu_dma_sync_sg_for_device', sg, i - 1, nents);
      this.syncSingleForDeviceIommu(dev, r, sg.dmaAddress, sg.length, dir);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Size queries and introspection.

  /**
   * iommu_dma_max_mapping_size(): swiotlb_max_mapping_size() for an untrusted device (it may
   * bounce), SIZE_MAX otherwise; dma-direct's answer for devices it maps.
   */
  maxMappingSize(dev: DmaDevice): number {
    const r = this.route(dev);
    if (r === ROUTE_DIRECT) return this.direct.maxMappingSize(dev);
    if (r !== ROUTE_BLOCKED && dev.untrusted) return this.swiotlb.maxMappingSize(dev);
    return SIZE_MAX;
  }

  /**
   * iommu_dma_opt_mapping_size() = iova_rcache_range() = 128 KiB (§4.1), when the IOMMU
   * translates. The op has no device argument, so a kernel without translation (no IOMMU,
   * passthrough) answers SIZE_MAX, as dma-direct (no opt_mapping_size) does.
   */
  optMappingSize(): number {
    const c = this.iommu.config;
    return this.iommu.enabled && c !== undefined && c.mode !== 'passthrough'
      ? IOVA_RCACHE_RANGE
      : SIZE_MAX;
  }

  /** iommu_dma_get_merge_boundary(): granule - 1 (§4.1); 0 (no merging) under dma-direct. */
  getMergeBoundary(dev: DmaDevice): number {
    const r = this.route(dev);
    return typeof r === 'number' ? 0 : r.granule - 1;
  }

  /**
   * Model introspection: what the device reaches at `addr`. dma-direct's answer for devices it
   * maps; nothing for a blocked domain. In a DMA domain: a BAR of the device's host bridge by its
   * bus address (BUS_ADDR entries; the IOVA allocator reserves the bridge's windows, so no IOVA
   * equals one), else the page table's translation, followed back to the original for a live
   * swiotlb slot; undefined for an IOVA that maps nothing.
   */
  dmaToPhys(dev: DmaDevice, addr: number): number | undefined {
    const r = this.route(dev);
    if (r === ROUTE_DIRECT) return this.direct.dmaToPhys(dev, addr);
    if (r === ROUTE_BLOCKED) return undefined;
    if (!Number.isSafeInteger(addr) || addr < 0) return undefined;
    const bar = this.mem.barAtBus(addr, dev.pci?.hostBridge);
    if (bar) return bar.start + (addr - bar.busStart);
    const phys = this.iovaToPhys(r, addr);
    if (phys === undefined) return undefined;
    const sw = this.swiotlb;
    if (sw.isSwiotlbBuffer(phys)) return sw.origAddrOf(dev, phys);
    return phys;
  }
}
