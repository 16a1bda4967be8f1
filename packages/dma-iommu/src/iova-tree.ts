/**
 * The ordered set of an IOVA domain's live ranges: what iovad->rbroot is in
 * drivers/iommu/iova.c (v6.16, reference §4.5), with the gap figures that let the allocation walk
 * find its stopping node without visiting every node it skips.
 *
 * The kernel's is a red-black tree of struct iova. Here it is a B+ tree kept in typed arrays
 * (no object per node, few cache lines per level), because random churn over 100 k ranges makes
 * every root-to-leaf path of a binary tree a chain of cache misses:
 *  - leaves hold up to LEAF_CAP ranges in order, each a record of pfn_lo, pfn_hi and the
 *    caller's integer id in one array (one cache miss finds a range and reads it), and are
 *    linked to their neighbours, so rb_prev()/rb_next() are O(1); each leaf also keeps its
 *    predecessor's pfn_hi, so the gap below its first range needs no visit to the previous leaf;
 *  - an internal node holds up to FANOUT children and, for each child, its smallest pfn_lo
 *    (next to the child's index, so a descent's scan finds both in one line), its range count
 *    and its gap figures (below), side by side so a scan of siblings stays in a few cache lines.
 * A range is named by its position: leaf * LEAF_SLOTS + index in the leaf. Positions change when
 * the tree changes, so they are only held across calls that do not modify it (or checked with
 * idAt() before use).
 *
 * Gap figures. The gap of a range is the free space between its predecessor's pfn_hi and its
 * pfn_lo (unbounded below the first range). For alignment 2^k (k < CAP_ORDERS) its figure is
 * the largest range aligned to 2^k that fits in the gap when placed top-down: pfn_lo minus the
 * first multiple of 2^k above the predecessor. Each child slot keeps, per order, a bound on the
 * largest figure in the child's subtree (as mm/vmalloc.c keeps subtree_max_size), so a search
 * for the first gap that fits skips subtrees whose bound is too small. The bounds are upper
 * bounds, not always the maxima: an erase grows one gap and raises the bounds above it at once;
 * an insert, which only shrinks a gap, lowers the bounds of the request's own order where the gap
 * it split held them (the next request of that order is the likeliest to be misled), and leaves
 * the other orders high rather than rescan (on churn, rescanning every order was most of the
 * cost); a search that enters a subtree on a stale bound and finds no fit sets the bound for its
 * order to what it saw. A stale bound costs at most one such wasted visit per level, paid by the
 * insert that left it.
 *
 * Costs, n live ranges, height log_FANOUT(n) (3 levels of internal nodes at 100 k):
 * search by key, rank, insert and erase O(log n) plus O(LEAF_CAP) to shift a leaf; a leaf
 * splits when full, and merges with or shares a sibling below a quarter full (nodes likewise),
 * amortized O(1) levels. The fit search is O(log n) with exact bounds for alignments up to
 * 2^(CAP_ORDERS-1) pages, plus the stale subtrees it enters; above that alignment the order
 * 2^(CAP_ORDERS-1) figures only bound it.
 */

