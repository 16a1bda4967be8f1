/**
 * The simulated kernel's memmap: which pfns have struct pages, and the ZONE_DEVICE page maps
 * created by memremap_pages() (mm/memremap.c, mm/memory_hotplug.c, v6.x; reference §9).
 *
 * RAM pages always have struct pages. A BAR's pages exist only inside a page map; pfnToPage()
 * makes the Page value on demand, so a 1 TiB BAR costs one page map object here, while the
 * struct page memory the kernel would spend on it (64 bytes per 4 KiB page) is accounted.
 */
import { EINVAL, ENOMEM } from '../errno';
import { printkHex, type KernelLog } from '../kernel-log';
import type { PhysMemoryMap } from './memory-map';
import { Page, PAGE_SIZE, type DevPagemap } from './page';

/** SUBSECTION_SHIFT on x86-64 and arm64 with 4 KiB pages: memory hotplug works in 2 MiB units. */
export const SUBSECTION_SHIFT = 21;
/** SUBSECTION_SIZE = 2 MiB: what memremap_compat_align() returns by default. */
export const SUBSECTION_SIZE = 2 ** SUBSECTION_SHIFT;
/** PAGES_PER_SUBSECTION = 512: check_pfn_span() requires start pfn and page count multiples of it. */
export const PAGES_PER_SUBSECTION = SUBSECTION_SIZE / PAGE_SIZE;
/** sizeof(struct page) on typical x86-64 and arm64 configurations (reference §9). */
export const STRUCT_PAGE_SIZE = 64;

/** Struct page memory of a page map: (range pages) * sizeof(struct page). */
export function pgmapStructPageBytes(pgmap: DevPagemap): number {
  return Math.floor((pgmap.range.end - pgmap.range.start + 1) / PAGE_SIZE) * STRUCT_PAGE_SIZE;
}

export class Memmap {
  /** Live page maps, sorted by range start. */
  private readonly maps: DevPagemap[] = [];

  /** @param mem the machine's address map; without it every pfn outside a page map is RAM. */
  constructor(readonly mem?: PhysMemoryMap) {}

  /** The live page maps, by address. */
  get pagemaps(): readonly DevPagemap[] {
    return this.maps;
  }

  /**
   * The range checks memremap_pages() makes for one range (mm/memremap.c pagemap_range() and,
   * through x86 arch_add_memory(), mm/memory_hotplug.c __add_pages(), v6.x), then registers the
   * page map. Refuses a range whose first or last pfn already belongs to a page map ("Conflicting
   * mapping in same section", -ENOMEM) and one whose start pfn or page count is not a multiple of
   * PAGES_PER_SUBSECTION (check_pfn_span(): "Misaligned __add_pages start: %#lx end: %#lx",
   * -EINVAL; v5.4-v6.0 printed the end as "#%lx", a format typo fixed later). Both are WARN()s.
   * Returns 0 or -errno. Not modelled: the System RAM overlap check (-ENXIO), mhp_range_allowed().
   */
  memremapPages(pgmap: DevPagemap, log?: KernelLog): number {
    const { start, end } = pgmap.range;
    const firstPfn = Math.floor(start / PAGE_SIZE);
    const lastPfn = Math.floor(end / PAGE_SIZE);
    if (this.pgmapOfPfn(firstPfn) || this.pgmapOfPfn(lastPfn)) {
      log?.warn(undefined, 'Conflicting mapping in same section');
      return -ENOMEM;
    }
    const nrPages = Math.floor((end - start + 1) / PAGE_SIZE);
    if (firstPfn % PAGES_PER_SUBSECTION !== 0 || nrPages % PAGES_PER_SUBSECTION !== 0) {
      log?.warn(
        undefined,
        `Misaligned __add_pages start: ${printkHex(firstPfn)} end: ${printkHex(firstPfn + nrPages - 1)}`,
      );
      return -EINVAL;
    }
    let i = this.maps.length;
    while (i > 0 && this.maps[i - 1]!.range.start > start) i--;
    this.maps.splice(i, 0, pgmap);
    return 0;
  }

  /** memunmap_pages(): the page map's pfns have no struct pages any more. */
  memunmapPages(pgmap: DevPagemap): void {
    const i = this.maps.indexOf(pgmap);
    if (i < 0) throw new Error('memunmap_pages: the page map is not registered');
    this.maps.splice(i, 1);
  }

  /** get_dev_pagemap(pfn): the page map holding `pfn`, if any (binary search). */
  pgmapOfPfn(pfn: number): DevPagemap | undefined {
    const phys = pfn * PAGE_SIZE;
    let lo = 0;
    let hi = this.maps.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.maps[mid]!;
      if (phys < m.range.start) hi = mid - 1;
      else if (phys > m.range.end) lo = mid + 1;
      else return m;
    }
    return undefined;
  }

  /** pfn_valid(pfn): RAM, or inside a page map. */
  pfnValid(pfn: number): boolean {
    if (this.pgmapOfPfn(pfn)) return true;
    return this.mem ? this.mem.ramAt(pfn * PAGE_SIZE) !== undefined : true;
  }

  /**
   * pfn_to_page(pfn), made on demand. Throws for a pfn without a struct page (a BAR outside any
   * page map, or a hole): the kernel would hand out garbage, the model calls it misuse.
   */
  pfnToPage(pfn: number): Page {
    const pgmap = this.pgmapOfPfn(pfn);
    if (pgmap) return new Page(pfn, pgmap);
    if (this.mem && !this.mem.ramAt(pfn * PAGE_SIZE)) {
      throw new RangeError(`pfn_to_page: pfn 0x${pfn.toString(16)} has no struct page`);
    }
    return new Page(pfn);
  }

  /** The struct page memory every live ZONE_DEVICE page map costs (reference §9). */
  structPageBytes(): number {
    let n = 0;
    for (const m of this.maps) n += pgmapStructPageBytes(m);
    return n;
  }
}
