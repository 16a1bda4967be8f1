/**
 * The IOVA allocator: struct iova_domain and its range caches (drivers/iommu/iova.c,
 * include/linux/iova.h; v6.16, reference §4.5).
 *
 * A domain hands out ranges of IOVA page frames ("pfns" of `granule` bytes) top-down below a
 * limit, each one aligned to its size rounded up to a power of two. Live ranges are nodes of an
 * ordered tree keyed by pfn_lo, topped by an anchor node at IOVA_ANCHOR. Two cached nodes (one for
 * 32-bit limits, one for the full range) remember where the last allocation ended, so that the
 * next one starts walking down from there. alloc_iova_fast()/free_iova_fast() put a per-CPU
 * magazine cache in front of the tree for ranges of 1..32 pages.
 *
 * The tree. The kernel's is a red-black tree; here it is a treap (priorities from a seeded
 * xorshift, so runs repeat) with parent pointers and in-order prev/next threads: insert, erase
 * and find are O(log n) expected in the number of live ranges n, rb_prev()/rb_next() are O(1).
 *
 * The allocation walk. The kernel walks rb_prev() from the cached node until a gap fits, one
 * step per node it skips: O(1) while allocations stream below the cached node, but up to O(n)
 * once frees leave holes above it that are too small (after a free above the cached node, the
 * cached node moves up to the freed range's successor). Under random churn with 100 k live ranges
 * that is thousands of steps per allocation. The model reaches the same node without the steps:
 * each node also keeps, for alignments 1..128 pages, the largest aligned range that fits in the
 * gap below it, the maxima of those over its subtree, and its subtree's node count (an augmented
 * tree, as mm/vmalloc.c keeps subtree_max_size), so the search skips every subtree that cannot
 * hold the request: O(log n) for requests aligned to at most 128 pages (every rcache size and
 * every NVMe-sized mapping); for larger alignments the 128-page figure only bounds the search.
 * The result is the kernel's (the property tests cross-check it against a literal walk, which
 * IovaDomainOptions.literalWalk selects), and stats.walkSteps counts the steps the kernel's walk
 * takes (from the ranks of its start and stop nodes), so a cost model can charge them.
 *
 * Numbers: pfns are JavaScript integers (a 64-bit DMA limit is saturated at 2^53 - 1 bytes by
 * DmaDevice, which is 2^41 pfns of 4 KiB), and IOVA_ANCHOR stands for ~0UL above all of them.
 * Alignment is done with arithmetic, not 32-bit bitwise operators.
 */
import { SimClock, NSEC_PER_MSEC, type SimTimer, type KernelLog } from '@dmasim/core';

/** PAGE_SIZE the granule may not exceed (init_iova_domain() BUG_ON). */
const PAGE_SIZE_MODEL = 4096;
/** log2 of the largest cached range size in pages, plus one: orders 0..5, 1..32 pages. */
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;
/** pfns per magazine (a 1 KiB struct iova_magazine). */
export const IOVA_MAG_SIZE = 127;
/** IOVA_DEPOT_DELAY: msecs_to_jiffies(100), the depot trim period. */
export const IOVA_DEPOT_DELAY_NS = 100 * NSEC_PER_MSEC;
/** IOVA_ANCHOR (~0UL): the anchor node sits above every usable pfn. */
export const IOVA_ANCHOR = Number.MAX_SAFE_INTEGER;

/** Alignment orders the tree keeps gap figures for: 2^0..2^7 pages. */
const CAP_ORDERS = 8;

/** x rounded down to a multiple of `align` (a power of two); also for negative x. */
function alignDown(x: number, align: number): number {
  if (align === 1) return x;
  const m = x % align;
  return m < 0 ? x - m - align : x - m;
}

/** x rounded up to a multiple of `align`. */
function alignUp(x: number, align: number): number {
  return -alignDown(-x, align);
}

/** fls_long(): position of the most significant set bit, 1-based; 0 for 0. */
export function flsLong(x: number): number {
  if (x <= 0) return 0;
  if (x < 0x1_0000_0000) return 32 - Math.clz32(x);
  return 32 + flsLong(Math.floor(x / 0x1_0000_0000));
}

/** roundup_pow_of_two() */
export function roundupPowOfTwo(x: number): number {
  return x <= 1 ? 1 : 2 ** flsLong(x - 1);
}

/** order_base_2(): ceil(log2(x)), 0 for 0 and 1. */
export function orderBase2(x: number): number {
  return x <= 1 ? 0 : flsLong(x - 1);
}

/**
 * struct iova: one live (allocated or reserved) range [pfnLo, pfnHi], and its node in the
 * domain's tree. Like the kernel's iova_cache, a domain recycles the objects of freed ranges:
 * an Iova must not be used after its range is freed.
 */
