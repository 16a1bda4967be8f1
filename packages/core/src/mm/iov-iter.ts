/**
 * I/O iterators (struct iov_iter, include/linux/uio.h and lib/iov_iter.c, v6.16): the buffer of a
 * read()/write() as the block layer sees it, and iov_iter_extract_pages(), which turns its next
 * piece into pages (reference §5.4).
 *
 * Modelled iterator types: ITER_UBUF (one user buffer, what read()/write() build), ITER_IOVEC
 * (readv()/writev()), both over an MmStruct's user addresses, and ITER_BVEC (kernel pages). For
 * user-backed iterators iov_iter_extract_pages() pins the pages with pin_user_pages_fast(), with
 * FOLL_WRITE when the iterator is the destination of the data (a READ) and FOLL_PCI_P2PDMA when
 * the caller passes ITER_ALLOW_P2PDMA; for ITER_BVEC it only lists the pages (no pin, no P2P
 * check).
 */
import { EFAULT, ENOMEM } from '../errno';
import { FOLL_NOFAULT, FOLL_PCI_P2PDMA, FOLL_WRITE, pinUserPagesFast } from './gup';
import type { MmStruct } from './mm';
import { Page, PAGE_SIZE } from './page';

/** enum iter_type (include/linux/uio.h, v6.16). */
export const ITER_UBUF = 0;
export const ITER_IOVEC = 1;
export const ITER_BVEC = 2;
export const ITER_KVEC = 3;
export const ITER_FOLIOQ = 4;
export const ITER_XARRAY = 5;
export const ITER_DISCARD = 6;

/** Data direction of an iterator: ITER_SOURCE (the data comes from it: a WRITE) or ITER_DEST. */
export const ITER_DEST = 0;
export const ITER_SOURCE = 1;
/** READ / WRITE as iov_iter_rw() returns them. */
export const READ = 0;
export const WRITE = 1;

/** iov_iter_extraction_t: allow P2PDMA pages to be extracted (v6.2+). */
export const ITER_ALLOW_P2PDMA = 0x01;

/** MAX_RW_COUNT: INT_MAX & PAGE_MASK, the most one read()/write() transfers. */
export const MAX_RW_COUNT = 0x7fff_f000;

/** struct iovec: one user buffer of a readv()/writev(). */
export interface Iovec {
  base: number;
  len: number;
}

/** struct bio_vec as an ITER_BVEC iterator holds it (same fields as block/bio.ts BioVec). */
export interface Bvec {
  page: Page;
  offset: number;
  len: number;
}

/** struct iov_iter. */
export class IovIter {
  /** i->iov_offset: bytes consumed of the current segment (of the whole buffer for ITER_UBUF). */
  iovOffset = 0;
  /** i->nofault */
  nofault = false;
  /** Index of the current segment (iovec/bvec); advances as the kernel's pointer does. */
  seg = 0;

  private constructor(
    readonly iterType: number,
    /** i->data_source: ITER_SOURCE or ITER_DEST. */
    readonly dataSource: number,
    /** i->count: bytes left. */
    public count: number,
    /** The address space of ITER_UBUF/ITER_IOVEC iterators. */
    readonly mm: MmStruct | undefined,
    readonly ubuf: number,
    readonly iov: readonly Iovec[],
    readonly bvec: readonly Bvec[],
  ) {}

  /** iov_iter_ubuf(i, direction, buf, count) */
  static ubuf(mm: MmStruct, direction: number, buf: number, count: number): IovIter {
    checkDirection(direction);
    checkLen('iov_iter_ubuf', buf);
    checkLen('iov_iter_ubuf', count);
    return new IovIter(ITER_UBUF, direction, count, mm, buf, [], []);
  }

  /** iov_iter_init(i, direction, iov, nr_segs, count); count defaults to the sum of the lengths. */
  static iovec(mm: MmStruct, direction: number, iov: readonly Iovec[], count?: number): IovIter {
    checkDirection(direction);
    for (const v of iov) {
      checkLen('iov_iter_init', v.base);
      checkLen('iov_iter_init', v.len);
    }
    const total = iov.reduce((n, v) => n + v.len, 0);
    return new IovIter(ITER_IOVEC, direction, count ?? total, mm, 0, iov.slice(), []);
  }

