/**
 * Bios and their bio_vecs (struct bio / struct bio_vec, include/linux/blk_types.h and bvec.h,
 * v6.16) and bio_add_page() (block/bio.c) with the P2P rules of each release (reference §5.3).
 *
 * A bio here holds exactly the data it still describes: `vecs` are its remaining bvecs, their
 * lengths add up to `size` (bi_iter.bi_size), and splitting (blk-merge.ts) makes new BioVec
 * objects instead of advancing a bvec_iter. A bvec is multi-page as in the kernel: `page` is its
 * first page, `offset` may run past PAGE_SIZE after a split, and `len` may span many pages.
 */
import {
  isPciP2pdmaPage,
  Page,
  PAGE_SIZE,
  pageToPhys,
  zoneDevicePagesHaveSamePgmap,
} from '../mm/page';
import { BLK_STS_OK, type BlkStatus } from './blk-status';
import { SECTOR_SHIFT, UINT_MAX } from './queue-limits';
import {
  blockReleaseAtLeast,
  DEFAULT_BLOCK_RELEASE,
  type BlockReleaseOptions,
  type RequestQueue,
} from './request-queue';

/** struct bio_vec */
export interface BioVec {
  page: Page;
  offset: number;
  len: number;
}

/** bvec_phys(bv): the CPU physical address of the bvec's first byte. */
export function bvecPhys(bv: BioVec): number {
  return pageToPhys(bv.page) + bv.offset;
}

/** BIO_MAX_VECS */
export const BIO_MAX_VECS = 256;

/** REQ_OP_BITS / REQ_OP_MASK: the operation in the low 8 bits of bi_opf. */
export const REQ_OP_BITS = 8;
export const REQ_OP_MASK = (1 << REQ_OP_BITS) - 1;

/** enum req_op (v6.16). */
export const REQ_OP_READ = 0;
export const REQ_OP_WRITE = 1;
export const REQ_OP_FLUSH = 2;
export const REQ_OP_DISCARD = 3;
export const REQ_OP_SECURE_ERASE = 5;
export const REQ_OP_ZONE_APPEND = 7;
export const REQ_OP_WRITE_ZEROES = 9;
export const REQ_OP_DRV_IN = 34;
export const REQ_OP_DRV_OUT = 35;

/** enum req_flag_bits (v6.16): flag bits above the operation. */
export const __REQ_FAILFAST_DEV = REQ_OP_BITS;
export const __REQ_FAILFAST_TRANSPORT = 9;
export const __REQ_FAILFAST_DRIVER = 10;
export const __REQ_SYNC = 11;
export const __REQ_META = 12;
export const __REQ_PRIO = 13;
export const __REQ_NOMERGE = 14;
export const __REQ_IDLE = 15;
export const __REQ_INTEGRITY = 16;
export const __REQ_FUA = 17;
export const __REQ_PREFLUSH = 18;
export const __REQ_RAHEAD = 19;
export const __REQ_BACKGROUND = 20;
export const __REQ_NOWAIT = 21;
export const __REQ_POLLED = 22;
export const __REQ_ALLOC_CACHE = 23;
export const __REQ_SWAP = 24;
export const __REQ_DRV = 25;
export const __REQ_FS_PRIVATE = 26;
export const __REQ_ATOMIC = 27;
/** v6.16+: the bio carries P2PDMA pages (and only of one page map). */
export const __REQ_P2PDMA = 28;
export const __REQ_NOUNMAP = 29;

export const REQ_FAILFAST_DEV = 1 << __REQ_FAILFAST_DEV;
export const REQ_FAILFAST_TRANSPORT = 1 << __REQ_FAILFAST_TRANSPORT;
export const REQ_FAILFAST_DRIVER = 1 << __REQ_FAILFAST_DRIVER;
export const REQ_SYNC = 1 << __REQ_SYNC;
export const REQ_META = 1 << __REQ_META;
export const REQ_PRIO = 1 << __REQ_PRIO;
export const REQ_NOMERGE = 1 << __REQ_NOMERGE;
export const REQ_IDLE = 1 << __REQ_IDLE;
export const REQ_INTEGRITY = 1 << __REQ_INTEGRITY;
export const REQ_FUA = 1 << __REQ_FUA;
export const REQ_PREFLUSH = 1 << __REQ_PREFLUSH;
export const REQ_RAHEAD = 1 << __REQ_RAHEAD;
export const REQ_BACKGROUND = 1 << __REQ_BACKGROUND;
export const REQ_NOWAIT = 1 << __REQ_NOWAIT;
export const REQ_POLLED = 1 << __REQ_POLLED;
export const REQ_ALLOC_CACHE = 1 << __REQ_ALLOC_CACHE;
export const REQ_SWAP = 1 << __REQ_SWAP;
export const REQ_DRV = 1 << __REQ_DRV;
export const REQ_FS_PRIVATE = 1 << __REQ_FS_PRIVATE;
export const REQ_ATOMIC = 1 << __REQ_ATOMIC;
export const REQ_P2PDMA = 1 << __REQ_P2PDMA;
export const REQ_NOUNMAP = 1 << __REQ_NOUNMAP;