export class Iova {
  left: Iova | null = null;
  right: Iova | null = null;
  parent: Iova | null = null;
  /** rb_prev() / rb_next(): in-order neighbours, kept by insert and erase. */
  prev: Iova | null = null;
  next: Iova | null = null;
  /**
   * Augmentation: cap[k] (k < CAP_ORDERS) is the largest range aligned to 2^k pages that fits in
   * the gap between rb_prev() and this node when placed top-down (pfn_lo minus the first multiple
   * of 2^k above the predecessor; Infinity for the first node); cap[CAP_ORDERS + k] is the
   * maximum of cap[k] over this node's subtree.
   */
  readonly cap = new Float64Array(2 * CAP_ORDERS).fill(Infinity);
  /** Nodes in this subtree. */
  cnt = 1;

  constructor(
    public pfnLo: number,
    public pfnHi: number,
    /** Treap priority (max-heap). */
    public prio: number,
  ) {}
}

/** Tree and cache work done by a domain, for tests and benchmarks. */
export class IovaStats {
  /** Nodes inserted into the tree (allocations and reservations). */
  inserts = 0;
  /** Nodes erased from the tree. */
  erases = 0;
  /** Tree searches by pfn (find_iova, freeing a cached pfn back). */
  lookups = 0;
  /** rb_prev() steps of the top-down allocation walk. */
  walkSteps = 0;
  /** __alloc_and_insert_iova_range() calls and how many failed. */
  rangeAllocs = 0;
  rangeAllocFailures = 0;
  /** alloc_iova_fast() satisfied from a magazine. */
  rcacheHits = 0;
  /** free_iova_fast() that went into a magazine. */
  rcacheInserts = 0;
  /** Magazines freed by the delayed depot trim. */
  depotTrims = 0;

  reset(): void {
    this.inserts = this.erases = this.lookups = this.walkSteps = 0;
    this.rangeAllocs = this.rangeAllocFailures = 0;
    this.rcacheHits = this.rcacheInserts = this.depotTrims = 0;
  }
}

/** struct iova_magazine: a stack of up to IOVA_MAG_SIZE pfns of one order. */
export class IovaMagazine {
  size = 0;
  readonly pfns = new Float64Array(IOVA_MAG_SIZE);

  full(): boolean {
    return this.size === IOVA_MAG_SIZE;
  }

  empty(): boolean {
    return this.size === 0;
  }
}

/** struct iova_cpu_rcache */
interface IovaCpuRcache {
  loaded: IovaMagazine;
  prev: IovaMagazine;
}

/** struct iova_rcache: one order's per-CPU magazines and depot of full magazines. */
class IovaRcache {
  /** The depot: a stack of full magazines (the kernel links them through mag->next). */
  readonly depot: IovaMagazine[] = [];
  readonly cpu: IovaCpuRcache[];
  /** rcache->work, a delayed work item on the clock. */
  readonly work: SimTimer;

  constructor(nrCpus: number, clock: SimClock, trim: (r: IovaRcache) => void) {
    this.cpu = [];
    for (let i = 0; i < nrCpus; i++) {
      this.cpu.push({ loaded: new IovaMagazine(), prev: new IovaMagazine() });
    }
    this.work = clock.timer(() => trim(this));
  }
}

export interface IovaDomainOptions {
  /** Possible = online CPUs, each with its own magazines (num_online_cpus()); default 1. */
  nrCpus?: number;
  /** The kernel's clock, for the depot trim; default a private one. */
  clock?: SimClock;
  /** Log for WARN_ON()s (a cached pfn missing from the tree); optional. */
  log?: KernelLog;
  /** Seed of the treap priorities; default fixed, so runs repeat. */
  seed?: number;
  /**
   * Walk the tree one rb_prev() at a time as the kernel does, instead of the augmented search
   * that finds the same node in O(log n); for cross-checking the two. Default false.
   */
  literalWalk?: boolean;
}

/** struct iova_domain with its rcaches (iova_domain_init_rcaches() done at construction). */
export class IovaDomain {
  readonly granule: number;
  /** iova_shift(): log2(granule). */
  readonly shift: number;
  /** start_pfn: the lowest pfn handed out. */
  readonly startPfn: number;
  /** dma_32bit_pfn: first pfn at or above 4 GiB. */
  readonly dma32bitPfn: number;
  /** max32_alloc_size: requests of this many pages or more below 4 GiB fail fast. */
  max32AllocSize: number;
  readonly anchor: Iova;
  cachedNode: Iova;
  cached32Node: Iova;
  readonly nrCpus: number;
  /** smp_processor_id() for the rcaches and flush queues; the caller switches it. */
  cpu = 0;
  readonly clock: SimClock;
  readonly stats = new IovaStats();

  private root: Iova | null = null;
  private rng: number;
  private readonly rcaches: IovaRcache[] = [];
  private readonly log: KernelLog | undefined;
  private readonly literalWalk: boolean;
  /** Freed nodes for reuse (the iova kmem_cache): no allocation per range in steady state. */
  private readonly spare: Iova[] = [];
  /** pfn_lo -> node: find_iova() of a range's first pfn (the free path) without a descent. */
  private readonly byPfnLo = new Map<number, Iova>();

