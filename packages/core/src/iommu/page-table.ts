/**
 * An I/O page table (struct io_pgtable and its ops: map_pages, unmap_pages, iova_to_phys) with
 * leaves of two sizes: the granule and, optionally, the superpage one level up (2 MiB with a
 * 4 KiB granule). The map and unmap rules are those of the IOMMU core around it
 * (__iommu_map()/__iommu_unmap() with iommu_pgsize(), drivers/iommu/iommu.c, v6.x-7.0):
 *
 * - map: iova, paddr and size must be multiples of the granule, else -EINVAL; a mapping without
 *   read or write permission is -EINVAL (VT-d __domain_mapping()); the range must lie inside
 *   the aperture, else -EFAULT (intel_iommu_map(): "iommu width is not sufficient"); each step
 *   uses the largest page size that iova, paddr and the remaining size allow (iommu_pgsize());
 *   a leaf over an existing mapping is -EEXIST (io-pgtable-arm arm_lpae_init_pte(); a superpage
 *   over a range holding small pages counts as overlapping), and what the call had mapped is
 *   unmapped again.
 * - unmap: iova and size must be multiples of the granule, else nothing is unmapped (0). It walks
 *   from iova, removing the leaf that covers it, until `size` bytes are gone or it reaches an
 *   unmapped IOVA, and returns the bytes removed. A leaf is always removed whole: unmapping part of
 *   a superpage removes all of it and counts its full size, so the result may exceed `size`. This
 *   is what VT-d, AMD-Vi and (since v6.13, commit 33729a5fc0ca "iommu/io-pgtable-arm: Remove split
 *   on unmap behavior") Arm LPAE page tables do; Arm used to split the block instead. As in
 *   __iommu_unmap(), the walk advances by the leaf's size from the requested IOVA.
 *
 * Storage follows the hardware's last two levels: one entry per superpage-sized slot (a level-2
 * PTE), holding either a superpage leaf or a table of granule / 8 small leaves kept in typed arrays
 * (a level-1 table page). The levels above are a map keyed by slot. Table pages stay allocated
 * when they empty, as the IOMMU drivers keep them until the domain is freed, so remapping the same
 * IOVA (the allocator reuses the top of the space) allocates nothing.
 */
import { EEXIST, EFAULT, EINVAL } from '../errno';
import { IOMMU_READ, IOMMU_WRITE } from './prot';

/** One leaf PTE. */
export interface IoPte {
  /** IOVA of the first byte the leaf maps. */
  readonly iova: number;
  /** Physical address the leaf maps `iova` to. */
  readonly paddr: number;
  /** The leaf's size: the granule or the superpage size. */
  readonly size: number;
  /** IOMMU_READ | IOMMU_WRITE | ... */
  readonly prot: number;
}

/** Multiple-of test without 32-bit bit operations (addresses exceed 2^32). */
function aligned(x: number, a: number): boolean {
  return x % a === 0;
}

/**
 * A level-2 entry: a superpage leaf (`largeProt` != 0) or a level-1 table (`prot[i]` != 0 marks a
 * present small leaf; a leaf without read or write permission cannot be mapped, so 0 is free).
 */
interface PtSlot {
  largePaddr: number;
  largeProt: number;
  paddr: Float64Array | undefined;
  prot: Uint8Array | undefined;
  /** Small leaves present in `prot`. */
  count: number;
}

export class IoPageTable {
  private readonly slots = new Map<number, PtSlot>();
  /** Bytes covered by one slot: the superpage size even when superpages are off. */
  private readonly slotSize: number;
  /** Leaves per level-1 table: granule / 8 eight-byte PTEs. */
  private readonly perTable: number;
  // the slot of the last walk: lists map and unmap in IOVA order, so most walks hit it
  private lastIndex = -1;
  private lastSlot: PtSlot | undefined;
  private smallLeaves = 0;
  private largeLeaves = 0;
  /** Bytes currently mapped. */
  mappedBytes = 0;
  /** Leaf PTEs written and cleared so far (the per-page work a cost model charges). */
  ptesSet = 0;
  ptesCleared = 0;

  constructor(
    readonly granule: number,
    /** 0: no superpages. */
    readonly superpageSize: number,
    /** Last mappable IOVA (inclusive). */
    readonly apertureEnd: number,
  ) {
    this.perTable = granule / 8;
    this.slotSize = granule * this.perTable;
    if (superpageSize && superpageSize !== this.slotSize) {
      throw new RangeError(
        `IoPageTable: superpage size ${superpageSize} is not one level above granule ${granule}`,
      );
    }
  }

  /** Leaves currently present. */
  get leafCount(): number {
    return this.smallLeaves + this.largeLeaves;
  }

  /**
   * iommu_pgsize(): the largest supported page size that `iova | paddr` is aligned to and that
   * fits in `size`.
   */
  pgsize(iova: number, paddr: number, size: number): number {
    const sp = this.superpageSize;
    if (sp && size >= sp && aligned(iova, sp) && aligned(paddr, sp)) return sp;
    return this.granule;
  }

