/**
 * The ordered set of an IOVA domain's live ranges: what iovad->rbroot is in
 * drivers/iommu/iova.c (v6.16, reference §4.5), with the gap figures that let the allocation walk
 * find its stopping node without visiting every node it skips.
 *
 * The kernel's is a red-black tree of struct iova. Here it is a B+ tree kept in typed arrays
 * (no object per node, few cache lines per level), because random churn over 100 k ranges makes
 * every root-to-leaf path of a binary tree a chain of cache misses:
 *  - leaves hold up to LEAF_CAP ranges in order (pfn_lo, pfn_hi, and the caller's integer id
 *    per range), and are linked to their neighbours, so rb_prev()/rb_next() are O(1);
 *  - an internal node holds up to FANOUT children and, for each child, its smallest pfn_lo,
 *    its range count and its gap figures (below), side by side so a scan of siblings stays in a
 *    few cache lines.
 * A range is named by its position: leaf * LEAF_CAP + index in the leaf. Positions change when
 * the tree changes, so they are only held across calls that do not modify it (or checked with
 * idAt() before use).
 *
 * Gap figures. The gap of a range is the free space between its predecessor's pfn_hi and its
 * pfn_lo (unbounded below the first range). For alignment 2^k (k < CAP_ORDERS) its figure is
 * the largest range aligned to 2^k that fits in the gap when placed top-down: pfn_lo minus the
 * first multiple of 2^k above the predecessor. Each child slot keeps, per order, a bound on the
 * largest figure in the child's subtree (as mm/vmalloc.c keeps subtree_max_size), so a search
 * for the first gap that fits skips subtrees whose bound is too small. The bounds are upper
 * bounds, not always the maxima: an erase grows one gap and raises the bounds above it at once,
 * but an insert, which only shrinks a gap, leaves them high rather than rescan (on churn that
 * rescan was most of the cost); a search that enters a subtree on a stale bound and finds no fit
 * sets the bound for its order to what it saw. A stale bound costs at most one such wasted visit
 * per level, paid by the insert that left it.
 *
 * Costs, n live ranges, height log_FANOUT(n) (3 levels of internal nodes at 100 k):
 * search by key, rank, insert and erase O(log n) plus O(LEAF_CAP) to shift a leaf; a leaf
 * splits when full, and merges with or shares a sibling below a quarter full (nodes likewise),
 * amortized O(1) levels. The fit search is O(log n) with exact bounds for alignments up to
 * 2^(CAP_ORDERS-1) pages, plus the stale subtrees it enters; above that alignment the order
 * 2^(CAP_ORDERS-1) figures only bound it.
 */

const LEAF_SHIFT = 5;
/** Ranges per leaf. */
const LEAF_CAP = 1 << LEAF_SHIFT;
const LEAF_MASK = LEAF_CAP - 1;
/** Children per internal node. */
const FANOUT = 32;
/** Below this a non-root leaf or node merges with, or borrows from, a sibling. */
const LEAF_MIN = LEAF_CAP >> 2;
const NODE_MIN = FANOUT >> 2;
/** Two siblings merge only if the result is at most 3/4 full, so the next insert does not split it. */
const LEAF_MERGE_MAX = (LEAF_CAP * 3) >> 2;
const NODE_MERGE_MAX = (FANOUT * 3) >> 2;
/** Alignment orders the tree keeps gap figures for: 2^0..2^7 pages. */
const CAP_ORDERS = 8;
const MAX_CAP_ALIGN = 1 << (CAP_ORDERS - 1);
/** fitBelow() internals: the search passed its lower bound. */
const STOP = -2;

/** The gap-figure order for an alignment: its log2, at most CAP_ORDERS - 1. */
function capOrder(align: number): number {
  return align >= 1 << (CAP_ORDERS - 1) ? CAP_ORDERS - 1 : 31 - Math.clz32(align);
}

/** x rounded down to a multiple of `align` (a power of two); also for negative x. */
export function alignDown(x: number, align: number): number {
  // ToInt32 keeps the low 32 bits of any integer below 2^53, so the mask is exact there
  if (align <= 0x4000_0000) return x - (x & (align - 1));
  const m = x % align;
  return m < 0 ? x - m - align : x - m;
}

/** The tree, with an integer id per range that names the caller's struct iova. */
export class IovaTree {
  // ---- leaves: range j of leaf l at position l * LEAF_CAP + j -------------------------------
  private lo = new Float64Array(LEAF_CAP * 4);
  private hi = new Float64Array(LEAF_CAP * 4);
  /** The caller's id per range; -1 in unused slots. */
  private ids = new Int32Array(LEAF_CAP * 4).fill(-1);
  private lfSize = new Int32Array(4);
  private lfParent = new Int32Array(4);
  /** Slot of the leaf in its parent. */
  private lfSlot = new Int32Array(4);
  private lfPrev = new Int32Array(4);
  private lfNext = new Int32Array(4);
  private lfUsed = 0;
  private readonly lfFree: number[] = [];

