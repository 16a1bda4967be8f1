/**
 * Pinning user pages for DMA (mm/gup.c, v6.16; the FOLL_* flags of include/linux/mm_types.h and
 * mm/internal.h; reference §5.4): pin_user_pages_fast(), pin_user_pages(), unpin_user_pages().
 *
 * The P2PDMA rules (v6.2+, Logan Gunthorpe's "mm: introduce FOLL_PCI_P2PDMA to gate getting PCI
 * P2PDMA pages"):
 * - without FOLL_PCI_P2PDMA a P2PDMA page is refused: GUP-fast stops at it and falls back to the
 *   slow path, whose try_grab_folio() fails with -EREMOTEIO. Pages pinned before it stay pinned
 *   and their number is returned (__get_user_pages() returns "i ? i : ret"; gup_fast_fallback()
 *   returns what GUP-fast pinned when the slow path fails), so -EREMOTEIO is seen only when the
 *   refused page is the first one;
 * - FOLL_LONGTERM | FOLL_PCI_P2PDMA is refused because the page map must stay hot-unpluggable.
 *   Where that happens changed (GupRelease): v6.2 checked it in check_vma_flags(), on the slow
 *   path only, and returned -EOPNOTSUPP; from v6.3 (Jason Gunthorpe's consolidation of the GUP
 *   argument checks) is_valid_gup_args() refuses it up front with a WARN, so
 *   pin_user_pages_fast() returns -EINVAL and pin_user_pages() returns 0. Reference §5.4 gives
 *   the v6.2 code.
 * Other refusals: no VMA at an address -> -EFAULT; a VM_IO or VM_PFNMAP VMA (a BAR mapped
 * through resourceN, remap_pfn_range()) -> -EFAULT; FOLL_WRITE on a VMA without VM_WRITE ->
 * -EFAULT; each with the same partial-count rule.
 *
 * Not modelled: page faults (mappings are populated when made, mm.ts): where the kernel would
 * fault a page in (no pte, or a FOLL_FORCE write through a read-only pte), the model stops with
 * -EFAULT; folio migration for FOLL_LONGTERM (RAM pages count as ZONE_NORMAL, ZONE_DEVICE P2P
 * pages are long-term pinnable in v6.16's folio_is_longterm_pinnable()); large folios.
 */
import { EEXIST, EFAULT, EINVAL, EOPNOTSUPP, EREMOTEIO } from '../errno';
import { warnOnce } from '../dma/mapping';
import {
  TASK_SIZE,
  VM_IO,
  VM_MAYREAD,
  VM_MAYWRITE,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  type MmStruct,
  type VmAreaStruct,
} from './mm';
import { isPciP2pdmaPage, PAGE_SIZE, type Page } from './page';
import { GUP_PIN_COUNTING_BIAS, type PageRefs } from './page-ref';

/** FOLL_* flags callers pass (enum in include/linux/mm_types.h, v6.16). */
export const FOLL_WRITE = 1 << 0;
export const FOLL_GET = 1 << 1;
export const FOLL_DUMP = 1 << 2;
export const FOLL_FORCE = 1 << 3;
export const FOLL_NOWAIT = 1 << 4;
export const FOLL_NOFAULT = 1 << 5;
export const FOLL_HWPOISON = 1 << 6;
export const FOLL_ANON = 1 << 7;
export const FOLL_LONGTERM = 1 << 8;
export const FOLL_SPLIT_PMD = 1 << 9;
/** Allow returning PCI P2PDMA pages (v6.2+). */
export const FOLL_PCI_P2PDMA = 1 << 10;
export const FOLL_INTERRUPTIBLE = 1 << 11;
export const FOLL_HONOR_NUMA_FAULT = 1 << 12;

/** Internal FOLL_* flags (mm/internal.h, v6.16): callers may not pass them. */
export const FOLL_TOUCH = 1 << 16;
export const FOLL_TRIED = 1 << 17;
export const FOLL_REMOTE = 1 << 18;
export const FOLL_PIN = 1 << 19;
export const FOLL_FAST_ONLY = 1 << 20;
export const FOLL_UNLOCKABLE = 1 << 21;
export const FOLL_MADV_POPULATE = 1 << 22;
export const INTERNAL_GUP_FLAGS =
  FOLL_TOUCH |
  FOLL_TRIED |
  FOLL_REMOTE |
  FOLL_PIN |
  FOLL_FAST_ONLY |
  FOLL_UNLOCKABLE |
  FOLL_MADV_POPULATE;

