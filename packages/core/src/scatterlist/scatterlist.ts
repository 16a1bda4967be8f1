/**
 * Scatterlists (include/linux/scatterlist.h, lib/scatterlist.c, v6.5+; reference §3.1, §10.1).
 *
 * struct scatterlist is modelled field for field. C walks a chunk with `sg + 1`; here every slot
 * keeps a reference to the slot after it in the same allocation (`slotNext`), so sg_next() is the
 * kernel's: stop at SG_END, step to the next slot, follow it if it is a chain entry. Tables are
 * allocated in chunks of SG_MAX_SINGLE_ALLOC = 128 slots, the last slot of a full chunk becoming
 * the chain entry, exactly as __sg_alloc_table() and get_next_sg() do.
 */
import { EINVAL, EOPNOTSUPP } from '../errno';
import { Page, PAGE_SIZE, pageToPhys, zoneDevicePagesHaveSamePgmap } from '../mm/page';

/** page_link low bits. */
export const SG_CHAIN = 0x01;
export const SG_END = 0x02;

/** dma_flags bits (CONFIG_NEED_SG_DMA_FLAGS, v6.5+). */
export const SG_DMA_BUS_ADDRESS = 1 << 0;
export const SG_DMA_SWIOTLB = 1 << 1;

/** PAGE_SIZE / sizeof(struct scatterlist) = 4096 / 32 on 64-bit. */
export const SG_MAX_SINGLE_ALLOC = 128;
/** SG_CHUNK_SIZE: the chunk size of sg_alloc_table_chained() users. */
export const SG_CHUNK_SIZE = 128;
/** sizeof(struct scatterlist) on 64-bit with DMA length and flags (the two u32 fill padding). */
export const SCATTERLIST_SIZE = 32;

/** UINT_MAX: offsets and lengths are u32. */
const UINT_MAX = 0xffff_ffff;

/**
 * struct scatterlist. Table slots come from sgInitTable() as plain objects of this shape, not
 * instances (see zeroedSlot()), so test for a slot with its fields, never `instanceof`.
 */
export class Scatterlist {
  /** The page part of page_link (undefined for unused and chain slots). */
  page: Page | undefined = undefined;
  /** The low bits of page_link: SG_CHAIN, SG_END. */
  pageLink = 0;
  /** For a chain slot, the first entry of the next chunk (sg_chain_ptr()). */
  chainPtr: Scatterlist | undefined = undefined;
  offset = 0;
  length = 0;
  dmaAddress = 0;
  dmaLength = 0;
  dmaFlags = 0;
  /** The slot after this one in the same allocation (`sg + 1`); undefined for the last. */
  slotNext: Scatterlist | undefined = undefined;
}

/** sg_table */
export class SgTable {
  sgl: Scatterlist | undefined = undefined;
  /** Entries after DMA mapping (what dma_map_sgtable() sets). */
  nents = 0;
  /** CPU entries (what was built). */
  origNents = 0;
}

/** sg_append_table */
export class SgAppendTable {
  readonly sgt = new SgTable();
  /** The last populated entry, where the next append continues. */
  prv: Scatterlist | undefined = undefined;
  /** Slots allocated, chain slots excluded. */
  totalNents = 0;
}

/** sg_is_chain() */
export function sgIsChain(sg: Scatterlist): boolean {
  return (sg.pageLink & SG_CHAIN) !== 0;
}

/** sg_is_last() */
export function sgIsLast(sg: Scatterlist): boolean {
  return (sg.pageLink & SG_END) !== 0;
}

/** sg_next(): the next entry, following chain slots; undefined after the end mark. */
export function sgNext(sg: Scatterlist): Scatterlist | undefined {
  if (sg.pageLink & SG_END) return undefined;
  let s = sg.slotNext;
  if (s === undefined) {
    throw new Error('sg_next: ran off the end of an allocation (no end mark, no chain)');
  }
  if (s.pageLink & SG_CHAIN) s = s.chainPtr!;
  return s;
}

/** sg_mark_end(): this entry is the last; it can no longer be a chain entry. */
export function sgMarkEnd(sg: Scatterlist): void {
  sg.pageLink = (sg.pageLink | SG_END) & ~SG_CHAIN;
}

/** sg_unmark_end() */
export function sgUnmarkEnd(sg: Scatterlist): void {
  sg.pageLink &= ~SG_END;
}

