/**
 * Userspace P2P memory: mmap() of /sys/bus/pci/devices/<BDF>/p2pmem/allocate (drivers/pci/
 * p2pdma.c p2pmem_alloc_mmap() and p2pdma_page_free(), v6.2-v6.16; reference §2.4).
 *
 * Every mmap() of the file is a fresh allocation of the VMA's length from the provider's genalloc
 * pool; userspace never chooses what it gets. Each page is given refcount 1, inserted with
 * vm_insert_page() (a normal struct-page mapping, so GUP can find it; not VM_PFNMAP), and the
 * allocation's reference is then dropped, so the VMA owns the pages. munmap() drops the VMA's
 * reference and a page whose count reaches 0 goes back to the pool (p2pdma_page_free(), one page
 * at a time), which is why a page still pinned for DMA returns only when it is unpinned, and
 * why sysfs `available` grows back page by page.
 *
 * The allocate file exists only where P2P memory has struct pages (the page-backed designs, whose
 * pool chunks are owned by a live page map); for any other representation the mmap fails with
 * -ENODEV. Not modelled: the removal of the file at provider teardown, which zaps existing
 * mappings (pci_p2pdma_unmap_mappings()).
 */
import { ENODEV, ENOMEM, EINVAL } from '../errno';
import { doMmap, MAP_SHARED, PROT_READ, PROT_WRITE, VM_MAYSHARE, vmInsertPage } from '../mm/mm';
import type { MmStruct, VmAreaStruct } from '../mm/mm';
import { Page, PAGE_SIZE, pageToPhys, physPfn, type DevPagemap } from '../mm/page';
import type { PciDev } from '../pci/device';
import { GenPool } from './pool';
import { directMapPhys, directMapVirt } from './provider';
import type { P2pdmaDevices, PciP2pdmaPagemap } from './state';

/**
 * The allocate attribute's advertised size, SZ_1T: only mmap() is meaningful, the size lets
 * tools that compare the file size with the mapping length accept it.
 */
export const P2PMEM_ALLOCATE_SIZE = 2 ** 40;

/** sysfs path of a provider's allocate file. */
export function p2pmemAllocatePath(dev: PciDev): string {
  return `/sys/bus/pci/devices/${dev.bdf}/p2pmem/allocate`;
}

/** The provider's pool as a GenPool, or undefined (no state, no pool, another pool model). */
function genPoolOf(p2p: P2pdmaDevices, dev: PciDev): GenPool | undefined {
  const pool = p2p.get(dev)?.pool;
  return pool instanceof GenPool ? pool : undefined;
}

/** Whether `owner` (a pool chunk's owner) is a page map that is still registered. */
function livePgmap(p2p: P2pdmaDevices, dev: PciDev, owner: unknown): PciP2pdmaPagemap | undefined {
  const pgmaps = p2p.get(dev)?.pgmaps ?? [];
  const pgmap = pgmaps.find((m) => m === owner);
  return pgmap && p2p.memmap.pagemaps.includes(pgmap) ? pgmap : undefined;
}

/**
 * p2pdma_page_free(page) (pgmap->ops->page_free, v6.16): the last reference to a P2P page is
 * gone; gen_pool_free_owner(pool, page_to_virt(page), PAGE_SIZE) gives it back to the provider.
 */
export function p2pdmaPageFree(p2p: P2pdmaDevices, page: Page): void {
  const pgmap = page.pgmap as PciP2pdmaPagemap | undefined;
  if (!pgmap?.provider) throw new Error('p2pdma_page_free: not a P2PDMA page');
  const pool = genPoolOf(p2p, pgmap.provider);
  // The provider's state is gone only after every page was freed (the pgmap ref); a free after
  // teardown has nowhere to go.
  if (!pool) return;
  pool.freeOwner(directMapVirt(pageToPhys(page)), PAGE_SIZE);
}

/** Sets pgmap->ops of a provider's page map in the kernel's page reference table. */
function ensurePagemapOps(p2p: P2pdmaDevices, mm: MmStruct, pgmap: DevPagemap): void {
  if (!mm.pageRefs.pagemapOps(pgmap)) {
    mm.pageRefs.setPagemapOps(pgmap, { pageFree: (page) => p2pdmaPageFree(p2p, page) });
  }
}

