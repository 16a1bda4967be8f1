/**
 * swiotlb, the software IO TLB (kernel/dma/swiotlb.c, include/linux/swiotlb.h, v6.6-v6.18 without
 * CONFIG_SWIOTLB_DYNAMIC; reference §3.5): the bounce buffer dma-direct falls back on when a
 * device cannot reach a buffer, or for every mapping with swiotlb=force.
 *
 * The default pool: IO_TLB_DEFAULT_SIZE (64 MiB) of IO_TLB_SIZE (2 KiB) slots, reserved at boot
 * with memblock_alloc_low(), i.e. at the top of the RAM that starts at address 0, so that 32-bit
 * devices reach it. Slots form segments of IO_TLB_SEGSIZE (128); a mapping never crosses a
 * segment, which makes 256 KiB the largest mapping (swiotlb_max_mapping_size()).
 *
 * What the model keeps per slot is what the kernel keeps (orig_addr, alloc_size, the free-run
 * count `list`, pad_slots), so allocation, release and the orig <-> bounce address lookups follow
 * the kernel's arithmetic. swiotlb_bounce() is counted (stats.bounces, bytes per direction), and
 * copies the bytes when a data store of physical memory is attached (attachMemory(): the
 * scenario runner attaches the fabric's).
 *
 * Simplifications: one area (the kernel has one per possible CPU, rounded to a power of two, each
 * searched from the CPU's own; a one-CPU kernel has one), no dynamic pools, no restricted-DMA
 * pools, no memory encryption.
 */
import { DMA_ATTR_NO_WARN, DMA_ATTR_SKIP_CPU_SYNC } from './attrs';
import type { DmaDevice } from './device';
import { DmaDataDirection } from './direction';
import { DMA_MAPPING_ERROR } from './map-ops';
import { warnOnce } from './mapping';
import type { KernelLog } from '../kernel-log';
import { FOUR_GIB, type PhysMemoryMap } from '../mm/memory-map';
import { PAGE_SIZE } from '../mm/page';
import { printkPad, devDriverString } from '../printk';

/** What bounces copy through: a store of physical memory (fabric/extent-store.ts has one). */
export interface BounceMemory {
  copyFrom(src: BounceMemory, srcOffset: number, dstOffset: number, len: number): void;
}

/** log2 of the slot size. */
export const IO_TLB_SHIFT = 11;
/** One slot: 2 KiB. */
export const IO_TLB_SIZE = 1 << IO_TLB_SHIFT;
/** Slots per segment; no mapping crosses a segment. */
export const IO_TLB_SEGSIZE = 128;
/** Default pool: 64 MiB. */
export const IO_TLB_DEFAULT_SIZE = 64 * 2 ** 20;
/** Smallest pool swiotlb_init_remap() halves down to (1 MiB of slots). */
export const IO_TLB_MIN_SLABS = 2 ** 20 / IO_TLB_SIZE;

/** INVALID_PHYS_ADDR: the orig_addr of a free slot (~0 in the kernel). */
const INVALID_PHYS_ADDR = -1;

export interface SwiotlbOptions {
  /** Pool size in bytes (swiotlb=<slabs> * 2 KiB); default 64 MiB. */
  size?: number;
  /** swiotlb=force: bounce every mapping dma-direct makes. */
  force?: boolean;
  /** swiotlb=noforce: no bounce buffer at all, even where the platform would set one up. */
  noforce?: boolean;
}

/** What the pool did, for the cost model. */
export class SwiotlbStats {
  /** Successful swiotlb_tbl_map_single() calls. */
  mappings = 0;
  /** swiotlb_tbl_map_single() calls that found no room ("swiotlb buffer is full"). */
  failures = 0;
  /** swiotlb_bounce() copies (at map, at unmap, at sync). */
  bounces = 0;
  /** Bytes those copies moved, in total and per direction. */
  bytesBounced = 0;
  bytesToDevice = 0;
  bytesFromDevice = 0;
  /** Slots in use now (mem_used()). */
  slotsUsed = 0;
  /** The most slots ever in use at once (debugfs io_tlb_used_hiwater). */
  highWater = 0;
}

/**
 * dma_get_min_align_mask(dev) (include/linux/dma-mapping.h, v5.12+): the address bits a bounce
 * buffer must keep from the original address (NVMe sets NVME_CTRL_PAGE_SIZE - 1); 0 by default.
 */
