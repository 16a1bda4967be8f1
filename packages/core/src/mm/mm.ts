/**
 * A user address space (struct mm_struct with its VMAs, include/linux/mm_types.h; mmap and
 * munmap of mm/mmap.c and mm/vma.c; vm_insert_page() and remap_pfn_range() of mm/memory.c;
 * v6.16), as far as pinning user buffers for DMA needs it (reference §2.4, §5.4).
 *
 * The model keeps one page table per VMA: an array of ptes, one per page, each either a normal
 * mapping of a struct page (a RAM page, or a ZONE_DEVICE P2P page inserted with vm_insert_page())
 * or a special pte of a raw pfn (remap_pfn_range(), VM_PFNMAP). Mappings are populated when they
 * are made (as MAP_POPULATE would), so there are no page faults: the scenario layer chooses which
 * RAM pfns back an anonymous mapping (PhysMemoryMap.ram lists the RAM ranges).
 *
 * Each present pte of a struct page holds one reference on it (PageRefs); munmap drops them.
 * Addresses are numbers: user addresses stay below TASK_SIZE (2^47 - 4 KiB).
 */
import { EBUSY, EFAULT, EINVAL, ENOMEM } from '../errno';
import type { KernelLog } from '../kernel-log';
import type { Memmap } from './memremap';
import { isZoneDevicePage, Page, PAGE_SIZE } from './page';
import type { PageRefs } from './page-ref';
import type { GupRelease } from './gup';

/** vm_flags bits (include/linux/mm.h, v6.16). */
export const VM_NONE = 0;
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
/** Page ranges managed without struct page, just pure pfns (remap_pfn_range()). */
export const VM_PFNMAP = 0x400;
/** Memory-mapped I/O or similar. */
export const VM_IO = 0x4000;
export const VM_DONTEXPAND = 0x40000;
export const VM_DONTDUMP = 0x4000000;
/** Normal struct-page mappings in a driver's VMA (set by vm_insert_page()). */
export const VM_MIXEDMAP = 0x10000000;

/** mmap() prot and flags (include/uapi/asm-generic/mman-common.h, mman.h). */
export const PROT_NONE = 0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_SHARED_VALIDATE = 0x03;
export const MAP_TYPE = 0x0f;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;

/** TASK_SIZE of x86-64 with 4-level paging: (1 << 47) - PAGE_SIZE. */
export const TASK_SIZE = 2 ** 47 - PAGE_SIZE;
/** mmap_min_addr (the usual 64 KiB): nothing is placed below it. */
export const MMAP_MIN_ADDR = 0x10000;
/** Where top-down mmap placement starts (the model's mmap_base, without randomisation). */
export const DEFAULT_MMAP_BASE = 0x7f00_0000_0000;

/** PAGE_ALIGN(x) */
export function pageAlign(x: number): number {
  return Math.ceil(x / PAGE_SIZE) * PAGE_SIZE;
}

/** offset_in_page(x) */
export function offsetInPage(x: number): number {
  return x % PAGE_SIZE;
}

/** One pte: a normal mapping of a struct page, or a special pte of a raw pfn. */
export interface Pte {
  readonly pfn: number;
  /** The struct page of a normal mapping (vm_normal_page()); undefined for a special pte. */
  readonly page: Page | undefined;
  /** pte_write() */
  readonly write: boolean;
}

/** struct vm_area_struct: [vmStart, vmEnd) with its flags, file offset and ptes. */
export class VmAreaStruct {
  /** The ptes, one per page from vmStart; undefined where nothing is mapped. */
  ptes: (Pte | undefined)[];

  constructor(
    public vmStart: number,
    public vmEnd: number,
    public vmFlags: number,
    /** vm_pgoff: offset of vmStart in the mapped file, in pages. */
    public vmPgoff: number,
    /** What is mapped, as /proc/<pid>/maps names it ("[anon]", a sysfs path...). */
    readonly name: string,
  ) {
    this.ptes = new Array<Pte | undefined>((vmEnd - vmStart) / PAGE_SIZE).fill(undefined);
  }