  // ---- internal nodes: child slot s of node n at n * FANOUT + s -----------------------------
  private inChild = new Int32Array(FANOUT * 4);
  /** Smallest pfn_lo in the child's subtree. */
  private inKey = new Float64Array(FANOUT * 4);
  /** Ranges in the child's subtree. */
  private inCnt = new Int32Array(FANOUT * 4);
  /** Bounds on the child subtree's gap figures, order k at (n * CAP_ORDERS + k) * FANOUT + s. */
  private inGap = new Float64Array(FANOUT * CAP_ORDERS * 4);
  private inSize = new Int32Array(4);
  private inParent = new Int32Array(4);
  private inSlot = new Int32Array(4);
  private inUsed = 0;
  private readonly inFree: number[] = [];

  /** A leaf while height is 0, else an internal node; leaves are at level 0. */
  private root: number;
  private height = 0;
  /** Ranges in the tree. */
  count = 0;
  /** Scratch gap figures, so updates allocate nothing. */
  private readonly sc = new Float64Array(CAP_ORDERS);
  /** See fitBelow(). */
  passed = 0;
  /** See fitInNode() and scanLeaf(); a typed array, as a double field would be boxed. */
  private readonly scanMax = new Float64Array(1);

  constructor() {
    this.root = this.allocLeaf();
  }

  /** pfn_lo of the range at a position. */
  pfnLo(e: number): number {
    return this.lo[e];
  }

  /** pfn_hi of the range at a position. */
  pfnHi(e: number): number {
    return this.hi[e];
  }

  /** The caller's id for the range at a position. */
  id(e: number): number {
    return this.ids[e];
  }

  /**
   * What slot `e` holds: the id of the range there, or -1 for a slot no range uses (vacated
   * slots are cleared) or beyond the storage. For checking a remembered position.
   */
  idAt(e: number): number {
    return e >= 0 && e < this.ids.length ? this.ids[e] : -1;
  }

  /** rb_prev(): the position before `e`, or -1. O(1). */
  prev(e: number): number {
    if ((e & LEAF_MASK) !== 0) return e - 1;
    const p = this.lfPrev[e >> LEAF_SHIFT];
    return p < 0 ? -1 : (p << LEAF_SHIFT) + this.lfSize[p] - 1;
  }

  /** rb_next(): the position after `e`, or -1. O(1). */
  next(e: number): number {
    const l = e >> LEAF_SHIFT;
    if ((e & LEAF_MASK) + 1 < this.lfSize[l]) return e + 1;
    const nx = this.lfNext[l];
    return nx < 0 ? -1 : nx << LEAF_SHIFT;
  }

  /** rb_first(): the first position, -1 if empty. */
  first(): number {
    let n = this.root;
    for (let h = this.height; h > 0; h--) n = this.inChild[n * FANOUT];
    return this.lfSize[n] === 0 ? -1 : n << LEAF_SHIFT;
  }

  /** rb_last(): the last position, -1 if empty. */
  last(): number {
    let n = this.root;
    for (let h = this.height; h > 0; h--) n = this.inChild[n * FANOUT + this.inSize[n] - 1];
    return (n << LEAF_SHIFT) + this.lfSize[n] - 1;
  }

  /** The last range with pfn_lo < key, or -1. O(log n). */
  lastBelow(key: number): number {
    const inKey = this.inKey;
    let n = this.root;
    // linear scans: a node's keys share a few cache lines, and the branch is predictable
    for (let h = this.height; h > 0; h--) {
      const b = n * FANOUT;
      const end = b + this.inSize[n];
      let j = b;
      while (j < end && inKey[j] < key) j++;
      if (j === b) return -1;
      n = this.inChild[j - 1];
    }
    const lo = this.lo;
    const base = n << LEAF_SHIFT;
    const end = base + this.lfSize[n];
    let j = base;
    while (j < end && lo[j] < key) j++;
    return j === base ? -1 : j - 1;
  }

  /** The range containing `pfn`, or -1. O(log n). */
  find(pfn: number): number {
    const e = this.lastBelow(pfn + 1);
    return e >= 0 && this.hi[e] >= pfn ? e : -1;
  }

  /** The first range with pfn_hi >= pfn, or -1. O(log n). */
  firstReaching(pfn: number): number {
    const e = this.lastBelow(pfn + 1);
    if (e < 0) return this.first();
    return this.hi[e] >= pfn ? e : this.next(e);
  }

  /** The last range with pfn_hi < pfn, or -1. O(log n). */
  lastEndingBelow(pfn: number): number {
    const e = this.lastBelow(pfn);
    if (e < 0) return -1;
    // ranges do not overlap: the one before ends below this one's pfn_lo
    return this.hi[e] < pfn ? e : this.prev(e);
  }