  /**
   * init_iova_domain(iovad, granule, start_pfn) + iova_domain_init_rcaches(). The caller
   * (iommu_dma_init_domain(), see IommuDmaCookie) passes start_pfn = max(1, aperture start), so
   * IOVA 0 is never handed out.
   */
  constructor(granule: number, startPfn: number, options: IovaDomainOptions = {}) {
    if (!(granule > 0 && granule <= PAGE_SIZE_MODEL && (granule & (granule - 1)) === 0)) {
      throw new RangeError(`init_iova_domain: granule ${granule} must be a power of two <= 4096`);
    }
    if (!Number.isSafeInteger(startPfn) || startPfn < 0) {
      throw new RangeError(`init_iova_domain: bad start_pfn ${startPfn}`);
    }
    const nrCpus = options.nrCpus ?? 1;
    if (!Number.isInteger(nrCpus) || nrCpus < 1) {
      throw new RangeError(`IovaDomain: nrCpus ${nrCpus} must be a positive integer`);
    }
    this.granule = granule;
    this.shift = 31 - Math.clz32(granule);
    this.startPfn = startPfn;
    this.dma32bitPfn = 2 ** (32 - this.shift);
    this.max32AllocSize = this.dma32bitPfn;
    this.rng = (options.seed ?? 0x9e3779b9) | 0 || 1;
    this.anchor = new Iova(IOVA_ANCHOR, IOVA_ANCHOR, this.nextPrio());
    this.root = this.anchor;
    this.cachedNode = this.anchor;
    this.cached32Node = this.anchor;
    this.nrCpus = nrCpus;
    this.clock = options.clock ?? new SimClock();
    this.log = options.log;
    this.literalWalk = options.literalWalk ?? false;
    const trim = (r: IovaRcache): void => this.depotWork(r);
    for (let i = 0; i < IOVA_RANGE_CACHE_MAX_SIZE; i++) {
      this.rcaches.push(new IovaRcache(nrCpus, this.clock, trim));
    }
  }

  /** iova_pfn(): the pfn of an IOVA byte address. */
  iovaPfn(iova: number): number {
    return Math.floor(iova / this.granule);
  }

