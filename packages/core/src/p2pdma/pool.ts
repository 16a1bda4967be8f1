/**
 * The kernel's general-purpose special-memory allocator (lib/genalloc.c, "genalloc"), as P2PDMA
 * uses it for provider memory: one pool per provider, created with gen_pool_create(PAGE_SHIFT)
 * so every allocation is a whole number of 4 KiB units, the default first-fit algorithm, and one
 * chunk per pci_p2pdma_add_resource() added with gen_pool_add_owner(virt, phys, size, nid, owner).
 *
 * The kernel keeps a bitmap per chunk (one bit per unit). A 64 GiB BAR would be 16M bits, so this
 * model keeps each chunk's free space as a sorted list of free extents instead; first fit over the
 * extents picks the same unit as bitmap_find_next_zero_area() over the bitmap, and nothing is
 * allocated per page.
 *
 * Behaviour follows lib/genalloc.c as of v6.x (unchanged in substance since v5.3 added the
 * `owner` variants):
 * - chunks are searched newest first (gen_pool_add_owner() does list_add_rcu() at the head);
 * - an allocation of `size` bytes takes ceil(size / unit) units from the lowest free run that
 *   fits in the first chunk that has one; a chunk whose avail is below `size` is skipped;
 * - a free gives back ceil(size / unit) units starting at the unit that contains `addr`; freeing
 *   units that are not allocated, or an address outside every chunk, is a BUG() in the kernel and
 *   an exception here (misuse);
 * - a chunk's avail starts at its byte size (a trailing partial unit counts in `size` and `avail`
 *   but can never be allocated, as in the kernel);
 * - gen_pool_virt_to_phys() maps an address in a chunk to the chunk's phys + the offset, and
 *   returns (phys_addr_t)-1, modelled as -1, for an address outside every chunk.
 *
 * Addresses are numbers (below 2^53).
 */
import { hexAddr } from '../pci/units';
import type { P2pdmaPool } from './state';

/** A run of free units in a chunk: units [start, start + len). */
interface FreeExtent {
  start: number;
  len: number;
}

/** struct gen_pool_chunk */
export class GenPoolChunk {
  /** chunk->avail: bytes not allocated. */
  avail: number;
  /** Number of allocatable units: size >> min_alloc_order. */
  readonly nbits: number;
  /** Free units, sorted by start, never overlapping or touching. */
  private readonly free: FreeExtent[];

  constructor(
    /** chunk->start_addr: the (kernel virtual) address the pool hands out. */
    readonly virt: number,
    /** chunk->phys_addr: what gen_pool_virt_to_phys() returns for `virt`. */
    readonly phys: number,
    /** end_addr - start_addr + 1 */
    readonly size: number,
    readonly order: number,
    /** chunk->owner, returned by the *_owner calls (P2PDMA stores the pgmap's percpu ref). */
    readonly owner: unknown,
  ) {
    this.avail = size;
    this.nbits = Math.floor(size / 2 ** order);
    this.free = this.nbits > 0 ? [{ start: 0, len: this.nbits }] : [];
  }

  /** chunk->end_addr (inclusive). */
  get endAddr(): number {
    return this.virt + this.size - 1;
  }

  /** Number of free extents (fragmentation); the kernel has no such count. */
  get freeExtents(): number {
    return this.free.length;
  }

  /** gen_pool_first_fit(): the lowest unit starting `nbits` free units, or undefined. */
  firstFit(nbits: number): number | undefined {
    for (const e of this.free) if (e.len >= nbits) return e.start;
    return undefined;
  }

  /** bitmap_set_ll() of units [start, start + nbits), which must be free (firstFit found them). */
  setUnits(start: number, nbits: number): void {
    const i = this.lowerBoundByEnd(start);
    const e = this.free[i];
    if (e === undefined || e.start > start || start + nbits > e.start + e.len) {
      throw new Error(`genalloc: units ${start}+${nbits} are not free`);
    }
    const before: FreeExtent = { start: e.start, len: start - e.start };
    const after: FreeExtent = { start: start + nbits, len: e.start + e.len - (start + nbits) };
    const keep = [before, after].filter((x) => x.len > 0);
    this.free.splice(i, 1, ...keep);
  }

  /** Whether every unit of [start, start + nbits) is allocated (bitmap_clear_ll() would clear all). */
  allAllocated(start: number, nbits: number): boolean {
    if (start + nbits > this.nbits) return false;
    const end = start + nbits;
    // First free extent that ends after `start`: it must begin at or after `end`.
    const i = this.lowerBoundByEnd(start);
    return i >= this.free.length || this.free[i].start >= end;
  }

  /** bitmap_clear_ll() of units that are all allocated: inserts and merges a free extent. */
  clearUnits(start: number, nbits: number): void {
    if (nbits === 0) return;
    const i = this.lowerBoundByEnd(start);
    const prev = i > 0 ? this.free[i - 1] : undefined;
    const next = i < this.free.length ? this.free[i] : undefined;
    const joinPrev = prev !== undefined && prev.start + prev.len === start;
    const joinNext = next !== undefined && next.start === start + nbits;
    if (joinPrev && joinNext) {
      prev.len += nbits + next.len;
      this.free.splice(i, 1);
    } else if (joinPrev) {
      prev.len += nbits;
    } else if (joinNext) {
      next.start = start;
      next.len += nbits;
    } else {
      this.free.splice(i, 0, { start, len: nbits });
    }
  }