  /** Ranges before position `e` in order. O(log n) from the child counts. */
  rank(e: number): number {
    const cnt = this.inCnt;
    const leaf = e >> LEAF_SHIFT;
    let r = e & LEAF_MASK;
    let slot = this.lfSlot[leaf];
    for (let n = this.lfParent[leaf]; n >= 0; n = this.inParent[n]) {
      const b = n * FANOUT;
      for (let t = 0; t < slot; t++) r += cnt[b + t];
      slot = this.inSlot[n];
    }
    return r;
  }

  /**
   * The highest range at or before position `top` whose pfn_lo is at least `minLo` and below
   * which `size` pages aligned to `align` fit after its predecessor (the first range always
   * fits); -1 if none. When found, `passed` is the number of ranges after it up to `top`
   * (rank(top) - rank(found)), counted from the subtrees the search skipped. O(log n) levels
   * climbed and descended, plus the subtrees entered on stale bounds (which it tightens).
   */
  fitBelow(top: number, size: number, align: number, minLo: number): number {
    this.passed = 0;
    const leaf = top >> LEAF_SHIFT;
    const k = capOrder(align);
    let slot = this.lfSlot[leaf];
    const p = this.lfParent[leaf];
    let r: number;
    if (p >= 0 && this.inGap[(p * CAP_ORDERS + k) * FANOUT + slot] < size) {
      // the leaf's bound says nothing in it fits: pass over its ranges up to top, unless the
      // scan would have reached minLo first
      if (this.lo[leaf << LEAF_SHIFT] < minLo) return -1;
      this.passed = (top & LEAF_MASK) + 1;
    } else {
      r = this.scanLeaf(leaf, top & LEAF_MASK, size, align, minLo);
      if (r !== -1) return r < 0 ? -1 : r;
    }
    for (let n = this.lfParent[leaf], level = 1; n >= 0; n = this.inParent[n], level++) {
      r = this.fitInNode(n, level, slot - 1, k, size, align, minLo);
      if (r !== -1) return r < 0 ? -1 : r;
      slot = this.inSlot[n];
    }
    return -1;
  }

  /**
   * fitBelow() in the children of node n (at `level`) from slot `from` down: position, -1 or
   * STOP. A child whose bound let the search in but which holds no fit gets its bound for this
   * order set from what the search saw below (so the same request is not let in again); after a
   * search of every slot that found nothing, this.scanMax[0] holds the row's new maximum.
   */
  private fitInNode(
    n: number,
    level: number,
    from: number,
    k: number,
    size: number,
    align: number,
    minLo: number,
  ): number {
    const gap = this.inGap;
    const cnt = this.inCnt;
    const row = (n * CAP_ORDERS + k) * FANOUT;
    const b = n * FANOUT;
    let m = -Infinity;
    for (let t = from; t >= 0; t--) {
      let g = gap[row + t];
      if (g >= size) {
        const c = this.inChild[b + t];
        const r =
          level === 1
            ? this.scanLeaf(c, this.lfSize[c] - 1, size, align, minLo)
            : this.fitInNode(c, level - 1, this.inSize[c] - 1, k, size, align, minLo);
        if (r !== -1) return r;
        // a stale figure (or, above 128 pages, only a bound): tighten it
        g = this.scanMax[0];
        gap[row + t] = g;
      } else {
        this.passed += cnt[b + t];
      }
      if (g > m) m = g;
      // everything left of this child starts below its smallest pfn_lo
      if (this.inKey[b + t] < minLo) return STOP;
    }
    this.scanMax[0] = m;
    return -1;
  }

  /**
   * fitBelow() in one leaf from index `from` down: position, -1 or STOP. After a scan that
   * found nothing, this.scanMax[0] holds the largest gap figure of the scanned ranges for the
   * request's order. Up to 128 pages of alignment the fit test is that figure >= size
   * (pfn_lo - size, aligned down, clears the predecessor exactly when pfn_lo - size reaches the
   * first aligned pfn above it); above that the aligned candidate is tested too.
   */
  private scanLeaf(leaf: number, from: number, size: number, align: number, minLo: number): number {
    const lo = this.lo;
    const hi = this.hi;
    const base = leaf << LEAF_SHIFT;
    const big = align > MAX_CAP_ALIGN;
    const mask = (big ? MAX_CAP_ALIGN : align) - 1;
    let m = -Infinity;
    // the predecessor of index 0 lives in the previous leaf: kept out of the loop, so that
    // V8 keeps the pfns unboxed (a phi of a typed-array load and a call result boxes them)
    for (let i = from; i > 0; i--) {
      const e = base + i;
      const l = lo[e];
      if (l < minLo) return STOP;
      const gs = hi[e - 1] + 1;
      const g = l - gs - (-gs & mask);
      if (g >= size && (!big || alignDown(l - size, align) >= gs)) {
        this.passed += from - i;
        return e;
      }
      if (g > m) m = g;
    }
    if (from >= 0) {
      const l = lo[base];
      if (l < minLo) return STOP;
      const p = this.lfPrev[leaf];
      if (p < 0) {
        // the first range: nothing below it
        this.passed += from;
        return base;
      }
      const gs = hi[(p << LEAF_SHIFT) + this.lfSize[p] - 1] + 1;
      const g = l - gs - (-gs & mask);
      if (g >= size && (!big || alignDown(l - size, align) >= gs)) {
        this.passed += from;
        return base;
      }
      if (g > m) m = g;
    }
    this.passed += from + 1;
    this.scanMax[0] = m;
    return -1;
  }