  /** The pte of the page holding `addr` (which must lie in the VMA). */
  pteAt(addr: number): Pte | undefined {
    return this.ptes[Math.floor((addr - this.vmStart) / PAGE_SIZE)];
  }

  /** vma_is_anonymous(): the model marks anonymous VMAs by name. */
  get isAnonymous(): boolean {
    return this.name === '[anon]';
  }
}

export interface MmStructOptions {
  /** The kernel's log (WARNs of GUP, the p2pmem mmap messages). */
  log?: KernelLog;
  /** current->comm of the task that owns the address space, for messages. Default "dmasim". */
  comm?: string;
  /** The kernel's memmap: pfn_to_page() for anonymous mappings (RAM check). */
  memmap?: Memmap;
  /** Which GUP release to model (gup.ts); default the newest. */
  gupRelease?: GupRelease;
  /** mmap_base; default DEFAULT_MMAP_BASE. */
  mmapBase?: number;
}

/** struct mm_struct: the VMAs of one process, in the page reference table of its kernel. */
export class MmStruct {
  /** The VMAs, sorted by address, never overlapping. */
  private readonly vmaList: VmAreaStruct[] = [];
  readonly log: KernelLog | undefined;
  readonly comm: string;
  readonly memmap: Memmap | undefined;
  readonly gupRelease: GupRelease | undefined;
  readonly mmapBase: number;

  /**
   * @param pageRefs the kernel's page reference table, shared by every MmStruct of the kernel
   *   (see page-ref.ts for why it is keyed by pfn)
   */
  constructor(
    readonly pageRefs: PageRefs,
    opts: MmStructOptions = {},
  ) {
    this.log = opts.log;
    this.comm = opts.comm ?? 'dmasim';
    this.memmap = opts.memmap;
    this.gupRelease = opts.gupRelease;
    this.mmapBase = opts.mmapBase ?? DEFAULT_MMAP_BASE;
    if (this.mmapBase % PAGE_SIZE !== 0 || this.mmapBase > TASK_SIZE) {
      throw new RangeError(
        `mmap_base 0x${this.mmapBase.toString(16)} is not a page below TASK_SIZE`,
      );
    }
  }

  /** The VMAs by address (a copy of the list). */
  get vmas(): VmAreaStruct[] {
    return [...this.vmaList];
  }

  /** vma_lookup(mm, addr): the VMA holding `addr`, if any. */
  vmaLookup(addr: number): VmAreaStruct | undefined {
    let lo = 0;
    let hi = this.vmaList.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.vmaList[mid]!;
      if (addr < v.vmStart) hi = mid - 1;
      else if (addr >= v.vmEnd) lo = mid + 1;
      else return v;
    }
    return undefined;
  }

  /** The pte mapping `addr`, with its VMA, if any. */
  followPte(addr: number): { vma: VmAreaStruct; pte: Pte | undefined } | undefined {
    const vma = this.vmaLookup(addr);
    return vma ? { vma, pte: vma.pteAt(addr) } : undefined;
  }

  /**
   * get_unmapped_area() top-down from mmap_base (as x86-64 does): a free `len`-byte range, or
   * -ENOMEM. A free, page-aligned hint is used as is.
   */
  getUnmappedArea(len: number, hint = 0): number {
    if (len > TASK_SIZE) return -ENOMEM;
    if (hint && hint % PAGE_SIZE === 0 && hint + len <= TASK_SIZE && this.isFree(hint, len)) {
      return hint;
    }
    let top = this.mmapBase;
    for (let i = this.vmaList.length - 1; i >= 0; i--) {
      const v = this.vmaList[i]!;
      if (v.vmEnd <= top && top - v.vmEnd >= len) return top - len;
      top = Math.min(top, v.vmStart);
    }
    if (top - MMAP_MIN_ADDR >= len) return top - len;
    return -ENOMEM;
  }

  /** Whether no VMA intersects [addr, addr + len). */
  isFree(addr: number, len: number): boolean {
    return this.vmaList.every((v) => v.vmEnd <= addr || v.vmStart >= addr + len);
  }

  /** Adds a VMA (which must not overlap another). */
  insertVma(vma: VmAreaStruct): void {
    if (!this.isFree(vma.vmStart, vma.vmEnd - vma.vmStart)) {
      throw new Error(`insert_vm_struct: [0x${vma.vmStart.toString(16)}) overlaps a VMA`);
    }
    let i = this.vmaList.length;
    while (i > 0 && this.vmaList[i - 1]!.vmStart > vma.vmStart) i--;
    this.vmaList.splice(i, 0, vma);
  }

  /** Removes a VMA from the list (its ptes must have been zapped). */
  removeVma(vma: VmAreaStruct): void {
    const i = this.vmaList.indexOf(vma);
    if (i >= 0) this.vmaList.splice(i, 1);
  }
}

