/**
 * Pages and ZONE_DEVICE page maps (include/linux/mm.h, include/linux/memremap.h, v6.x).
 *
 * A page is identified by its pfn. The model never keeps an object per page of a range: a Page
 * is a small value made on demand (pagesFromPfns(), Memmap.pfnToPage()) and two Pages are the
 * same page when their pfns are equal. The page map a ZONE_DEVICE page belongs to travels with
 * it, as page_pgmap() reads it from the struct page in the kernel.
 */

/** PAGE_SHIFT / PAGE_SIZE: 4 KiB pages (x86-64, and arm64 with 4K pages). */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;

/** enum memory_type (include/linux/memremap.h, v6.x); 0 is reserved to catch uninitialised maps. */
export const MEMORY_DEVICE_PRIVATE = 1;
export const MEMORY_DEVICE_COHERENT = 2;
export const MEMORY_DEVICE_FS_DAX = 3;
export const MEMORY_DEVICE_GENERIC = 4;
export const MEMORY_DEVICE_PCI_P2PDMA = 5;

/**
 * struct dev_pagemap: one ZONE_DEVICE range with struct pages (memremap_pages()). Only the
 * fields the model reads; a PCI P2PDMA page map carries more (PciP2pdmaPagemap).
 */
export interface DevPagemap {
  /** pgmap->type (MEMORY_DEVICE_*) */
  readonly type: number;
  /** pgmap->range: CPU physical addresses, `end` inclusive. */
  readonly range: { readonly start: number; readonly end: number };
}

/** A struct page: its pfn, and the page map for ZONE_DEVICE pages (undefined for RAM). */
export class Page {
  constructor(
    readonly pfn: number,
    readonly pgmap: DevPagemap | undefined = undefined,
  ) {}
}

/** page_to_phys(page) */
export function pageToPhys(page: Page): number {
  return page.pfn * PAGE_SIZE;
}

/** PHYS_PFN(phys) */
export function physPfn(phys: number): number {
  return Math.floor(phys / PAGE_SIZE);
}

/** is_zone_device_page(page) */
export function isZoneDevicePage(page: Page): boolean {
  return page.pgmap !== undefined;
}

/** is_pci_p2pdma_page(page) (include/linux/memremap.h, v6.x) */
export function isPciP2pdmaPage(page: Page): boolean {
  return page.pgmap !== undefined && page.pgmap.type === MEMORY_DEVICE_PCI_P2PDMA;
}

/**
 * zone_device_pages_have_same_pgmap(a, b) (include/linux/mmzone.h, v6.2+): pages of different
 * ZONE_DEVICE page maps, or a ZONE_DEVICE page and an ordinary one, never merge.
 */
export function zoneDevicePagesHaveSamePgmap(a: Page, b: Page): boolean {
  return a.pgmap === b.pgmap;
}

/**
 * A page array from pfns, as the kernel's userspace scatterlist test harness
 * (tools/testing/scatterlist/main.c) builds one: every page in `pgmap` when given (the caller
 * vouches that the pfns lie in it), ordinary RAM pages otherwise.
 */
export function pagesFromPfns(pfns: ArrayLike<number>, pgmap?: DevPagemap): Page[] {
  const out = new Array<Page>(pfns.length);
  for (let i = 0; i < pfns.length; i++) {
    const pfn = pfns[i]!;
    if (!Number.isSafeInteger(pfn) || pfn < 0) {
      throw new RangeError(`pagesFromPfns: pfn ${pfn} at index ${i} is not a non-negative integer`);
    }
    if (pgmap && (pfn * PAGE_SIZE < pgmap.range.start || pfn * PAGE_SIZE > pgmap.range.end)) {
      throw new RangeError(
        `pagesFromPfns: pfn 0x${pfn.toString(16)} is outside the page map ` +
          `[0x${pgmap.range.start.toString(16)}-0x${pgmap.range.end.toString(16)}]`,
      );
    }
    out[i] = new Page(pfn, pgmap);
  }
  return out;
}
