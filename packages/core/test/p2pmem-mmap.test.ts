/**
 * mmap() of /sys/bus/pci/devices/<BDF>/p2pmem/allocate (p2pdma/p2pmem-mmap.ts): reference §2.4
 * (shared mapping only, offset 0 only, a fresh allocation per mmap, -ENOMEM when the pool is
 * exhausted, pages inserted as normal struct-page mappings owned by the VMA, munmap and the
 * release of pins return pages to the pool) and §9 (the page's refcount reaching zero calls the
 * page map's free op, which returns the page to genalloc).
 */
import { EINVAL, ENODEV, ENOMEM } from '../src/errno';
import { FOLL_PCI_P2PDMA, FOLL_WRITE, pinUserPagesFast, unpinUserPages } from '../src/mm/gup';
import {
  MAP_PRIVATE,
  MAP_SHARED,
  munmap,
  VM_MAYSHARE,
  VM_MIXEDMAP,
  VM_PFNMAP,
  VM_SHARED,
} from '../src/mm/mm';
import type { Page } from '../src/mm/page';
import { GenPool } from '../src/p2pdma/pool';
import { p2pmemSysfs } from '../src/p2pdma/provider';
import { P2PMEM_ALLOCATE_SIZE, p2pmemAllocatePath, p2pmemMmap } from '../src/p2pdma/p2pmem-mmap';
import { MiB, NVME0_PFN, p2pmemMachine } from './helpers/p2pmem';

const KiB = 1024;

function available(m: ReturnType<typeof p2pmemMachine>): string {
  return p2pmemSysfs(m.p2p, m.nvme0)!.available;
}

describe('§2.4 p2pmem/allocate: what the mapping is', () => {
  it('maps freshly allocated pool pages as a shared, VM_MIXEDMAP (not PFNMAP) mapping the VMA owns', () => {
    const m = p2pmemMachine();
    const a = p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 64 * KiB });
    expect(a).toBeGreaterThan(0);
    const vma = m.mm.vmaLookup(a)!;
    expect(vma.name).toBe('/sys/bus/pci/devices/0000:01:00.0/p2pmem/allocate');
    expect(vma.name).toBe(p2pmemAllocatePath(m.nvme0));
    expect(vma.vmFlags & (VM_SHARED | VM_MAYSHARE | VM_MIXEDMAP)).toBe(
      VM_SHARED | VM_MAYSHARE | VM_MIXEDMAP,
    );
    expect(vma.vmFlags & VM_PFNMAP).toBe(0);
    // 64 KiB = 16 pages; first fit from the BAR start: pfns 0x1000_0000 .. 0x1000_000f.
    expect(vma.ptes.map((p) => p!.pfn)).toEqual(
      Array.from({ length: 16 }, (_, i) => NVME0_PFN + i),
    );
    // set_page_count(1), vm_insert_page (+1), put_page (-1): the VMA's reference only.
    for (const pte of vma.ptes) expect(m.refs.refCount(pte!.page!)).toBe(1);
    expect(vma.ptes[0]!.page!.pgmap).toBe(m.p2p.get(m.nvme0)!.pgmaps[0]);
    // 2 MiB - 64 KiB = 2097152 - 65536 = 2031616.
    expect(available(m)).toBe('2031616\n');
    expect(P2PMEM_ALLOCATE_SIZE).toBe(2 ** 40);
  });

  it('each mmap is a fresh allocation: two mappings get different pages', () => {
    const m = p2pmemMachine();
    const a = p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 64 * KiB });
    const b = p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 64 * KiB });
    // The second allocation is the next 16 pages: pfns 0x1000_0010 ...
    expect(m.mm.followPte(a)!.pte!.pfn).toBe(NVME0_PFN);
    expect(m.mm.followPte(b)!.pte!.pfn).toBe(NVME0_PFN + 16);
    // 2 MiB - 128 KiB = 2097152 - 131072 = 1966080.
    expect(available(m)).toBe('1966080\n');
  });

  it('a length that is not a page multiple allocates whole pages', () => {
    const m = p2pmemMachine();
    p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 5000 });
    // PAGE_ALIGN(5000) = 8192: 2097152 - 8192 = 2088960.
    expect(available(m)).toBe('2088960\n');
  });
});