export const REQ_FAILFAST_MASK = REQ_FAILFAST_DEV | REQ_FAILFAST_TRANSPORT | REQ_FAILFAST_DRIVER;
/** REQ_NOMERGE_FLAGS: a bio or request with any of these never merges. */
export const REQ_NOMERGE_FLAGS = REQ_NOMERGE | REQ_PREFLUSH | REQ_FUA;

/** struct bio: the modelled fields. */
export class Bio {
  /** bi_iter.bi_sector: where on the device the data goes (512-byte sectors). */
  sector = 0;
  /** bi_iter.bi_size: the bytes left; always the sum of the vecs' lengths. */
  size = 0;
  /** bi_io_vec[0 .. bi_vcnt): the bvecs. */
  vecs: BioVec[] = [];
  /** bi_status */
  status: BlkStatus = BLK_STS_OK;
  /** The queue of bi_bdev, when the bio is aimed at a device. */
  q: RequestQueue | undefined = undefined;
  /** BIO_CLONED: the bio shares another's bvecs (bio_split()'s front part) and takes no pages. */
  cloned = false;
  /** BIO_PAGE_PINNED: iov_iter_extract_pages() pinned the pages; they are unpinned at completion. */
  pagePinned = false;

  /**
   * @param opf bi_opf: the REQ_OP_* operation and REQ_* flags
   * @param maxVecs bi_max_vecs: how many bvecs the bio can hold
   */
  constructor(
    public opf: number,
    public maxVecs: number,
  ) {}

  /** bi_vcnt */
  get vcnt(): number {
    return this.vecs.length;
  }
}

/** bio_op(bio) */
export function bioOp(bio: Bio): number {
  return bio.opf & REQ_OP_MASK;
}

/** op_is_write(op) */
export function opIsWrite(op: number): boolean {
  return (op & 1) !== 0;
}

/** bio_sectors(bio) */
export function bioSectors(bio: Bio): number {
  return bio.size >> SECTOR_SHIFT;
}

/** bio_has_data(bio): a bio with bytes to move (not a discard, flush or write-zeroes). */
export function bioHasData(bio: Bio): boolean {
  const op = bioOp(bio);
  return (
    bio.size > 0 &&
    op !== REQ_OP_DISCARD &&
    op !== REQ_OP_SECURE_ERASE &&
    op !== REQ_OP_WRITE_ZEROES
  );
}

/** bio_mergeable(bio): no REQ_NOMERGE_FLAGS. */
export function bioMergeable(bio: Bio): boolean {
  return (bio.opf & REQ_NOMERGE_FLAGS) === 0;
}

/**
 * bio_alloc(bdev, nr_vecs, opf, gfp) (v6.16): an empty bio for up to `nrVecs` bvecs (at most
 * BIO_MAX_VECS; more is a misuse and throws).
 */
export function bioAlloc(opf: number, nrVecs: number, q?: RequestQueue): Bio {
  if (!Number.isInteger(nrVecs) || nrVecs < 0 || nrVecs > BIO_MAX_VECS) {
    throw new RangeError(`bio_alloc: ${nrVecs} vecs (0..${BIO_MAX_VECS})`);
  }
  if (!Number.isInteger(opf) || opf < 0 || opf > UINT_MAX)
    throw new RangeError(`bio_alloc: opf ${opf}`);
  const bio = new Bio(opf, nrVecs);
  bio.q = q;
  return bio;
}

/** bio_full(bio, len): no bvec slot left, or `len` more bytes would overflow bi_size. */
export function bioFull(bio: Bio, len: number): boolean {
  return bio.vcnt >= bio.maxVecs || bio.size > UINT_MAX - len;
}

