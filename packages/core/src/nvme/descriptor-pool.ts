/**
 * The DMA pools the NVMe PCI driver takes PRP lists and SGL segments from (struct dma_pool,
 * mm/dmapool.c v6.3+; drivers/nvme/host/pci.c nvme_setup_prp_pools(), v5.15-v6.16; reference
 * §6.1): "prp list page" hands out 4096-byte blocks aligned to 4096, "prp list 256" 256-byte
 * blocks aligned to 256 (16 to a page). The 2026 driver calls them "nvme descriptor page" and
 * "nvme descriptor small".
 *
 * Coherent memory is modelled as a RAM region whose DMA address equals its CPU physical address,
 * which is what the device sees under dma-direct and what an IOMMU identity-maps; the scenario
 * layer decides where that region is (constructor argument) and keeps its buffers out of it.
 * Each block has its bytes (a DataView, little-endian as the device reads them) so that a
 * controller model can walk the lists by DMA address (lookup()).
 *
 * As mm/dmapool.c does, the pool carves a PAGE_SIZE allocation into blocks when its free list is
 * empty, hands out the lowest block of a fresh page first, and reuses freed blocks last-in
 * first-out without clearing them (a fresh page reads as zero). Allocations, frees, failures and
 * the pages taken are counted for the cost model.
 */
import { PAGE_SIZE } from '../mm/page';

/** Where a pool's coherent memory lies: DMA (= CPU physical) addresses [base, base + size). */
export interface NvmeDescriptorPoolRegion {
  base: number;
  size: number;
}

export interface NvmeDescriptorPoolOptions {
  /**
   * At most this many blocks in use at once; dma_pool_alloc(GFP_ATOMIC) fails beyond it
   * (models memory pressure). Default: as many as the region holds.
   */
  maxBlocks?: number;
}

/** Counters of one pool. */
export interface NvmeDescriptorPoolStats {
  /** Successful dma_pool_alloc() calls. */
  allocations: number;
  /** dma_pool_alloc() calls that returned NULL. */
  failures: number;
  /** dma_pool_free() calls. */
  frees: number;
  /** Blocks allocated and not freed. */
  inUse: number;
  /** The most blocks in use at once. */
  peakInUse: number;
  /** PAGE_SIZE allocations (dma_alloc_coherent()) carved into blocks. */
  pages: number;
}

/** One block of a pool: its DMA address and its bytes. */
export class NvmeDescriptorBlock {
  /** The block's memory as the device reads it (little-endian). */
  readonly view: DataView;
  /** Handed out and not freed. */
  allocated = false;

  constructor(
    readonly pool: NvmeDescriptorPool,
    /** The DMA address dma_pool_alloc() returned for it. */
    readonly dma: number,
    readonly size: number,
  ) {
    this.view = new DataView(new ArrayBuffer(size));
  }

  /** How many __le64 entries the block holds (512 for a page, 32 for a small block). */
  get entries(): number {
    return this.size / 8;
  }

  /** __le64 entry `i` as a bigint (every bit). */
  getLe64Big(i: number): bigint {
    return this.view.getBigUint64(this.slot(i, 8), true);
  }

  /** __le64 entry `i` (a DMA address); throws if it does not fit a safe integer. */
  getLe64(i: number): number {
    const v = this.getLe64Big(i);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new RangeError(`${this.pool.name}: entry ${i} = 0x${v.toString(16)} is above 2^53`);
    }
    return Number(v);
  }

  /** Writes __le64 entry `i` (cpu_to_le64(v)). */
  setLe64(i: number, v: number | bigint): void {
    const b = typeof v === 'bigint' ? v : BigInt(v);
    if (b < 0n || b >= 1n << 64n) throw new RangeError(`entry value ${v} is not a u64`);
    this.view.setBigUint64(this.slot(i, 8), b, true);
  }

  /** Every __le64 entry, as numbers. */
  le64s(): number[] {
    return Array.from({ length: this.entries }, (_, i) => this.getLe64(i));
  }

  /** The byte offset of item `i` of `itemSize` bytes; throws outside the block. */
  slot(i: number, itemSize: number): number {
    if (!Number.isInteger(i) || i < 0 || (i + 1) * itemSize > this.size) {
      throw new RangeError(
        `${this.pool.name}: item ${i} of ${itemSize} bytes is outside the block`,
      );
    }
    return i * itemSize;
  }
}

