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
 * Storage is one map entry per leaf, keyed by leaf index, so a 2 MiB superpage is one entry.
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

export class IoPageTable {
  private readonly small = new Map<number, IoPte>();
  private readonly large = new Map<number, IoPte>();
  /** Small leaves inside each superpage-sized slot, to refuse a superpage over them. */
  private readonly smallPerSlot = new Map<number, number>();
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
  ) {}

  /** Leaves currently present. */
  get leafCount(): number {
    return this.small.size + this.large.size;
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
   * `onLeaf` is told of each leaf removed (the IOTLB gather hook, io_pgtable_tlb_add_page()).
   */
  unmap(iova: number, size: number, onLeaf?: (pte: IoPte) => void): number {
    const g = this.granule;
    if (!aligned(iova, g) || !aligned(size, g)) return 0;
    let unmapped = 0;
    let at = iova;
    while (unmapped < size) {
      const pte = this.leafAt(at);
      if (!pte) break;
      this.clearLeaf(pte);
      onLeaf?.(pte);
      at += pte.size;
      unmapped += pte.size;
    }
    return unmapped;
  }

  /** The leaf that maps `iova`, if any (a page-table walk). */
  leafAt(iova: number): IoPte | undefined {
    const sp = this.superpageSize;
    if (sp) {
      const l = this.large.get(Math.floor(iova / sp));
      if (l) return l;
    }
    return this.small.get(Math.floor(iova / this.granule));
  }

  /** iova_to_phys(): the physical address `iova` maps to, or undefined when it is not mapped. */
  iovaToPhys(iova: number): number | undefined {
    const pte = this.leafAt(iova);
    return pte ? pte.paddr + (iova - pte.iova) : undefined;
  }

  /** Every leaf, by IOVA (for reports and tests). */
  leaves(): IoPte[] {
    return [...this.large.values(), ...this.small.values()].sort((a, b) => a.iova - b.iova);
  }

  private setLeaf(iova: number, paddr: number, size: number, prot: number): number {
    const sp = this.superpageSize;
    const pte: IoPte = { iova, paddr, size, prot };
    if (size === sp) {
      const slot = iova / sp;
      if (this.large.has(slot) || (this.smallPerSlot.get(slot) ?? 0) > 0) return -EEXIST;
      this.large.set(slot, pte);
    } else {
      const idx = iova / this.granule;
      if (this.small.has(idx)) return -EEXIST;
      if (sp) {
        const slot = Math.floor(iova / sp);
        if (this.large.has(slot)) return -EEXIST;
        this.smallPerSlot.set(slot, (this.smallPerSlot.get(slot) ?? 0) + 1);
      }
      this.small.set(idx, pte);
    }
    this.mappedBytes += size;
    this.ptesSet++;
    return 0;
  }

  private clearLeaf(pte: IoPte): void {
    const sp = this.superpageSize;
    if (pte.size === sp && sp) {
      this.large.delete(pte.iova / sp);
    } else {
      this.small.delete(pte.iova / this.granule);
      if (sp) {
        const slot = Math.floor(pte.iova / sp);
        const n = (this.smallPerSlot.get(slot) ?? 1) - 1;
        if (n) this.smallPerSlot.set(slot, n);
        else this.smallPerSlot.delete(slot);
      }
    }
    this.mappedBytes -= pte.size;
    this.ptesCleared++;
  }
}
