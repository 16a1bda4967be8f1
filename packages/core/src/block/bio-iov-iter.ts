/**
 * O_DIRECT bios from an I/O iterator (block/bio.c bio_iov_iter_get_pages() and
 * __bio_iov_iter_get_pages(), block/fops.c blkdev_direct_IO(); v6.16; reference §5.3, §5.4):
 * how "mmap a CMB, then read()/write() it with O_DIRECT on a block device" becomes bios.
 *
 * The user buffer's pages are extracted (and pinned) with iov_iter_extract_pages(), which is
 * given ITER_ALLOW_P2PDMA only when the target queue takes P2PDMA pages
 * (blk_queue_pci_p2pdma()). A P2P buffer against a queue without the capability therefore fails
 * at pin time with -EREMOTEIO. The pages are added with bio_add_page(), whose v6.16 page map rule
 * refuses a page of another page map than the bio's last bvec.
 *
 * What v6.16 does when that rule bites inside one extraction (a buffer whose RAM and P2P pages
 * are extracted together, or a later iovec segment of another page map): __bio_iov_iter_get_pages()
 * treats the refusal as impossible, WARNs once and returns -EINVAL without giving the extracted
 * bytes back to the iterator; bio_iov_iter_get_pages() returns 0 because the bio has bvecs. The
 * bio carries only the bytes before the page map change, and the I/O comes out short (a syscall
 * returns fewer bytes than asked; userspace retries the rest, which then starts a new bio). Pages
 * of two page maps end up in two bios only when the extraction stops at the boundary (a bio that
 * fills up there, in the multi-bio path). Up to v6.15 ('v6.2' release) both kinds of pages share
 * one bio in separate bvecs. This follows the code of v6.16 as read; it is not a documented
 * behaviour.
 */
import { EFAULT, EINVAL, EIO } from '../errno';
import { warnOnce } from '../dma/mapping';
import { unpinUserPage } from '../mm/gup';
import {
  ITER_ALLOW_P2PDMA,
  iovIterAdvance,
  iovIterCount,
  iovIterExtractPages,
  iovIterExtractWillPin,
  iovIterIsAligned,
  iovIterIsBvec,
  iovIterNpages,
  iovIterRevert,
  iovIterRw,
  READ,
  type IovIter,
} from '../mm/iov-iter';
import { Page, PAGE_SIZE } from '../mm/page';
import type { PageRefs } from '../mm/page-ref';
import {
  Bio,
  BIO_MAX_VECS,
  bioAddPage,
  bioAlloc,
  bioFull,
  REQ_IDLE,
  REQ_OP_READ,
  REQ_OP_WRITE,
  REQ_SYNC,
} from './bio';
import { BLK_STS_IOERR } from './blk-status';
import { SECTOR_SHIFT, UINT_MAX } from './queue-limits';
import {
  blkQueuePciP2pdma,
  DEFAULT_BLOCK_RELEASE,
  type BlockReleaseOptions,
  type RequestQueue,
} from './request-queue';

/** bio_flagged(bio, BIO_PAGE_PINNED) */
export function bioPagePinned(bio: Bio): boolean {
  return bio.pagePinned;
}

/** nth_page() */
function nthPage(page: Page, n: number): Page {
  return n ? new Page(page.pfn + n, page.pgmap) : page;
}

/** bio_release_page(bio, page): unpins one page of a BIO_PAGE_PINNED bio. */
function bioReleasePage(bio: Bio, refs: PageRefs | undefined, page: Page): void {
  if (bioPagePinned(bio) && refs) unpinUserPage(refs, page);
}

/**
 * bio_release_pages(bio, mark_dirty) / __bio_release_pages() (v6.16): at completion, unpins every
 * page a BIO_PAGE_PINNED bio covers, once per page (a P2P page of an unmapped p2pmem mapping
 * returns to its pool here). Does nothing for a bio whose pages were not pinned.
 */
export function bioReleasePages(bio: Bio, refs: PageRefs): void {
  if (!bioPagePinned(bio)) return;
  for (const bv of bio.vecs) {
    const first = Math.floor(bv.offset / PAGE_SIZE);
    const last = Math.floor((bv.offset + bv.len - 1) / PAGE_SIZE);
    for (let k = first; k <= last; k++) unpinUserPage(refs, nthPage(bv.page, k));
  }
  bio.pagePinned = false;
}

