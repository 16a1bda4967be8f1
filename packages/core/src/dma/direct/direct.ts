/**
 * dma-direct as a DmaMapOps (kernel/dma/direct.c, kernel/dma/direct.h; reference §3.2, §3.3,
 * §3.5): the DMA ops of a device without an IOMMU. A DMA address is the CPU physical address;
 * a buffer the device cannot reach, or every buffer with swiotlb=force, is bounced through
 * swiotlb; PCI P2PDMA pages are mapped by their map type, one output entry per input entry.
 *
 * Releases: map_sg follows v6.16+ (pci_p2pdma_state() per entry, looked up again only when the
 * page map changes; v6.0-v6.15 made the same decisions in pci_p2pdma_map_segment()) with the two
 * v6.16-v7.0 bugs fixed unless DmaDirectOptions.v616Regressions; single mappings follow v6.18
 * dma_direct_map_phys() (DMA_ATTR_MMIO: never bounced, no cache maintenance), and
 * THRU_HOST_BRIDGE entries use DMA_ATTR_MMIO unless DmaDirectOptions.thruHostBridgeMmio is off.
 *
 * Not modelled: dma_kmalloc_needs_bounce() (non-coherent arm64 devices with small kmalloc
 * buffers; the model has no kmalloc buffers), dma_range_map translations, memory encryption.
 */
import { inject, injectable } from 'inversify';
import { DMA_ATTR_MMIO, DMA_ATTR_SKIP_CPU_SYNC } from '../attrs';
import type { DmaDevice } from '../device';
import type { DmaDataDirection } from '../direction';
import {
  DMA_MAPPING_ERROR,
  type DmaMapOps,
  type DmaMapOpsCapabilities,
  type DmaMapOpsCounters,
} from '../map-ops';
import { SIZE_MAX_MODEL, warnOnce } from '../mapping';
import { Swiotlb } from '../swiotlb';
import { EIO, EREMOTEIO } from '../../errno';
import { KernelLog } from '../../kernel-log';
import { PhysMemoryMap } from '../../mm/memory-map';
import { PAGE_SIZE } from '../../mm/page';
import { PciP2pdmaMapState, pciP2pdmaState } from '../../p2pdma/map-state';
import { PciP2pdmaMapType } from '../../p2pdma/map-type';
import { P2pdmaDevices } from '../../p2pdma/state';
import { SG_DMA_BUS_ADDRESS, sgNext, type Scatterlist } from '../../scatterlist/scatterlist';
import {
  dmaAddressingLimited,
  dmaCapable,
  dmaDirectGetRequiredMask,
  dmaToPhys,
  physToDma,
} from './addressing';
import { DEFAULT_DMA_DIRECT_OPTIONS, DmaDirectOptions } from './options';
import { DmaDirectStats } from './stats';
import { printkPad, printkDmaMask, devDriverString } from '../../printk';

const NONE = PciP2pdmaMapType.NONE;
const BUS_ADDR = PciP2pdmaMapType.BUS_ADDR;
const THRU_HOST_BRIDGE = PciP2pdmaMapType.THRU_HOST_BRIDGE;

@injectable()
export class DmaDirectOps implements DmaMapOps {
  readonly name = 'dma-direct';
  readonly capabilities: DmaMapOpsCapabilities = Object.freeze({
    pciP2pdma: true,
    mergesSegments: false,
    mapResource: true,
    bounce: true,
  });
  /** Counters for the cost model. */
  readonly stats = new DmaDirectStats();
  readonly options: DmaDirectOptions;
  /** dma_direct_get_required_mask(): fixed for the machine. */
  private readonly requiredMask: number;