/**
 * Which release's GUP argument checks to model (see the file comment):
 * - 'v6.2': FOLL_LONGTERM | FOLL_PCI_P2PDMA -> -EOPNOTSUPP from check_vma_flags() (slow path);
 * - 'v6.3': the same combination is an invalid argument (WARN, -EINVAL / 0); unchanged to v6.16.
 */
export type GupRelease = 'v6.2' | 'v6.3';
export const DEFAULT_GUP_RELEASE: GupRelease = 'v6.3';

/** The flags gup_fast_fallback() accepts (anything else: WARN, -EINVAL). */
const GUP_FAST_FLAGS =
  FOLL_WRITE |
  FOLL_LONGTERM |
  FOLL_FORCE |
  FOLL_PIN |
  FOLL_GET |
  FOLL_FAST_ONLY |
  FOLL_NOFAULT |
  FOLL_PCI_P2PDMA |
  FOLL_HONOR_NUMA_FAULT;

function release(mm: MmStruct): GupRelease {
  return mm.gupRelease ?? DEFAULT_GUP_RELEASE;
}

function gupWarn(mm: MmStruct, fn: string, cond: string): void {
  if (mm.log) warnOnce(mm.log, `mm/gup.c ${fn}`, `WARN_ON_ONCE(${cond})`);
}

/**
 * is_valid_gup_args(pages, locked, &gup_flags, to_set) (v6.3+): the checks of the exported
 * entry points. Returns the flags with `toSet` added, or undefined (after a WARN) where the kernel
 * returns false.
 */
function isValidGupArgs(mm: MmStruct, gupFlags: number, toSet: number): number | undefined {
  if (gupFlags & INTERNAL_GUP_FLAGS) {
    gupWarn(mm, 'is_valid_gup_args', 'gup_flags & INTERNAL_GUP_FLAGS');
    return undefined;
  }
  const flags = gupFlags | toSet;
  if ((flags & (FOLL_PIN | FOLL_GET)) === (FOLL_PIN | FOLL_GET)) {
    gupWarn(
      mm,
      'is_valid_gup_args',
      '(gup_flags & (FOLL_PIN | FOLL_GET)) == (FOLL_PIN | FOLL_GET)',
    );
    return undefined;
  }
  if (!(flags & FOLL_PIN) && flags & FOLL_LONGTERM) {
    gupWarn(mm, 'is_valid_gup_args', '!(gup_flags & FOLL_PIN) && (gup_flags & FOLL_LONGTERM)');
    return undefined;
  }
  // "We want to allow the pgmap to be hot-unplugged at all times" (v6.3+).
  if (release(mm) !== 'v6.2' && flags & FOLL_LONGTERM && flags & FOLL_PCI_P2PDMA) {
    gupWarn(
      mm,
      'is_valid_gup_args',
      '(gup_flags & FOLL_LONGTERM) && (gup_flags & FOLL_PCI_P2PDMA)',
    );
    return undefined;
  }
  return flags;
}