/** __sg_chain(chain_sg, sgl): turns a slot into a chain entry pointing at `sgl`. */
export function sgChainEntry(chainSg: Scatterlist, sgl: Scatterlist): void {
  chainSg.offset = 0;
  chainSg.length = 0;
  chainSg.page = undefined;
  chainSg.chainPtr = sgl;
  chainSg.pageLink = SG_CHAIN;
}

/**
 * sg_kmalloc() + sg_init_table(): `n` zeroed slots, linked as one allocation, the last marked
 * end. Returns the first slot.
 */
export function sgInitTable(n: number): Scatterlist {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`sg_init_table: ${n} entries`);
  // Built from the last slot back, so each slot is complete when made.
  let s = zeroedSlot(undefined);
  s.pageLink = SG_END;
  for (let i = 1; i < n; i++) s = zeroedSlot(s);
  return s;
}

/**
 * A zeroed slot (what sg_init_table()'s memset leaves) whose `sg + 1` is `next`. An object
 * literal with Scatterlist's fields in order rather than `new Scatterlist()`: V8 tracks literal
 * allocation sites and, once it sees that table slots live long, allocates them straight in the
 * old generation instead of copying a million of them through the young one (a 2^20-entry table
 * took 2.5x less time; with `new`, the garbage collector had three quarters of it).
 */
function zeroedSlot(next: Scatterlist | undefined): Scatterlist {
  return {
    page: undefined,
    pageLink: 0,
    chainPtr: undefined,
    offset: 0,
    length: 0,
    dmaAddress: 0,
    dmaLength: 0,
    dmaFlags: 0,
    slotNext: next,
  };
}

/** sg_set_page(): keeps the chain/end bits. */
export function sgSetPage(sg: Scatterlist, page: Page, len: number, offset: number): void {
  sg.page = page;
  sg.offset = offset;
  sg.length = len;
}

/** sg_phys(): CPU physical address of the entry's first byte. */
export function sgPhys(sg: Scatterlist): number {
  return pageToPhys(sg.page!) + sg.offset;
}

/** sg_dma_is_bus_address() */
export function sgDmaIsBusAddress(sg: Scatterlist): boolean {
  return (sg.dmaFlags & SG_DMA_BUS_ADDRESS) !== 0;
}
/** sg_dma_mark_bus_address() */
export function sgDmaMarkBusAddress(sg: Scatterlist): void {
  sg.dmaFlags |= SG_DMA_BUS_ADDRESS;
}
/** sg_dma_unmark_bus_address() */
export function sgDmaUnmarkBusAddress(sg: Scatterlist): void {
  sg.dmaFlags &= ~SG_DMA_BUS_ADDRESS;
}
/** sg_dma_is_swiotlb() */
export function sgDmaIsSwiotlb(sg: Scatterlist): boolean {
  return (sg.dmaFlags & SG_DMA_SWIOTLB) !== 0;
}
/** sg_dma_mark_swiotlb() */
export function sgDmaMarkSwiotlb(sg: Scatterlist): void {
  sg.dmaFlags |= SG_DMA_SWIOTLB;
}
/** sg_dma_unmark_swiotlb() */
export function sgDmaUnmarkSwiotlb(sg: Scatterlist): void {
  sg.dmaFlags &= ~SG_DMA_SWIOTLB;
}

/** sg_nents(): entries up to the end mark, chain slots not counted. */
export function sgNents(sgl: Scatterlist | undefined): number {
  let n = 0;
  for (let s = sgl; s; s = sgNext(s)) n++;
  return n;
}

/** The first `nents` entries as an array (for_each_sg), for tests and reports. */
export function sgEntries(sgl: Scatterlist | undefined, nents: number): Scatterlist[] {
  const out: Scatterlist[] = [];
  let s = sgl;
  for (let i = 0; i < nents && s; i++, s = sgNext(s)) out.push(s);
  return out;
}

/**
 * sg_alloc_table(table, nents) (__sg_alloc_table() with SG_MAX_SINGLE_ALLOC): chunks of 128 slots,
 * the last slot of each full chunk chained to the next. 0, or -EINVAL for 0 entries.
 */