/** calc_vm_prot_bits(prot, 0): PROT_READ/WRITE/EXEC -> VM_READ/WRITE/EXEC. */
export function calcVmProtBits(prot: number): number {
  return (
    (prot & PROT_READ ? VM_READ : 0) |
    (prot & PROT_WRITE ? VM_WRITE : 0) |
    (prot & PROT_EXEC ? VM_EXEC : 0)
  );
}

/** What an mmap() call asks for. */
export interface MmapRequest {
  /** The address hint, or the address with MAP_FIXED. */
  addr?: number;
  len: number;
  prot: number;
  /** MAP_SHARED or MAP_PRIVATE, optionally with MAP_FIXED and MAP_ANONYMOUS. */
  flags: number;
  /** The file offset in pages (mmap's offset >> PAGE_SHIFT). */
  pgoff?: number;
  /** What is mapped (a file path); "[anon]" for MAP_ANONYMOUS. */
  name?: string;
  /** Whether the file was opened for writing (a shared mapping of a read-only fd loses VM_MAYWRITE). */
  fileWritable?: boolean;
}

/** file->f_op->mmap(file, vma): fills the VMA; 0 or -errno. */
export type FileMmap = (vma: VmAreaStruct) => number;

/**
 * do_mmap() + mmap_region() (mm/mmap.c, mm/vma.c, v6.16), the parts that decide the VMA: the
 * length is page-aligned (0 -> -EINVAL), the mapping type must be MAP_SHARED or MAP_PRIVATE
 * (-EINVAL), MAP_FIXED needs a page-aligned address below TASK_SIZE (-EINVAL / -ENOMEM) and
 * replaces what was there, otherwise the address comes from getUnmappedArea() (-ENOMEM).
 * vm_flags = prot bits | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC, plus VM_SHARED | VM_MAYSHARE for
 * a shared mapping (VM_MAYWRITE and VM_SHARED dropped for a read-only file). Then the file's
 * mmap callback runs; if it fails, the VMA and whatever it mapped are torn down and its error
 * returned. Returns the address or -errno.
 */