/** is_cow_mapping(vm_flags): private and possibly writable. */
function isCowMapping(vmFlags: number): boolean {
  return (vmFlags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}

/**
 * check_vma_flags(vma, gup_flags) (mm/gup.c, v6.16; the -EOPNOTSUPP line is v6.2's): 0 or
 * -errno for a VMA the slow path enters.
 */
export function checkVmaFlags(vma: VmAreaStruct, gupFlags: number, rel: GupRelease): number {
  const vmFlags = vma.vmFlags;
  if (vmFlags & (VM_IO | VM_PFNMAP)) return -EFAULT;
  if (gupFlags & FOLL_ANON && !vma.isAnonymous) return -EFAULT;
  if (rel === 'v6.2' && gupFlags & FOLL_LONGTERM && gupFlags & FOLL_PCI_P2PDMA) return -EOPNOTSUPP;
  if (gupFlags & FOLL_WRITE) {
    if (!(vmFlags & VM_WRITE)) {
      if (!(gupFlags & FOLL_FORCE)) return -EFAULT;
      if (!isCowMapping(vmFlags)) return -EFAULT;
    }
  } else if (!(vmFlags & VM_READ)) {
    if (!(gupFlags & FOLL_FORCE)) return -EFAULT;
    if (!(vmFlags & VM_MAYREAD)) return -EFAULT;
  }
  return 0;
}

/**
 * try_grab_folio(folio, 1, flags) (slow path, v6.16) for an order-0 folio: -EREMOTEIO for a
 * P2PDMA page without FOLL_PCI_P2PDMA; otherwise FOLL_GET adds 1 reference, FOLL_PIN adds
 * GUP_PIN_COUNTING_BIAS; 0.
 */
function tryGrabFolio(refs: PageRefs, page: Page, flags: number): number {
  if (!(flags & FOLL_PCI_P2PDMA) && isPciP2pdmaPage(page)) return -EREMOTEIO;
  if (flags & FOLL_GET) refs.refAdd(page, 1);
  else if (flags & FOLL_PIN) refs.refAdd(page, GUP_PIN_COUNTING_BIAS);
  return 0;
}

/**
 * try_grab_folio_fast(page, 1, flags) (GUP-fast, v6.16): false (fall back to the slow path) for
 * a P2PDMA page without FOLL_PCI_P2PDMA; otherwise grabs the page as tryGrabFolio() does.
 * (FOLL_LONGTERM's folio_is_longterm_pinnable() holds for every page the model maps.)
 */
function tryGrabFolioFast(refs: PageRefs, page: Page, flags: number): boolean {
  if (!(flags & FOLL_PCI_P2PDMA) && isPciP2pdmaPage(page)) return false;
  return tryGrabFolio(refs, page, flags) === 0;
}

/**
 * gup_fast() (v6.16): walks the page table without the mmap lock from `start` and grabs pages
 * until one cannot be taken without the VMA: no pte, a special pte (VM_PFNMAP), a write to a
 * read-only pte (pte_access_permitted()), or a page try_grab_folio_fast() refuses. Returns the
 * number grabbed.
 */
function gupFast(
  mm: MmStruct,
  start: number,
  nrPages: number,
  flags: number,
  pages: Page[],
): number {
  let nr = 0;
  for (let addr = start; nr < nrPages; addr += PAGE_SIZE) {
    const pte = mm.followPte(addr)?.pte;
    if (!pte) break;
    if (flags & FOLL_WRITE && !pte.write) break;
    if (!pte.page) break; // pte_special()
    if (!tryGrabFolioFast(mm.pageRefs, pte.page, flags)) break;
    pages[nr++] = pte.page;
  }
  return nr;
}

/**
 * __get_user_pages() (v6.16) as __get_user_pages_locked() and __gup_longterm_locked() call it:
 * page by page, a VMA lookup and check_vma_flags() whenever a new VMA is entered, then the pte
 * and try_grab_folio(). Fills pages[at...]. Returns the number of pages grabbed, or -errno when
 * the first page fails.
 */
function getUserPagesSlow(
  mm: MmStruct,
  start: number,
  nrPages: number,
  flags: number,
  pages: Page[],
  at: number,
): number {
  if (!nrPages) return 0;
  let i = 0;
  let ret = 0;
  let vma: VmAreaStruct | undefined;
  let addr = start - (start % PAGE_SIZE);
  while (i < nrPages) {
    if (!vma || addr >= vma.vmEnd) {
      vma = mm.vmaLookup(addr);
      if (!vma) {
        ret = -EFAULT;
        break;
      }
      ret = checkVmaFlags(vma, flags, release(mm));
      if (ret) break;
    }
    const pte = vma.pteAt(addr);
    // The model has no fault handler (file comment): faultin_page() would be needed here.
    if (!pte || (flags & FOLL_WRITE && !pte.write)) {
      ret = -EFAULT;
      break;
    }
    // follow_pfn_pte(): a pte without a struct page cannot fill pages[].
    if (!pte.page) {
      ret = -EEXIST;
      break;
    }
    ret = tryGrabFolio(mm.pageRefs, pte.page, flags);
    if (ret) break;
    pages[at + i] = pte.page;
    i++;
    addr += PAGE_SIZE;
  }
  return i ? i : ret;
}

/**
 * gup_fast_fallback(start, nr_pages, gup_flags, pages) (v6.16): GUP-fast first, then the slow
 * path for the rest; if the slow path fails after GUP-fast pinned some pages, those are what is
 * returned (the caller must unpin them).
 */
function gupFastFallback(
  mm: MmStruct,
  start: number,
  nrPages: number,
  flags: number,
  pages: Page[],
): number {
  if (flags & ~GUP_FAST_FLAGS) {
    gupWarn(mm, 'gup_fast_fallback', 'gup_flags & ~(accepted flags)');
    return -EINVAL;
  }
  start -= start % PAGE_SIZE;
  if (start + nrPages * PAGE_SIZE > TASK_SIZE) return -EFAULT;
  const nrPinned = gupFast(mm, start, nrPages, flags, pages);
  if (nrPinned === nrPages || flags & FOLL_FAST_ONLY) return nrPinned;
  const ret = getUserPagesSlow(
    mm,
    start + nrPinned * PAGE_SIZE,
    nrPages - nrPinned,
    flags | FOLL_TOUCH | FOLL_UNLOCKABLE,
    pages,
    nrPinned,
  );
  if (ret < 0) return nrPinned ? nrPinned : ret;
  return ret + nrPinned;
}

function checkArgs(fn: string, start: number, nrPages: number): void {
  if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`${fn}: bad start ${start}`);
  if (!Number.isSafeInteger(nrPages) || nrPages < 0) {
    throw new RangeError(`${fn}: bad page count ${nrPages}`);
  }
}