  /**
   * iommu_map() on this table: maps [iova, iova + size) to [paddr, paddr + size) with `prot`;
   * 0 or a negative errno (see the file comment).
   */
  map(iova: number, paddr: number, size: number, prot: number): number {
    const g = this.granule;
    if (!aligned(iova, g) || !aligned(paddr, g) || !aligned(size, g) || size === 0) return -EINVAL;
    if ((prot & (IOMMU_READ | IOMMU_WRITE)) === 0) return -EINVAL;
    if (iova + size - 1 > this.apertureEnd) return -EFAULT;
    let mapped = 0;
    while (mapped < size) {
      const pg = this.pgsize(iova + mapped, paddr + mapped, size - mapped);
      const ret = this.setLeaf(iova + mapped, paddr + mapped, pg, prot);
      if (ret < 0) {
        // unroll what this call mapped, as __iommu_map() does
        if (mapped) this.unmap(iova, mapped);
        return ret;
      }
      mapped += pg;
    }
    return 0;
  }

  /**
   * iommu_unmap() on this table: bytes unmapped from `iova` on (see the file comment).
   * `onLeaf` is told of each leaf removed, by IOVA and size (the IOTLB gather hook,
   * io_pgtable_tlb_add_page()).
   */
  unmap(iova: number, size: number, onLeaf?: (iova: number, size: number) => void): number {
    const g = this.granule;
    if (!aligned(iova, g) || !aligned(size, g)) return 0;
    const ss = this.slotSize;
    let unmapped = 0;
    let at = iova;
    while (unmapped < size) {
      const index = Math.floor(at / ss);
      const slot = this.slotAt(index);
      if (!slot) break;
      let leafIova: number;
      let leafSize: number;
      if (slot.largeProt) {
        leafIova = index * ss;
        leafSize = ss;
        slot.largeProt = 0;
        this.largeLeaves--;
      } else {
        const i = (at - index * ss) / g;
        const prot = slot.prot!;
        if (!prot[i]) break;
        prot[i] = 0;
        slot.count--;
        this.smallLeaves--;
        leafIova = at;
        leafSize = g;
      }
      this.mappedBytes -= leafSize;
      this.ptesCleared++;
      onLeaf?.(leafIova, leafSize);
      at += leafSize;
      unmapped += leafSize;
    }
    return unmapped;
  }

  /** The leaf that maps `iova`, if any (a page-table walk). */
  leafAt(iova: number): IoPte | undefined {
    const ss = this.slotSize;
    const index = Math.floor(iova / ss);
    const slot = this.slotAt(index);
    if (!slot) return undefined;
    if (slot.largeProt) {
      return { iova: index * ss, paddr: slot.largePaddr, size: ss, prot: slot.largeProt };
    }
    const g = this.granule;
    const i = Math.floor((iova - index * ss) / g);
    const prot = slot.prot![i]!;
    if (!prot) return undefined;
    return { iova: index * ss + i * g, paddr: slot.paddr![i]!, size: g, prot };
  }

  /** iova_to_phys(): the physical address `iova` maps to, or undefined when it is not mapped. */
  iovaToPhys(iova: number): number | undefined {
    const pte = this.leafAt(iova);
    return pte ? pte.paddr + (iova - pte.iova) : undefined;
  }

  /** Every leaf, by IOVA (for reports and tests). */
  leaves(): IoPte[] {
    const out: IoPte[] = [];
    const ss = this.slotSize;
    const g = this.granule;
    for (const [index, slot] of this.slots) {
      const base = index * ss;
      if (slot.largeProt) {
        out.push({ iova: base, paddr: slot.largePaddr, size: ss, prot: slot.largeProt });
      } else if (slot.count) {
        const prot = slot.prot!;
        for (let i = 0; i < prot.length; i++) {
          if (prot[i])
            out.push({ iova: base + i * g, paddr: slot.paddr![i]!, size: g, prot: prot[i]! });
        }
      }
    }
    return out.sort((a, b) => a.iova - b.iova);
  }

  /** The level-2 entry for slot `index` when it maps anything (a superpage or small leaves). */
  private slotAt(index: number): PtSlot | undefined {
    const slot = index === this.lastIndex ? this.lastSlot : this.slots.get(index);
    if (!slot) return undefined;
    this.lastIndex = index;
    this.lastSlot = slot;
    return slot.largeProt || slot.count ? slot : undefined;
  }

  private setLeaf(iova: number, paddr: number, size: number, prot: number): number {
    const ss = this.slotSize;
    const index = Math.floor(iova / ss);
    let slot = index === this.lastIndex ? this.lastSlot : this.slots.get(index);
    if (!slot) {
      slot = { largePaddr: 0, largeProt: 0, paddr: undefined, prot: undefined, count: 0 };
      this.slots.set(index, slot);
    }
    this.lastIndex = index;
    this.lastSlot = slot;
    if (slot.largeProt) return -EEXIST;
    if (size === ss && this.superpageSize) {
      if (slot.count) return -EEXIST;
      slot.largePaddr = paddr;
      slot.largeProt = prot;
      this.largeLeaves++;
    } else {
      if (!slot.prot) {
        slot.prot = new Uint8Array(this.perTable);
        slot.paddr = new Float64Array(this.perTable);
      }
      const i = (iova - index * ss) / this.granule;
      if (slot.prot[i]) return -EEXIST;
      slot.prot[i] = prot;
      slot.paddr![i] = paddr;
      slot.count++;
      this.smallLeaves++;
    }
    this.mappedBytes += size;
    this.ptesSet++;
    return 0;
  }
}