export function doMmap(mm: MmStruct, req: MmapRequest, fileMmap?: FileMmap): number {
  if (!Number.isSafeInteger(req.len) || req.len < 0) {
    throw new RangeError(`mmap: length ${req.len} is not a non-negative integer`);
  }
  if (!req.len) return -EINVAL;
  const len = pageAlign(req.len);
  if (len > TASK_SIZE) return -ENOMEM;
  const type = req.flags & MAP_TYPE;
  const shared = type === MAP_SHARED || type === MAP_SHARED_VALIDATE;
  if (!shared && type !== MAP_PRIVATE) return -EINVAL;

  let addr: number;
  if (req.flags & MAP_FIXED) {
    addr = req.addr ?? 0;
    if (addr % PAGE_SIZE !== 0) return -EINVAL;
    if (addr + len > TASK_SIZE) return -ENOMEM;
    doMunmapRange(mm, addr, len);
  } else {
    addr = mm.getUnmappedArea(len, req.addr ?? 0);
    if (addr < 0) return addr;
  }

  let vmFlags = calcVmProtBits(req.prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if (shared) {
    vmFlags |= VM_SHARED | VM_MAYSHARE;
    if (req.fileWritable === false) vmFlags &= ~(VM_MAYWRITE | VM_SHARED);
  }
  const name = req.flags & MAP_ANONYMOUS ? '[anon]' : (req.name ?? '[file]');
  const vma = new VmAreaStruct(addr, addr + len, vmFlags, req.pgoff ?? 0, name);
  mm.insertVma(vma);
  if (fileMmap) {
    const err = fileMmap(vma);
    if (err) {
      zapVma(mm, vma, vma.vmStart, vma.vmEnd);
      mm.removeVma(vma);
      return err;
    }
  }
  return addr;
}

/**
 * vm_insert_page(vma, addr, page) (mm/memory.c, v6.16): maps a driver's struct page as a normal
 * (not special) pte, taking a reference on it. -EFAULT outside the VMA, -EINVAL for a page with
 * refcount 0, -EBUSY where a pte exists. The VMA becomes VM_MIXEDMAP. The pte is writable when
 * the VMA is (vm_page_prot of a shared mapping).
 */
export function vmInsertPage(mm: MmStruct, vma: VmAreaStruct, addr: number, page: Page): number {
  if (addr < vma.vmStart || addr >= vma.vmEnd) return -EFAULT;
  if (!mm.pageRefs.refCount(page)) return -EINVAL;
  vma.vmFlags |= VM_MIXEDMAP;
  const i = Math.floor((addr - vma.vmStart) / PAGE_SIZE);
  if (vma.ptes[i]) return -EBUSY;
  mm.pageRefs.refAdd(page);
  vma.ptes[i] = { pfn: page.pfn, page, write: (vma.vmFlags & VM_WRITE) !== 0 };
  return 0;
}

/**
 * remap_pfn_range(vma, addr, pfn, size, prot) (mm/memory.c, v6.16): maps raw pfns with special
 * ptes, without struct pages or references, and marks the VMA VM_IO | VM_PFNMAP |
 * VM_DONTEXPAND | VM_DONTDUMP. This is how /sys/bus/pci/devices/<BDF>/resourceN is mapped, which
 * is why such a mapping cannot be pinned for O_DIRECT (reference §6.4). Returns 0 or -EINVAL
 * (range outside the VMA).
 */
export function remapPfnRange(vma: VmAreaStruct, addr: number, pfn: number, size: number): number {
  if (addr % PAGE_SIZE !== 0 || addr < vma.vmStart || addr + size > vma.vmEnd) return -EINVAL;
  vma.vmFlags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
  const write = (vma.vmFlags & VM_WRITE) !== 0;
  const first = (addr - vma.vmStart) / PAGE_SIZE;
  for (let i = 0; i < pageAlign(size) / PAGE_SIZE; i++) {
    vma.ptes[first + i] = { pfn: pfn + i, page: undefined, write };
  }
  return 0;
}

/** How an anonymous or pfn mapping is made. */
export interface MapOptions {
  /** PROT_* (default PROT_READ | PROT_WRITE). */
  prot?: number;
  /** Place the mapping exactly here (MAP_FIXED); otherwise top-down from mmap_base. */
  addr?: number;
}

/**
 * mmap(MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE) whose faults were served by exactly the given
 * RAM pages, in order: one pte and one reference per page. The pfns must be RAM (checked against
 * the mm's memmap when it has one; a ZONE_DEVICE page is refused), which is misuse otherwise.
 * Returns the address or -errno (as doMmap()).
 */
export function mmapAnonymous(
  mm: MmStruct,
  pfns: ArrayLike<number>,
  opts: MapOptions = {},
): number {
  const pages: Page[] = [];
  for (let i = 0; i < pfns.length; i++) {
    const pfn = pfns[i]!;
    if (!Number.isSafeInteger(pfn) || pfn < 0)
      throw new RangeError(`mmapAnonymous: bad pfn ${pfn}`);
    const page = mm.memmap ? mm.memmap.pfnToPage(pfn) : new Page(pfn);
    if (isZoneDevicePage(page)) {
      throw new RangeError(
        `mmapAnonymous: pfn 0x${pfn.toString(16)} is ZONE_DEVICE memory, not RAM`,
      );
    }
    pages.push(page);
  }
  return doMmap(
    mm,
    {
      addr: opts.addr,
      len: pages.length * PAGE_SIZE,
      prot: opts.prot ?? PROT_READ | PROT_WRITE,
      flags: MAP_PRIVATE | MAP_ANONYMOUS | (opts.addr !== undefined ? MAP_FIXED : 0),
    },
    (vma) => {
      const write = (vma.vmFlags & VM_WRITE) !== 0;
      pages.forEach((page, i) => {
        mm.pageRefs.refAdd(page);
        vma.ptes[i] = { pfn: page.pfn, page, write };
      });
      return 0;
    },
  );
}

/**
 * mmap(MAP_SHARED) of a device file whose mmap is remap_pfn_range() over `nrPages` pfns from
 * `pfn` (pci_mmap_resource_range() of /sys/bus/pci/devices/<BDF>/resourceN maps a BAR this
 * way). Returns the address or -errno.
 */
export function mmapPfnRange(
  mm: MmStruct,
  pfn: number,
  nrPages: number,
  opts: MapOptions & { name?: string } = {},
): number {
  return doMmap(
    mm,
    {
      addr: opts.addr,
      len: nrPages * PAGE_SIZE,
      prot: opts.prot ?? PROT_READ | PROT_WRITE,
      flags: MAP_SHARED | (opts.addr !== undefined ? MAP_FIXED : 0),
      name: opts.name ?? '[pfnmap]',
    },
    (vma) => remapPfnRange(vma, vma.vmStart, pfn, vma.vmEnd - vma.vmStart),
  );
}

/** zap_page_range of [start, end) in one VMA: drops each mapped page's reference. */
function zapVma(mm: MmStruct, vma: VmAreaStruct, start: number, end: number): void {
  for (let a = start; a < end; a += PAGE_SIZE) {
    const i = (a - vma.vmStart) / PAGE_SIZE;
    const pte = vma.ptes[i];
    if (!pte) continue;
    vma.ptes[i] = undefined;
    if (pte.page) mm.pageRefs.putRefs(pte.page);
  }
}

/** Unmaps [addr, addr + len) (page-aligned), splitting VMAs at the edges. */
function doMunmapRange(mm: MmStruct, addr: number, len: number): void {
  const end = addr + len;
  for (const vma of mm.vmas) {
    if (vma.vmEnd <= addr || vma.vmStart >= end) continue;
    const from = Math.max(addr, vma.vmStart);
    const to = Math.min(end, vma.vmEnd);
    zapVma(mm, vma, from, to);
    mm.removeVma(vma);
    // __split_vma(): what lies outside the range survives as its own VMA(s).
    if (vma.vmStart < from) {
      const head = new VmAreaStruct(vma.vmStart, from, vma.vmFlags, vma.vmPgoff, vma.name);
      head.ptes = vma.ptes.slice(0, (from - vma.vmStart) / PAGE_SIZE);
      mm.insertVma(head);
    }
    if (to < vma.vmEnd) {
      const skip = (to - vma.vmStart) / PAGE_SIZE;
      const tail = new VmAreaStruct(to, vma.vmEnd, vma.vmFlags, vma.vmPgoff + skip, vma.name);
      tail.ptes = vma.ptes.slice(skip);
      mm.insertVma(tail);
    }
  }
}

/**
 * munmap(addr, len) (do_vmi_munmap(), mm/vma.c, v6.16): -EINVAL for an address that is not
 * page-aligned, a length of 0, or a range past TASK_SIZE; otherwise unmaps whatever lies in
 * [addr, PAGE_ALIGN(addr + len)) (holes are fine) and returns 0. Every unmapped page loses the
 * reference its pte held; pages that reach refcount 0 are freed (page-ref.ts).
 */
export function munmap(mm: MmStruct, addr: number, len: number): number {
  if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(len) || addr < 0 || len < 0) {
    throw new RangeError(`munmap: bad range ${addr}+${len}`);
  }
  if (addr % PAGE_SIZE !== 0 || addr > TASK_SIZE || len > TASK_SIZE - addr) return -EINVAL;
  const alen = pageAlign(len);
  if (!alen) return -EINVAL;
  doMunmapRange(mm, addr, alen);
  return 0;
}
