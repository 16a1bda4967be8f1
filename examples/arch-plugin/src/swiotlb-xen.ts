/**
 * swiotlb-xen as a DmaMapOps: `xen_swiotlb_dma_ops` (drivers/xen/swiotlb-xen.c; reference §11,
 * row 23), the DMA ops a Xen PV dom0 installs for every device (pci_xen_swiotlb_init()), and so
 * an architecture ops table without PCI P2PDMA: "NVMe under Xen PV dom0 has no P2PDMA".
 *
 * Releases: the file as of the map_phys conversion ("xen: swiotlb: Switch to physical address
 * mapping callbacks", Leon Romanovsky, <20251015-remove-map-page-v5-5-...>, applied to
 * dma-mapping-for-next in Oct 2025 for v6.19), cross-checked against v6.16. The behaviour
 * modelled here is the same in both: v6.16's map_page/unmap_page became map_phys/unmap_phys, and
 * its `.map_resource = dma_direct_map_resource` ("xen: swiotlb: Wire up map_resource callback",
 * May 2025; dma_map_resource() failed before it) became the DMA_ATTR_MMIO arm of map_phys (the
 * callback was removed; dma_map_resource() now calls map_phys with DMA_ATTR_MMIO). Either way an
 * MMIO range maps to its own physical address, never bounced, so capabilities.mapResource holds.
 *
 * What each op does, in one line:
 * - map_phys: the machine address of the buffer when the device reaches it (dma_capable()), the
 *   Xen pages under it are machine-contiguous and swiotlb is not forced; otherwise a swiotlb
 *   bounce buffer (whose machine address xen_swiotlb_fixup() put below 4 GiB);
 * - map_sg: map_phys entry by entry, one DMA entry per entry (nothing merges); on a failure the
 *   entries done so far are unmapped and the result is -EIO (-EREMOTEIO for a P2PDMA page, a
 *   model addition: see xenSwiotlbMapSg());
 * - max_mapping_size: swiotlb_max_mapping_size(), always (any mapping may need a bounce buffer);
 * - dma_supported: the mask reaches the end of the swiotlb pool.
 *
 * Model choices: the p2m is the identity (xen-page.ts), so a PV dom0's scattered pfn -> mfn map
 * and range_straddles_page_boundary() bounces are not modelled; x86 (xen_arch_need_swiotlb() is
 * false, and coherent/free are xen_swiotlb_alloc_coherent, not modelled: no op for them);
 * dma_kmalloc_needs_bounce() is not modelled (no kmalloc buffers, as in core's dma-direct).
 * swiotlb is core's: the model sets its pool up only when RAM reaches above 4 GiB or with
 * swiotlb=force, where a real dom0 always has one.
 */
import { inject, injectable } from 'inversify';
import {
  DMA_ATTR_MMIO,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_MAPPING_ERROR,
  DmaDataDirection,
  EIO,
  EREMOTEIO,
  FOUR_GIB,
  PAGE_SIZE,
  PhysMemoryMap,
  Swiotlb,
  dmaCapable,
  isPciP2pdmaPage,
  sgNext,
  warnOnce,
  type DmaDevice,
  type DmaMapOps,
  type DmaMapOpsCapabilities,
  type DmaMapOpsCounters,
  type Scatterlist,
  printkPad,
  printkDmaMask,
  devDriverString,
} from '@dmasim/core';
import { XenSwiotlbStats } from './stats';
import {
  XEN_PAGE_SIZE,
  rangeStraddlesPageBoundary,
  xenDmaToPhys,
  xenPfnDown,
  xenPhysToDma,
} from './xen-page';

/** BUG_ON(dir == DMA_NONE): the kernel crashes; the model throws (library misuse). */
function bugOnDmaNone(fn: string, dir: DmaDataDirection): void {
  if (dir === DmaDataDirection.DMA_NONE) throw new RangeError(`${fn}: DMA_NONE (kernel BUG)`);
}

@injectable()
export class XenSwiotlbDmaOps implements DmaMapOps {
  readonly name = 'xen_swiotlb_dma_ops';
  readonly capabilities: DmaMapOpsCapabilities = Object.freeze({
    // No DMA_F_PCI_P2PDMA_SUPPORTED (v6.0-v6.11), and an ops table at all (v6.12+): §3.3.
    pciP2pdma: false,
    // map_sg maps entry by entry.
    mergesSegments: false,
    // dma_map_resource() -> map_phys(DMA_ATTR_MMIO); v6.16: .map_resource = dma_direct_map_resource
    mapResource: true,
    bounce: true,
  });
  readonly stats = new XenSwiotlbStats();

  constructor(
    @inject(Swiotlb) readonly swiotlb: Swiotlb,
    @inject(PhysMemoryMap) readonly mem: PhysMemoryMap,
  ) {}