describe('§2.4 p2pmem/allocate: refusals', () => {
  it('a private mapping: "<comm>: fail, attempted private mapping", -EINVAL, nothing allocated', () => {
    const m = p2pmemMachine();
    expect(p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 8192, flags: MAP_PRIVATE })).toBe(-EINVAL);
    expect(m.log.messages()).toEqual([
      { level: 'info', dev: '0000:01:00.0', msg: 'fio: fail, attempted private mapping' },
    ]);
    expect(available(m)).toBe('2097152\n');
    expect(m.mm.vmas).toEqual([]);
  });

  it('a non-zero offset: "<comm>: fail, attempted mapping with non-zero offset", -EINVAL', () => {
    const m = p2pmemMachine();
    expect(p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 8192, offset: 4096 })).toBe(-EINVAL);
    expect(m.log.messages()).toEqual([
      {
        level: 'info',
        dev: '0000:01:00.0',
        msg: 'fio: fail, attempted mapping with non-zero offset',
      },
    ]);
    // An offset that is not page-aligned never reaches the driver (do_mmap): -EINVAL, no message.
    m.log.clear();
    expect(p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 8192, offset: 100 })).toBe(-EINVAL);
    expect(m.log.messages()).toEqual([]);
    expect(available(m)).toBe('2097152\n');
  });

  it('the private check comes before the offset check', () => {
    const m = p2pmemMachine();
    expect(p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 8192, flags: MAP_PRIVATE, offset: 4096 })).toBe(
      -EINVAL,
    );
    expect(m.log.messages().map((e) => e.msg)).toEqual(['fio: fail, attempted private mapping']);
  });

  it('a device without p2pdma state: -ENODEV', () => {
    const m = p2pmemMachine();
    expect(p2pmemMmap(m.p2p, m.nvme2, m.mm, { len: 8192 })).toBe(-ENODEV);
    expect(m.mm.vmas).toEqual([]);
  });

  it('the pool exhausted: -ENOMEM, and the failed mmap leaves no VMA', () => {
    const m = p2pmemMachine();
    expect(p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 2 * MiB })).toBeGreaterThan(0);
    expect(available(m)).toBe('0\n');
    expect(p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 4096 })).toBe(-ENOMEM);
    expect(m.mm.vmas).toHaveLength(1);
  });

  it('more than the pool holds in one go: -ENOMEM, though the other provider has room', () => {
    const m = p2pmemMachine();
    // 2 MiB + 4 KiB > 2 MiB pool.
    expect(p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 2 * MiB + 4096 })).toBe(-ENOMEM);
    expect(p2pmemMmap(m.p2p, m.nvme1, m.mm, { len: 2 * MiB })).toBeGreaterThan(0);
  });

  it('P2P memory without struct pages (no live page map owns the chunk): -ENODEV, memory given back', () => {
    const m = p2pmemMachine();
    const state = m.p2p.setup(m.nvme2);
    const pool = new GenPool(12);
    pool.addOwner(2 ** 52 + 0x100_0040_0000, 0x100_0040_0000, 1 * MiB, 'wc-mapping');
    state.pool = pool;
    expect(p2pmemMmap(m.p2p, m.nvme2, m.mm, { len: 8192 })).toBe(-ENODEV);
    expect(pool.available).toBe(1 * MiB);
  });
});

describe('§2.4 munmap returns pages to the pool; pinned pages only when unpinned (§9 page free)', () => {
  it('munmap restores `available`', () => {
    const m = p2pmemMachine();
    const a = p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 64 * KiB });
    expect(available(m)).toBe('2031616\n');
    expect(munmap(m.mm, a, 64 * KiB)).toBe(0);
    expect(available(m)).toBe('2097152\n');
    expect(m.refs.size).toBe(0);
  });

  it('a partial munmap gives back exactly the unmapped pages', () => {
    const m = p2pmemMachine();
    const a = p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 16 * KiB });
    // Unmap the 2nd and 3rd of 4 pages: 2097152 - 16384 + 8192 = 2088960.
    expect(munmap(m.mm, a + 4096, 8192)).toBe(0);
    expect(available(m)).toBe('2088960\n');
    // Freed pages are reused first-fit: a new 8 KiB mapping gets pfns 0x1000_0001 and 0x1000_0002.
    const b = p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 8192, flags: MAP_SHARED });
    expect(m.mm.vmaLookup(b)!.ptes.map((p) => p!.pfn)).toEqual([NVME0_PFN + 1, NVME0_PFN + 2]);
  });

  it('pinned pages go back only when the last pin is dropped (refcount 1025 -> 1024 -> 0)', () => {
    const m = p2pmemMachine();
    const a = p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 8192 });
    const pages: Page[] = [];
    expect(pinUserPagesFast(m.mm, a, 2, FOLL_WRITE | FOLL_PCI_P2PDMA, pages)).toBe(2);
    expect(m.refs.refCount(pages[0]!)).toBe(1025);
    expect(munmap(m.mm, a, 8192)).toBe(0);
    // The pte's reference is gone, the pin (1024) keeps the pages out of the pool.
    expect(m.refs.refCount(pages[0]!)).toBe(1024);
    expect(available(m)).toBe('2088960\n');
    unpinUserPages(m.refs, pages.slice(0, 1));
    // One page back: 2088960 + 4096 = 2093056.
    expect(available(m)).toBe('2093056\n');
    unpinUserPages(m.refs, pages.slice(1));
    expect(available(m)).toBe('2097152\n');
  });
});