/** struct dma_pool: fixed-size blocks of DMA-coherent memory. */
export class NvmeDescriptorPool {
  readonly stats: NvmeDescriptorPoolStats = {
    allocations: 0,
    failures: 0,
    frees: 0,
    inUse: 0,
    peakInUse: 0,
    pages: 0,
  };
  /** Distance between blocks: the size rounded up to the alignment. */
  readonly stride: number;
  private readonly blocks: NvmeDescriptorBlock[] = [];
  private readonly freeList: NvmeDescriptorBlock[] = [];
  private readonly maxBlocks: number;
  private readonly pageBytes: number;
  private nextPage: number;

  /**
   * dma_pool_create(name, dev, size, align, boundary = 0)
   * @param region the coherent memory the pool carves its pages from (see the file comment)
   */
  constructor(
    readonly name: string,
    readonly size: number,
    readonly align: number,
    readonly region: NvmeDescriptorPoolRegion,
    opts: NvmeDescriptorPoolOptions = {},
  ) {
    if (!Number.isInteger(size) || size < 8 || size % 8 !== 0) {
      throw new RangeError(
        `dma_pool_create(${name}): size ${size} is not a positive multiple of 8`,
      );
    }
    if (!Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0) {
      throw new RangeError(`dma_pool_create(${name}): align ${align} is not a power of two`);
    }
    if (!Number.isSafeInteger(region.base) || region.base < 0 || region.base % PAGE_SIZE !== 0) {
      throw new RangeError(
        `dma_pool_create(${name}): region base ${region.base} is not page aligned`,
      );
    }
    if (!Number.isSafeInteger(region.size) || region.size <= 0) {
      throw new RangeError(`dma_pool_create(${name}): region size ${region.size}`);
    }
    this.stride = Math.ceil(size / align) * align;
    // mm/dmapool.c: allocation = max(size, PAGE_SIZE), blocks never straddle it.
    this.pageBytes = Math.max(this.stride, PAGE_SIZE);
    this.nextPage = region.base;
    this.maxBlocks = opts.maxBlocks ?? Number.MAX_SAFE_INTEGER;
  }

  /**
   * dma_pool_alloc(pool, GFP_ATOMIC, &dma): a block, or undefined when the pool is at maxBlocks
   * or its region is used up (the kernel's NULL).
   */
  alloc(): NvmeDescriptorBlock | undefined {
    const s = this.stats;
    if (s.inUse >= this.maxBlocks || (!this.freeList.length && !this.carvePage())) {
      s.failures++;
      return undefined;
    }
    const block = this.freeList.pop()!;
    block.allocated = true;
    s.allocations++;
    s.inUse++;
    s.peakInUse = Math.max(s.peakInUse, s.inUse);
    return block;
  }

  /** dma_pool_free(pool, vaddr, dma). Freeing a block twice or another pool's block throws. */
  free(block: NvmeDescriptorBlock): void {
    if (block.pool !== this) {
      throw new RangeError(
        `dma_pool_free(${this.name}): block 0x${block.dma.toString(16)} is not from this pool`,
      );
    }
    if (!block.allocated) {
      throw new RangeError(
        `dma_pool_free(${this.name}): block 0x${block.dma.toString(16)} is already free`,
      );
    }
    block.allocated = false;
    this.freeList.push(block);
    this.stats.frees++;
    this.stats.inUse--;
  }

  /**
   * Model introspection: the block holding DMA address `dma` and the offset in it, for a
   * controller walking a list (a freed block is returned too; its `allocated` says so).
   */
  lookup(dma: number): { block: NvmeDescriptorBlock; offset: number } | undefined {
    const rel = dma - this.region.base;
    if (!Number.isSafeInteger(rel) || rel < 0) return undefined;
    const block = this.blocks[Math.floor(rel / this.stride)];
    if (!block || dma >= block.dma + block.size) return undefined;
    return { block, offset: dma - block.dma };
  }

  private carvePage(): boolean {
    const start = this.nextPage;
    if (start + this.pageBytes > this.region.base + this.region.size) return false;
    this.nextPage += this.pageBytes;
    this.stats.pages++;
    const fresh: NvmeDescriptorBlock[] = [];
    for (let off = 0; off + this.stride <= this.pageBytes; off += this.stride) {
      const b = new NvmeDescriptorBlock(this, start + off, this.size);
      this.blocks[(start + off - this.region.base) / this.stride] = b;
      fresh.push(b);
    }
    // The lowest block of the page is handed out first.
    for (let i = fresh.length - 1; i >= 0; i--) this.freeList.push(fresh[i]!);
    return true;
  }
}