/**
 * pin_user_pages_fast(start, nr_pages, gup_flags, pages) (mm/gup.c, v6.16): pins the pages
 * mapping [start, start + nr_pages pages) of `mm` with FOLL_PIN (+1024 on each page's refcount)
 * into pages[0..]. Returns the number pinned (possibly fewer than asked; the caller unpins them
 * with unpinUserPages()) or -errno when none was: -EINVAL for invalid flags (v6.3+ also for
 * FOLL_LONGTERM | FOLL_PCI_P2PDMA, with a WARN), -EFAULT (no VMA, VM_IO/VM_PFNMAP, write to a
 * read-only VMA), -EREMOTEIO (a P2PDMA page without FOLL_PCI_P2PDMA), -EOPNOTSUPP (v6.2:
 * FOLL_LONGTERM | FOLL_PCI_P2PDMA reaching the slow path).
 */
export function pinUserPagesFast(
  mm: MmStruct,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: Page[],
): number {
  checkArgs('pin_user_pages_fast', start, nrPages);
  const flags = isValidGupArgs(mm, gupFlags, FOLL_PIN);
  if (flags === undefined) return -EINVAL;
  return gupFastFallback(mm, start, nrPages, flags, pages);
}

/**
 * pin_user_pages(start, nr_pages, gup_flags, pages) (mm/gup.c, v6.16): as pinUserPagesFast() but
 * through the slow path only (__gup_longterm_locked()), and invalid arguments return 0 (not
 * -EINVAL), as the kernel's does.
 */
export function pinUserPages(
  mm: MmStruct,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: Page[],
): number {
  checkArgs('pin_user_pages', start, nrPages);
  const flags = isValidGupArgs(mm, gupFlags, FOLL_PIN);
  if (flags === undefined) return 0;
  return getUserPagesSlow(mm, start, nrPages, flags, pages, 0);
}

/** unpin_user_page(page): drops one FOLL_PIN pin (GUP_PIN_COUNTING_BIAS references). */
export function unpinUserPage(refs: PageRefs, page: Page): void {
  refs.putRefs(page, GUP_PIN_COUNTING_BIAS);
}

/**
 * unpin_user_pages(pages, npages) (mm/gup.c, v6.16): unpins each page (entries left undefined are
 * skipped, as NULL entries are). A page whose last reference goes is freed (page-ref.ts): a P2P
 * page of an unmapped p2pmem mapping goes back to its provider's pool only now.
 */
export function unpinUserPages(
  refs: PageRefs,
  pages: readonly (Page | undefined)[],
  npages = pages.length,
): void {
  for (let i = 0; i < npages; i++) {
    const page = pages[i];
    if (page) unpinUserPage(refs, page);
  }
}