  /** iov_iter_bvec(i, direction, bvec, nr_segs, count); count defaults to the sum of the lengths. */
  static bvecs(direction: number, bvec: readonly Bvec[], count?: number): IovIter {
    checkDirection(direction);
    const total = bvec.reduce((n, v) => n + v.len, 0);
    return new IovIter(ITER_BVEC, direction, count ?? total, undefined, 0, [], bvec.slice());
  }

  /** i->nr_segs: segments left, the current one included. */
  get nrSegs(): number {
    if (this.iterType === ITER_UBUF) return 1;
    if (this.iterType === ITER_IOVEC) return this.iov.length - this.seg;
    return this.bvec.length - this.seg;
  }
}

function checkDirection(direction: number): void {
  if (direction !== ITER_SOURCE && direction !== ITER_DEST) {
    throw new RangeError(`iov_iter: direction ${direction} is neither READ nor WRITE`);
  }
}

function checkLen(fn: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${fn}: bad value ${n}`);
}

/** iov_iter_count(i) */
export function iovIterCount(i: IovIter): number {
  return i.count;
}

/** iov_iter_rw(i): WRITE when the iterator is the data source, READ when it is the destination. */
export function iovIterRw(i: IovIter): number {
  return i.dataSource === ITER_SOURCE ? WRITE : READ;
}

/** user_backed_iter(i): ITER_UBUF or ITER_IOVEC. */
export function userBackedIter(i: IovIter): boolean {
  return i.iterType === ITER_UBUF || i.iterType === ITER_IOVEC;
}

/** iov_iter_is_bvec(i) */
export function iovIterIsBvec(i: IovIter): boolean {
  return i.iterType === ITER_BVEC;
}

/** iov_iter_extract_will_pin(i): user-backed iterators pin, the others only list pages. */
export function iovIterExtractWillPin(i: IovIter): boolean {
  return userBackedIter(i);
}

/** The lengths of the segments from the current one on (the ubuf is one segment). */
function segLen(i: IovIter, k: number): number {
  if (i.iterType === ITER_UBUF) return Number.MAX_SAFE_INTEGER;
  if (i.iterType === ITER_IOVEC) return i.iov[k]!.len;
  return i.bvec[k]!.len;
}

/**
 * iov_iter_advance(i, size) (v6.16): consumes `size` bytes (at most count); for iovec and bvec
 * iterators it moves past exhausted segments (iov_iter_iovec_advance / iov_iter_bvec_advance).
 */
export function iovIterAdvance(i: IovIter, size: number): void {
  checkLen('iov_iter_advance', size);
  if (i.count < size) size = i.count;
  i.count -= size;
  if (i.iterType === ITER_UBUF) {
    i.iovOffset += size;
    return;
  }
  if (!size) return;
  let off = i.iovOffset + size;
  let k = i.seg;
  const n = i.iterType === ITER_IOVEC ? i.iov.length : i.bvec.length;
  while (k < n && off >= segLen(i, k)) {
    off -= segLen(i, k);
    k++;
  }
  i.seg = k;
  i.iovOffset = off;
}

/**
 * iov_iter_revert(i, unroll) (v6.16): gives back `unroll` bytes. Unrolling past the start of a
 * ubuf is a BUG() in the kernel and throws here; more than MAX_RW_COUNT is a WARN and does
 * nothing.
 */
export function iovIterRevert(i: IovIter, unroll: number): void {
  checkLen('iov_iter_revert', unroll);
  if (!unroll || unroll > MAX_RW_COUNT) return;
  i.count += unroll;
  if (unroll <= i.iovOffset) {
    i.iovOffset -= unroll;
    return;
  }
  if (i.iterType === ITER_UBUF)
    throw new Error('iov_iter_revert: BUG: before the start of the ubuf');
  unroll -= i.iovOffset;
  for (;;) {
    if (i.seg === 0) throw new Error('iov_iter_revert: BUG: before the first segment');
    const n = segLen(i, --i.seg);
    if (unroll <= n) {
      i.iovOffset = n - unroll;
      return;
    }
    unroll -= n;
  }
}

/**
 * iov_iter_is_aligned(i, addr_mask, len_mask) (v6.16): every segment's start address (bv_offset
 * for bvecs) is aligned to addr_mask and every segment length to len_mask; a ubuf checks the
 * whole count. What blkdev_direct_IO() checks with the queue's dma_alignment and logical block
 * size.
 */
export function iovIterIsAligned(i: IovIter, addrMask: number, lenMask: number): boolean {
  if (i.iterType === ITER_UBUF) {
    if (i.count % (lenMask + 1) !== 0) return false;
    return (i.ubuf + i.iovOffset) % (addrMask + 1) === 0;
  }
  let size = i.count;
  let skip = i.iovOffset;
  for (let k = i.seg; size > 0; k++, skip = 0) {
    const start = i.iterType === ITER_IOVEC ? i.iov[k]!.base : i.bvec[k]!.offset;
    let len = segLen(i, k) - skip;
    if (len > size) len = size;
    if (len % (lenMask + 1) !== 0) return false;
    if ((start + skip) % (addrMask + 1) !== 0) return false;
    size -= len;
  }
  return true;
}

/**
 * iov_iter_npages(i, maxpages) (v6.16): how many pages the rest of the iterator spans, capped at
 * maxpages (what bio_iov_vecs_to_alloc() sizes a bio with).
 */
export function iovIterNpages(i: IovIter, maxpages: number): number {
  if (!i.count) return 0;
  if (i.iterType === ITER_UBUF) {
    const offs = (i.ubuf + i.iovOffset) % PAGE_SIZE;
    return Math.min(Math.ceil((offs + i.count) / PAGE_SIZE), maxpages);
  }
  let npages = 0;
  let size = i.count;
  let skip = i.iovOffset;
  for (let k = i.seg; size > 0 && k < i.seg + i.nrSegs; k++, skip = 0) {
    const len = Math.min(segLen(i, k) - skip, size);
    if (len) {
      const start = i.iterType === ITER_IOVEC ? i.iov[k]!.base : i.bvec[k]!.offset;
      const offs = (start + skip) % PAGE_SIZE;
      npages += Math.ceil((offs + len) / PAGE_SIZE);
      size -= len;
      if (npages >= maxpages) return maxpages;
    }
  }
  return npages;
}

/** What iov_iter_extract_pages() gives back. */
export interface ExtractedPages {
  /** Bytes extracted (> 0), 0 when there was nothing, or -errno. */
  size: number;
  /** The pages, from the one holding the first byte. */
  pages: Page[];
  /** *offset0: where the data starts in pages[0]. */
  offset: number;
}

/** want_pages_array(): DIV_ROUND_UP(size + start, PAGE_SIZE), capped at maxpages. */
function wantPages(size: number, start: number, maxpages: number): number {
  return Math.min(Math.ceil((size + start) / PAGE_SIZE), maxpages);
}

/**
 * iov_iter_extract_user_pages() (v6.16): pins the pages of the first non-empty segment (at most
 * maxsize bytes, maxpages pages) with pin_user_pages_fast(); gup flags: FOLL_WRITE for an
 * ITER_DEST iterator, FOLL_PCI_P2PDMA when ITER_ALLOW_P2PDMA is given, FOLL_NOFAULT for a nofault
 * iterator. Advances the iterator by what was pinned.
 */
function iovIterExtractUserPages(
  i: IovIter,
  maxsize: number,
  maxpages: number,
  extractionFlags: number,
): ExtractedPages {
  let gupFlags = 0;
  if (i.dataSource === ITER_DEST) gupFlags |= FOLL_WRITE;
  if (extractionFlags & ITER_ALLOW_P2PDMA) gupFlags |= FOLL_PCI_P2PDMA;
  if (i.nofault) gupFlags |= FOLL_NOFAULT;

  // first_iovec_segment(): the ubuf, or the first iovec with bytes left.
  let addr: number;
  if (i.iterType === ITER_UBUF) {
    addr = i.ubuf + i.iovOffset;
  } else {
    let k = i.seg;
    let skip = i.iovOffset;
    while (k < i.iov.length && i.iov[k]!.len - skip === 0) {
      k++;
      skip = 0;
    }
    if (k >= i.iov.length) throw new Error('first_iovec_segment: BUG: empty iterator');
    maxsize = Math.min(maxsize, i.iov[k]!.len - skip);
    addr = i.iov[k]!.base + skip;
  }
  const offset = addr % PAGE_SIZE;
  const n = wantPages(maxsize, offset, maxpages);
  if (!n) return { size: -ENOMEM, pages: [], offset };
  const pages: Page[] = [];
  const res = pinUserPagesFast(i.mm!, addr - offset, n, gupFlags, pages);
  if (res <= 0) return { size: res, pages: [], offset };
  const size = Math.min(maxsize, res * PAGE_SIZE - offset);
  iovIterAdvance(i, size);
  return { size, pages: pages.slice(0, res), offset };
}

/**
 * iov_iter_extract_bvec_pages() (v6.16): lists (without pinning) the single-page pieces of the
 * bvecs from the current position while they are virtually contiguous: it stops at a piece that
 * does not start at offset 0 (after the first) or does not end at a page boundary.
 */
function iovIterExtractBvecPages(i: IovIter, maxsize: number, maxpages: number): ExtractedPages {
  if (i.nrSegs === 0) return { size: 0, pages: [], offset: 0 };
  if (i.iovOffset === i.bvec[i.seg]!.len) {
    i.iovOffset = 0;
    i.seg++;
  }
  let skip = i.iovOffset;
  let k = i.seg;
  let left = maxsize;
  const pages: Page[] = [];
  let offset = 0;
  let size = 0;
  maxpages = wantPages(maxsize, skip, maxpages);
  while (left > 0 && k < i.bvec.length) {
    // bvec_iter_bvec(): the single-page piece at `skip` into bvec k.
    const bv = i.bvec[k]!;
    const at = bv.offset + skip;
    const pieceOff = at % PAGE_SIZE;
    const len = Math.min(left, bv.len - skip, PAGE_SIZE - pieceOff);
    const page = pageAfter(bv.page, Math.floor(at / PAGE_SIZE));
    if (pages.length) {
      if (pieceOff) break;
    } else {
      offset = pieceOff;
    }
    pages.push(page);
    size += len;
    if (pages.length >= maxpages) break;
    if (pieceOff + len !== PAGE_SIZE) break;
    left -= len;
    skip += len;
    if (skip === bv.len) {
      k++;
      skip = 0;
    }
  }
  iovIterAdvance(i, size);
  return { size, pages, offset };
}

/** nth_page(page, n): the struct page n pfns after `page`, in the same page map. */
function pageAfter(page: Page, n: number): Page {
  return n ? new Page(page.pfn + n, page.pgmap) : page;
}

/**
 * iov_iter_extract_pages(i, &pages, maxsize, maxpages, extraction_flags, &offset0) (v6.16,
 * reference §5.4): extracts up to min(maxsize, count, MAX_RW_COUNT) bytes and maxpages pages from
 * the current point and advances the iterator. User-backed iterators are pinned (see the file
 * comment); ITER_ALLOW_P2PDMA in extraction_flags becomes FOLL_PCI_P2PDMA, and without it a
 * buffer in P2P memory fails with -EREMOTEIO (or stops short at the first P2P page). Returns the
 * size (0 for an empty iterator, -errno on failure), the pages and the offset into the first.
 */
export function iovIterExtractPages(
  i: IovIter,
  maxsize: number,
  maxpages: number,
  extractionFlags = 0,
): ExtractedPages {
  checkLen('iov_iter_extract_pages', maxsize);
  checkLen('iov_iter_extract_pages', maxpages);
  maxsize = Math.min(maxsize, i.count, MAX_RW_COUNT);
  if (!maxsize) return { size: 0, pages: [], offset: 0 };
  if (userBackedIter(i)) return iovIterExtractUserPages(i, maxsize, maxpages, extractionFlags);
  if (i.iterType === ITER_BVEC) return iovIterExtractBvecPages(i, maxsize, maxpages);
  return { size: -EFAULT, pages: [], offset: 0 };
}