export function sgAllocTable(table: SgTable, nents: number): number {
  table.sgl = undefined;
  table.nents = 0;
  table.origNents = 0;
  if (nents === 0) return -EINVAL;
  if (!Number.isInteger(nents) || nents < 0) throw new RangeError(`sg_alloc_table: ${nents}`);
  let left = nents;
  let prvLast: Scatterlist | undefined;
  do {
    let allocSize = left;
    let sgSize: number;
    if (allocSize > SG_MAX_SINGLE_ALLOC) {
      allocSize = SG_MAX_SINGLE_ALLOC;
      sgSize = allocSize - 1;
    } else sgSize = allocSize;
    left -= sgSize;
    const sg = sgInitTable(allocSize);
    table.nents = table.origNents += sgSize;
    if (prvLast) sgChainEntry(prvLast, sg);
    else table.sgl = sg;
    // The slot after the sgSize used ones is the chain slot of a full chunk.
    let last = sg;
    for (let i = 1; i < sgSize; i++) last = last.slotNext!;
    if (!left) sgMarkEnd(last);
    else {
      sgUnmarkEnd(last);
      prvLast = last.slotNext!;
    }
  } while (left);
  return 0;
}

/** sg_free_table(): the model's memory is the garbage collector's; the table forgets its entries. */
export function sgFreeTable(table: SgTable): void {
  table.sgl = undefined;
  table.nents = 0;
  table.origNents = 0;
}

/** sg_free_append_table() */
export function sgFreeAppendTable(table: SgAppendTable): void {
  sgFreeTable(table.sgt);
  table.prv = undefined;
  table.totalNents = 0;
}

/**
 * get_next_sg(table, cur, needed_sges) (lib/scatterlist.c): the slot after `cur` unless it is the
 * last slot of its allocation and more than one entry is still needed, in which case a new chunk
 * of min(needed, 128) slots is chained there.
 */
function getNextSg(
  table: SgAppendTable,
  cur: Scatterlist | undefined,
  neededSges: number,
): Scatterlist {
  let nextSg: Scatterlist | undefined;
  if (cur) {
    nextSg = sgNext(cur);
    if (nextSg === undefined) {
      throw new Error('sg_alloc_append_table_from_pages: the table was already terminated');
    }
    if (!sgIsLast(nextSg) || neededSges === 1) return nextSg;
  }
  const allocSize = Math.min(neededSges, SG_MAX_SINGLE_ALLOC);
  const newSg = sgInitTable(allocSize);
  if (cur) {
    table.totalNents += allocSize - 1;
    sgChainEntry(nextSg!, newSg);
  } else {
    table.sgt.sgl = newSg;
    table.totalNents = allocSize;
  }
  return newSg;
}

/** pages_are_mergeable(a, b): a follows b and both belong to the same page map (or none). */
function pagesAreMergeable(a: Page, b: Page): boolean {
  return a.pfn === b.pfn + 1 && zoneDevicePagesHaveSamePgmap(a, b);
}

function checkU32(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > UINT_MAX) {
    throw new RangeError(`${what} ${n} is not an unsigned int`);
  }
}

/**
 * sg_alloc_append_table_from_pages(sgt_append, pages, n_pages, offset, size, max_segment,
 * left_pages) (lib/scatterlist.c, v5.15+ with the v6.2 page-map rule; reference §10.1).
 * Returns 0 or a negative errno:
 * - max_segment is rounded down to a multiple of PAGE_SIZE; below PAGE_SIZE it is a WARN and
 *   -EINVAL;
 * - appending (sgt_append.prv set) needs offset 0 (WARN, -EINVAL); leading pages merge into the
 *   previous last entry while their pfns follow on, their page maps match and the entry stays
 *   within max_segment;
 * - the rest is cut into chunks: a new chunk starts at a page that does not follow its
 *   predecessor (pfn or page map) or when the running chunk reached max_segment; each chunk is
 *   one entry of min(size left, chunk pages * PAGE_SIZE - offset) bytes; `size` is unsigned, so
 *   once it is used up it wraps and the remaining entries get their whole chunks;
 * - the table gets its end mark only when left_pages is 0.
 * `warn` receives the WARN_ON() text when given. (-EOPNOTSUPP belongs to ARCH_NO_SG_CHAIN
 * architectures, which the model has not.)
 */