/** Where the block layer's WARNs about this I/O go. */
function warnLog(q: RequestQueue | undefined, iter: IovIter) {
  return q?.log ?? iter.mm?.log;
}

/**
 * __bio_iov_iter_get_pages(bio, iter) (block/bio.c, v6.16): extracts the next run of pages
 * (iov_iter_extract_pages(), at most the bio's free bvec slots, ITER_ALLOW_P2PDMA when the queue
 * has the P2PDMA capability), trims the size to a multiple of the logical block size (giving the
 * rest back to the iterator), and adds the pages with bio_add_page(). 0 or -errno; see the file
 * comment for the -EINVAL of a page map change.
 */
function __bioIovIterGetPages(
  bio: Bio,
  iter: IovIter,
  q: RequestQueue | undefined,
  opts: BlockReleaseOptions,
): number {
  const refs = iter.mm?.pageRefs;
  let extractionFlags = 0;
  if (q && blkQueuePciP2pdma(q, opts)) extractionFlags |= ITER_ALLOW_P2PDMA;
  const ex = iovIterExtractPages(
    iter,
    UINT_MAX - bio.size,
    bio.maxVecs - bio.vcnt,
    extractionFlags,
  );
  if (ex.size <= 0) return ex.size ? ex.size : -EFAULT;
  const { pages } = ex;
  let size = ex.size;
  let offset = ex.offset;
  const nrPages = Math.ceil((offset + size) / PAGE_SIZE);

  if (q) {
    const trim = size % q.limits.logicalBlockSize;
    iovIterRevert(iter, trim);
    size -= trim;
  }
  let ret = 0;
  let i = 0;
  if (!size) {
    ret = -EFAULT;
  } else {
    let left = size;
    for (; left > 0; i++) {
      // Order-0 folios: one page at a time; bio_add_page() merges contiguous ones into one bvec.
      const page = pages[i]!;
      const len = Math.min(PAGE_SIZE - offset, left);
      const oldVcnt = bio.vcnt;
      if (!bioAddPage(bio, page, len, offset, opts)) {
        const log = warnLog(q, iter);
        if (log) warnOnce(log, 'block/bio.c __bio_iov_iter_get_pages', 'WARN_ON_ONCE(1)');
        // goto out: the iterator is not reverted by `left` (v6.16).
        ret = -EINVAL;
        break;
      }
      // Another fragment of the page that ended the last bvec: one pin per page is kept.
      if (bioPagePinned(bio) && offset && bio.vcnt === oldVcnt && refs) unpinUserPage(refs, page);
      offset = 0;
      left -= len;
    }
    if (!ret) iovIterRevert(iter, left);
  }
  while (i < nrPages) bioReleasePage(bio, refs, pages[i++]!);
  return ret;
}

/**
 * bio_iov_bvec_set(bio, iter) (v6.16): a bvec iterator's bvecs become the bio's as they are
 * (BIO_CLONED), without bio_add_page(), so no page map rule and no REQ_P2PDMA marking apply.
 */
function bioIovBvecSet(bio: Bio, iter: IovIter): void {
  let skip = iter.iovOffset;
  let left = iovIterCount(iter);
  for (let k = iter.seg; left > 0 && k < iter.bvec.length; k++, skip = 0) {
    const bv = iter.bvec[k]!;
    const len = Math.min(bv.len - skip, left);
    if (len > 0) bio.vecs.push({ page: bv.page, offset: bv.offset + skip, len });
    left -= len;
  }
  bio.size = iovIterCount(iter);
  bio.cloned = true;
}

/**
 * bio_iov_iter_get_pages(bio, iter) (block/bio.c, v6.16; reference §5.4): fills `bio` from the
 * iterator for the queue `q` (default the bio's): a bvec iterator's bvecs are taken as they are;
 * a user buffer is pinned (the bio becomes BIO_PAGE_PINNED) run by run until the iterator is
 * empty, the bio is full, or an extraction fails. Returns 0 when the bio got any bvec, otherwise
 * the error: -EREMOTEIO for a P2P buffer and a queue without the P2PDMA capability, -EFAULT for
 * an unmapped or PFNMAP buffer or a write into a read-only mapping, -EIO for a cloned bio.
 */