  /**
   * alloc_iova(iovad, size, limit_pfn, size_aligned): a new range of `size` pfns ending at or
   * below `limitPfn` (inclusive), top-down; aligned to roundup_pow_of_two(size) if `sizeAligned`.
   * @returns the new node, or null when no range fits (the kernel returns NULL)
   */
  allocIova(size: number, limitPfn: number, sizeAligned: boolean): Iova | null {
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(`alloc_iova: size ${size} must be a positive integer`);
    }
    return this.allocAndInsertIovaRange(size, limitPfn + 1, sizeAligned);
  }

  /**
   * __alloc_and_insert_iova_range() (v6.0+, with the iova_find_limit() retry): `limitPfn` is
   * exclusive here, as in the kernel. Walks down from the cached node to the first gap an aligned
   * range fits in; on failure retries once from the top of the limit down to just above where the
   * first walk started; on final failure records max32_alloc_size = size. The new node becomes
   * the cached node.
   */
  private allocAndInsertIovaRange(
    size: number,
    limitPfn: number,
    sizeAligned: boolean,
  ): Iova | null {
    const stats = this.stats;
    stats.rangeAllocs++;
    // fls_long(size - 1): the next power of two >= size
    const align = sizeAligned ? 2 ** flsLong(size - 1) : 1;
    const dma32 = this.dma32bitPfn;
    if (limitPfn <= dma32 && size >= this.max32AllocSize) {
      stats.rangeAllocFailures++;
      return null;
    }
    const start = limitPfn <= dma32 ? this.cached32Node : this.cachedNode;
    const retryPfn = start.pfnHi;
    const walk = this.literalWalk ? this.walkLiteral : this.walkAugmented;
    let stop = walk.call(this, start, size, align, limitPfn, this.startPfn);
    if (stop === null && retryPfn < limitPfn) {
      stop = walk.call(this, this.iovaFindLimit(limitPfn), size, align, limitPfn, retryPfn + 1);
    }
    if (stop === null) {
      this.max32AllocSize = size;
      stats.rangeAllocFailures++;
      return null;
    }
    const h = stop.pfnLo < limitPfn ? stop.pfnLo : limitPfn;
    const newPfn = alignDown(h - size, align);
    const node = this.newIova(newPfn, newPfn + size - 1);
    // The new range lies between rb_prev(stop) and stop.
    this.insertBetween(node, stop.prev, stop);
    // __cached_rbnode_insert_update()
    if (node.pfnHi < dma32) this.cached32Node = node;
    else this.cachedNode = node;
    return node;
  }

  /**
   * The kernel's do/while walk, one rb_prev() per step: from `curr` down, high = min(high,
   * curr.pfn_lo), candidate = (high - size) aligned down, until the candidate lies above the
   * previous node's pfn_hi, there is no previous node, or the candidate drops below `lowPfn`.
   * @returns the node the new range goes right below, or null when the walk failed
   */
  private walkLiteral(
    curr: Iova,
    size: number,
    align: number,
    limitPfn: number,
    lowPfn: number,
  ): Iova | null {
    let high = limitPfn;
    let newPfn: number;
    let steps = 0;
    for (let c = curr; ;) {
      if (c.pfnLo < high) high = c.pfnLo;
      newPfn = alignDown(high - size, align);
      steps++;
      const p = c.prev;
      if (p === null || newPfn > p.pfnHi || newPfn < lowPfn) {
        this.stats.walkSteps += steps;
        return high < size || newPfn < lowPfn ? null : c;
      }
      c = p;
    }
  }

  /**
   * The same walk, same result, without visiting every node it skips. The walk stops at the
   * first node c (descending from `curr`) where either the candidate below min(limit, c.pfn_lo)
   * clears c's predecessor (a "fit") or drops below `lowPfn` (a failure). Nodes at or above the
   * limit all share one candidate, so their first fit is the successor of the highest node ending
   * below it; below the limit a fit is a node whose cap[] for the request's alignment is at
   * least `size`, and the subtree maxima let the search skip subtrees without one. The failure
   * point is a plain key search. Cost: O(log n) for alignments up to 2^(CAP_ORDERS-1) pages.
   * stats.walkSteps still counts the kernel's steps, from the ranks of the start and stop nodes.
   */
  private walkAugmented(
    curr: Iova,
    size: number,
    align: number,
    limitPfn: number,
    lowPfn: number,
  ): Iova | null {
    let top = curr;
    let stop: Iova | null = null;
    if (curr.pfnLo >= limitPfn) {
      // every node here has high = limit and the same candidate
      const cand = alignDown(limitPfn - size, align);
      if (limitPfn < size || cand < lowPfn) {
        stop = curr;
      } else {
        const q = this.lastWith((n) => n.pfnHi < cand);
        const c = q === null ? this.first() : (q.next as Iova);
        if (c.pfnLo >= limitPfn) stop = c;
        else top = this.lastWith((n) => n.pfnLo < limitPfn) as Iova;
      }
    }
    if (stop === null) {
      // below the limit: high = c.pfn_lo; the candidate is below lowPfn once
      // c.pfn_lo - size < lowPfn rounded up to the alignment
      const lowKey = alignUp(lowPfn, align) + size;
      let lowStop: Iova | null = top.pfnLo < lowKey ? top : null;
      if (lowStop === null) lowStop = this.lastWith((n) => n.pfnLo < lowKey);
      const minLo = lowStop === null ? -Infinity : lowStop.pfnLo;
      const fit = this.fitBelow(top, size, align, minLo);
      stop = fit !== null && (lowStop === null || fit.pfnLo > lowStop.pfnLo) ? fit : lowStop;
      if (stop === null) throw new Error('iova: walk found neither a fit nor a low stop');
    }
    this.stats.walkSteps += this.rank(curr) - this.rank(stop) + 1;
    const h = stop.pfnLo < limitPfn ? stop.pfnLo : limitPfn;
    const newPfn = alignDown(h - size, align);
    return h < size || newPfn < lowPfn ? null : stop;
  }

  /** Does a range of `size` fit right below `n` (below the limit: high = n.pfn_lo)? */
  private fitsBelow(n: Iova, size: number, align: number): boolean {
    if (n.cap[capOrder(align)] < size) return false;
    const p = n.prev;
    return p === null || alignDown(n.pfnLo - size, align) > p.pfnHi;
  }

  /** The first node from `top` downwards (pfn_lo >= minLo) below which the range fits. */
  private fitBelow(top: Iova, size: number, align: number, minLo: number): Iova | null {
    if (top.pfnLo < minLo) return null;
    if (this.fitsBelow(top, size, align)) return top;
    let r = this.fitInSubtree(top.left, size, align, minLo);
    if (r !== null) return r;
    for (let x = top, g = x.parent; g !== null; x = g, g = g.parent) {
      if (g.right !== x) continue;
      if (g.pfnLo < minLo) return null;
      if (this.fitsBelow(g, size, align)) return g;
      r = this.fitInSubtree(g.left, size, align, minLo);
      if (r !== null) return r;
    }
    return null;
  }

  /** The highest node of a subtree (pfn_lo >= minLo) below which the range fits. */
  private fitInSubtree(n: Iova | null, size: number, align: number, minLo: number): Iova | null {
    const k = CAP_ORDERS + capOrder(align);
    while (n !== null && n.cap[k] >= size) {
      if (n.pfnLo < minLo) {
        n = n.right;
        continue;
      }
      const r = this.fitInSubtree(n.right, size, align, minLo);
      if (r !== null) return r;
      if (this.fitsBelow(n, size, align)) return n;
      n = n.left;
    }
    return null;
  }

  /** The last node in order satisfying a predicate that holds for a prefix of the order. */
  private lastWith(pred: (n: Iova) => boolean): Iova | null {
    let n = this.root;
    let best: Iova | null = null;
    while (n !== null) {
      if (pred(n)) {
        best = n;
        n = n.right;
      } else n = n.left;
    }
    return best;
  }

  /** rb_first() */
  private first(): Iova {
    let n = this.root as Iova;
    while (n.left !== null) n = n.left;
    return n;
  }

  /** Nodes before `x` in order. O(log n) from the subtree counts. */
  private rank(x: Iova): number {
    let r = x.left === null ? 0 : x.left.cnt;
    for (let c = x, g = c.parent; g !== null; c = g, g = g.parent) {
      if (g.right === c) r += (g.left === null ? 0 : g.left.cnt) + 1;
    }
    return r;
  }

  /**
   * iova_find_limit(): where the retry walk starts: the anchor for limits above 4 GiB, else the
   * lowest node reaching `limitPfn` (exclusive limit), so that everything below the limit lies
   * to its left. O(log n).
   */
  private iovaFindLimit(limitPfn: number): Iova {
    if (limitPfn > this.dma32bitPfn) return this.anchor;
    let n = this.root;
    let best: Iova = this.anchor;
    while (n !== null) {
      if (n.pfnHi >= limitPfn) {
        best = n;
        n = n.left;
      } else n = n.right;
    }
    return best;
  }

  /**
   * find_iova(): the live range containing `pfn`, or null. A range's first pfn is looked up in
   * a map (same answer, no descent); any other pfn by descent, O(log n).
   */
  findIova(pfn: number): Iova | null {
    this.stats.lookups++;
    const hit = this.byPfnLo.get(pfn);
    if (hit !== undefined) return hit;
    let n = this.root;
    while (n !== null) {
      if (pfn < n.pfnLo) n = n.left;
      else if (pfn > n.pfnHi) n = n.right;
      else return n;
    }
    return null;
  }

  /** __free_iova(): removes a node found earlier. */
  freeIovaNode(iova: Iova): void {
    if (iova === this.anchor) throw new Error('__free_iova: the anchor is not a range');
    this.removeIova(iova);
  }

  /** free_iova(): frees the range containing `pfn`; nothing if there is none. */
  freeIova(pfn: number): void {
    const iova = this.findIova(pfn);
    if (iova !== null && iova !== this.anchor) this.removeIova(iova);
  }

  /**
   * remove_iova() with __cached_rbnode_delete_update(): a cached node at or below the freed
   * range moves up to rb_next(free); freeing anything starting below 4 GiB resets
   * max32_alloc_size, since a 32-bit request of any size may fit again.
   */
  private removeIova(free: Iova): void {
    const dma32 = this.dma32bitPfn;
    const c32 = this.cached32Node;
    if (free === c32 || (free.pfnHi < dma32 && free.pfnLo >= c32.pfnLo)) {
      this.cached32Node = free.next as Iova;
    }
    if (free.pfnLo < dma32) this.max32AllocSize = dma32;
    if (free.pfnLo >= this.cachedNode.pfnLo) this.cachedNode = free.next as Iova;
    this.erase(free);
  }

  /**
   * reserve_iova(iovad, pfn_lo, pfn_hi): keeps [pfnLo, pfnHi] out of every allocation (MSI
   * windows, host-bridge windows, dma-ranges gaps). Overlapping live ranges are merged the kernel's
   * way (an overlapped node is extended down to the request; the part above it continues).
   * The kernel scans from rb_first(); here the first overlapping node is found by descent,
   * O(log n + overlaps), with the same outcome.
   * @returns the node covering the end of the request
   */
  reserveIova(pfnLo: number, pfnHi: number): Iova {
    if (
      !Number.isSafeInteger(pfnLo) ||
      !Number.isSafeInteger(pfnHi) ||
      pfnLo < 0 ||
      pfnHi < pfnLo ||
      pfnHi >= IOVA_ANCHOR
    ) {
      throw new RangeError(`reserve_iova: bad range [${pfnLo}, ${pfnHi}]`);
    }
    // first node with pfn_hi >= pfnLo
    let n = this.root;
    let node: Iova | null = null;
    while (n !== null) {
      if (n.pfnHi >= pfnLo) {
        node = n;
        n = n.left;
      } else n = n.right;
    }
    for (; node !== null && node.pfnLo <= pfnHi && node !== this.anchor; node = node.next) {
      // __adjust_overlap_range()
      if (pfnLo < node.pfnLo) {
        this.byPfnLo.delete(node.pfnLo);
        node.pfnLo = pfnLo;
        this.byPfnLo.set(pfnLo, node);
        this.setGap(node);
      }
      if (pfnHi > node.pfnHi) pfnLo = node.pfnHi + 1;
      if (pfnLo >= node.pfnLo && pfnHi <= node.pfnHi) return node;
    }
    const iova = this.newIova(pfnLo, pfnHi);
    this.insertNode(iova);
    return iova;
  }

  /**
   * alloc_iova_fast(iovad, size, limit_pfn, flush_rcache) (v6.16): sizes below 32 pages are
   * rounded up to a power of two so that a cached range always fits a request of its order;
   * tries this CPU's magazines, else the tree (size-aligned); on failure with `flushRcache`,
   * frees every CPU's cached ranges and the depot back to the tree and retries once.
   * @returns the first pfn of the range, 0 on failure
   */
  allocIovaFast(size: number, limitPfn: number, flushRcache: boolean): number {
    if (size < 1 << (IOVA_RANGE_CACHE_MAX_SIZE - 1)) size = roundupPowOfTwo(size);
    const pfn = this.iovaRcacheGet(size, limitPfn + 1);
    if (pfn) {
      this.stats.rcacheHits++;
      return pfn;
    }
    for (;;) {
      const iova = this.allocIova(size, limitPfn, true);
      if (iova !== null) return iova.pfnLo;
      if (!flushRcache) return 0;
      flushRcache = false;
      for (let cpu = 0; cpu < this.nrCpus; cpu++) this.freeCpuCachedIovas(cpu);
      this.freeGlobalCachedIovas();
    }
  }

  /**
   * free_iova_fast(iovad, pfn, size): into this CPU's magazine of order_base_2(size) when the
   * order is cached, else (or if no magazine can take it) straight back to the tree.
   */
  freeIovaFast(pfn: number, size: number): void {
    if (this.iovaRcacheInsert(pfn, size)) {
      this.stats.rcacheInserts++;
      return;
    }
    this.freeIova(pfn);
  }

  /** iova_rcache_insert() / __iova_rcache_insert() */
  private iovaRcacheInsert(pfn: number, size: number): boolean {
    const logSize = orderBase2(size);
    if (logSize >= IOVA_RANGE_CACHE_MAX_SIZE) return false;
    const rcache = this.rcaches[logSize];
    const c = rcache.cpu[this.cpu];
    if (c.loaded.full()) {
      if (!c.prev.full()) {
        const t = c.prev;
        c.prev = c.loaded;
        c.loaded = t;
      } else {
        // a full loaded magazine goes to the depot, whose trim is (re)scheduled
        rcache.depot.push(c.loaded);
        rcache.work.scheduleDelayed(IOVA_DEPOT_DELAY_NS);
        c.loaded = new IovaMagazine();
      }
    }
    const mag = c.loaded;
    mag.pfns[mag.size++] = pfn;
    return true;
  }

  /**
   * iova_rcache_get() / __iova_rcache_get(): a cached range of this order ending at or below
   * the (exclusive) `limitPfn`; 0 if none. An empty CPU pair takes a full magazine from the depot.
   */
  private iovaRcacheGet(size: number, limitPfn: number): number {
    const logSize = orderBase2(size);
    if (logSize >= IOVA_RANGE_CACHE_MAX_SIZE) return 0;
    const rcache = this.rcaches[logSize];
    const c = rcache.cpu[this.cpu];
    if (c.loaded.empty()) {
      if (!c.prev.empty()) {
        const t = c.prev;
        c.prev = c.loaded;
        c.loaded = t;
      } else {
        const d = rcache.depot.pop();
        if (d === undefined) return 0;
        c.loaded = d;
      }
    }
    return iovaMagazinePop(c.loaded, limitPfn - size);
  }

  /** iova_depot_work_func(): frees one depot magazine per period while more than one per CPU. */
  private depotWork(rcache: IovaRcache): void {
    if (rcache.depot.length <= this.nrCpus) return;
    const mag = rcache.depot.pop() as IovaMagazine;
    this.iovaMagazineFreePfns(mag);
    this.stats.depotTrims++;
    rcache.work.scheduleDelayed(IOVA_DEPOT_DELAY_NS);
  }

  /** iova_magazine_free_pfns(): every pfn of the magazine back to the tree. */
  private iovaMagazineFreePfns(mag: IovaMagazine): void {
    for (let i = 0; i < mag.size; i++) {
      const iova = this.findIova(mag.pfns[i]);
      if (iova === null || iova === this.anchor) {
        this.log?.warn(undefined, 'WARNING: at drivers/iommu/iova.c iova_magazine_free_pfns');
        continue;
      }
      this.removeIova(iova);
    }
    mag.size = 0;
  }

  /** free_cpu_cached_iovas(cpu, iovad): empties that CPU's magazines of every order. */
  freeCpuCachedIovas(cpu: number): void {
    for (const rcache of this.rcaches) {
      const c = rcache.cpu[cpu];
      this.iovaMagazineFreePfns(c.loaded);
      this.iovaMagazineFreePfns(c.prev);
    }
  }

  /** free_global_cached_iovas(iovad): empties every order's depot. */
  freeGlobalCachedIovas(): void {
    for (const rcache of this.rcaches) {
      for (let mag = rcache.depot.pop(); mag !== undefined; mag = rcache.depot.pop()) {
        this.iovaMagazineFreePfns(mag);
      }
    }
  }

  /** Full magazines in the depot of an order (rcache->depot_size). */
  depotSize(order: number): number {
    return this.rcaches[order].depot.length;
  }

  /** pfns cached by `cpu` for an order (loaded + prev). */
  cpuCached(cpu: number, order: number): number {
    const c = this.rcaches[order].cpu[cpu];
    return c.loaded.size + c.prev.size;
  }

  /** Live ranges in the tree, reserved ones included, the anchor not. O(1). */
  get liveRanges(): number {
    return this.count - 1;
  }

  /** Every live range in order (the anchor excluded); O(n), for tests and dumps. */
  ranges(): { pfnLo: number; pfnHi: number }[] {
    const out: { pfnLo: number; pfnHi: number }[] = [];
    let n = this.root;
    while (n !== null && n.left !== null) n = n.left;
    for (; n !== null && n !== this.anchor; n = n.next)
      out.push({ pfnLo: n.pfnLo, pfnHi: n.pfnHi });
    return out;
  }

  /**
   * Checks the tree's invariants (order without overlap, heap priorities, parent links, prev/next
   * threads, the anchor last, the node count); throws on the first violation. O(n), for tests.
   */
  checkTree(): void {
    let seen = 0;
    const walk = (n: Iova | null, parent: Iova | null, lo: number, hi: number): void => {
      if (n === null) return;
      seen++;
      if (n.parent !== parent) throw new Error(`iova tree: bad parent at ${n.pfnLo}`);
      if (n.pfnLo < lo || n.pfnHi > hi || n.pfnLo > n.pfnHi) {
        throw new Error(`iova tree: [${n.pfnLo}, ${n.pfnHi}] out of order or overlapping`);
      }
      if (parent !== null && n.prio > parent.prio) throw new Error('iova tree: heap order broken');
      walk(n.left, n, lo, n.pfnLo - 1);
      walk(n.right, n, n.pfnHi + 1, hi);
      const before = [...n.cap, n.cnt].join();
      setCaps(n);
      pull(n);
      if ([...n.cap, n.cnt].join() !== before) {
        throw new Error(`iova tree: stale gap figures or count at ${n.pfnLo}`);
      }
    };
    walk(this.root, null, -Infinity, Infinity);
    if (seen !== this.count) throw new Error(`iova tree: ${seen} nodes, count says ${this.count}`);
    let n = this.root;
    while (n !== null && n.left !== null) n = n.left;
    let k = 0;
    for (let prev: Iova | null = null; n !== null; prev = n, n = n.next) {
      if (n.prev !== prev) throw new Error(`iova tree: bad prev thread at ${n.pfnLo}`);
      if (prev !== null && prev.pfnHi >= n.pfnLo)
        throw new Error('iova tree: threads out of order');
      k++;
      if (n.next === null && n !== this.anchor) throw new Error('iova tree: anchor is not last');
    }
    if (k !== this.count) throw new Error(`iova tree: threads reach ${k} of ${this.count} nodes`);
  }

  // ---- the ordered tree (treap) ---------------------------------------------------------

  private count = 1;

  /** alloc_iova_mem(): a node for [pfnLo, pfnHi], recycled if one is spare. */
  private newIova(pfnLo: number, pfnHi: number): Iova {
    const n = this.spare.pop();
    if (n === undefined) return new Iova(pfnLo, pfnHi, this.nextPrio());
    n.pfnLo = pfnLo;
    n.pfnHi = pfnHi;
    n.prio = this.nextPrio();
    n.cnt = 1;
    return n;
  }

  /** xorshift32: treap priorities. */
  private nextPrio(): number {
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x;
    return x >>> 0;
  }

  /** Inserts a node whose in-order neighbours are known: pred (may be null) and succ. O(1)+rebalance. */
  private insertBetween(node: Iova, pred: Iova | null, succ: Iova): void {
    this.stats.inserts++;
    this.count++;
    this.byPfnLo.set(node.pfnLo, node);
    // succ.left is empty, or pred is the rightmost node of succ's left subtree.
    if (succ.left === null) {
      succ.left = node;
      node.parent = succ;
    } else {
      const p = pred as Iova;
      p.right = node;
      node.parent = p;
    }
    node.prev = pred;
    node.next = succ;
    if (pred !== null) pred.next = node;
    succ.prev = node;
    setCaps(node);
    setCaps(succ);
    pull(node);
    // succ is an ancestor of the new leaf: one pass up fixes both
    this.fixPath(node.parent, 1, succ);
    this.bubbleUp(node);
  }

  /** iova_insert_rbtree() from the root. */
  private insertNode(node: Iova): void {
    let n = this.root as Iova;
    let pred: Iova | null = null;
    let succ: Iova | null = null;
    const key = node.pfnLo;
    for (;;) {
      if (key < n.pfnLo) {
        succ = n;
        if (n.left === null) break;
        n = n.left;
      } else if (key > n.pfnLo) {
        pred = n;
        if (n.right === null) break;
        n = n.right;
      } else {
        throw new Error(`iova_insert_rbtree: pfn ${key} already in the tree`);
      }
    }
    // the anchor is the maximum, so a successor always exists
    this.insertBetween(node, pred, succ as Iova);
  }

  /** Recomputes a node's gap after its predecessor or pfn_lo changed, and the maxima above it. */
  private setGap(n: Iova): void {
    setCaps(n);
    this.fixPath(n, 0, n);
  }

  /**
   * After a change at `n` (and below): recomputes the gap maxima upwards, stopping once a node's
   * maxima come out unchanged (nothing above can change then) but not before `through` is done,
   * and adds `dcnt` to the node count of every node from `n` up.
   */
  private fixPath(n: Iova | null, dcnt: number, through: Iova | null): void {
    let caps = true;
    for (; n !== null; n = n.parent) {
      if (caps) {
        const changed = pullCaps(n);
        if (n === through) through = null;
        caps = changed || through !== null;
      }
      n.cnt += dcnt;
      if (!caps && dcnt === 0) return;
    }
  }

  private bubbleUp(x: Iova): void {
    for (let p = x.parent; p !== null && p.prio < x.prio; p = x.parent) {
      if (p.left === x) this.rotateRight(p);
      else this.rotateLeft(p);
    }
  }

  /** p's left child x takes p's place. */
  private rotateRight(p: Iova): void {
    const x = p.left as Iova;
    const b = x.right;
    p.left = b;
    if (b !== null) b.parent = p;
    this.replaceChild(p, x);
    x.right = p;
    p.parent = x;
    pull(p);
    pull(x);
  }

  /** p's right child x takes p's place. */
  private rotateLeft(p: Iova): void {
    const x = p.right as Iova;
    const b = x.left;
    p.right = b;
    if (b !== null) b.parent = p;
    this.replaceChild(p, x);
    x.left = p;
    p.parent = x;
    pull(p);
    pull(x);
  }

  private replaceChild(old: Iova, x: Iova | null): void {
    const g = old.parent;
    if (x !== null) x.parent = g;
    if (g === null) this.root = x;
    else if (g.left === old) g.left = x;
    else g.right = x;
  }

  /** rb_erase(): rotates the node down to a leaf, by child priority, and unlinks it. */
  private erase(node: Iova): void {
    this.stats.erases++;
    this.count--;
    for (;;) {
      const l = node.left;
      const r = node.right;
      if (l === null || r === null) {
        const parent = node.parent;
        this.replaceChild(node, l === null ? r : l);
        this.fixPath(parent, -1, null);
        break;
      }
      if (l.prio > r.prio) this.rotateRight(node);
      else this.rotateLeft(node);
    }
    const pr = node.prev;
    const nx = node.next;
    if (pr !== null) pr.next = nx;
    if (nx !== null) {
      nx.prev = pr;
      this.setGap(nx);
    }
    node.left = node.right = node.parent = node.prev = node.next = null;
    this.byPfnLo.delete(node.pfnLo);
    this.spare.push(node);
  }
}