/**
 * p2pmem_alloc_mmap(filp, kobj, attr, vma) (drivers/pci/p2pdma.c, v6.2-v6.16; reference §2.4):
 * the allocate file's mmap callback for an already placed VMA. Checks, in order:
 * - a private mapping (no VM_MAYSHARE): pci_info "<comm>: fail, attempted private mapping",
 *   -EINVAL;
 * - a non-zero file offset (vm_pgoff): pci_info "<comm>: fail, attempted mapping with non-zero
 *   offset", -EINVAL;
 * - no p2pdma state: -ENODEV;
 * - gen_pool_alloc_owner() of the VMA's length fails (pool exhausted or too fragmented): -ENOMEM;
 * - the chunk's page map is not live (percpu_ref_tryget_live() fails): the memory is freed,
 *   -ENODEV.
 * Then each page gets refcount 1, is vm_insert_page()d (refcount 2) and put (refcount 1).
 * Returns 0 or -errno; on failure nothing stays allocated.
 */
export function p2pmemAllocMmap(
  p2p: P2pdmaDevices,
  dev: PciDev,
  mm: MmStruct,
  vma: VmAreaStruct,
): number {
  let len = vma.vmEnd - vma.vmStart;
  if ((vma.vmFlags & VM_MAYSHARE) !== VM_MAYSHARE) {
    mm.log?.info(dev, `${mm.comm}: fail, attempted private mapping`);
    return -EINVAL;
  }
  if (vma.vmPgoff) {
    mm.log?.info(dev, `${mm.comm}: fail, attempted mapping with non-zero offset`);
    return -EINVAL;
  }
  const pool = genPoolOf(p2p, dev);
  if (!pool) return -ENODEV;
  const got = pool.allocOwner(len);
  if (!got) return -ENOMEM;
  let kaddr = got.addr;
  const pgmap = livePgmap(p2p, dev, got.owner);
  if (!pgmap) {
    pool.free(kaddr, len);
    return -ENODEV;
  }
  ensurePagemapOps(p2p, mm, pgmap);
  for (let vaddr = vma.vmStart; vaddr < vma.vmEnd; vaddr += PAGE_SIZE) {
    // virt_to_page(kaddr): the pool hands out direct-map addresses of the page map's range.
    const page = new Page(physPfn(directMapPhys(kaddr)), pgmap);
    mm.pageRefs.setPageCount(page, 1);
    const ret = vmInsertPage(mm, vma, vaddr, page);
    if (ret) {
      mm.pageRefs.setPageCount(page, 0);
      pool.free(kaddr, len);
      return ret;
    }
    mm.pageRefs.putRefs(page);
    kaddr += PAGE_SIZE;
    len -= PAGE_SIZE;
  }
  return 0;
}

/** What userspace passes to mmap() on the allocate file. */
export interface P2pmemMmapRequest {
  len: number;
  /** PROT_* (default PROT_READ | PROT_WRITE). */
  prot?: number;
  /** MAP_SHARED (default) or MAP_PRIVATE, optionally MAP_FIXED. */
  flags?: number;
  /** mmap()'s offset in bytes (must be 0 to succeed). */
  offset?: number;
  /** Address hint, or the address with MAP_FIXED. */
  addr?: number;
}

/**
 * mmap(addr, len, prot, flags, fd, offset) on the provider's p2pmem/allocate file: do_mmap()
 * with p2pmemAllocMmap() as the file's mmap. Returns the user address or -errno (a fresh
 * allocation each call; see p2pmemAllocMmap()). The fd is opened O_RDWR (the file is mode 0660).
 */
export function p2pmemMmap(
  p2p: P2pdmaDevices,
  dev: PciDev,
  mm: MmStruct,
  req: P2pmemMmapRequest,
): number {
  const offset = req.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new RangeError(`mmap: bad offset ${offset}`);
  // do_mmap(): the offset must be page-aligned before any driver sees it.
  if (offset % PAGE_SIZE) return -EINVAL;
  return doMmap(
    mm,
    {
      addr: req.addr,
      len: req.len,
      prot: req.prot ?? PROT_READ | PROT_WRITE,
      flags: req.flags ?? MAP_SHARED,
      pgoff: offset / PAGE_SIZE,
      name: p2pmemAllocatePath(dev),
    },
    (vma) => p2pmemAllocMmap(p2p, dev, mm, vma),
  );
}