  /** pfn_hi of the range before a leaf's first, -Infinity if there is none. */
  private prevLeafHi(leaf: number): number {
    const p = this.lfPrev[leaf];
    return p < 0 ? -Infinity : this.hi[(p << LEAF_SHIFT) + this.lfSize[p] - 1];
  }

  /** pfn_hi of the range before position e, -Infinity if there is none. */
  private prevHi(e: number): number {
    return (e & LEAF_MASK) !== 0 ? this.hi[e - 1] : this.prevLeafHi(e >> LEAF_SHIFT);
  }

  // ---- updates ------------------------------------------------------------------------------

  /**
   * Inserts [lo, hi] right before the range at position `e` (its successor, which must exist);
   * the caller guarantees it lies between that range's predecessor and it. Both new gaps lie
   * inside the successor's old one, so the figures above stay valid bounds: only counts change.
   * @returns the new range's position
   */
  insertBefore(e: number, lo: number, hi: number, id: number): number {
    let leaf = e >> LEAF_SHIFT;
    let i = e & LEAF_MASK;
    if (this.lfSize[leaf] === LEAF_CAP) {
      const right = this.splitLeaf(leaf);
      const half = LEAF_CAP >> 1;
      if (i >= half) {
        leaf = right;
        i -= half;
      }
    }
    const base = leaf << LEAF_SHIFT;
    const n = this.lfSize[leaf];
    const los = this.lo;
    const his = this.hi;
    const ids = this.ids;
    for (let j = base + n; j > base + i; j--) {
      los[j] = los[j - 1];
      his[j] = his[j - 1];
      ids[j] = ids[j - 1];
    }
    const pos = base + i;
    los[pos] = lo;
    his[pos] = hi;
    ids[pos] = id;
    this.lfSize[leaf] = n + 1;
    this.count++;
    this.addCount(leaf, 1);
    if (i === 0) this.fixKey(leaf);
    return pos;
  }

  /** Inserts [lo, hi] by key; throws if a range with the same pfn_lo exists. */
  insert(lo: number, hi: number, id: number): number {
    const p = this.lastBelow(lo + 1);
    if (p >= 0 && this.lo[p] === lo) {
      throw new Error(`iova_insert_rbtree: pfn ${lo} already in the tree`);
    }
    if (this.count === 0) {
      // the first range (the domain's anchor)
      this.lo[0] = lo;
      this.hi[0] = hi;
      this.ids[0] = id;
      this.lfSize[this.root] = 1;
      this.count = 1;
      return 0;
    }
    const succ = p < 0 ? this.first() : this.next(p);
    if (succ < 0) throw new Error('iova tree: no range above the new one (the anchor is missing)');
    return this.insertBefore(succ, lo, hi, id);
  }

  /**
   * rb_erase() of the range at position e, which must have a successor. The successor's gap
   * absorbs the range and its gap, so it grows and is raised up the tree; the figures the range
   * leaves behind stay as bounds.
   */
  erase(e: number): void {
    const leaf = e >> LEAF_SHIFT;
    const i = e & LEAF_MASK;
    const n = this.lfSize[leaf];
    // the predecessor does not move
    const pe = this.prev(e);
    const los = this.lo;
    const his = this.hi;
    const ids = this.ids;
    const end = (leaf << LEAF_SHIFT) + n - 1;
    for (let j = e; j < end; j++) {
      los[j] = los[j + 1];
      his[j] = his[j + 1];
      ids[j] = ids[j + 1];
    }
    ids[end] = -1;
    this.lfSize[leaf] = n - 1;
    this.count--;
    if (this.height === 0) return;
    // the successor: now at e (one climb does the count and the figures), or heading the next leaf
    this.gapFigures(pe, i < n - 1 ? e : this.lfNext[leaf] << LEAF_SHIFT, this.sc);
    if (i < n - 1) {
      this.raise(leaf, -1);
    } else {
      this.addCount(leaf, -1);
      this.raise(this.lfNext[leaf], 0);
    }
    if (i === 0 && n > 1) this.fixKey(leaf);
    if (n - 1 < LEAF_MIN) this.rebalanceLeaf(leaf);
  }

  /** Changes the pfn_lo of the range at e within its gap (reserve_iova() merging). */
  setPfnLo(e: number, lo: number): void {
    this.lo[e] = lo;
    if (this.height === 0) return;
    const leaf = e >> LEAF_SHIFT;
    this.gapFigures(this.prev(e), e, this.sc);
    this.raise(leaf, 0);
    if ((e & LEAF_MASK) === 0) this.fixKey(leaf);
  }