export function bioIovIterGetPages(
  bio: Bio,
  iter: IovIter,
  q: RequestQueue | undefined = bio.q,
  opts: BlockReleaseOptions = {},
): number {
  if (bio.cloned) {
    const log = warnLog(q, iter);
    if (log)
      warnOnce(
        log,
        'block/bio.c bio_iov_iter_get_pages',
        'WARN_ON_ONCE(bio_flagged(bio, BIO_CLONED))',
      );
    return -EIO;
  }
  if (iovIterIsBvec(iter)) {
    bioIovBvecSet(bio, iter);
    iovIterAdvance(iter, bio.size);
    return 0;
  }
  if (iovIterExtractWillPin(iter)) bio.pagePinned = true;
  let ret: number;
  do {
    ret = __bioIovIterGetPages(bio, iter, q, opts);
  } while (!ret && iovIterCount(iter) && !bioFull(bio, 0));
  return bio.vcnt ? 0 : ret;
}

/** bio_iov_vecs_to_alloc(iter, max_segs): 0 for a bvec iterator, else the pages it spans. */
export function bioIovVecsToAlloc(iter: IovIter, maxSegs: number): number {
  if (iovIterIsBvec(iter)) return 0;
  return iovIterNpages(iter, maxSegs);
}

/** What an O_DIRECT read() or write() on the block device built. */
export interface DirectIoResult {
  /** What the syscall returns: the bytes the bios carry, or -errno. */
  ret: number;
  /** The bios built, in submission order; the caller submits them and releases their pages. */
  bios: Bio[];
}

/**
 * blkdev_direct_IO(iocb, iter) for a synchronous iocb at byte `pos` of the device behind `q`
 * (block/fops.c, v6.16; reference §5.4): the building half of an O_DIRECT read() or write().
 * - nothing to do: ret 0;
 * - `pos` not a multiple of the logical block size, or a buffer segment whose address is not
 *   aligned to the queue's dma_alignment or whose length is not a multiple of the logical block
 *   size (blkdev_dio_invalid() / bdev_iter_is_aligned()): -EINVAL, nothing pinned;
 * - at most BIO_MAX_VECS pages: one bio (__blkdev_direct_IO_simple()); its size is the result, or
 *   the error of bio_iov_iter_get_pages();
 * - more: bios of up to BIO_MAX_VECS pages each (__blkdev_direct_IO()), each at the device
 *   position after the previous one's bytes, until the iterator is empty; an extraction error
 *   ends the loop and is the result (bios built before it are still listed: the kernel has
 *   already submitted them).
 * Reads are REQ_OP_READ, writes REQ_OP_WRITE | REQ_SYNC | REQ_IDLE (dio_bio_write_op()).
 */
export function blkdevDirectIo(
  q: RequestQueue,
  iter: IovIter,
  pos: number,
  opts: BlockReleaseOptions = {},
): DirectIoResult {
  if (!Number.isSafeInteger(pos) || pos < 0) throw new RangeError(`blkdev_direct_IO: pos ${pos}`);
  const release = opts.release ?? DEFAULT_BLOCK_RELEASE;
  if (!iovIterCount(iter)) return { ret: 0, bios: [] };
  const lbs = q.limits.logicalBlockSize;
  if (pos % lbs || !iovIterIsAligned(iter, q.limits.dmaAlignment, lbs - 1)) {
    return { ret: -EINVAL, bios: [] };
  }
  const opf = iovIterRw(iter) === READ ? REQ_OP_READ : REQ_OP_WRITE | REQ_SYNC | REQ_IDLE;
  let nrPages = bioIovVecsToAlloc(iter, BIO_MAX_VECS + 1);
  if (nrPages <= BIO_MAX_VECS) {
    const bio = bioAlloc(opf, nrPages, q);
    bio.sector = Math.floor(pos / 2 ** SECTOR_SHIFT);
    const ret = bioIovIterGetPages(bio, iter, q, { release });
    if (ret) return { ret, bios: [] };
    return { ret: bio.size, bios: [bio] };
  }
  const bios: Bio[] = [];
  let size = 0;
  let ret = 0;
  let bio = bioAlloc(opf, Math.min(nrPages, BIO_MAX_VECS), q);
  for (;;) {
    bio.sector = Math.floor(pos / 2 ** SECTOR_SHIFT);
    ret = bioIovIterGetPages(bio, iter, q, { release });
    if (ret) {
      bio.status = BLK_STS_IOERR;
      break;
    }
    size += bio.size;
    pos += bio.size;
    bios.push(bio);
    nrPages = bioIovVecsToAlloc(iter, BIO_MAX_VECS);
    if (!nrPages) break;
    bio = bioAlloc(opf, nrPages, q);
  }
  return { ret: ret || size, bios };
}