/** Slots per leaf in storage and positions: a power of two, so a position splits by shifts. */
const LEAF_SHIFT = 5;
const LEAF_SLOTS = 1 << LEAF_SHIFT;
const LEAF_MASK = LEAF_SLOTS - 1;
/** Ranges per leaf, at most LEAF_SLOTS. */
const LEAF_CAP = LEAF_SLOTS;
/** Doubles per range record: pfn_lo, pfn_hi, id. */
const REC = 3;
/** An unused slot's record: a pfn_lo above every key, which ends scans, and no id. */
const UNUSED_LO = Infinity;
const UNUSED_ID = -1;
/** Children per internal node. */
const FANOUT = 32;
/** Below this a non-root leaf or node merges with, or borrows from, a sibling. */
const LEAF_MIN = LEAF_CAP >> 2;
const NODE_MIN = FANOUT >> 2;
/** Two siblings merge only if the result is at most 3/4 full, so the next insert does not split it. */
const LEAF_MERGE_MAX = (LEAF_CAP * 3) >> 2;
const NODE_MERGE_MAX = (FANOUT * 3) >> 2;
/** Alignment orders the tree keeps gap figures for: 2^0..2^7 pages (raise() and leafGaps() are unrolled for 8). */
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
  // ---- leaves: range j of leaf l at position e = l * LEAF_SLOTS + j -------------------------
  /**
   * The ranges as records of REC doubles: pfn_lo at REC * e, pfn_hi after it, then the caller's
   * id. One array, not one per field: a range's fields share a cache line, so finding a range
   * by pfn_lo and reading its pfn_hi and id is one miss, not three. Unused slots hold
   * UNUSED_LO and UNUSED_ID.
   */
  private rec = unusedRecords(LEAF_SLOTS * 4);
  private lfSize = new Int32Array(4);
  private lfParent = new Int32Array(4);
  /** Slot of the leaf in its parent. */
  private lfSlot = new Int32Array(4);
  private lfPrev = new Int32Array(4);
  /**
   * pfn_hi of the range before each leaf's first, -Infinity for the first leaf: the first
   * range's gap without reading the previous leaf (a cache miss of its own).
   */
  private lfPrevHi = new Float64Array(4);
  private lfNext = new Int32Array(4);
  private lfUsed = 0;
  private readonly lfFree: number[] = [];

  // ---- internal nodes: child slot s of node n at n * FANOUT + s -----------------------------
  /**
   * Per child slot i = n * FANOUT + s, side by side: the smallest pfn_lo in the child's subtree
   * (a double at 2 * i) and the child (an int32 at 4 * i + 2, a view of the same buffer). A
   * descent's key scan then has the child it picks in the same cache line, not in another array.
   */
  private inKey = new Float64Array(FANOUT * 4 * 2);
  private inChild = new Int32Array(this.inKey.buffer);
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
    return this.rec[REC * e];
  }

  /** pfn_hi of the range at a position. */
  pfnHi(e: number): number {
    return this.rec[REC * e + 1];
  }

  /** The caller's id for the range at a position. */
  id(e: number): number {
    return this.rec[REC * e + 2];
  }

  /**
   * What slot `e` holds: the id of the range there, or -1 for a slot no range uses (vacated
   * slots are cleared) or beyond the storage. For checking a remembered position.
   */
  idAt(e: number): number {
    return e >= 0 && REC * e < this.rec.length ? this.rec[REC * e + 2] : UNUSED_ID;
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
    for (let h = this.height; h > 0; h--) n = this.inChild[4 * (n * FANOUT) + 2];
    return this.lfSize[n] === 0 ? -1 : n << LEAF_SHIFT;
  }

  /** rb_last(): the last position, -1 if empty. */
  last(): number {
    let n = this.root;
    for (let h = this.height; h > 0; h--)
      n = this.inChild[4 * (n * FANOUT + this.inSize[n] - 1) + 2];
    return (n << LEAF_SHIFT) + this.lfSize[n] - 1;
  }

  /**
   * The last range with pfn_lo <= pfn, or -1. O(log n). Callers pass a pfn they hold, not a sum:
   * a double computed for the call is boxed.
   */
  lastAtOrBelow(pfn: number): number {
    const inKey = this.inKey;
    let n = this.root;
    // linear scans: a node's keys share a few cache lines, and the branch is predictable
    for (let h = this.height; h > 0; h--) {
      const b = n * FANOUT;
      const end = b + this.inSize[n];
      let j = b;
      while (j < end && inKey[2 * j] <= pfn) j++;
      if (j === b) return -1;
      n = this.inChild[4 * j - 2];
    }
    // the sentinel pfn_lo of unused slots ends the scan, so it need not wait for the leaf's size
    const rec = this.rec;
    const base = n << LEAF_SHIFT;
    const end = base + LEAF_CAP;
    let j = base;
    while (j < end && rec[REC * j] <= pfn) j++;
    return j === base ? -1 : j - 1;
  }

  /** The last range with pfn_lo < key, or -1. O(log n). */
  lastBelow(key: number): number {
    // pfns are integers
    return this.lastAtOrBelow(key - 1);
  }

  /** The range containing `pfn`, or -1. O(log n). */
  find(pfn: number): number {
    const e = this.lastAtOrBelow(pfn);
    return e >= 0 && this.rec[REC * e + 1] >= pfn ? e : -1;
  }

  /** The first range with pfn_hi >= pfn, or -1. O(log n). */
  firstReaching(pfn: number): number {
    const e = this.lastAtOrBelow(pfn);
    if (e < 0) return this.first();
    return this.rec[REC * e + 1] >= pfn ? e : this.next(e);
  }

  /** The last range with pfn_hi < pfn, or -1. O(log n). */
  lastEndingBelow(pfn: number): number {
    const e = this.lastBelow(pfn);
    if (e < 0) return -1;
    // ranges do not overlap: the one before ends below this one's pfn_lo
    return this.rec[REC * e + 1] < pfn ? e : this.prev(e);
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
      if (this.rec[REC * (leaf << LEAF_SHIFT)] < minLo) return -1;
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
    // the keys rise with the slots: the search stops after the last slot whose subtree starts
    // below minLo, if any (a key row read only near the bottom of the space)
    let last = -1;
    const key = this.inKey;
    if (key[2 * b] < minLo) {
      last = 0;
      while (last < from && key[2 * (b + last + 1)] < minLo) last++;
    }
    let m = -Infinity;
    // the ranges of the subtrees passed over, added to this.passed on the way out
    let passed = 0;
    for (let t = from; t >= 0; t--) {
      let g = gap[row + t];
      if (g >= size) {
        const c = this.inChild[4 * (b + t) + 2];
        const r =
          level === 1
            ? this.scanLeaf(c, cnt[b + t] - 1, size, align, minLo)
            : this.fitInNode(c, level - 1, this.inSize[c] - 1, k, size, align, minLo);
        if (r !== -1) {
          this.passed += passed;
          return r;
        }
        // a stale figure (or, above 128 pages, only a bound): tighten it
        g = this.scanMax[0];
        gap[row + t] = g;
      } else {
        passed += cnt[b + t];
      }
      if (g > m) m = g;
      // everything left of this child starts below its smallest pfn_lo
      if (t <= last) {
        this.passed += passed;
        return STOP;
      }
    }
    this.passed += passed;
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
    const rec = this.rec;
    const base = leaf << LEAF_SHIFT;
    const big = align > MAX_CAP_ALIGN;
    const mask = (big ? MAX_CAP_ALIGN : align) - 1;
    let m = -Infinity;
    // index 0 is kept out of the loop: its predecessor's pfn_hi is the leaf's lfPrevHi, and the
    // first range of all (-Infinity there) always fits
    for (let i = from; i > 0; i--) {
      const e = base + i;
      const l = rec[REC * e];
      if (l < minLo) return STOP;
      const gs = rec[REC * e - REC + 1] + 1;
      const g = l - gs - (-gs & mask);
      if (g >= size && (!big || alignDown(l - size, align) >= gs)) {
        this.passed += from - i;
        return e;
      }
      if (g > m) m = g;
    }
    if (from >= 0) {
      const l = rec[REC * base];
      if (l < minLo) return STOP;
      const ph = this.lfPrevHi[leaf];
      if (ph === -Infinity) {
        // the first range: nothing below it
        this.passed += from;
        return base;
      }
      const gs = ph + 1;
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

  /** pfn_hi of the range before position e, -Infinity if there is none. */
  private prevHi(e: number): number {
    return (e & LEAF_MASK) !== 0 ? this.rec[REC * e - REC + 1] : this.lfPrevHi[e >> LEAF_SHIFT];
  }

  // ---- updates ------------------------------------------------------------------------------

  /**
   * Inserts [lo, hi] right before the range at position `e` (its successor, which must exist);
   * the caller guarantees it lies between that range's predecessor and it. Both new gaps lie
   * inside the successor's old one, so the figures above stay valid bounds: only counts change,
   * and the bounds for `align`'s order are tightened (tightenAfterInsert()).
   * @param align the alignment the range was placed at (1 if none)
   * @returns the new range's position
   */
  insertBefore(e: number, lo: number, hi: number, id: number, align = 1): number {
    const k = capOrder(align);
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
    const rec = this.rec;
    const pos = base + i;
    // a record per step, loads before stores: a double per step ran several times slower
    for (let j = REC * (base + n); j > REC * pos; j -= REC) {
      const l = rec[j - REC];
      const h = rec[j - REC + 1];
      const d = rec[j - REC + 2];
      rec[j] = l;
      rec[j + 1] = h;
      rec[j + 2] = d;
    }
    rec[REC * pos] = lo;
    rec[REC * pos + 1] = hi;
    rec[REC * pos + 2] = id;
    this.lfSize[leaf] = n + 1;
    this.count++;
    this.addCount(leaf, 1);
    if (i === 0) this.fixKey(leaf);
    this.tightenAfterInsert(leaf, pos, k);
    return pos;
  }

  /**
   * After an insert at `pos` (its successor at pos + 1) for a request of alignment order k: if
   * the successor's old gap held its leaf's order-k bound, the bound may now be too high. The
   * leaf (in cache) is rescanned for that order, and a lowered bound is carried up while it was
   * its node's maximum (the rows the search just read). Without this the next request of the
   * same order, the likeliest to need a gap that large, enters the subtree on the stale bound;
   * the other orders stay lazy (tightening them all cost more than the visits it saved).
   */
  private tightenAfterInsert(leaf: number, pos: number, k: number): void {
    let n = this.lfParent[leaf];
    if (n < 0) return;
    let s = this.lfSlot[leaf];
    const gap = this.inGap;
    const rec = this.rec;
    const mask = (1 << k) - 1;
    const ph = this.prevHi(pos);
    let j = (n * CAP_ORDERS + k) * FANOUT + s;
    let old = gap[j];
    if (ph !== -Infinity) {
      // the old gap's figure, as in raise(), before the range at pos split it
      const gs = ph + 1;
      if (rec[REC * pos + REC] - gs - (-gs & mask) < old) return;
    }
    // the leaf's maximum for order k, as in scanLeaf()
    const base = leaf << LEAF_SHIFT;
    let m = -Infinity;
    for (let x = REC * (base + this.lfSize[leaf] - 1); x > REC * base; x -= REC) {
      const gs = rec[x - REC + 1] + 1;
      const g = rec[x] - gs - (-gs & mask);
      if (g > m) m = g;
    }
    const pl = this.lfPrevHi[leaf];
    if (pl === -Infinity) m = Infinity;
    else {
      const gs = pl + 1;
      const g = rec[REC * base] - gs - (-gs & mask);
      if (g > m) m = g;
    }
    while (m < old) {
      gap[j] = m;
      const p = this.inParent[n];
      if (p < 0) return;
      s = this.inSlot[n];
      const pj = (p * CAP_ORDERS + k) * FANOUT + s;
      // old held n's maximum only if it reached the bound above
      if (old < gap[pj]) return;
      m = rowMax(gap, (n * CAP_ORDERS + k) * FANOUT, this.inSize[n]);
      old = gap[pj];
      j = pj;
      n = p;
    }
  }

  /** Inserts [lo, hi] by key; throws if a range with the same pfn_lo exists. */
  insert(lo: number, hi: number, id: number): number {
    const p = this.lastAtOrBelow(lo);
    if (p >= 0 && this.rec[REC * p] === lo) {
      throw new Error(`iova_insert_rbtree: pfn ${lo} already in the tree`);
    }
    if (this.count === 0) {
      // the first range (the domain's anchor)
      this.rec[0] = lo;
      this.rec[1] = hi;
      this.rec[2] = id;
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
    const rec = this.rec;
    const end = REC * ((leaf << LEAF_SHIFT) + n - 1);
    for (let j = REC * e; j < end; j += REC) {
      const l = rec[j + REC];
      const h = rec[j + REC + 1];
      const d = rec[j + REC + 2];
      rec[j] = l;
      rec[j + 1] = h;
      rec[j + 2] = d;
    }
    rec[end] = UNUSED_LO;
    rec[end + 2] = UNUSED_ID;
    this.lfSize[leaf] = n - 1;
    this.count--;
    if (i === n - 1) {
      // the leaf's last range: the next leaf's predecessor is now the one before it
      const nx = this.lfNext[leaf];
      if (nx >= 0) this.lfPrevHi[nx] = i > 0 ? rec[REC * e - REC + 1] : this.lfPrevHi[leaf];
    }
    if (this.height === 0) return;
    // the successor: now at e (one climb does the count and the figures), or heading the next leaf
    if (i < n - 1) {
      this.raise(e, -1);
    } else {
      this.addCount(leaf, -1);
      this.raise(this.lfNext[leaf] << LEAF_SHIFT, 0);
    }
    if (i === 0 && n > 1) this.fixKey(leaf);
    if (n - 1 < LEAF_MIN) this.rebalanceLeaf(leaf);
  }

  /** Changes the pfn_lo of the range at e within its gap (reserve_iova() merging). */
  setPfnLo(e: number, lo: number): void {
    this.rec[REC * e] = lo;
    if (this.height === 0) return;
    const leaf = e >> LEAF_SHIFT;
    this.raise(e, 0);
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
   * The gap of the range at position `e` grew (or is new): raises the bounds above its leaf to
   * its figures, and adds `d` to the counts on the way. The figure for order k is pfn_lo minus
   * the first multiple of 2^k above the predecessor's pfn_hi (unbounded for the first range).
   * A position, not pfns, as the argument: V8 would box the doubles.
   */
  private raise(e: number, d: number): void {
    const rec = this.rec;
    const leaf = e >> LEAF_SHIFT;
    const ph = (e & LEAF_MASK) !== 0 ? rec[REC * e - REC + 1] : this.lfPrevHi[leaf];
    let g = Infinity;
    // (-gs) mod 128: how far gs is below the next multiple of 128, its low bits for smaller orders
    let t = 0;
    if (ph !== -Infinity) {
      const gs = ph + 1;
      g = rec[REC * e] - gs;
      t = -gs & (MAX_CAP_ALIGN - 1);
    }
    const f1 = g - (t & 1);
    const f2 = g - (t & 3);
    const f3 = g - (t & 7);
    const f4 = g - (t & 15);
    const f5 = g - (t & 31);
    const f6 = g - (t & 63);
    const f7 = g - t;
    const gap = this.inGap;
    const cnt = this.inCnt;
    let raising = true;
    let slot = this.lfSlot[leaf];
    for (let n = this.lfParent[leaf]; n >= 0; n = this.inParent[n]) {
      cnt[n * FANOUT + slot] += d;
      if (raising) {
        // unrolled over the CAP_ORDERS rows
        const j = n * CAP_ORDERS * FANOUT + slot;
        raising = false;
        if (g > gap[j]) {
          gap[j] = g;
          raising = true;
        }
        if (f1 > gap[j + FANOUT]) {
          gap[j + FANOUT] = f1;
          raising = true;
        }
        if (f2 > gap[j + 2 * FANOUT]) {
          gap[j + 2 * FANOUT] = f2;
          raising = true;
        }
        if (f3 > gap[j + 3 * FANOUT]) {
          gap[j + 3 * FANOUT] = f3;
          raising = true;
        }
        if (f4 > gap[j + 4 * FANOUT]) {
          gap[j + 4 * FANOUT] = f4;
          raising = true;
        }
        if (f5 > gap[j + 5 * FANOUT]) {
          gap[j + 5 * FANOUT] = f5;
          raising = true;
        }
        if (f6 > gap[j + 6 * FANOUT]) {
          gap[j + 6 * FANOUT] = f6;
          raising = true;
        }
        if (f7 > gap[j + 7 * FANOUT]) {
          gap[j + 7 * FANOUT] = f7;
          raising = true;
        }
      }
      if (!raising && d === 0) return;
      slot = this.inSlot[n];
    }
  }

  /** A leaf's first pfn_lo changed: the keys above it. */
  private fixKey(leaf: number): void {
    const key = this.rec[REC * (leaf << LEAF_SHIFT)];
    let s = this.lfSlot[leaf];
    for (let n = this.lfParent[leaf]; n >= 0; n = this.inParent[n]) {
      this.inKey[2 * (n * FANOUT + s)] = key;
      if (s !== 0) return;
      s = this.inSlot[n];
    }
  }

  /** A leaf's gap maxima, rescanned (-Infinity for an empty leaf). O(LEAF_CAP). */
  private leafGaps(leaf: number, out: Float64Array): void {
    const rec = this.rec;
    const base = REC * (leaf << LEAF_SHIFT);
    const end = base + REC * this.lfSize[leaf];
    let m0 = -Infinity;
    let m1 = -Infinity;
    let m2 = -Infinity;
    let m3 = -Infinity;
    let m4 = -Infinity;
    let m5 = -Infinity;
    let m6 = -Infinity;
    let m7 = -Infinity;
    let ph = this.lfPrevHi[leaf];
    for (let e = base; e < end; e += REC) {
      if (ph === -Infinity) {
        m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = Infinity;
      } else {
        // see raise()
        const gs = ph + 1;
        const g = rec[e] - gs;
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
      ph = rec[e + 1];
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
    this.lfPrevHi[r] = this.rec[REC * ((leaf << LEAF_SHIFT) + half - 1) + 1];
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
    const a = this.inChild[4 * (p * FANOUT + ls) + 2];
    const b = this.inChild[4 * (p * FANOUT + ls + 1) + 2];
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
    this.lfPrevHi[b] = this.rec[REC * ((a << LEAF_SHIFT) + ka - 1) + 1];
    this.refreshUp(a, 0);
    this.refreshUp(b, 0);
  }

  /** After a child merge: a root with one child hands over; a small node merges or shares. */
  private rebalanceNode(n: number, level: number): void {
    const size = this.inSize[n];
    const p = this.inParent[n];
    if (p < 0) {
      if (size > 1) return;
      const c = this.inChild[4 * (n * FANOUT) + 2];
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
    const a = this.inChild[4 * (p * FANOUT + ls) + 2];
    const b = this.inChild[4 * (p * FANOUT + ls + 1) + 2];
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
        key = this.rec[REC * (id << LEAF_SHIFT)];
      } else {
        const size = this.inSize[id];
        for (let k = 0; k < CAP_ORDERS; k++) {
          sc[k] = rowMax(this.inGap, (id * CAP_ORDERS + k) * FANOUT, size);
        }
        for (let t = 0; t < size; t++) cnt += this.inCnt[id * FANOUT + t];
        key = this.inKey[2 * (id * FANOUT)];
      }
      const b = p * FANOUT + s;
      this.inCnt[b] = cnt;
      this.inKey[2 * b] = key;
      for (let k = 0; k < CAP_ORDERS; k++) this.inGap[(p * CAP_ORDERS + k) * FANOUT + s] = sc[k];
      id = p;
      level++;
    }
  }

  /** Moves `count` ranges from leaf src index si to leaf dst index di (overlap-safe). */
  private moveEntries(src: number, si: number, dst: number, di: number, count: number): void {
    const rec = this.rec;
    const from = REC * ((src << LEAF_SHIFT) + si);
    const to = REC * ((dst << LEAF_SHIFT) + di);
    const n = REC * count;
    rec.copyWithin(to, from, from + n);
    // slots left behind become unused
    for (let j = from; j < from + n; j += REC) {
      if (j < to || j >= to + n) {
        rec[j] = UNUSED_LO;
        rec[j + 2] = UNUSED_ID;
      }
    }
  }

  /** Copies child slot ss of node src to slot ds of node dst, and relinks the child. */
  private copySlot(src: number, ss: number, dst: number, ds: number, childLevel: number): void {
    const a = src * FANOUT + ss;
    const b = dst * FANOUT + ds;
    this.inKey[2 * b] = this.inKey[2 * a];
    this.inCnt[b] = this.inCnt[a];
    for (let k = 0; k < CAP_ORDERS; k++) {
      this.inGap[(dst * CAP_ORDERS + k) * FANOUT + ds] =
        this.inGap[(src * CAP_ORDERS + k) * FANOUT + ss];
    }
    this.setChild(dst, ds, this.inChild[4 * a + 2], childLevel);
  }

  private setChild(n: number, slot: number, child: number, childLevel: number): void {
    this.inChild[4 * (n * FANOUT + slot) + 2] = child;
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
    this.lfPrevHi[l] = -Infinity;
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
    const rec = unusedRecords(cap * LEAF_SLOTS);
    rec.set(this.rec);
    this.rec = rec;
    this.lfSize = grow(this.lfSize, cap);
    this.lfParent = grow(this.lfParent, cap);
    this.lfSlot = grow(this.lfSlot, cap);
    this.lfPrev = grow(this.lfPrev, cap);
    this.lfPrevHi = grow(this.lfPrevHi, cap);
    this.lfNext = grow(this.lfNext, cap);
  }

  private growNodes(): void {
    const cap = this.inSize.length * 2;
    this.inKey = grow(this.inKey, cap * FANOUT * 2);
    this.inChild = new Int32Array(this.inKey.buffer);
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
        const c = this.inChild[4 * (id * FANOUT + s) + 2];
        const cnt = visit(c, level - 1, id, s);
        total += cnt;
        if (this.inCnt[id * FANOUT + s] !== cnt) throw new Error(`iova tree: stale count`);
        const key = level === 1 ? this.rec[REC * (c << LEAF_SHIFT)] : this.inKey[2 * (c * FANOUT)];
        if (this.inKey[2 * (id * FANOUT + s)] !== key)
          throw new Error(`iova tree: stale key ${key}`);
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
      const p = this.lfPrev[l];
      const ph = p < 0 ? -Infinity : this.pfnHi((p << LEAF_SHIFT) + this.lfSize[p] - 1);
      if (this.lfPrevHi[l] !== ph) throw new Error(`iova tree: stale predecessor pfn at leaf ${l}`);
      if (this.lfNext[l] !== (j + 1 < leaves.length ? leaves[j + 1] : -1)) {
        throw new Error(`iova tree: bad next link at leaf ${l}`);
      }
      for (let e = l << LEAF_SHIFT, end = e + this.lfSize[l]; e < end; e++) {
        const lo = this.pfnLo(e);
        const hi = this.pfnHi(e);
        if (lo > hi || this.prevHi(e) >= lo) {
          throw new Error(`iova tree: [${lo}, ${hi}] out of order or overlapping`);
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
        exact(this.inChild[4 * (id * FANOUT + s) + 2], level - 1, sub);
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

/** Storage for `slots` range records, all unused. */
function unusedRecords(slots: number): Float64Array {
  const rec = new Float64Array(slots * REC);
  for (let j = 0; j < rec.length; j += REC) {
    rec[j] = UNUSED_LO;
    rec[j + 2] = UNUSED_ID;
  }
  return rec;
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