export function sgAllocAppendTableFromPages(
  sgtAppend: SgAppendTable,
  pages: readonly Page[],
  offset: number,
  size: number,
  maxSegment: number,
  leftPages: number,
  warn?: (msg: string) => void,
): number {
  checkU32('offset', offset);
  checkU32('max_segment', maxSegment);
  checkU32('left_pages', leftPages);
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`size ${size}`);
  let nPages = pages.length;
  let first = 0;
  let prvLen = 0;
  let addedNents = 0;
  let s = sgtAppend.prv;

  maxSegment -= maxSegment % PAGE_SIZE;
  if (maxSegment < PAGE_SIZE) {
    warn?.('WARNING: max_segment < PAGE_SIZE in sg_alloc_append_table_from_pages');
    return -EINVAL;
  }
  const archNoSgChain = false;
  if (archNoSgChain && sgtAppend.prv) return -EOPNOTSUPP;

  if (sgtAppend.prv) {
    const prv = sgtAppend.prv;
    if (offset) {
      warn?.('WARNING: offset != 0 when appending in sg_alloc_append_table_from_pages');
      return -EINVAL;
    }
    prvLen = prv.length;
    const nextPfn = Math.floor((sgPhys(prv) + prvLen) / PAGE_SIZE);
    if (nPages && pages[0]!.pfn === nextPfn) {
      let lastPg = new Page(nextPfn - 1, prv.page!.pgmap);
      while (nPages && pagesAreMergeable(pages[first]!, lastPg)) {
        if (prv.length + PAGE_SIZE > maxSegment) break;
        prv.length += PAGE_SIZE;
        lastPg = pages[first]!;
        first++;
        nPages--;
      }
      if (!nPages) {
        if (!leftPages) sgMarkEnd(s!);
        return 0;
      }
    }
  }
  if (nPages === 0) throw new RangeError('sg_alloc_append_table_from_pages: no pages');

  // Number of chunks.
  let chunks = 1;
  let segLen = 0;
  for (let i = first + 1; i < first + nPages; i++) {
    segLen += PAGE_SIZE;
    if (segLen >= maxSegment || !pagesAreMergeable(pages[i]!, pages[i - 1]!)) {
      chunks++;
      segLen = 0;
    }
  }

  let curPage = first;
  const end = first + nPages;
  for (let i = 0; i < chunks; i++) {
    segLen = 0;
    let j = curPage + 1;
    for (; j < end; j++) {
      segLen += PAGE_SIZE;
      if (segLen >= maxSegment || !pagesAreMergeable(pages[j]!, pages[j - 1]!)) break;
    }
    let next: Scatterlist;
    try {
      next = getNextSg(sgtAppend, s, chunks - i + leftPages);
    } catch (e) {
      if (sgtAppend.prv) sgtAppend.prv.length = prvLen;
      throw e;
    }
    s = next;
    const chunkSize = (j - curPage) * PAGE_SIZE - offset;
    // size is an unsigned long: below 0 it has wrapped, and min_t() then picks the chunk.
    sgSetPage(s, pages[curPage]!, size < 0 ? chunkSize : Math.min(size, chunkSize), offset);
    addedNents++;
    size -= chunkSize;
    offset = 0;
    curPage = j;
  }
  sgtAppend.sgt.nents += addedNents;
  sgtAppend.sgt.origNents = sgtAppend.sgt.nents;
  sgtAppend.prv = s;
  if (!leftPages) sgMarkEnd(s!);
  return 0;
}

/**
 * sg_alloc_table_from_pages_segment(sgt, pages, n_pages, offset, size, max_segment)
 * (lib/scatterlist.c, v5.15+): the append variant with no previous table and no pages to come;
 * the result is copied into `sgt` (orig_nents = nents). 0 or -EINVAL (max_segment < PAGE_SIZE).
 */
export function sgAllocTableFromPagesSegment(
  sgt: SgTable,
  pages: readonly Page[],
  offset: number,
  size: number,
  maxSegment: number,
  warn?: (msg: string) => void,
): number {
  const append = new SgAppendTable();
  const err = sgAllocAppendTableFromPages(append, pages, offset, size, maxSegment, 0, warn);
  if (err) {
    sgFreeAppendTable(append);
    return err;
  }
  sgt.sgl = append.sgt.sgl;
  sgt.nents = append.sgt.nents;
  sgt.origNents = append.sgt.origNents;
  if (append.totalNents !== sgt.origNents) {
    warn?.('WARNING: append.total_nents != sgt->orig_nents in sg_alloc_table_from_pages_segment');
  }
  return 0;
}

/** sg_alloc_table_from_pages(): sg_alloc_table_from_pages_segment() with UINT_MAX segments. */
export function sgAllocTableFromPages(
  sgt: SgTable,
  pages: readonly Page[],
  offset: number,
  size: number,
): number {
  return sgAllocTableFromPagesSegment(sgt, pages, offset, size, UINT_MAX);
}