  /** Adds `d` to the count of a leaf and its ancestors. */
  private addCount(leaf: number, d: number): void {
    const cnt = this.inCnt;
    let slot = this.lfSlot[leaf];
    for (let n = this.lfParent[leaf]; n >= 0; n = this.inParent[n]) {
      cnt[n * FANOUT + slot] += d;
      slot = this.inSlot[n];
    }
  }

  /**
   * The gap figures of the range at position `e` after the range at position `pe` (-1: none,
   * so unbounded): for order k, pfn_lo minus the first multiple of 2^k above the predecessor's
   * pfn_hi. Positions, not pfns, as arguments: V8 would box the doubles.
   */
  private gapFigures(pe: number, e: number, out: Float64Array): void {
    if (pe < 0) {
      out.fill(Infinity);
      return;
    }
    const gs = this.hi[pe] + 1;
    const g = this.lo[e] - gs;
    // (-gs) mod 128: how far gs is below the next multiple of 128, its low bits for smaller orders
    const t = -gs & (MAX_CAP_ALIGN - 1);
    for (let k = 0; k < CAP_ORDERS; k++) out[k] = g - (t & ((1 << k) - 1));
  }

  /**
   * A range of `leaf` now has the gap figures this.sc: raises the bounds above it to them, and
   * adds `d` to the counts on the way.
   */
  private raise(leaf: number, d: number): void {
    const sc = this.sc;
    const gap = this.inGap;
    let raising = true;
    let slot = this.lfSlot[leaf];
    for (let n = this.lfParent[leaf]; n >= 0; n = this.inParent[n]) {
      this.inCnt[n * FANOUT + slot] += d;
      if (raising) {
        raising = false;
        for (let k = 0, j = n * CAP_ORDERS * FANOUT + slot; k < CAP_ORDERS; k++, j += FANOUT) {
          if (sc[k] > gap[j]) {
            gap[j] = sc[k];
            raising = true;
          }
        }
      }
      if (!raising && d === 0) return;
      slot = this.inSlot[n];
    }
  }

  /** A leaf's first pfn_lo changed: the keys above it. */
  private fixKey(leaf: number): void {
    const key = this.lo[leaf << LEAF_SHIFT];
    let s = this.lfSlot[leaf];
    for (let n = this.lfParent[leaf]; n >= 0; n = this.inParent[n]) {
      this.inKey[n * FANOUT + s] = key;
      if (s !== 0) return;
      s = this.inSlot[n];
    }
  }

  /** A leaf's gap maxima, rescanned (-Infinity for an empty leaf). O(LEAF_CAP). */
  private leafGaps(leaf: number, out: Float64Array): void {
    const lo = this.lo;
    const hi = this.hi;
    const base = leaf << LEAF_SHIFT;
    const end = base + this.lfSize[leaf];
    let m0 = -Infinity;
    let m1 = -Infinity;
    let m2 = -Infinity;
    let m3 = -Infinity;
    let m4 = -Infinity;
    let m5 = -Infinity;
    let m6 = -Infinity;
    let m7 = -Infinity;
    let ph = this.prevLeafHi(leaf);
    for (let e = base; e < end; e++) {
      if (ph === -Infinity) {
        m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = Infinity;
      } else {
        // see gapFigures()
        const gs = ph + 1;
        const g = lo[e] - gs;
        const t = -gs & 127;
        if (g > m0) m0 = g;
        const g1 = g - (t & 1);
        if (g1 > m1) m1 = g1;
        const g2 = g - (t & 3);
        if (g2 > m2) m2 = g2;
        const g3 = g - (t & 7);
        if (g3 > m3) m3 = g3;
        const g4 = g - (t & 15);
        if (g4 > m4) m4 = g4;
        const g5 = g - (t & 31);
        if (g5 > m5) m5 = g5;
        const g6 = g - (t & 63);
        if (g6 > m6) m6 = g6;
        const g7 = g - t;
        if (g7 > m7) m7 = g7;
      }
      ph = hi[e];
    }
    out[0] = m0;
    out[1] = m1;
    out[2] = m2;
    out[3] = m3;
    out[4] = m4;
    out[5] = m5;
    out[6] = m6;
    out[7] = m7;
  }

  // ---- structure: split, merge, share ------------------------------------------------------

  /** Splits a full leaf in two halves; returns the new right half. */
  private splitLeaf(leaf: number): number {
    const r = this.allocLeaf();
    const half = LEAF_CAP >> 1;
    this.moveEntries(leaf, half, r, 0, LEAF_CAP - half);
    this.lfSize[leaf] = half;
    this.lfSize[r] = LEAF_CAP - half;
    const nx = this.lfNext[leaf];
    this.lfNext[r] = nx;
    if (nx >= 0) this.lfPrev[nx] = r;
    this.lfNext[leaf] = r;
    this.lfPrev[r] = leaf;
    if (this.height === 0) this.newRoot(leaf, r);
    else this.insertChild(this.lfParent[leaf], this.lfSlot[leaf] + 1, r, 0);
    this.refreshUp(leaf, 0);
    this.refreshUp(r, 0);
    return r;
  }

