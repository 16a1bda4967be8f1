/**
 * The IOVA allocator: struct iova_domain and its range caches (drivers/iommu/iova.c,
 * include/linux/iova.h; v6.16, reference §4.5).
 *
 * A domain hands out ranges of IOVA page frames ("pfns" of `granule` bytes) top-down below a
 * limit, each one aligned to its size rounded up to a power of two. Live ranges are kept in an
 * ordered tree keyed by pfn_lo, topped by an anchor range at IOVA_ANCHOR. Two cached nodes (one
 * for 32-bit limits, one for the full range) remember where the last allocation ended, so that
 * the next one starts walking down from there. alloc_iova_fast()/free_iova_fast() put a per-CPU
 * magazine cache in front of the tree for ranges of 1..32 pages.
 *
 * The tree. The kernel's is a red-black tree of struct iova; here it is an augmented B+ tree in
 * typed arrays (iova-tree.ts): find, insert and erase are O(log n) in the number of live ranges
 * n, rb_prev()/rb_next() O(1). The tree stores each range with a node id; the range's struct
 * iova is an Iova handle reading the domain's node table (IovaNodes) by that id.
 *
 * The allocation walk. The kernel walks rb_prev() from the cached node until a gap fits, one
 * step per node it skips: O(1) while allocations stream below the cached node, but up to O(n)
 * once frees leave holes above it that are too small (after a free above the cached node, the
 * cached node moves up to the freed range's successor). Under random churn with 100 k live ranges
 * that is thousands of steps per allocation. The model reaches the same node without the steps:
 * the tree keeps, for alignments 1..128 pages, the largest aligned range that fits in each gap,
 * bounds on their maxima per subtree and subtree range counts (an augmented tree, as
 * mm/vmalloc.c keeps subtree_max_size), so the search skips every subtree that cannot hold the
 * request: O(log n) levels for requests aligned to at most 128 pages (every rcache size and
 * every NVMe-sized mapping), plus the subtrees it enters on bounds an insert left stale; for
 * larger alignments the 128-page figures only bound the search. The result is the kernel's (the
 * property tests cross-check it against a literal walk, which IovaDomainOptions.literalWalk
 * selects), and stats.walkSteps counts the steps the kernel's walk takes (from the subtrees the
 * search skips, or the ranks of its start and stop nodes), so a cost model can charge them.
 *
 * Numbers: pfns are JavaScript integers (a 64-bit DMA limit is saturated at 2^53 - 1 bytes by
 * DmaDevice, which is 2^41 pfns of 4 KiB), and IOVA_ANCHOR stands for ~0UL above all of them.
 * Alignment is exact for every integer below 2^53 (see alignDown()).
 */
import { ENOMEM, SimClock, NSEC_PER_MSEC, type SimTimer, type KernelLog } from '@dmasim/core';
import { IovaTree, alignDown } from './iova-tree';

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
  if (x <= 1) return 1;
  const f = flsLong(x - 1);
  // a shift, not 2 ** f: V8 calls out to pow() for that
  return f < 31 ? 1 << f : 2 ** f;
}

/** order_base_2(): ceil(log2(x)), 0 for 0 and 1. */
export function orderBase2(x: number): number {
  return x <= 1 ? 0 : flsLong(x - 1);
}

/**
 * The domain's struct iova storage (its iova_cache): each node's range, by node id, in typed
 * arrays. Kept out of the Iova objects because V8 boxes every double stored into an object
 * field, and pfns above 2^31 are doubles: that was a fresh heap number per allocation.
 */
export class IovaNodes {
  /** pfn_lo of node id at 2 * id, pfn_hi next to it (one cache line for both). */
  range = new Float64Array(128);
  /** Node ids handed out so far. */
  count = 0;

  /** A new node id (storage grows by doubling). */
  add(): number {
    const id = this.count++;
    if (2 * id === this.range.length) {
      const range = new Float64Array(4 * id);
      range.set(this.range);
      this.range = range;
    }
    return id;
  }
}

