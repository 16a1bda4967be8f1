/**
 * Page reference counts of one simulated kernel (include/linux/page_ref.h, the folio_put() and
 * GUP pin accounting of include/linux/mm.h and mm/gup.c, and the ZONE_DEVICE free path of
 * mm/memremap.c; v6.16).
 *
 * Why a table keyed by pfn: the model has no object per struct page. A Page is a value made on
 * demand (mm/page.ts), and two Page values with the same pfn are the same page, so the page's
 * _refcount cannot live on the Page. One table per kernel holds it instead, for every page whose
 * count is not zero; every address space (MmStruct) of that kernel shares it, as they share the
 * kernel's struct pages.
 *
 * What is counted, as in the kernel for order-0 folios:
 * - each mapping of the page into a user address space (a present pte) holds one reference;
 * - a FOLL_GET reference adds 1; a FOLL_PIN pin adds GUP_PIN_COUNTING_BIAS (1024), which is how
 *   folio_maybe_dma_pinned() tells a pinned page from a referenced one;
 * - when the count drops to 0 the page is freed: a RAM page goes back to the page allocator
 *   (which the model does not keep: the scenario chooses RAM pfns), a ZONE_DEVICE page goes to
 *   its page map's ops.pageFree (free_zone_device_folio() -> pgmap->ops->page_free), which for
 *   P2PDMA returns the page to the provider's genalloc pool (p2pmem-mmap.ts).
 */
import { isZoneDevicePage, type DevPagemap, type Page } from './page';

/**
 * GUP_PIN_COUNTING_BIAS (include/linux/mm.h): what one FOLL_PIN pin adds to the refcount of a
 * single-page folio.
 */
export const GUP_PIN_COUNTING_BIAS = 1024;

/** struct dev_pagemap_ops: the callback the model needs. */
export interface DevPagemapOps {
  /** page_free(page): the last reference to a ZONE_DEVICE page was dropped. */
  pageFree(page: Page): void;
}

export class PageRefs {
  /** _refcount by pfn; a pfn that is absent has count 0. */
  private readonly counts = new Map<number, number>();
  /** pgmap->ops of the ZONE_DEVICE page maps whose pages this kernel maps. */
  private readonly ops = new Map<DevPagemap, DevPagemapOps>();

  /** pgmap->ops = ops (set by the page map's owner before any of its pages is handed out). */
  setPagemapOps(pgmap: DevPagemap, ops: DevPagemapOps): void {
    this.ops.set(pgmap, ops);
  }

  /** The ops registered for a page map, if any. */
  pagemapOps(pgmap: DevPagemap): DevPagemapOps | undefined {
    return this.ops.get(pgmap);
  }

  /** page_ref_count(page) / folio_ref_count() */
  refCount(page: Page): number {
    return this.counts.get(page.pfn) ?? 0;
  }

  /**
   * set_page_count(page, v): what an allocator does to a page it hands out (p2pmem_alloc_mmap()
   * sets each freshly allocated P2P page to 1).
   */
  setPageCount(page: Page, v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`set_page_count: bad count ${v}`);
    if (v === 0) this.counts.delete(page.pfn);
    else this.counts.set(page.pfn, v);
  }

  /** folio_ref_add(folio, refs) / get_page() for refs 1. */
  refAdd(page: Page, refs = 1): void {
    if (!Number.isSafeInteger(refs) || refs < 1) throw new RangeError(`folio_ref_add: ${refs}`);
    this.counts.set(page.pfn, this.refCount(page) + refs);
  }

  /**
   * folio_put_refs(folio, refs) / put_page() for refs 1: drops references and frees the page
   * when the count reaches 0. Dropping more references than the page holds is the kernel's
   * VM_BUG_ON_PAGE(); the model throws.
   */
  putRefs(page: Page, refs = 1): void {
    const n = this.refCount(page);
    if (!Number.isSafeInteger(refs) || refs < 1 || refs > n) {
      throw new Error(
        `folio_put_refs: pfn 0x${page.pfn.toString(16)} has ${n} references, cannot drop ${refs}`,
      );
    }
    if (n > refs) {
      this.counts.set(page.pfn, n - refs);
      return;
    }
    this.counts.delete(page.pfn);
    // __folio_put(): ZONE_DEVICE folios go to free_zone_device_folio(), the rest to the allocator.
    if (isZoneDevicePage(page)) this.ops.get(page.pgmap!)?.pageFree(page);
  }

  /**
   * folio_maybe_dma_pinned(folio) for a single-page folio: refcount >= GUP_PIN_COUNTING_BIAS
   * (a page with 1024 ordinary references also looks pinned, as in the kernel).
   */
  maybeDmaPinned(page: Page): boolean {
    return this.refCount(page) >= GUP_PIN_COUNTING_BIAS;
  }

  /** Number of pages with a non-zero count (for tests and reports). */
  get size(): number {
    return this.counts.size;
  }
}