/** The cap[] index for an alignment: its order, at most CAP_ORDERS - 1. */
function capOrder(align: number): number {
  return align >= 1 << (CAP_ORDERS - 1) ? CAP_ORDERS - 1 : 31 - Math.clz32(align);
}

/** A node's own cap[] from its predecessor (see Iova.cap). */
function setCaps(n: Iova): void {
  const cap = n.cap;
  const p = n.prev;
  if (p === null) {
    for (let k = 0; k < CAP_ORDERS; k++) cap[k] = Infinity;
    return;
  }
  const gs = p.pfnHi + 1;
  const top = n.pfnLo;
  for (let k = 0, a = 1; k < CAP_ORDERS; k++, a *= 2) {
    const m = gs % a;
    cap[k] = top - (m === 0 ? gs : gs - m + a);
  }
}

/** Recomputes a node's subtree maxima from its children; true if any changed. */
function pullCaps(n: Iova): boolean {
  const cap = n.cap;
  const l = n.left;
  const r = n.right;
  const lc = l === null ? cap : l.cap;
  const rc = r === null ? cap : r.cap;
  const lo = l === null ? 0 : CAP_ORDERS;
  const ro = r === null ? 0 : CAP_ORDERS;
  let changed = false;
  for (let k = 0; k < CAP_ORDERS; k++) {
    let m = cap[k];
    const a = lc[lo + k];
    const b = rc[ro + k];
    if (a > m) m = a;
    if (b > m) m = b;
    if (cap[CAP_ORDERS + k] !== m) {
      cap[CAP_ORDERS + k] = m;
      changed = true;
    }
  }
  return changed;
}