/**
 * struct iova: one live (allocated or reserved) range [pfnLo, pfnHi], read from its domain's
 * node storage. Its place in the domain's tree is found by pfnLo. Like the kernel's iova_cache,
 * a domain recycles the nodes of freed ranges: an Iova must not be used after its range is freed.
 *
 * An Iova is a view made when the domain hands a node out, so two views of one node are equal
 * by id, not by identity. A table of one handle per node cost two cache misses per allocation
 * under churn (the table slot and the handle, both cold); a fresh view costs a young-generation
 * allocation.
 */
export class Iova {
  constructor(
    private readonly nodes: IovaNodes,
    /** Its index in the domain's node storage, which is what the tree stores per range. */
    readonly id: number,
  ) {}

  get pfnLo(): number {
    return this.nodes.range[2 * this.id];
  }

  get pfnHi(): number {
    return this.nodes.range[2 * this.id + 1];
  }
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
  /** No effect: it seeded the former treap's priorities; the B+ tree needs no randomness. */
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
  readonly nrCpus: number;
  /** smp_processor_id() for the rcaches and flush queues; the caller switches it. */
  cpu = 0;
  readonly clock: SimClock;
  readonly stats = new IovaStats();

  /** iovad->rbroot: the live ranges, each with its Iova. */
  private readonly tree = new IovaTree();
  /** Every node the domain made, by id (live ones and spares). */
  private readonly nodes = new IovaNodes();
  private readonly rcaches: IovaRcache[] = [];
  private readonly log: KernelLog | undefined;
  private readonly literalWalk: boolean;
  /** Ids of freed nodes for reuse (the iova kmem_cache): no allocation in steady state. */
  private readonly spare: number[] = [];
  /**
   * Where the cached nodes were last seen in the tree: a hint that saves a descent when it
   * still holds that node (positions move when the tree changes; see posOf()).
   */
  private cachedPos = -1;
  private cached32Pos = -1;
  /** The cached nodes by id. */
  private cachedId: number;
  private cached32Id: number;

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
    this.anchor = new Iova(this.nodes, this.newIova(IOVA_ANCHOR, IOVA_ANCHOR));
    this.tree.insert(IOVA_ANCHOR, IOVA_ANCHOR, this.anchor.id);
    this.cachedId = this.anchor.id;
    this.cached32Id = this.anchor.id;
    this.nrCpus = nrCpus;
    this.clock = options.clock ?? new SimClock();
    this.log = options.log;
    this.literalWalk = options.literalWalk ?? false;
    const trim = (r: IovaRcache): void => this.depotWork(r);
    for (let i = 0; i < IOVA_RANGE_CACHE_MAX_SIZE; i++) {
      this.rcaches.push(new IovaRcache(nrCpus, this.clock, trim));
    }
  }

  /** cached_node: where the next allocation above 4 GiB starts its walk. */
  get cachedNode(): Iova {
    return new Iova(this.nodes, this.cachedId);
  }

  /** cached32_node: where the next allocation below 4 GiB starts its walk. */
  get cached32Node(): Iova {
    return new Iova(this.nodes, this.cached32Id);
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
    // the Iova is made here, in a function small enough to inline into the caller, where V8
    // can then drop the object and read the range directly
    const id = this.allocAndInsertIovaRange(size, limitPfn + 1, sizeAligned);
    return id < 0 ? null : new Iova(this.nodes, id);
  }

  /**
   * __alloc_and_insert_iova_range() (v6.0+, with the iova_find_limit() retry): `limitPfn` is
   * exclusive here, as in the kernel. Walks down from the cached node to the first gap an aligned
   * range fits in; on failure retries once from the top of the limit down to just above where the
   * first walk started; on final failure records max32_alloc_size = size. The new node becomes
   * the cached node.
   * @returns the new node's id, or -ENOMEM when no range fits
   */
  private allocAndInsertIovaRange(size: number, limitPfn: number, sizeAligned: boolean): number {
    const stats = this.stats;
    stats.rangeAllocs++;
    // fls_long(size - 1): the next power of two >= size
    const align = sizeAligned ? roundupPowOfTwo(size) : 1;
    const dma32 = this.dma32bitPfn;
    if (limitPfn <= dma32 && size >= this.max32AllocSize) {
      stats.rangeAllocFailures++;
      return -ENOMEM;
    }
    const is32 = limitPfn <= dma32;
    const start = is32 ? this.cached32Id : this.cachedId;
    const startPos = this.posOf(start, is32 ? this.cached32Pos : this.cachedPos);
    let stop = this.walk(startPos, size, align, limitPfn, this.startPfn);
    if (stop < 0) {
      // the start node's pfn_hi, read only now: the walk does not change it, and it is cold
      const retryPfn = this.nodes.range[2 * start + 1];
      if (retryPfn < limitPfn) {
        stop = this.walk(this.iovaFindLimit(limitPfn), size, align, limitPfn, retryPfn + 1);
      }
    }
    if (stop < 0) {
      this.max32AllocSize = size;
      stats.rangeAllocFailures++;
      return -ENOMEM;
    }
    const tree = this.tree;
    const stopLo = tree.pfnLo(stop);
    const h = stopLo < limitPfn ? stopLo : limitPfn;
    const newPfn = alignDown(h - size, align);
    const newHi = newPfn + size - 1;
    const id = this.newIova(newPfn, newHi);
    // The new range lies between rb_prev(stop) and stop.
    stats.inserts++;
    const pos = tree.insertBefore(stop, newPfn, newHi, id, align);
    // __cached_rbnode_insert_update()
    if (newHi < dma32) {
      this.cached32Id = id;
      this.cached32Pos = pos;
    } else {
      this.cachedId = id;
      this.cachedPos = pos;
    }
    return id;
  }

  /** The allocation walk from position `curr`: the stop position, or -1 when it failed. */
  private walk(
    curr: number,
    size: number,
    align: number,
    limitPfn: number,
    lowPfn: number,
  ): number {
    return this.literalWalk
      ? this.walkLiteral(curr, size, align, limitPfn, lowPfn)
      : this.walkAugmented(curr, size, align, limitPfn, lowPfn);
  }

  /**
   * The kernel's do/while walk, one rb_prev() per step: from `curr` down, high = min(high,
   * curr.pfn_lo), candidate = (high - size) aligned down, until the candidate lies above the
   * previous node's pfn_hi, there is no previous node, or the candidate drops below `lowPfn`.
   * @returns the position the new range goes right below, or -1 when the walk failed
   */
  private walkLiteral(
    curr: number,
    size: number,
    align: number,
    limitPfn: number,
    lowPfn: number,
  ): number {
    const tree = this.tree;
    let high = limitPfn;
    let steps = 0;
    for (let c = curr; ;) {
      const lo = tree.pfnLo(c);
      if (lo < high) high = lo;
      const newPfn = alignDown(high - size, align);
      steps++;
      const p = tree.prev(c);
      if (p < 0 || newPfn > tree.pfnHi(p) || newPfn < lowPfn) {
        this.stats.walkSteps += steps;
        return high < size || newPfn < lowPfn ? -1 : c;
      }
      c = p;
    }
  }

  /**
   * The same walk, same result, without visiting every node it skips. The walk stops at the
   * first node c (descending from `curr`) where either the candidate below min(limit, c.pfn_lo)
   * clears c's predecessor (a "fit") or drops below `lowPfn` (a failure). Nodes at or above the
   * limit all share one candidate, so their first fit is the successor of the highest node ending
   * below it. Below the limit the candidate drops below `lowPfn` exactly at the nodes whose
   * pfn_lo is below lowKey = align_up(lowPfn) + size, so the walk stops at the first fit at or
   * above lowKey (the tree's gap search) or else at the last node below lowKey (a key search).
   * Cost: O(log n) for alignments up to 128 pages (see IovaTree.fitBelow()). stats.walkSteps
   * still counts the kernel's steps: the gap search counts the nodes it passes over; otherwise
   * they come from the ranks of the start and stop nodes.
   */
  private walkAugmented(
    curr: number,
    size: number,
    align: number,
    limitPfn: number,
    lowPfn: number,
  ): number {
    const tree = this.tree;
    let top = curr;
    let stop = -1;
    let steps = -1;
    if (tree.pfnLo(curr) >= limitPfn) {
      // every node here has high = limit and the same candidate
      const cand = alignDown(limitPfn - size, align);
      if (limitPfn < size || cand < lowPfn) {
        stop = curr;
      } else {
        const q = tree.lastEndingBelow(cand);
        const c = q < 0 ? tree.first() : tree.next(q);
        if (tree.pfnLo(c) >= limitPfn) stop = c;
        else top = tree.lastBelow(limitPfn);
      }
    }
    if (stop < 0) {
      const lowKey = alignUp(lowPfn, align) + size;
      stop = tree.fitBelow(top, size, align, lowKey);
      // the common case: the search counted the nodes the walk steps over
      if (stop >= 0 && top === curr) steps = tree.passed + 1;
      else if (stop < 0) stop = tree.pfnLo(top) < lowKey ? top : tree.lastBelow(lowKey);
      if (stop < 0) throw new Error('iova: walk found neither a fit nor a low stop');
    }
    this.stats.walkSteps += steps >= 0 ? steps : tree.rank(curr) - tree.rank(stop) + 1;
    const stopLo = tree.pfnLo(stop);
    const h = stopLo < limitPfn ? stopLo : limitPfn;
    const newPfn = alignDown(h - size, align);
    return h < size || newPfn < lowPfn ? -1 : stop;
  }

  /**
   * The tree position of a live node: `hint` if the node is still there (the tree clears the
   * slots it vacates, so a slot holding the node is its position), else by descent, O(log n).
   */
  private posOf(id: number, hint = -1): number {
    if (this.tree.idAt(hint) === id) return hint;
    const range = this.nodes.range;
    const e = this.tree.find(range[2 * id]);
    if (e < 0 || this.tree.id(e) !== id) {
      throw new Error(`iova: [${range[2 * id]}, ${range[2 * id + 1]}] is not in the tree (freed?)`);
    }
    return e;
  }

  /**
   * iova_find_limit(): where the retry walk starts: the anchor for limits above 4 GiB, else the
   * lowest node reaching `limitPfn` (exclusive limit), so that everything below the limit lies
   * before it. O(log n).
   */
  private iovaFindLimit(limitPfn: number): number {
    if (limitPfn > this.dma32bitPfn) return this.tree.last();
    return this.tree.firstReaching(limitPfn);
  }

  /** find_iova(): the live range containing `pfn`, or null. O(log n). */
  findIova(pfn: number): Iova | null {
    this.stats.lookups++;
    const e = this.tree.find(pfn);
    return e < 0 ? null : this.at(e);
  }

  /** __free_iova(): removes a node found earlier. */
  freeIovaNode(iova: Iova): void {
    if (iova.id === this.anchor.id) throw new Error('__free_iova: the anchor is not a range');
    this.removeIova(this.posOf(iova.id));
  }

  /** free_iova(): frees the range containing `pfn`; nothing if there is none. */
  freeIova(pfn: number): void {
    this.stats.lookups++;
    const e = this.tree.find(pfn);
    if (e >= 0 && this.tree.id(e) !== this.anchor.id) this.removeIova(e);
  }

  /**
   * remove_iova() with __cached_rbnode_delete_update(), of the range at position `e`: a cached
   * node at or below the freed range moves up to rb_next(free); freeing anything starting below
   * 4 GiB resets max32_alloc_size, since a 32-bit request of any size may fit again.
   */
  private removeIova(e: number): void {
    const tree = this.tree;
    // the range from the tree, not its Iova (scattered in memory, not needed here)
    const id = tree.id(e);
    const lo = tree.pfnLo(e);
    const hi = tree.pfnHi(e);
    const dma32 = this.dma32bitPfn;
    const range = this.nodes.range;
    const c32 = this.cached32Id;
    // the anchor is never freed, so there is a next node; it moves down into e if it shared
    // the leaf, and posOf() checks the hint
    if (id === c32 || (hi < dma32 && lo >= range[2 * c32])) {
      this.cached32Id = tree.id(tree.next(e));
      this.cached32Pos = e;
    }
    if (lo < dma32) this.max32AllocSize = dma32;
    if (lo >= range[2 * this.cachedId]) {
      this.cachedId = tree.id(tree.next(e));
      this.cachedPos = e;
    }
    this.stats.erases++;
    tree.erase(e);
    this.spare.push(id);
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
    const tree = this.tree;
    // from the first node with pfn_hi >= pfnLo
    for (let e = tree.firstReaching(pfnLo); e >= 0 && tree.pfnLo(e) <= pfnHi; e = tree.next(e)) {
      const node = this.at(e);
      if (node.id === this.anchor.id) break;
      // __adjust_overlap_range()
      if (pfnLo < node.pfnLo) {
        this.nodes.range[2 * node.id] = pfnLo;
        tree.setPfnLo(e, pfnLo);
      }
      if (pfnHi > node.pfnHi) pfnLo = node.pfnHi + 1;
      if (pfnLo >= node.pfnLo && pfnHi <= node.pfnHi) return node;
    }
    const id = this.newIova(pfnLo, pfnHi);
    this.stats.inserts++;
    tree.insert(pfnLo, pfnHi, id);
    return new Iova(this.nodes, id);
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
      // private_find_iova(), counted as a find_iova()
      this.stats.lookups++;
      const e = this.tree.find(mag.pfns[i]);
      if (e < 0 || this.tree.id(e) === this.anchor.id) {
        this.log?.warn(undefined, 'WARNING: at drivers/iommu/iova.c iova_magazine_free_pfns');
        continue;
      }
      this.removeIova(e);
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
  /** Live ranges in the tree, reserved ones included, the anchor not. O(1). */
  get liveRanges(): number {
    return this.tree.count - 1;
  }

  /** Every live range in order (the anchor excluded); O(n), for tests and dumps. */
  ranges(): { pfnLo: number; pfnHi: number }[] {
    const out: { pfnLo: number; pfnHi: number }[] = [];
    const tree = this.tree;
    for (let e = tree.first(); e >= 0 && tree.id(e) !== this.anchor.id; e = tree.next(e)) {
      out.push({ pfnLo: tree.pfnLo(e), pfnHi: tree.pfnHi(e) });
    }
    return out;
  }

  /**
   * Checks the tree's invariants (see IovaTree.check()), that every range's Iova matches it and
   * appears once, that the anchor is last and the cached nodes are live; throws on the first
   * violation. O(n), for tests.
   */
  checkTree(): void {
    const tree = this.tree;
    tree.check();
    const seen = new Set<number>();
    let last = -1;
    for (let e = tree.first(); e >= 0; last = e, e = tree.next(e)) {
      const n = this.at(e);
      if (n.pfnLo !== tree.pfnLo(e) || n.pfnHi !== tree.pfnHi(e) || seen.has(n.id)) {
        throw new Error(`iova tree: node [${n.pfnLo}, ${n.pfnHi}] does not match its range`);
      }
      seen.add(n.id);
    }
    if (last < 0 || tree.id(last) !== this.anchor.id)
      throw new Error('iova tree: anchor is not last');
    if (seen.size !== tree.count)
      throw new Error(`iova tree: ${seen.size} of ${tree.count} ranges`);
    this.posOf(this.cachedId);
    this.posOf(this.cached32Id);
  }

  /** The Iova of the range at a tree position. */
  private at(e: number): Iova {
    return new Iova(this.nodes, this.tree.id(e));
  }

  /** alloc_iova_mem(): a node id for [pfnLo, pfnHi], recycled if one is spare. */
  private newIova(pfnLo: number, pfnHi: number): number {
    const nodes = this.nodes;
    let id = this.spare.pop();
    if (id === undefined) id = nodes.add();
    nodes.range[2 * id] = pfnLo;
    nodes.range[2 * id + 1] = pfnHi;
    return id;
  }
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