  /** Splits a full internal node at `level`; returns the new right half. */
  private splitNode(n: number, level: number): number {
    const r = this.allocNode();
    const half = FANOUT >> 1;
    for (let s = half; s < FANOUT; s++) this.copySlot(n, s, r, s - half, level - 1);
    this.inSize[n] = half;
    this.inSize[r] = FANOUT - half;
    if (this.inParent[n] < 0) this.newRoot(n, r);
    else this.insertChild(this.inParent[n], this.inSlot[n] + 1, r, level);
    this.refreshUp(n, level);
    this.refreshUp(r, level);
    return r;
  }

  /** A new root above two children (the old root and its new right sibling). */
  private newRoot(a: number, b: number): void {
    const level = this.height;
    const n = this.allocNode();
    this.inParent[n] = -1;
    this.inSize[n] = 2;
    this.setChild(n, 0, a, level);
    this.setChild(n, 1, b, level);
    this.root = n;
    this.height++;
  }

  /** Puts `child` (at `childLevel`) into node n at `slot`, splitting n first if it is full. */
  private insertChild(n: number, slot: number, child: number, childLevel: number): void {
    if (this.inSize[n] === FANOUT) {
      const r = this.splitNode(n, childLevel + 1);
      const half = FANOUT >> 1;
      if (slot > half) {
        n = r;
        slot -= half;
      }
    }
    for (let s = this.inSize[n]; s > slot; s--) this.copySlot(n, s - 1, n, s, childLevel);
    this.inSize[n]++;
    this.setChild(n, slot, child, childLevel);
    // the caller refreshes the slot's figures
    this.inCnt[n * FANOUT + slot] = 0;
    for (let k = 0; k < CAP_ORDERS; k++)
      this.inGap[(n * CAP_ORDERS + k) * FANOUT + slot] = -Infinity;
  }

  /** Removes child slot `slot` of node n (its children at `childLevel`). */
  private removeChild(n: number, slot: number, childLevel: number): void {
    const size = this.inSize[n];
    for (let s = slot + 1; s < size; s++) this.copySlot(n, s, n, s - 1, childLevel);
    this.inSize[n] = size - 1;
  }

  /** A non-root leaf below LEAF_MIN merges with a sibling or takes half of the pair. */
  private rebalanceLeaf(leaf: number): void {
    const p = this.lfParent[leaf];
    if (p < 0) return;
    const s = this.lfSlot[leaf];
    const ls = s > 0 ? s - 1 : s;
    const a = this.inChild[p * FANOUT + ls];
    const b = this.inChild[p * FANOUT + ls + 1];
    const na = this.lfSize[a];
    const nb = this.lfSize[b];
    if (na + nb <= LEAF_MERGE_MAX) {
      this.moveEntries(b, 0, a, na, nb);
      this.lfSize[a] = na + nb;
      this.lfSize[b] = 0;
      const nx = this.lfNext[b];
      this.lfNext[a] = nx;
      if (nx >= 0) this.lfPrev[nx] = a;
      this.removeChild(p, ls + 1, 0);
      this.lfFree.push(b);
      this.refreshUp(a, 0);
      this.rebalanceNode(p, 1);
      return;
    }
    const ka = (na + nb) >> 1;
    if (na > ka) {
      // a's tail to the front of b
      const d = na - ka;
      this.moveEntries(b, 0, b, d, nb);
      this.moveEntries(a, ka, b, 0, d);
    } else {
      const d = ka - na;
      this.moveEntries(b, 0, a, na, d);
      this.moveEntries(b, d, b, 0, nb - d);
    }
    this.lfSize[a] = ka;
    this.lfSize[b] = na + nb - ka;
    this.refreshUp(a, 0);
    this.refreshUp(b, 0);
  }

  /** After a child merge: a root with one child hands over; a small node merges or shares. */
  private rebalanceNode(n: number, level: number): void {
    const size = this.inSize[n];
    const p = this.inParent[n];
    if (p < 0) {
      if (size > 1) return;
      const c = this.inChild[n * FANOUT];
      if (level === 1) this.lfParent[c] = -1;
      else this.inParent[c] = -1;
      this.root = c;
      this.height--;
      this.inFree.push(n);
      return;
    }
    if (size >= NODE_MIN) return;
    const s = this.inSlot[n];
    const ls = s > 0 ? s - 1 : s;
    const a = this.inChild[p * FANOUT + ls];
    const b = this.inChild[p * FANOUT + ls + 1];
    const na = this.inSize[a];
    const nb = this.inSize[b];
    const cl = level - 1;
    if (na + nb <= NODE_MERGE_MAX) {
      for (let t = 0; t < nb; t++) this.copySlot(b, t, a, na + t, cl);
      this.inSize[a] = na + nb;
      this.inSize[b] = 0;
      this.removeChild(p, ls + 1, level);
      this.inFree.push(b);
      this.refreshUp(a, level);
      this.rebalanceNode(p, level + 1);
      return;
    }
    const ka = (na + nb) >> 1;
    if (na > ka) {
      const d = na - ka;
      for (let t = nb - 1; t >= 0; t--) this.copySlot(b, t, b, t + d, cl);
      for (let t = 0; t < d; t++) this.copySlot(a, ka + t, b, t, cl);
    } else {
      const d = ka - na;
      for (let t = 0; t < d; t++) this.copySlot(b, t, a, na + t, cl);
      for (let t = d; t < nb; t++) this.copySlot(b, t, b, t - d, cl);
    }
    this.inSize[a] = ka;
    this.inSize[b] = na + nb - ka;
    this.refreshUp(a, level);
    this.refreshUp(b, level);
  }