/** Recomputes a node's subtree maxima and count from its children. */
function pull(n: Iova): void {
  const cap = n.cap;
  const l = n.left;
  const r = n.right;
  let c = 1;
  if (l === null && r === null) {
    for (let k = 0; k < CAP_ORDERS; k++) cap[CAP_ORDERS + k] = cap[k];
  } else {
    const lc = l === null ? cap : l.cap;
    const rc = r === null ? cap : r.cap;
    const lo = l === null ? 0 : CAP_ORDERS;
    const ro = r === null ? 0 : CAP_ORDERS;
    for (let k = 0; k < CAP_ORDERS; k++) {
      let m = cap[k];
      const a = lc[lo + k];
      const b = rc[ro + k];
      if (a > m) m = a;
      if (b > m) m = b;
      cap[CAP_ORDERS + k] = m;
    }
    if (l !== null) c += l.cnt;
    if (r !== null) c += r.cnt;
  }
  n.cnt = c;
}

/**
 * iova_magazine_pop(mag, limit_pfn): the topmost pfn at or below `limitPfn`, swapped out with the
 * last one; 0 if none in the magazine qualifies (the tree is used only then).
 */
function iovaMagazinePop(mag: IovaMagazine, limitPfn: number): number {
  const pfns = mag.pfns;
  let i = mag.size - 1;
  while (pfns[i] > limitPfn) {
    if (i === 0) return 0;
    i--;
  }
  const pfn = pfns[i];
  pfns[i] = pfns[--mag.size];
  return pfn;
}