  /** Index of the first free extent whose end (start + len) is above `unit`. */
  private lowerBoundByEnd(unit: number): number {
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = this.free[mid];
      if (e.start + e.len <= unit) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function checkAddr(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`genalloc: ${what} ${n} is not a non-negative safe integer`);
  }
}

/** struct gen_pool with the default algorithm (gen_pool_first_fit). */
export class GenPool implements P2pdmaPool {
  /** pool->chunks in list order: the most recently added chunk first. */
  readonly chunks: GenPoolChunk[] = [];

  /**
   * gen_pool_create(min_alloc_order, nid) (lib/genalloc.c): P2PDMA passes PAGE_SHIFT (12), so
   * the allocation unit is 4 KiB.
   */
  constructor(
    readonly minAllocOrder: number,
    readonly nid = -1,
  ) {
    if (!Number.isInteger(minAllocOrder) || minAllocOrder < 0 || minAllocOrder > 40) {
      throw new RangeError(`genalloc: min_alloc_order ${minAllocOrder} is out of range`);
    }
  }

  /** Bytes per allocation unit: 1 << min_alloc_order. */
  get unit(): number {
    return 2 ** this.minAllocOrder;
  }

  /**
   * gen_pool_add_owner(pool, virt, phys, size, nid, owner) (lib/genalloc.c, v5.3+): adds a chunk
   * at the head of the chunk list. Returns 0 (the kernel's only other result is -ENOMEM when the
   * chunk's bitmap cannot be allocated, which the model never runs out of).
   */
  addOwner(virt: number, phys: number, size: number, owner?: unknown): number {
    checkAddr('virt', virt);
    checkAddr('phys', phys);
    checkAddr('size', size);
    this.chunks.unshift(new GenPoolChunk(virt, phys, size, this.minAllocOrder, owner));
    return 0;
  }

  /**
   * gen_pool_alloc_owner(pool, size, &owner) with gen_pool_first_fit (lib/genalloc.c): returns
   * the address and the chunk's owner, or undefined where the kernel returns 0 (size 0, or no
   * chunk has ceil(size / unit) contiguous free units).
   */
  allocOwner(size: number): { addr: number; owner: unknown } | undefined {
    checkAddr('size', size);
    if (size === 0) return undefined;
    const order = this.minAllocOrder;
    const nbits = Math.ceil(size / 2 ** order);
    for (const chunk of this.chunks) {
      if (size > chunk.avail) continue;
      const startBit = chunk.firstFit(nbits);
      if (startBit === undefined) continue;
      chunk.setUnits(startBit, nbits);
      chunk.avail -= nbits * 2 ** order;
      return { addr: chunk.virt + startBit * 2 ** order, owner: chunk.owner };
    }
    return undefined;
  }

  /** gen_pool_alloc(pool, size): the address, or undefined where the kernel returns 0. */
  alloc(size: number): number | undefined {
    return this.allocOwner(size)?.addr;
  }

  /**
   * gen_pool_free_owner(pool, addr, size, &owner) (lib/genalloc.c): returns ceil(size / unit)
   * units starting at the unit holding `addr` and gives back the chunk's owner. Throws where the
   * kernel hits BUG(): `addr` in no chunk, the range running past the chunk, or any of the units
   * not allocated (double free). Any allocated sub-range may be freed (P2PDMA's page free
   * callback returns pages of one allocation one by one).
   */
  freeOwner(addr: number, size: number): unknown {
    checkAddr('addr', addr);
    checkAddr('size', size);
    const order = this.minAllocOrder;
    const nbits = Math.ceil(size / 2 ** order);
    const chunk = this.chunkOf(addr);
    if (!chunk) throw new Error(`genalloc: BUG: free of ${hexAddr(addr)} outside every chunk`);
    if (addr + size - 1 > chunk.endAddr) {
      throw new Error(
        `genalloc: BUG: free of ${hexAddr(addr)}+${hexAddr(size)} runs past the chunk end ${hexAddr(chunk.endAddr)}`,
      );
    }
    const startBit = Math.floor((addr - chunk.virt) / 2 ** order);
    if (!chunk.allAllocated(startBit, nbits)) {
      throw new Error(
        `genalloc: BUG: free of ${hexAddr(addr)}+${hexAddr(size)} covers units that are not allocated`,
      );
    }
    chunk.clearUnits(startBit, nbits);
    chunk.avail += nbits * 2 ** order;
    return chunk.owner;
  }

  /** gen_pool_free(pool, addr, size) */
  free(addr: number, size: number): void {
    this.freeOwner(addr, size);
  }

  /** gen_pool_virt_to_phys(): chunk phys + offset, or -1 ((phys_addr_t)-1) outside every chunk. */
  virtToPhys(addr: number): number {
    const chunk = this.chunkOf(addr);
    return chunk ? chunk.phys + (addr - chunk.virt) : -1;
  }

  /** gen_pool_has_addr(pool, start, size): [start, start + size) lies in one chunk. */
  hasAddr(start: number, size: number): boolean {
    const chunk = this.chunkOf(start);
    return chunk !== undefined && start + size - 1 <= chunk.endAddr;
  }

  /** gen_pool_size(): total bytes of all chunks. */
  get size(): number {
    return this.chunks.reduce((n, c) => n + c.size, 0);
  }

  /** gen_pool_avail(): bytes not allocated. */
  get available(): number {
    return this.chunks.reduce((n, c) => n + c.avail, 0);
  }

  private chunkOf(addr: number): GenPoolChunk | undefined {
    return this.chunks.find((c) => addr >= c.virt && addr <= c.endAddr);
  }
}