  constructor(
    @inject(P2pdmaDevices) readonly p2p: P2pdmaDevices,
    @inject(Swiotlb) readonly swiotlb: Swiotlb,
    @inject(PhysMemoryMap) readonly mem: PhysMemoryMap,
    @inject(KernelLog) readonly log: KernelLog,
    @inject(DmaDirectOptions) options: Partial<DmaDirectOptions> = DEFAULT_DMA_DIRECT_OPTIONS,
  ) {
    this.options = Object.freeze({ ...DEFAULT_DMA_DIRECT_OPTIONS, ...options });
    this.requiredMask = dmaDirectGetRequiredMask(mem);
  }

  /**
   * The dev_WARN_ONCE() of dma_direct_map_phys() (err_overflow): "DMA addr %pad+%zu overflow
   * (mask %llx, bus limit %llx).", once per kernel.
   */
  private overflow(dev: DmaDevice, dmaAddr: number, size: number): number {
    warnOnce(
      dev.log,
      'kernel/dma/direct.h dma_direct_map_phys',
      `${devDriverString(dev)} ${dev.name}: DMA addr ${printkPad(dmaAddr)}+${size} overflow ` +
        `(mask ${printkDmaMask(dev)}, bus limit ${dev.busDmaLimit.toString(16)}).`,
    );
    this.stats.mapErrors++;
    return DMA_MAPPING_ERROR;
  }