/**
 * bvec_try_merge_page(bv, page, len, off) (block/bio.c, v6.16): extends `bv` by `len` bytes
 * when they start at the physical address right after it; when that address is in another page,
 * that page must be the struct page following the bvec's last one (here: the next pfn). Page
 * maps are not compared here in v6.16 (bio_add_page() does it first); v6.2-v6.15 compared them
 * here (`samePgmap`), so pages of two page maps were kept in separate bvecs.
 */
export function bvecTryMergePage(
  bv: BioVec,
  page: Page,
  len: number,
  off: number,
  samePgmap = false,
): boolean {
  const bvEnd = bv.offset + bv.len;
  const vecEndAddr = pageToPhys(bv.page) + bvEnd - 1;
  const pageAddr = pageToPhys(page);
  if (vecEndAddr + 1 !== pageAddr + off) return false;
  if (samePgmap && !zoneDevicePagesHaveSamePgmap(bv.page, page)) return false;
  if (Math.floor(vecEndAddr / PAGE_SIZE) !== Math.floor((pageAddr + off) / PAGE_SIZE)) {
    if (bv.page.pfn + Math.floor(bvEnd / PAGE_SIZE) !== page.pfn + Math.floor(off / PAGE_SIZE)) {
      return false;
    }
  }
  bv.len += len;
  return true;
}

/**
 * __bio_add_page(bio, page, len, off) (v6.16): appends a new bvec; the caller made sure there is
 * room. v6.16+: a P2PDMA page marks the bio REQ_P2PDMA | REQ_NOMERGE, so it is mapped as P2P and
 * never merged with other I/O.
 */
export function __bioAddPage(
  bio: Bio,
  page: Page,
  len: number,
  off: number,
  opts: BlockReleaseOptions = {},
): void {
  if (bioFull(bio, len)) throw new RangeError('__bio_add_page: the bio is full (kernel WARN)');
  if (
    blockReleaseAtLeast(opts.release ?? DEFAULT_BLOCK_RELEASE, 'v6.16') &&
    isPciP2pdmaPage(page)
  ) {
    bio.opf = (bio.opf | REQ_P2PDMA | REQ_NOMERGE) >>> 0;
  }
  bio.vecs.push({ page, offset: off, len });
  bio.size += len;
}

/**
 * bio_add_page(bio, page, len, offset) (block/bio.c; reference §5.3): the bytes added (`len`),
 * or 0 when the bio refuses them:
 * - `len` more bytes would overflow bi_size (UINT_MAX);
 * - v6.16+: the page's page map differs from the last bvec's (a P2P page after RAM, RAM after a
 *   P2P page, or another provider's page): the caller must start a new bio;
 * - the page cannot extend the last bvec and every bvec slot is used.
 * Physically contiguous bytes extend the last bvec (bvecTryMergePage()); v6.2-v6.15 refuse that
 * merge across page maps but give the page a bvec of its own in the same bio; v6.1 and older
 * ignore page maps. v6.16+ also marks the bio REQ_P2PDMA | REQ_NOMERGE on its first P2P page.
 */
export function bioAddPage(
  bio: Bio,
  page: Page,
  len: number,
  offset: number,
  opts: BlockReleaseOptions = {},
): number {
  const release = opts.release ?? DEFAULT_BLOCK_RELEASE;
  if (!Number.isInteger(len) || len <= 0 || len > UINT_MAX)
    throw new RangeError(`bio_add_page: len ${len}`);
  if (!Number.isInteger(offset) || offset < 0 || offset > UINT_MAX) {
    throw new RangeError(`bio_add_page: offset ${offset}`);
  }
  // WARN_ON_ONCE(bio_flagged(bio, BIO_CLONED)) in the kernel.
  if (bio.cloned) return 0;
  if (bio.size > UINT_MAX - len) return 0;
  if (bio.vcnt > 0) {
    const bv = bio.vecs[bio.vcnt - 1]!;
    const v616 = blockReleaseAtLeast(release, 'v6.16');
    if (v616 && !zoneDevicePagesHaveSamePgmap(bv.page, page)) return 0;
    const checkPgmapInMerge = !v616 && blockReleaseAtLeast(release, 'v6.2');
    if (bvecTryMergePage(bv, page, len, offset, checkPgmapInMerge)) {
      bio.size += len;
      return len;
    }
  }
  if (bio.vcnt >= bio.maxVecs) return 0;
  __bioAddPage(bio, page, len, offset, { release });
  return len;
}