  /** Recomputes the figures of a leaf or node (at `level`) and of each ancestor, in full. */
  private refreshUp(id: number, level: number): void {
    const sc = this.sc;
    for (;;) {
      const p = level === 0 ? this.lfParent[id] : this.inParent[id];
      if (p < 0) return;
      const s = level === 0 ? this.lfSlot[id] : this.inSlot[id];
      let cnt = 0;
      let key: number;
      if (level === 0) {
        this.leafGaps(id, sc);
        cnt = this.lfSize[id];
        key = this.lo[id << LEAF_SHIFT];
      } else {
        const size = this.inSize[id];
        for (let k = 0; k < CAP_ORDERS; k++) {
          sc[k] = rowMax(this.inGap, (id * CAP_ORDERS + k) * FANOUT, size);
        }
        for (let t = 0; t < size; t++) cnt += this.inCnt[id * FANOUT + t];
        key = this.inKey[id * FANOUT];
      }
      const b = p * FANOUT + s;
      this.inCnt[b] = cnt;
      this.inKey[b] = key;
      for (let k = 0; k < CAP_ORDERS; k++) this.inGap[(p * CAP_ORDERS + k) * FANOUT + s] = sc[k];
      id = p;
      level++;
    }
  }

  /** Moves `count` ranges from leaf src index si to leaf dst index di (overlap-safe). */
  private moveEntries(src: number, si: number, dst: number, di: number, count: number): void {
    const lo = this.lo;
    const hi = this.hi;
    const ids = this.ids;
    const from = (src << LEAF_SHIFT) + si;
    const to = (dst << LEAF_SHIFT) + di;
    if (to > from) {
      for (let j = count - 1; j >= 0; j--) {
        lo[to + j] = lo[from + j];
        hi[to + j] = hi[from + j];
        ids[to + j] = ids[from + j];
      }
    } else {
      for (let j = 0; j < count; j++) {
        lo[to + j] = lo[from + j];
        hi[to + j] = hi[from + j];
        ids[to + j] = ids[from + j];
      }
    }
    // slots left behind drop their references
    for (let j = from; j < from + count; j++) if (j < to || j >= to + count) ids[j] = -1;
  }

  /** Copies child slot ss of node src to slot ds of node dst, and relinks the child. */
  private copySlot(src: number, ss: number, dst: number, ds: number, childLevel: number): void {
    const a = src * FANOUT + ss;
    const b = dst * FANOUT + ds;
    this.inKey[b] = this.inKey[a];
    this.inCnt[b] = this.inCnt[a];
    for (let k = 0; k < CAP_ORDERS; k++) {
      this.inGap[(dst * CAP_ORDERS + k) * FANOUT + ds] =
        this.inGap[(src * CAP_ORDERS + k) * FANOUT + ss];
    }
    this.setChild(dst, ds, this.inChild[a], childLevel);
  }

  private setChild(n: number, slot: number, child: number, childLevel: number): void {
    this.inChild[n * FANOUT + slot] = child;
    if (childLevel === 0) {
      this.lfParent[child] = n;
      this.lfSlot[child] = slot;
    } else {
      this.inParent[child] = n;
      this.inSlot[child] = slot;
    }
  }

  private allocLeaf(): number {
    let l = this.lfFree.pop();
    if (l === undefined) {
      l = this.lfUsed++;
      if (l === this.lfSize.length) this.growLeaves();
    }
    this.lfSize[l] = 0;
    this.lfParent[l] = -1;
    this.lfSlot[l] = 0;
    this.lfPrev[l] = -1;
    this.lfNext[l] = -1;
    return l;
  }

  private allocNode(): number {
    let n = this.inFree.pop();
    if (n === undefined) {
      n = this.inUsed++;
      if (n === this.inSize.length) this.growNodes();
    }
    this.inSize[n] = 0;
    this.inParent[n] = -1;
    this.inSlot[n] = 0;
    return n;
  }

  private growLeaves(): void {
    const cap = this.lfSize.length * 2;
    this.lo = grow(this.lo, cap * LEAF_CAP);
    this.hi = grow(this.hi, cap * LEAF_CAP);
    const ids = new Int32Array(cap * LEAF_CAP).fill(-1);
    ids.set(this.ids);
    this.ids = ids;
    this.lfSize = grow(this.lfSize, cap);
    this.lfParent = grow(this.lfParent, cap);
    this.lfSlot = grow(this.lfSlot, cap);
    this.lfPrev = grow(this.lfPrev, cap);
    this.lfNext = grow(this.lfNext, cap);
  }