  /**
   * swiotlb_map() as dma_direct_map_phys() calls it, plus the arch_sync_dma_for_device() it
   * does on the bounce buffer for a non-coherent device.
   */
  private bounce(
    dev: DmaDevice,
    phys: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    const addr = this.swiotlb.map(dev, phys, size, dir, attrs);
    const s = this.stats;
    if (addr === DMA_MAPPING_ERROR) {
      s.mapErrors++;
      return DMA_MAPPING_ERROR;
    }
    s.bounced++;
    s.mappings++;
    if (!dev.coherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC)) s.cacheSyncsForDevice++;
    return addr;
  }

  /**
   * dma_direct_map_phys(dev, phys, size, dir, attrs) (kernel/dma/direct.h, v6.18; before it
   * dma_direct_map_page() without the MMIO arm):
   * - swiotlb=force: bounce, except DMA_ATTR_MMIO, which is an overflow error;
   * - DMA_ATTR_MMIO: the physical address itself, an overflow error if the device cannot reach it;
   * - otherwise phys_to_dma(); a device that cannot reach it gets a bounce buffer when swiotlb is
   *   active, else the overflow error;
   * - a non-coherent device gets arch_sync_dma_for_device() unless DMA_ATTR_SKIP_CPU_SYNC or
   *   DMA_ATTR_MMIO.
   */
  private dmaDirectMapPhys(
    dev: DmaDevice,
    phys: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    const sw = this.swiotlb;
    if (sw.forceBounce) {
      if (attrs & DMA_ATTR_MMIO) return this.overflow(dev, phys, size);
      return this.bounce(dev, phys, size, dir, attrs);
    }
    let dmaAddr: number;
    if (attrs & DMA_ATTR_MMIO) {
      dmaAddr = phys;
      if (!dmaCapable(dev, dmaAddr, size)) return this.overflow(dev, dmaAddr, size);
    } else {
      dmaAddr = physToDma(phys);
      if (!dmaCapable(dev, dmaAddr, size)) {
        if (sw.nslabs > 0) return this.bounce(dev, phys, size, dir, attrs);
        return this.overflow(dev, dmaAddr, size);
      }
    }
    const s = this.stats;
    if (!dev.coherent && !(attrs & (DMA_ATTR_SKIP_CPU_SYNC | DMA_ATTR_MMIO))) {
      s.cacheSyncsForDevice++;
    }
    s.mappings++;
    return dmaAddr;
  }

  /**
   * dma_direct_sync_single_for_cpu() on a physical address: arch_sync_dma_for_cpu() for a
   * non-coherent device, then the swiotlb copy back if the address is a bounce buffer.
   */
  private syncForCpu(dev: DmaDevice, phys: number, size: number, dir: DmaDataDirection): void {
    if (!dev.coherent) this.stats.cacheSyncsForCpu++;
    const sw = this.swiotlb;
    if (sw.isSwiotlbBuffer(phys)) sw.syncSingleForCpu(dev, phys, size, dir);
  }

  /** dma_direct_sync_single_for_device() on a physical address. */
  private syncForDevice(dev: DmaDevice, phys: number, size: number, dir: DmaDataDirection): void {
    const sw = this.swiotlb;
    if (sw.isSwiotlbBuffer(phys)) sw.syncSingleForDevice(dev, phys, size, dir);
    if (!dev.coherent) this.stats.cacheSyncsForDevice++;
  }

  /**
   * dma_direct_unmap_phys(dev, addr, size, dir, attrs) (v6.18; dma_direct_unmap_page() before):
   * nothing for DMA_ATTR_MMIO; otherwise the CPU sync (unless DMA_ATTR_SKIP_CPU_SYNC) and the
   * release of a bounce buffer.
   */
  private dmaDirectUnmapPhys(
    dev: DmaDevice,
    addr: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    this.stats.unmaps++;
    if (attrs & DMA_ATTR_MMIO) return;
    const phys = dmaToPhys(addr);
    if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC)) this.syncForCpu(dev, phys, size, dir);
    const sw = this.swiotlb;
    if (sw.isSwiotlbBuffer(phys)) {
      sw.tblUnmapSingle(dev, phys, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
    }
  }

  mapPhys(dev: DmaDevice, phys: number, size: number, dir: DmaDataDirection, attrs: number) {
    return this.dmaDirectMapPhys(dev, phys, size, dir, attrs);
  }

  unmapPhys(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection, attrs: number) {
    this.dmaDirectUnmapPhys(dev, addr, size, dir, attrs);
  }

  /**
   * dma_direct_map_sg(dev, sgl, nents, dir, attrs) (kernel/dma/direct.c, v6.16+ with the fixes;
   * reference §3.2). One output entry per input entry; per entry, the P2P state of its page:
   * - BUS_ADDR: dma_address = phys + the provider's bus offset, dma_length = length, marked
   *   SG_DMA_BUS_ADDRESS; no sync, no swiotlb, nothing to unmap;
   * - THRU_HOST_BRIDGE: mapped by CPU physical address like RAM, with DMA_ATTR_MMIO (v6.18+);
   * - NONE (RAM): dma_direct_map_phys();
   * - NOT_SUPPORTED: -EREMOTEIO.
   * A DMA_MAPPING_ERROR is -EIO. On an error the entries mapped so far are unmapped with
   * DMA_ATTR_SKIP_CPU_SYNC and the code is returned. With v616Regressions, THRU_HOST_BRIDGE
   * entries keep their stale dma_address (length set) and BUS_ADDR entries get no dma_length.
   */
  mapSg(
    dev: DmaDevice,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    const s = this.stats;
    s.mapSgCalls++;
    s.mapSgEntries += nents;
    const state = new PciP2pdmaMapState();
    const regressions = this.options.v616Regressions;
    const thruAttrs = this.options.thruHostBridgeMmio ? attrs | DMA_ATTR_MMIO : attrs;
    const client = dev.pci;
    const log = dev.log;
    // What dma_direct_map_phys() looks at, read once: the common case (reachable, not forced)
    // is done in the loop; anything else takes dmaDirectMapPhys().
    const sw = this.swiotlb;
    const forced = sw.forceBounce;
    const limit = dev.dmaLimit;
    const coherent = dev.coherent;
    let sg: Scatterlist | undefined = sgl;
    let ret = 0;
    let i = 0;
    for (; i < nents; i++) {
      if (sg === undefined) {
        throw new RangeError(`dma_direct_map_sg: the list ends before entry ${i} of ${nents}`);
      }
      const page = sg.page;
      if (page === undefined) throw new RangeError(`dma_direct_map_sg: entry ${i} has no page`);
      const len = sg.length;
      const phys = page.pfn * PAGE_SIZE + sg.offset;
      // pci_p2pdma_state(): NONE without a page map; the cached type while the page map is the
      // last P2P page's; otherwise a lookup.
      const pgmap = page.pgmap;
      const map =
        pgmap === undefined
          ? NONE
          : pgmap === state.pgmap
            ? state.map
            : pciP2pdmaState(this.p2p, state, client, page, log);
      if (map === BUS_ADDR) {
        // pci_p2pdma_bus_addr_map(): the PCI bus address of the byte.
        sg.dmaAddress = phys + state.busOff;
        sg.dmaFlags |= SG_DMA_BUS_ADDRESS;
        s.busAddrMappings++;
        // v6.16-v7.0: `continue` before sg_dma_len() is set.
        if (!regressions) sg.dmaLength = len;
        sg = sgNext(sg);
        continue;
      }
      if (map === NONE || map === THRU_HOST_BRIDGE) {
        // v6.16-v7.0 only `break` out of the switch for THRU_HOST_BRIDGE: no address.
        if (map === NONE || !regressions) {
          const a = map === NONE ? attrs : thruAttrs;
          if (!forced && phys + len - 1 <= limit) {
            // dma_direct_map_phys() of a reachable buffer: phys_to_dma() (or the MMIO address).
            if (!coherent && !(a & (DMA_ATTR_SKIP_CPU_SYNC | DMA_ATTR_MMIO)))
              s.cacheSyncsForDevice++;
            s.mappings++;
            sg.dmaAddress = phys;
          } else {
            const addr = this.dmaDirectMapPhys(dev, phys, len, dir, a);
            if (addr === DMA_MAPPING_ERROR) {
              ret = -EIO;
              break;
            }
            sg.dmaAddress = addr;
          }
        }
      } else {
        ret = -EREMOTEIO;
        break;
      }
      sg.dmaLength = len;
      sg = sgNext(sg);
    }
    s.p2pLookups += state.lookups;
    if (ret) {
      this.unmapSg(dev, sgl, i, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
      return ret;
    }
    return nents;
  }

  /**
   * dma_direct_unmap_sg(dev, sgl, nents, dir, attrs): a bus-address entry only loses its mark;
   * any other is unmapped (CPU sync unless DMA_ATTR_SKIP_CPU_SYNC, bounce buffer released).
   * A THRU_HOST_BRIDGE entry mapped with DMA_ATTR_MMIO is recognised by its address not being
   * RAM and gets no cache maintenance (only non-coherent devices need to tell).
   */
  unmapSg(
    dev: DmaDevice,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    const s = this.stats;
    const mmioThru = this.options.thruHostBridgeMmio && !dev.coherent;
    // A coherent device's direct mapping has nothing to undo: only bounce buffers and cache
    // maintenance take dmaDirectUnmapPhys().
    const cpuSync = !dev.coherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC);
    const swStart = this.swiotlb.start;
    const swEnd = this.swiotlb.end;
    let sg: Scatterlist | undefined = sgl;
    for (let i = 0; i < nents; i++) {
      if (sg === undefined) {
        throw new RangeError(`dma_direct_unmap_sg: the list ends before entry ${i} of ${nents}`);
      }
      if (sg.dmaFlags & SG_DMA_BUS_ADDRESS) {
        sg.dmaFlags &= ~SG_DMA_BUS_ADDRESS;
      } else {
        const addr = sg.dmaAddress;
        if (!cpuSync && !(addr >= swStart && addr < swEnd)) {
          s.unmaps++;
        } else {
          let a = attrs;
          if (mmioThru && this.mem.ramAt(dmaToPhys(addr)) === undefined) a |= DMA_ATTR_MMIO;
          this.dmaDirectUnmapPhys(dev, addr, sg.dmaLength, dir, a);
        }
      }
      sg = sgNext(sg);
    }
  }

  /**
   * dma_direct_map_resource() as v6.18 routes it: dma_map_phys() with DMA_ATTR_MMIO, i.e. the
   * physical address itself, never bounced, an overflow error if the device cannot reach it.
   */
  mapResource(dev: DmaDevice, phys: number, size: number, dir: DmaDataDirection, attrs: number) {
    return this.dmaDirectMapPhys(dev, phys, size, dir, attrs | DMA_ATTR_MMIO);
  }

  /** dma_unmap_resource(): nothing to undo for an MMIO mapping. */
  unmapResource(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection, attrs: number) {
    this.dmaDirectUnmapPhys(dev, addr, size, dir, attrs | DMA_ATTR_MMIO);
  }

  /** dma_direct_sync_single_for_cpu() */
  syncSingleForCpu(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection): void {
    this.syncForCpu(dev, dmaToPhys(addr), size, dir);
  }

  /** dma_direct_sync_single_for_device() */
  syncSingleForDevice(dev: DmaDevice, addr: number, size: number, dir: DmaDataDirection): void {
    this.syncForDevice(dev, dmaToPhys(addr), size, dir);
  }

  /**
   * dma_direct_sync_sg_for_cpu(): every entry (the kernel does not skip bus-address entries),
   * by sg->length.
   */
  syncSgForCpu(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void {
    let sg: Scatterlist | undefined = sgl;
    for (let i = 0; i < nents && sg; i++, sg = sgNext(sg)) {
      this.syncForCpu(dev, dmaToPhys(sg.dmaAddress), sg.length, dir);
    }
  }

  /** dma_direct_sync_sg_for_device(): every entry, by sg->length. */
  syncSgForDevice(dev: DmaDevice, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void {
    let sg: Scatterlist | undefined = sgl;
    for (let i = 0; i < nents && sg; i++, sg = sgNext(sg)) {
      this.syncForDevice(dev, dmaToPhys(sg.dmaAddress), sg.length, dir);
    }
  }

  /**
   * dma_direct_max_mapping_size(dev): swiotlb_max_mapping_size() when swiotlb may be used for
   * the device (active, and forced or the device cannot reach all RAM), else SIZE_MAX.
   */
  maxMappingSize(dev: DmaDevice): number {
    const sw = this.swiotlb;
    if (sw.active && (dmaAddressingLimited(dev, this.requiredMask) || sw.isForceBounce())) {
      return sw.maxMappingSize(dev);
    }
    return SIZE_MAX_MODEL;
  }

  /**
   * Model introspection: the CPU physical address the device reaches at `addr`. In order:
   * a BAR of the device's PCI domain decoded by bus address (BUS_ADDR entries: bus address -
   * bus offset), a live bounce buffer (its original's byte), RAM (identity), a BAR by CPU
   * physical address (THRU_HOST_BRIDGE: the root complex routes it). undefined otherwise,
   * including a free swiotlb slot.
   */
  counters(): DmaMapOpsCounters {
    const s = this.stats;
    return {
      segmentsMapped: s.mappings,
      iovaAllocs: 0,
      iovaBytesPeak: 0,
      fqQueued: 0,
      busAddrSegments: s.busAddrMappings,
      p2pLookups: s.p2pLookups,
    };
  }

  dmaToPhys(dev: DmaDevice, addr: number): number | undefined {
    if (!Number.isSafeInteger(addr) || addr < 0) return undefined;
    const bar = this.mem.barAtBus(addr, dev.pci?.hostBridge);
    if (bar) return bar.start + (addr - bar.busStart);
    const phys = dmaToPhys(addr);
    if (this.swiotlb.isSwiotlbBuffer(phys)) return this.swiotlb.origAddrOf(dev, phys);
    if (this.mem.ramAt(phys) || this.mem.barAt(phys)) return phys;
    return undefined;
  }
}