  /**
   * xen_swiotlb_find_pool(dev, dma_addr) ("swiotlb: Reduce swiotlb pool lookups", posted July
   * 2024 after v6.10, by best knowledge v6.12; is_xen_swiotlb_buffer() before): whether the DMA
   * address is one of swiotlb's bounce buffers. The machine frame goes back to a dom0 pfn and
   * only a pfn of dom0's own RAM (pfn_valid()) is looked up: a foreign frame could alias one.
   */
  xenSwiotlbFindPool(dmaAddr: number): boolean {
    const paddr = xenPfnDown(xenDmaToPhys(dmaAddr)) * XEN_PAGE_SIZE;
    if (this.mem.ramAt(paddr) === undefined) return false;
    return this.swiotlb.isSwiotlbBuffer(paddr);
  }

  /**
   * xen_swiotlb_map_phys(dev, phys, size, dir, attrs) (v6.19; xen_swiotlb_map_page() before,
   * without the MMIO arm):
   * - DMA_ATTR_MMIO: the physical address itself when the device reaches it, else dev_err_once
   *   "DMA addr %pa+%zu overflow (mask %llx, bus limit %llx)." with a WARN, DMA_MAPPING_ERROR;
   * - the machine address when dma_capable(), not straddling machine frames, and swiotlb is not
   *   forced;
   * - otherwise swiotlb_tbl_map_single() (no extra alignment); its machine address must be
   *   dma_capable() too, else the slots go back (DMA_ATTR_SKIP_CPU_SYNC) and DMA_MAPPING_ERROR;
   * - a non-coherent device gets the cache maintenance unless DMA_ATTR_SKIP_CPU_SYNC.
   */
  xenSwiotlbMapPhys(
    dev: DmaDevice,
    phys: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    bugOnDmaNone('xen_swiotlb_map_phys', dir);
    const s = this.stats;
    if (attrs & DMA_ATTR_MMIO) {
      if (!dmaCapable(dev, phys, size)) {
        warnOnce(
          dev.log,
          'drivers/xen/swiotlb-xen.c xen_swiotlb_map_phys',
          `${devDriverString(dev)} ${dev.name}: DMA addr ${printkPad(phys)}+${size} overflow ` +
            `(mask ${printkDmaMask(dev)}, bus limit ${dev.busDmaLimit.toString(16)}).`,
        );
        s.mapErrors++;
        return DMA_MAPPING_ERROR;
      }
      s.mappings++;
      return phys;
    }
    const sw = this.swiotlb;
    let devAddr = xenPhysToDma(phys);
    let bounced = false;
    // xen_arch_need_swiotlb() is false on x86; dma_kmalloc_needs_bounce() is not modelled.
    if (
      !dmaCapable(dev, devAddr, size) ||
      rangeStraddlesPageBoundary(phys, size) ||
      sw.isForceBounce()
    ) {
      // trace_swiotlb_bounced()
      const map = sw.tblMapSingle(dev, phys, size, 0, dir, attrs);
      if (map === DMA_MAPPING_ERROR) {
        s.mapErrors++;
        return DMA_MAPPING_ERROR;
      }
      devAddr = xenPhysToDma(map);
      if (!dmaCapable(dev, devAddr, size)) {
        sw.tblUnmapSingle(dev, map, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
        s.mapErrors++;
        return DMA_MAPPING_ERROR;
      }
      bounced = true;
    }
    if (!dev.coherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC)) s.cacheSyncsForDevice++;
    s.mappings++;
    if (bounced) s.bounced++;
    return devAddr;
  }