  private growNodes(): void {
    const cap = this.inSize.length * 2;
    this.inChild = grow(this.inChild, cap * FANOUT);
    this.inKey = grow(this.inKey, cap * FANOUT);
    this.inCnt = grow(this.inCnt, cap * FANOUT);
    this.inGap = grow(this.inGap, cap * FANOUT * CAP_ORDERS);
    this.inSize = grow(this.inSize, cap);
    this.inParent = grow(this.inParent, cap);
    this.inSlot = grow(this.inSlot, cap);
  }

  // ---- checks -------------------------------------------------------------------------------

  /**
   * Checks the structure: ranges in order without overlap, leaves linked in order and all at
   * one depth, fill bounds, parent links, every child slot's key and count, and that its gap
   * figures bound the exact maxima recomputed from scratch; throws on the first violation.
   * O(n), for tests.
   */
  check(): void {
    const want = new Float64Array(CAP_ORDERS);
    const leaves: number[] = [];
    const visit = (id: number, level: number, parent: number, slot: number): number => {
      if (level === 0) {
        if (this.lfParent[id] !== parent || (parent >= 0 && this.lfSlot[id] !== slot)) {
          throw new Error(`iova tree: bad parent link at leaf ${id}`);
        }
        const size = this.lfSize[id];
        if (size < (parent < 0 ? 1 : LEAF_MIN) || size > LEAF_CAP) {
          throw new Error(`iova tree: leaf ${id} holds ${size} ranges`);
        }
        leaves.push(id);
        return size;
      }
      if (this.inParent[id] !== parent || (parent >= 0 && this.inSlot[id] !== slot)) {
        throw new Error(`iova tree: bad parent link at node ${id}`);
      }
      const size = this.inSize[id];
      if (size < (parent < 0 ? 2 : NODE_MIN) || size > FANOUT) {
        throw new Error(`iova tree: node ${id} has ${size} children`);
      }
      let total = 0;
      for (let s = 0; s < size; s++) {
        const c = this.inChild[id * FANOUT + s];
        const cnt = visit(c, level - 1, id, s);
        total += cnt;
        if (this.inCnt[id * FANOUT + s] !== cnt) throw new Error(`iova tree: stale count`);
        const key = level === 1 ? this.lo[c << LEAF_SHIFT] : this.inKey[c * FANOUT];
        if (this.inKey[id * FANOUT + s] !== key) throw new Error(`iova tree: stale key ${key}`);
      }
      return total;
    };
    const total = visit(this.root, this.height, -1, 0);
    if (total !== this.count)
      throw new Error(`iova tree: ${total} ranges, count says ${this.count}`);
    // order, links, and the gap maxima bottom-up (children are checked before parents use them)
    for (let j = 0; j < leaves.length; j++) {
      const l = leaves[j];
      if (this.lfPrev[l] !== (j > 0 ? leaves[j - 1] : -1)) {
        throw new Error(`iova tree: bad prev link at leaf ${l}`);
      }
      if (this.lfNext[l] !== (j + 1 < leaves.length ? leaves[j + 1] : -1)) {
        throw new Error(`iova tree: bad next link at leaf ${l}`);
      }
      for (let e = l << LEAF_SHIFT, end = e + this.lfSize[l]; e < end; e++) {
        if (this.lo[e] > this.hi[e] || this.prevHi(e) >= this.lo[e]) {
          throw new Error(`iova tree: [${this.lo[e]}, ${this.hi[e]}] out of order or overlapping`);
        }
      }
    }
    // the figures: each slot's must bound the exact maxima of its child's subtree
    const exact = (id: number, level: number, out: Float64Array): void => {
      if (level === 0) {
        this.leafGaps(id, out);
        return;
      }
      out.fill(-Infinity);
      const sub = new Float64Array(CAP_ORDERS);
      for (let s = 0; s < this.inSize[id]; s++) {
        exact(this.inChild[id * FANOUT + s], level - 1, sub);
        for (let k = 0; k < CAP_ORDERS; k++) {
          if (!(this.inGap[(id * CAP_ORDERS + k) * FANOUT + s] >= sub[k])) {
            throw new Error(`iova tree: gap figure (order ${k}) at node ${id} slot ${s} too low`);
          }
          if (sub[k] > out[k]) out[k] = sub[k];
        }
      }
    };
    exact(this.root, this.height, want);
  }
}

function rowMax(a: Float64Array, from: number, count: number): number {
  let m = -Infinity;
  for (let j = from, end = from + count; j < end; j++) if (a[j] > m) m = a[j];
  return m;
}

function grow<A extends Float64Array | Int32Array>(a: A, length: number): A {
  const b = new (a.constructor as new (n: number) => A)(length);
  b.set(a);
  return b;
}