export function dmaGetMinAlignMask(dev: DmaDevice): number {
  return dev.minAlignMask;
}

/** dma_set_min_align_mask(dev, min_align_mask) (include/linux/dma-mapping.h, v5.12+). */
export function dmaSetMinAlignMask(dev: DmaDevice, mask: number): void {
  if (!Number.isInteger(mask) || mask < 0 || mask > 0x7fff_ffff) {
    throw new RangeError(`dma_set_min_align_mask: ${mask} is not a mask below 2^31`);
  }
  dev.minAlignMask = mask;
}

/** nr_slots(val): slots covering `val` bytes. */
function nrSlots(val: number): number {
  return Math.ceil(val / IO_TLB_SIZE);
}

/** ALIGN(x, a) for a power of two `a` (no 32-bit bit operations: x may exceed 2^32). */
function align(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** `%llx` of a DMA mask: the saturated 64-bit mask (see device.ts) is printed as the kernel has it. */
function printkMask(dev: DmaDevice, mask: number): string {
  if (mask === dev.dmaMask && dev.dmaMaskBits >= 53) {
    return ((1n << BigInt(dev.dmaMaskBits)) - 1n).toString(16);
  }
  return mask.toString(16);
}

/**
 * iommu_is_span_boundary(index, nr, shift, boundary_size) (include/linux/iommu-helper.h): whether
 * `nr` slots from `index` cross a `boundary_size`-slot boundary. boundary_size is a power of two
 * that may exceed 2^32, hence the remainder instead of a mask.
 */
function iommuIsSpanBoundary(index: number, nr: number, shift: number, boundarySize: number) {
  const s = (shift + index) % boundarySize;
  return s + nr > boundarySize;
}

/** io_tlb_mem with its one pool (io_tlb_pool) and one area. */
export class Swiotlb {
  /** mem->start: CPU physical address of slot 0 (0 when there is no pool). */
  readonly start: number = 0;
  /** mem->end: one past the pool. */
  readonly end: number = 0;
  /** mem->nslabs: number of slots, 0 when there is no pool (is_swiotlb_active() false). */
  readonly nslabs: number = 0;
  /** io_tlb_default_mem.force_bounce: swiotlb=force. */
  readonly forceBounce: boolean;
  readonly stats = new SwiotlbStats();

  /** io_tlb_slot[] as parallel arrays. */
  private readonly origAddr: Float64Array;
  private readonly allocSize: Float64Array;
  private readonly list: Uint8Array;
  private readonly padSlots: Uint16Array;
  /** io_tlb_area.index: where the next search starts. */
  private areaIndex = 0;

  /**
   * The boot-time setup of x86 (pci_swiotlb_detect() + swiotlb_init_remap(), v6.x): a pool when
   * RAM reaches above 4 GiB (some 32-bit device may need it) or with swiotlb=force, none with
   * swiotlb=noforce. The size (default 64 MiB) is rounded to whole segments (setup_io_tlb_npages());
   * when low RAM cannot hold it, it is halved down to IO_TLB_MIN_SLABS, logging the adjustment.
   */
  constructor(
    readonly mem: PhysMemoryMap,
    readonly options: SwiotlbOptions,
    readonly log: KernelLog,
  ) {
    this.forceBounce = !!options.force && !options.noforce;
    const size = options.size ?? IO_TLB_DEFAULT_SIZE;
    if (!Number.isSafeInteger(size) || size < IO_TLB_SIZE) {
      throw new RangeError(`swiotlb size ${size} is not a whole number of bytes >= ${IO_TLB_SIZE}`);
    }
    let ramTop = 0;
    for (const r of mem.ram) ramTop = Math.max(ramTop, r.end);
    const wanted = !options.noforce && (this.forceBounce || ramTop > FOUR_GIB);

    const defaultNslabs = align(Math.floor(size / IO_TLB_SIZE), IO_TLB_SEGSIZE);
    let nslabs = wanted ? defaultNslabs : 0;
    const lowEnd = mem.lowRamEnd;
    // swiotlb_memblock_alloc(): memblock_alloc_low() of PAGE_ALIGN(nslabs << IO_TLB_SHIFT).
    while (nslabs && align(nslabs * IO_TLB_SIZE, PAGE_SIZE) > lowEnd) {
      if (nslabs <= IO_TLB_MIN_SLABS) {
        nslabs = 0;
        break;
      }
      nslabs = align(Math.floor(nslabs / 2), IO_TLB_SEGSIZE);
    }
    if (nslabs && nslabs !== defaultNslabs) {
      log.info(
        undefined,
        `software IO TLB: SWIOTLB bounce buffer size adjusted ${defaultNslabs} -> ${nslabs} slabs`,
      );
    }
    this.origAddr = new Float64Array(nslabs).fill(INVALID_PHYS_ADDR);
    this.allocSize = new Float64Array(nslabs);
    this.list = new Uint8Array(nslabs);
    this.padSlots = new Uint16Array(nslabs);
    if (!nslabs) return;
    const bytes = align(nslabs * IO_TLB_SIZE, PAGE_SIZE);
    // memblock allocates top-down: the pool ends where low RAM ends.
    this.start = Math.floor((lowEnd - bytes) / PAGE_SIZE) * PAGE_SIZE;
    this.end = this.start + nslabs * IO_TLB_SIZE;
    this.nslabs = nslabs;
    // swiotlb_init_io_tlb_pool(): each slot counts the free slots up to its segment's end.
    for (let i = 0; i < nslabs; i++) {
      this.list[i] = Math.min(IO_TLB_SEGSIZE - (i & (IO_TLB_SEGSIZE - 1)), nslabs - i);
    }
  }

  /** swiotlb_print_info(): the boot message, "software IO TLB: mapped [mem ...] (64MB)". */
  printInfo(): void {
    if (!this.nslabs) {
      this.log.warn(undefined, 'software IO TLB: No low mem');
      return;
    }
    this.log.info(
      undefined,
      `software IO TLB: mapped [mem ${printkPad(this.start)}-${printkPad(this.end)}] ` +
        `(${Math.floor((this.nslabs * IO_TLB_SIZE) / 2 ** 20)}MB)`,
    );
  }

  /** is_swiotlb_active(dev): there is a pool. */
  get active(): boolean {
    return this.nslabs > 0;
  }

  /**
   * is_swiotlb_force_bounce(dev): swiotlb=force, even if the pool could not be allocated (then
   * every bounce fails, as in the kernel).
   */
  isForceBounce(): boolean {
    return this.forceBounce;
  }

  /** is_swiotlb_buffer(dev, paddr) / swiotlb_find_pool() != NULL: `paddr` lies in the pool. */
  isSwiotlbBuffer(paddr: number): boolean {
    return paddr >= this.start && paddr < this.end;
  }

  /** mem_used(): slots in use. */
  get used(): number {
    return this.stats.slotsUsed;
  }

  /**
   * swiotlb_max_mapping_size(dev): a segment (256 KiB) less the slots a min_align_mask may skip
   * (roundup(min_align_mask, IO_TLB_SIZE)).
   */
  maxMappingSize(dev: DmaDevice): number {
    const minAlignMask = dmaGetMinAlignMask(dev);
    const minAlign = minAlignMask ? align(minAlignMask, IO_TLB_SIZE) : 0;
    return IO_TLB_SIZE * IO_TLB_SEGSIZE - minAlign;
  }

  /**
   * swiotlb_align_offset(dev, align_mask, addr): the bytes before the buffer in its first slot(s)
   * that keep the min_align_mask bits of `addr` (0 for a device without min_align_mask).
   */
  private alignOffset(minAlignMask: number, alignMask: number, addr: number): number {
    // Only low bits are involved: 32-bit operations see the low 32 bits of addr unchanged.
    return addr & minAlignMask & (alignMask | (IO_TLB_SIZE - 1));
  }

  /**
   * swiotlb_search_pool_area() for the one area: next-fit from the area index, honouring the
   * allocation alignment (page alignment for allocations of a page or more when nothing else
   * asks), the min_align_mask bits of the original address, and the device's segment boundary.
   * Returns the first slot index, or -1.
   */
  private findSlots(
    dev: DmaDevice,
    origAddr: number,
    allocSize: number,
    allocAlignMask: number,
  ): number {
    const boundaryMask = dev.segBoundaryMask;
    // phys_to_dma_unencrypted(pool->start) & boundary_mask (boundary masks are 2^n - 1).
    const tblDmaAddr = this.start % (boundaryMask + 1);
    const maxSlots = Math.floor(boundaryMask / IO_TLB_SIZE) + 1;
    let iotlbAlignMask = dmaGetMinAlignMask(dev);
    const nslots = nrSlots(allocSize);
    const offset = this.alignOffset(iotlbAlignMask, 0, origAddr);
    if (!allocAlignMask && !iotlbAlignMask && allocSize >= PAGE_SIZE) {
      allocAlignMask = PAGE_SIZE - 1;
    }
    allocAlignMask |= IO_TLB_SIZE - 1;
    iotlbAlignMask &= ~allocAlignMask;
    const stride = (Math.max(allocAlignMask, iotlbAlignMask) >>> IO_TLB_SHIFT) + 1;
    const nslabs = this.nslabs;
    if (nslots > nslabs - this.stats.slotsUsed) return -1;

    const tblSlot = nrSlots(tblDmaAddr);
    const list = this.list;
    let index = this.areaIndex;
    let slotIndex = -1;
    for (let checked = 0; checked < nslabs;) {
      const tlbAddr = tblDmaAddr + index * IO_TLB_SIZE;
      if (
        (tlbAddr & allocAlignMask) !== 0 ||
        (origAddr !== 0 && (tlbAddr & iotlbAlignMask) !== (origAddr & iotlbAlignMask))
      ) {
        index = index + 1 >= nslabs ? 0 : index + 1;
        checked++;
        continue;
      }
      if (!iommuIsSpanBoundary(index, nslots, tblSlot, maxSlots) && list[index]! >= nslots) {
        slotIndex = index;
        break;
      }
      index = index + stride >= nslabs ? 0 : index + stride;
      checked += stride;
    }
    if (slotIndex < 0) return -1;

    for (let i = slotIndex; i < slotIndex + nslots; i++) {
      list[i] = 0;
      this.allocSize[i] = allocSize - (offset + (i - slotIndex) * IO_TLB_SIZE);
    }
    // The free run just before the allocation now ends at it: recount it.
    let count = 0;
    for (let i = slotIndex - 1; (i & (IO_TLB_SEGSIZE - 1)) !== IO_TLB_SEGSIZE - 1 && list[i]; i--) {
      list[i] = ++count;
    }
    const next = index + nslots;
    this.areaIndex = next >= nslabs ? 0 : next;
    const s = this.stats;
    s.slotsUsed += nslots;
    if (s.slotsUsed > s.highWater) s.highWater = s.slotsUsed;
    return slotIndex;
  }

  /**
   * swiotlb_tbl_map_single(dev, orig_addr, mapping_size, alloc_align_mask, dir, attrs): takes
   * slots for `mappingSize` bytes at `origAddr` and bounces the original into them (always, even
   * for DMA_FROM_DEVICE, so that a partial device write leaves the rest intact). Returns the
   * bounce buffer's CPU physical address, or DMA_MAPPING_ERROR:
   * - no pool: "Can not allocate SWIOTLB buffer earlier and can't now provide you with the DMA
   *   bounce buffer";
   * - no room (or more than a segment): "swiotlb buffer is full (sz: %zd bytes), total %lu
   *   (slots), used %lu (slots)" unless DMA_ATTR_NO_WARN (dev_warn_ratelimited; every one is
   *   logged here).
   * The buffer keeps the original's min_align_mask bits; without a min_align_mask it starts at a
   * slot (or, from a page on, page) boundary, not at the original's offset.
   */
  tblMapSingle(
    dev: DmaDevice,
    origAddr: number,
    mappingSize: number,
    allocAlignMask: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    if (!this.nslabs) {
      dev.log.warn(
        dev.name,
        "Can not allocate SWIOTLB buffer earlier and can't now provide you with the DMA bounce buffer",
      );
      return DMA_MAPPING_ERROR;
    }
    if (allocAlignMask > PAGE_SIZE - 1) {
      warnOnce(
        dev.log,
        'kernel/dma/swiotlb.c swiotlb_tbl_map_single',
        `${devDriverString(dev)} ${dev.name}: Alloc alignment may prevent fulfilling requests with max mapping_size`,
      );
    }
    const minAlignMask = dmaGetMinAlignMask(dev);
    let offset = this.alignOffset(minAlignMask, allocAlignMask, origAddr);
    const size = align(mappingSize + offset, allocAlignMask + 1);
    let index = this.findSlots(dev, origAddr, size, allocAlignMask);
    if (index < 0) {
      this.stats.failures++;
      if (!(attrs & DMA_ATTR_NO_WARN)) {
        dev.log.warn(
          dev.name,
          `swiotlb buffer is full (sz: ${size} bytes), total ${this.nslabs} (slots), used ${this.stats.slotsUsed} (slots)`,
        );
      }
      return DMA_MAPPING_ERROR;
    }
    // Whole slots of the offset become padding slots before the buffer.
    const pad = Math.floor(offset / IO_TLB_SIZE);
    offset &= IO_TLB_SIZE - 1;
    index += pad;
    this.padSlots[index] = pad;
    const n = nrSlots(size) - pad;
    for (let i = 0; i < n; i++) this.origAddr[index + i] = origAddr + i * IO_TLB_SIZE;
    const tlbAddr = this.start + index * IO_TLB_SIZE + offset;
    this.stats.mappings++;
    this.bounce(dev, tlbAddr, mappingSize, true);
    return tlbAddr;
  }

  /**
   * swiotlb_release_slots(dev, tlb_addr): gives the mapping's slots (padding included) back,
   * merging the free runs on both sides within the segment. Releasing slots that are not mapped
   * (a double unmap; the kernel corrupts its free lists) is refused with a model warning.
   */
  private releaseSlots(dev: DmaDevice, tlbAddr: number): void {
    const offset = this.alignOffset(dmaGetMinAlignMask(dev), 0, tlbAddr);
    let index = Math.floor((tlbAddr - offset - this.start) / IO_TLB_SIZE);
    if (this.origAddr[index] === INVALID_PHYS_ADDR) {
      dev.log.warn(
        dev.name,
        `dmasim: swiotlb release of ${printkPad(tlbAddr)}, which is not mapped (ignored)`,
      );
      return;
    }
    index -= this.padSlots[index]!;
    const nslots = nrSlots(this.allocSize[index]! + offset);
    const list = this.list;
    let count = index + nslots < align(index + 1, IO_TLB_SEGSIZE) ? list[index + nslots]! : 0;
    for (let i = index + nslots - 1; i >= index; i--) {
      list[i] = ++count;
      this.origAddr[i] = INVALID_PHYS_ADDR;
      this.allocSize[i] = 0;
      this.padSlots[i] = 0;
    }
    for (let i = index - 1; (i & (IO_TLB_SEGSIZE - 1)) !== IO_TLB_SEGSIZE - 1 && list[i]; i--) {
      list[i] = ++count;
    }
    this.stats.slotsUsed -= nslots;
  }

  /**
   * swiotlb_bounce(dev, tlb_addr, size, dir): copies between the bounce buffer and the original
   * (counted only). A size beyond the allocation is cut to it with the kernel's "Buffer overflow
   * detected" WARN. Nothing for an address whose slot is not mapped.
   */
  /** The bytes of physical memory, for bounces to copy (none: bounces are only counted). */
  private memory: BounceMemory | undefined;

  /** Makes swiotlb_bounce() copy data in `memory` (keyed by CPU physical address). */
  attachMemory(memory: BounceMemory): void {
    this.memory = memory;
  }

  private bounce(dev: DmaDevice, tlbAddr: number, size: number, toDevice: boolean): void {
    const index = Math.floor((tlbAddr - this.start) / IO_TLB_SIZE);
    const orig = this.origAddr[index]!;
    if (orig === INVALID_PHYS_ADDR) return;
    const tlbOffset =
      (tlbAddr & (IO_TLB_SIZE - 1)) - this.alignOffset(dmaGetMinAlignMask(dev), 0, orig);
    const allocSize = this.allocSize[index]! - tlbOffset;
    if (size > allocSize) {
      warnOnce(
        dev.log,
        'kernel/dma/swiotlb.c swiotlb_bounce',
        `${devDriverString(dev)} ${dev.name}: Buffer overflow detected. Allocation size: ${allocSize}. Mapping size: ${size}.`,
      );
      size = allocSize;
    }
    // orig_addr += tlb_offset: the original byte that the bounce buffer's byte stands for
    const m = this.memory;
    if (m && size > 0) {
      if (toDevice) m.copyFrom(m, orig + tlbOffset, tlbAddr, size);
      else m.copyFrom(m, tlbAddr, orig + tlbOffset, size);
    }
    const s = this.stats;
    s.bounces++;
    s.bytesBounced += size;
    if (toDevice) s.bytesToDevice += size;
    else s.bytesFromDevice += size;
  }

  /**
   * __swiotlb_tbl_unmap_single(dev, tlb_addr, mapping_size, dir, attrs): bounces the device's
   * data back (DMA_FROM_DEVICE / DMA_BIDIRECTIONAL, unless DMA_ATTR_SKIP_CPU_SYNC), then releases
   * the slots.
   */
  tblUnmapSingle(
    dev: DmaDevice,
    tlbAddr: number,
    mappingSize: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    if (
      !(attrs & DMA_ATTR_SKIP_CPU_SYNC) &&
      (dir === DmaDataDirection.DMA_FROM_DEVICE || dir === DmaDataDirection.DMA_BIDIRECTIONAL)
    ) {
      this.bounce(dev, tlbAddr, mappingSize, false);
    }
    this.releaseSlots(dev, tlbAddr);
  }

  /** __swiotlb_sync_single_for_device(): bounces to the buffer for TO_DEVICE / BIDIRECTIONAL. */
  syncSingleForDevice(dev: DmaDevice, tlbAddr: number, size: number, dir: DmaDataDirection): void {
    if (dir === DmaDataDirection.DMA_TO_DEVICE || dir === DmaDataDirection.DMA_BIDIRECTIONAL) {
      this.bounce(dev, tlbAddr, size, true);
    } else if (dir !== DmaDataDirection.DMA_FROM_DEVICE) {
      throw new RangeError(`swiotlb_sync_single_for_device: direction ${dir} (kernel BUG)`);
    }
  }

  /** __swiotlb_sync_single_for_cpu(): bounces back for FROM_DEVICE / BIDIRECTIONAL. */
  syncSingleForCpu(dev: DmaDevice, tlbAddr: number, size: number, dir: DmaDataDirection): void {
    if (dir === DmaDataDirection.DMA_FROM_DEVICE || dir === DmaDataDirection.DMA_BIDIRECTIONAL) {
      this.bounce(dev, tlbAddr, size, false);
    } else if (dir !== DmaDataDirection.DMA_TO_DEVICE) {
      throw new RangeError(`swiotlb_sync_single_for_cpu: direction ${dir} (kernel BUG)`);
    }
  }

  /**
   * swiotlb_map(dev, paddr, size, dir, attrs): swiotlb_tbl_map_single() with no extra alignment,
   * then the check that the device reaches the bounce buffer (dma_capable()); if not, the slots go
   * back and dev_WARN_ONCE "swiotlb addr %pad+%zu overflow (mask %llx, bus limit %llx).". Returns
   * the DMA address (phys_to_dma_unencrypted() is the identity here) or DMA_MAPPING_ERROR.
   * The arch_sync_dma_for_device() a non-coherent device gets is the caller's to count.
   */
  map(dev: DmaDevice, paddr: number, size: number, dir: DmaDataDirection, attrs: number): number {
    const tlbAddr = this.tblMapSingle(dev, paddr, size, 0, dir, attrs);
    if (tlbAddr === DMA_MAPPING_ERROR) return DMA_MAPPING_ERROR;
    const dmaAddr = tlbAddr;
    if (dmaAddr + size - 1 > dev.dmaLimit) {
      this.tblUnmapSingle(dev, tlbAddr, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
      warnOnce(
        dev.log,
        'kernel/dma/swiotlb.c swiotlb_map',
        `${devDriverString(dev)} ${dev.name}: swiotlb addr ${printkPad(dmaAddr)}+${size} overflow ` +
          `(mask ${printkMask(dev, dev.dmaMask)}, bus limit ${dev.busDmaLimit.toString(16)}).`,
      );
      return DMA_MAPPING_ERROR;
    }
    return dmaAddr;
  }

  /**
   * The original address whose byte the bounce buffer holds at `tlbAddr` (what swiotlb_bounce()
   * computes), or undefined when that slot is free or padding. Model introspection for
   * DmaMapOps.dmaToPhys().
   */
  origAddrOf(dev: DmaDevice, tlbAddr: number): number | undefined {
    if (!this.isSwiotlbBuffer(tlbAddr)) return undefined;
    const index = Math.floor((tlbAddr - this.start) / IO_TLB_SIZE);
    const orig = this.origAddr[index]!;
    if (orig === INVALID_PHYS_ADDR) return undefined;
    const tlbOffset =
      (tlbAddr & (IO_TLB_SIZE - 1)) - this.alignOffset(dmaGetMinAlignMask(dev), 0, orig);
    return orig + tlbOffset;
  }
}