  /**
   * xen_swiotlb_unmap_phys(dev, dev_addr, size, dir, attrs) (xen_swiotlb_unmap_page() before):
   * the cache maintenance of a non-coherent device unless DMA_ATTR_SKIP_CPU_SYNC, then, when the
   * address is a bounce buffer, swiotlb_tbl_unmap_single() (which copies back for FROM_DEVICE /
   * BIDIRECTIONAL unless DMA_ATTR_SKIP_CPU_SYNC). DMA_ATTR_MMIO is not looked at: an MMIO address
   * is in no pool, so nothing is released.
   */
  xenSwiotlbUnmapPhys(
    dev: DmaDevice,
    devAddr: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    bugOnDmaNone('xen_swiotlb_unmap_phys', dir);
    const paddr = xenDmaToPhys(devAddr);
    this.stats.unmaps++;
    if (!dev.coherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC)) this.stats.cacheSyncsForCpu++;
    // The pool is looked up by the DMA address, not by paddr (the kernel's "NOTE").
    if (this.xenSwiotlbFindPool(devAddr)) {
      this.swiotlb.tblUnmapSingle(dev, paddr, size, dir, attrs);
    }
  }

  /** xen_swiotlb_sync_single_for_cpu(): cache maintenance first, then the copy back. */
  xenSwiotlbSyncSingleForCpu(
    dev: DmaDevice,
    dmaAddr: number,
    size: number,
    dir: DmaDataDirection,
  ): void {
    if (!dev.coherent) this.stats.cacheSyncsForCpu++;
    if (this.xenSwiotlbFindPool(dmaAddr)) {
      this.swiotlb.syncSingleForCpu(dev, xenDmaToPhys(dmaAddr), size, dir);
    }
  }

  /** xen_swiotlb_sync_single_for_device(): the copy to the bounce buffer first, then the cache. */
  xenSwiotlbSyncSingleForDevice(
    dev: DmaDevice,
    dmaAddr: number,
    size: number,
    dir: DmaDataDirection,
  ): void {
    if (this.xenSwiotlbFindPool(dmaAddr)) {
      this.swiotlb.syncSingleForDevice(dev, xenDmaToPhys(dmaAddr), size, dir);
    }
    if (!dev.coherent) this.stats.cacheSyncsForDevice++;
  }

  /**
   * xen_swiotlb_map_sg(dev, sgl, nelems, dir, attrs): xen_swiotlb_map_phys() of each entry's
   * sg_phys() and length, dma_length = length; returns nelems (one DMA entry per entry: nothing
   * merges). When an entry fails, the entries before it are unmapped with DMA_ATTR_SKIP_CPU_SYNC,
   * sg_dma_len(sgl) = 0, and the result is -EIO (0 before the 2021 map_sg return convention, §11).
   *
   * PCI P2PDMA pages: the kernel's function has no P2P case, because it never sees such pages:
   * dma_pci_p2pdma_supported() is false for a device with these ops (§3.3), so NVMe does not give
   * its queues PCI_P2PDMA and RDMA refuses P2P memory; were one passed, it would be mapped by its
   * CPU physical address, which is not the bus address a peer below a switch needs. The DmaMapOps
   * contract (and the conformance suite's "P2PDMA pages refused" group) asks ops without
   * pciP2pdma to refuse them with -EREMOTEIO, "the device cannot access the P2PDMA memory",
   * so this model refuses them explicitly, entry by entry, unwinding as for any other failure.
   */
  xenSwiotlbMapSg(
    dev: DmaDevice,
    sgl: Scatterlist,
    nelems: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    bugOnDmaNone('xen_swiotlb_map_sg', dir);
    const s = this.stats;
    s.mapSgCalls++;
    s.mapSgEntries += nelems;
    let ret = 0;
    let sg: Scatterlist | undefined = sgl;
    let i = 0;
    for (; i < nelems; i++, sg = sgNext(sg)) {
      if (sg === undefined) {
        throw new RangeError(`xen_swiotlb_map_sg: the list ends before entry ${i} of ${nelems}`);
      }
      const page = sg.page;
      if (page === undefined) throw new RangeError(`xen_swiotlb_map_sg: entry ${i} has no page`);
      if (isPciP2pdmaPage(page)) {
        s.p2pdmaRefused++;
        ret = -EREMOTEIO;
        break;
      }
      const addr = this.xenSwiotlbMapPhys(
        dev,
        page.pfn * PAGE_SIZE + sg.offset,
        sg.length,
        dir,
        attrs,
      );
      if (addr === DMA_MAPPING_ERROR) {
        ret = -EIO;
        break;
      }
      sg.dmaAddress = addr;
      sg.dmaLength = sg.length;
    }
    if (ret === 0) return nelems;
    this.xenSwiotlbUnmapSg(dev, sgl, i, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
    sgl.dmaLength = 0;
    return ret;
  }

  /** xen_swiotlb_unmap_sg(): xen_swiotlb_unmap_phys() of each entry's DMA address and length. */
  xenSwiotlbUnmapSg(
    dev: DmaDevice,
    sgl: Scatterlist,
    nelems: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    bugOnDmaNone('xen_swiotlb_unmap_sg', dir);
    let sg: Scatterlist | undefined = sgl;
    for (let i = 0; i < nelems; i++, sg = sgNext(sg)) {
      if (sg === undefined) {
        throw new RangeError(`xen_swiotlb_unmap_sg: the list ends before entry ${i} of ${nelems}`);
      }
      this.xenSwiotlbUnmapPhys(dev, sg.dmaAddress, sg.dmaLength, dir, attrs);
    }
  }

  /** xen_swiotlb_sync_sg_for_cpu(): every entry, by sg->length. */
  xenSwiotlbSyncSgForCpu(
    dev: DmaDevice,
    sgl: Scatterlist,
    nelems: number,
    dir: DmaDataDirection,
  ): void {
    let sg: Scatterlist | undefined = sgl;
    for (let i = 0; i < nelems && sg; i++, sg = sgNext(sg)) {
      this.xenSwiotlbSyncSingleForCpu(dev, sg.dmaAddress, sg.length, dir);
    }
  }

  /** xen_swiotlb_sync_sg_for_device(): every entry, by sg->length. */
  xenSwiotlbSyncSgForDevice(
    dev: DmaDevice,
    sgl: Scatterlist,
    nelems: number,
    dir: DmaDataDirection,
  ): void {
    let sg: Scatterlist | undefined = sgl;
    for (let i = 0; i < nelems && sg; i++, sg = sgNext(sg)) {
      this.xenSwiotlbSyncSingleForDevice(dev, sg.dmaAddress, sg.length, dir);
    }
  }

  /**
   * xen_swiotlb_dma_supported(dev, mask): xen_phys_to_dma(default_swiotlb_limit()) <= mask, i.e.
   * the device reaches the last byte of the bounce pool. Not called by the model's
   * dma_set_mask() (which checks dma-direct's 24-bit floor); exposed for tests and plugins.
   * Without a pool in the model (RAM below 4 GiB), the limit is the one xen_swiotlb_fixup()
   * guarantees: machine memory below 4 GiB (MAX_DMA_BITS 32).
   */
  xenSwiotlbDmaSupported(mask: number): boolean {
    const sw = this.swiotlb;
    const limit = sw.active ? sw.end - 1 : FOUR_GIB - 1;
    return xenPhysToDma(limit) <= mask;
  }

  // --- DmaMapOps ------------------------------------------------------------------------------

  mapPhys(dev: DmaDevice, phys: number, size: number, dir: DmaDataDirection, attrs: number) {
    return this.xenSwiotlbMapPhys(dev, phys, size, dir, attrs);
  }

  unmapPhys(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection, attrs: number) {
    this.xenSwiotlbUnmapPhys(dev, addr, size, dir, attrs);
  }

  mapSg(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection, attrs: number) {
    return this.xenSwiotlbMapSg(dev, sgl, nents, dir, attrs);
  }

  unmapSg(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection, attrs: number) {
    this.xenSwiotlbUnmapSg(dev, sgl, nents, dir, attrs);
  }

  /** dma_map_resource() as the map_phys release routes it: map_phys with DMA_ATTR_MMIO. */
  mapResource(dev: DmaDevice, phys: number, size: number, dir: DmaDataDirection, attrs: number) {
    return this.xenSwiotlbMapPhys(dev, phys, size, dir, attrs | DMA_ATTR_MMIO);
  }

  /** dma_unmap_resource(): unmap_phys with DMA_ATTR_MMIO (nothing to release). */
  unmapResource(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection, attrs: number) {
    this.xenSwiotlbUnmapPhys(dev, addr, size, dir, attrs | DMA_ATTR_MMIO);
  }

  syncSingleForCpu(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection): void {
    this.xenSwiotlbSyncSingleForCpu(dev, addr, size, dir);
  }

  syncSingleForDevice(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection): void {
    this.xenSwiotlbSyncSingleForDevice(dev, addr, size, dir);
  }

  syncSgForCpu(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void {
    this.xenSwiotlbSyncSgForCpu(dev, sgl, nents, dir);
  }

  syncSgForDevice(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void {
    this.xenSwiotlbSyncSgForDevice(dev, sgl, nents, dir);
  }

  /**
   * .max_mapping_size = swiotlb_max_mapping_size: unconditionally, since any mapping may have to
   * be bounced (256 KiB, less what a min_align_mask may skip: 252 KiB for NVMe's 4095).
   */
  maxMappingSize(dev: DmaDevice): number {
    return this.swiotlb.maxMappingSize(dev);
  }

  /**
   * Model introspection: the dom0 physical byte the device reaches at `addr`: a live bounce
   * buffer's original byte, else RAM or an MMIO range at its own address (the identity p2m).
   * undefined for a free swiotlb slot or an address that decodes to nothing.
   */
  dmaToPhys(dev: DmaDevice, addr: number): number | undefined {
    if (!Number.isSafeInteger(addr) || addr < 0) return undefined;
    const phys = xenDmaToPhys(addr);
    const sw = this.swiotlb;
    if (sw.isSwiotlbBuffer(phys)) return sw.origAddrOf(dev, phys);
    if (this.mem.ramAt(phys) || this.mem.barAt(phys)) return phys;
    return undefined;
  }

  counters(): DmaMapOpsCounters {
    return {
      segmentsMapped: this.stats.mappings,
      iovaAllocs: 0,
      iovaBytesPeak: 0,
      fqQueued: 0,
      busAddrSegments: 0,
      p2pLookups: 0,
    };
  }
}
