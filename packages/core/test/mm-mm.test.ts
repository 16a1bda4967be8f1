/**
 * The user address space model (mm/mm.ts, mm/page-ref.ts): VMAs, anonymous mappings of chosen RAM
 * pages, PFNMAP mappings, munmap and the page references ptes hold. Reference §2.4 (what a
 * struct-page mapping is, as opposed to PFNMAP), §5.4 and §6.4 end (resourceN is PFNMAP).
 */
import { EINVAL, ENOMEM } from '../src/errno';
import {
  DEFAULT_MMAP_BASE,
  doMmap,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  mmapAnonymous,
  mmapPfnRange,
  munmap,
  MmStruct,
  PROT_READ,
  TASK_SIZE,
  VM_DONTDUMP,
  VM_DONTEXPAND,
  VM_IO,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from '../src/mm/mm';
import { Page } from '../src/mm/page';
import { GUP_PIN_COUNTING_BIAS, PageRefs } from '../src/mm/page-ref';
import { NVME0_PFN, p2pmemMachine, RAM_PFN } from './helpers/p2pmem';

const KiB = 1024;

describe('mmapAnonymous: RAM pages chosen by the scenario (§5.4)', () => {
  it('places mappings top-down from mmap_base and gives each page one reference', () => {
    const { mm, refs } = p2pmemMachine();
    const a = mmapAnonymous(mm, [RAM_PFN, RAM_PFN + 1, RAM_PFN + 2, RAM_PFN + 3]);
    // 4 pages = 16 KiB just below mmap_base 0x7f00_0000_0000: 0x7eff_ffff_c000.
    expect(a).toBe(DEFAULT_MMAP_BASE - 16 * KiB);
    expect(a).toBe(0x7eff_ffff_c000);
    const b = mmapAnonymous(mm, [RAM_PFN + 10, RAM_PFN + 11]);
    // the next 8 KiB go right below the first mapping: 0x7eff_ffff_c000 - 0x2000.
    expect(b).toBe(0x7eff_ffff_a000);
    const vma = mm.vmaLookup(a + 5 * KiB)!;
    expect(vma.vmStart).toBe(a);
    expect(vma.vmEnd).toBe(a + 16 * KiB);
    // PROT_READ|PROT_WRITE private: VM_READ|VM_WRITE|VM_MAYREAD|VM_MAYWRITE|VM_MAYEXEC
    // = 0x1|0x2|0x10|0x20|0x40 = 0x73, neither VM_SHARED nor VM_MAYSHARE.
    expect(vma.vmFlags).toBe(0x73);
    expect(vma.vmFlags).toBe(VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC);
    expect(vma.pteAt(a + 4096)).toMatchObject({ pfn: RAM_PFN + 1, write: true });
    expect(refs.refCount(new Page(RAM_PFN + 2))).toBe(1);
    expect(refs.size).toBe(6);
  });

  it('maps the same RAM page twice with two references', () => {
    const { mm, refs } = p2pmemMachine();
    mmapAnonymous(mm, [RAM_PFN]);
    mmapAnonymous(mm, [RAM_PFN]);
    expect(refs.refCount(new Page(RAM_PFN))).toBe(2);
  });

  it('refuses ZONE_DEVICE pfns: anonymous memory is RAM', () => {
    const { mm } = p2pmemMachine();
    expect(() => mmapAnonymous(mm, [NVME0_PFN])).toThrow(/ZONE_DEVICE/);
  });

  it('MAP_FIXED replaces what was mapped there, dropping its references', () => {
    const { mm, refs } = p2pmemMachine();
    const a = mmapAnonymous(mm, [RAM_PFN, RAM_PFN + 1]);
    expect(mmapAnonymous(mm, [RAM_PFN + 7], { addr: a + 4096 })).toBe(a + 4096);
    // RAM_PFN + 1 was unmapped (1 -> 0), RAM_PFN stays in the head of the split VMA.
    expect(refs.refCount(new Page(RAM_PFN + 1))).toBe(0);
    expect(refs.refCount(new Page(RAM_PFN))).toBe(1);
    expect(mm.vmas.map((v) => [v.vmStart - a, v.vmEnd - a])).toEqual([
      [0, 4096],
      [4096, 8192],
    ]);
    expect(mm.followPte(a + 4096)!.pte!.pfn).toBe(RAM_PFN + 7);
  });
});

describe('munmap (do_vmi_munmap)', () => {
  it('unmapping a middle page splits the VMA; the tail keeps its file offset', () => {
    const { mm, refs } = p2pmemMachine();
    const a = mmapAnonymous(mm, [RAM_PFN, RAM_PFN + 1, RAM_PFN + 2]);
    expect(munmap(mm, a + 4096, 4096)).toBe(0);
    const [head, tail] = mm.vmas;
    expect([head!.vmStart, head!.vmEnd]).toEqual([a, a + 4096]);
    expect([tail!.vmStart, tail!.vmEnd]).toEqual([a + 8192, a + 12288]);
    // the tail starts 2 pages into the original mapping: vm_pgoff 0 + 2.
    expect(tail!.vmPgoff).toBe(2);
    expect(tail!.pteAt(a + 8192)!.pfn).toBe(RAM_PFN + 2);
    expect(refs.refCount(new Page(RAM_PFN + 1))).toBe(0);
    expect(mm.vmaLookup(a + 4096)).toBeUndefined();
  });

  it('rounds the length up to pages, accepts holes, and rejects bad arguments with -EINVAL', () => {
    const { mm, refs } = p2pmemMachine();
    const a = mmapAnonymous(mm, [RAM_PFN, RAM_PFN + 1]);
    expect(munmap(mm, a + 1, 4096)).toBe(-EINVAL); // address not page-aligned
    expect(munmap(mm, a, 0)).toBe(-EINVAL); // length 0
    expect(munmap(mm, TASK_SIZE, 8192)).toBe(-EINVAL); // past TASK_SIZE
    // 1 byte rounds up to one page: only RAM_PFN goes.
    expect(munmap(mm, a, 1)).toBe(0);
    expect(refs.refCount(new Page(RAM_PFN))).toBe(0);
    expect(refs.refCount(new Page(RAM_PFN + 1))).toBe(1);
    // a range that is partly a hole is fine.
    expect(munmap(mm, a - 65536, 65536 + 8192)).toBe(0);
    expect(mm.vmas).toEqual([]);
    expect(refs.size).toBe(0);
  });
});

describe('do_mmap checks', () => {
  it('refuses length 0 and a mapping type that is neither shared nor private', () => {
    const { mm } = p2pmemMachine();
    expect(doMmap(mm, { len: 0, prot: PROT_READ, flags: MAP_PRIVATE })).toBe(-EINVAL);
    expect(doMmap(mm, { len: 4096, prot: PROT_READ, flags: 0 })).toBe(-EINVAL);
    expect(
      doMmap(mm, { len: 4096, prot: PROT_READ, flags: MAP_PRIVATE | MAP_FIXED, addr: 100 }),
    ).toBe(-EINVAL);
  });

  it('a shared mapping gets VM_SHARED | VM_MAYSHARE; of a read-only file, only VM_MAYSHARE', () => {
    const { mm } = p2pmemMachine();
    const a = doMmap(mm, { len: 4096, prot: PROT_READ, flags: MAP_SHARED });
    // VM_READ|VM_MAYREAD|VM_MAYWRITE|VM_MAYEXEC|VM_SHARED|VM_MAYSHARE = 0x1|0x10|0x20|0x40|0x8|0x80 = 0xf9
    expect(mm.vmaLookup(a)!.vmFlags).toBe(0xf9);
    const b = doMmap(mm, { len: 4096, prot: PROT_READ, flags: MAP_SHARED, fileWritable: false });
    // 0xf9 without VM_MAYWRITE (0x20) and VM_SHARED (0x8): 0xd1
    expect(mm.vmaLookup(b)!.vmFlags).toBe(0xd1);
    expect(mm.vmaLookup(b)!.vmFlags & VM_MAYSHARE).toBe(VM_MAYSHARE);
    expect(mm.vmaLookup(b)!.vmFlags & VM_SHARED).toBe(0);
  });

  it('runs out of address space with -ENOMEM', () => {
    // mmap_base 0x20000 leaves [mmap_min_addr 0x10000, 0x20000): 16 pages.
    const mm = new MmStruct(new PageRefs(), { mmapBase: 0x20000 });
    expect(doMmap(mm, { len: 16 * 4096, prot: PROT_READ, flags: MAP_PRIVATE })).toBe(0x10000);
    expect(doMmap(mm, { len: 4096, prot: PROT_READ, flags: MAP_PRIVATE })).toBe(-ENOMEM);
  });

  it('undoes the VMA when the file mmap fails', () => {
    const { mm } = p2pmemMachine();
    expect(doMmap(mm, { len: 4096, prot: PROT_READ, flags: MAP_SHARED }, () => -ENOMEM)).toBe(
      -ENOMEM,
    );
    expect(mm.vmas).toEqual([]);
  });
});

describe('§6.4 end: a BAR mapped through resourceN is VM_PFNMAP', () => {
  it('remap_pfn_range ptes have no struct page and take no references', () => {
    const { mm, refs } = p2pmemMachine();
    const a = mmapPfnRange(mm, NVME0_PFN, 4, {
      name: '/sys/bus/pci/devices/0000:01:00.0/resource2',
    });
    const vma = mm.vmaLookup(a)!;
    const want = VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP;
    expect(vma.vmFlags & want).toBe(want);
    expect(vma.pteAt(a + 3 * 4096)).toEqual({ pfn: NVME0_PFN + 3, page: undefined, write: true });
    expect(refs.size).toBe(0);
    expect(munmap(mm, a, 4 * 4096)).toBe(0);
  });
});

describe('page references (page-ref.ts)', () => {
  it('a pin is GUP_PIN_COUNTING_BIAS = 1024 references; folio_maybe_dma_pinned() from 1024 on', () => {
    const refs = new PageRefs();
    const p = new Page(RAM_PFN);
    refs.setPageCount(p, 1);
    expect(refs.maybeDmaPinned(p)).toBe(false);
    refs.refAdd(p, GUP_PIN_COUNTING_BIAS);
    expect(refs.refCount(p)).toBe(1025);
    expect(refs.maybeDmaPinned(p)).toBe(true);
    refs.putRefs(p, 1);
    expect(refs.refCount(p)).toBe(1024);
    expect(refs.maybeDmaPinned(p)).toBe(true);
    expect(() => refs.putRefs(p, 1025)).toThrow(/cannot drop 1025/);
  });

  it('the last put of a ZONE_DEVICE page calls its page map ops.pageFree', () => {
    const { p2p } = p2pmemMachine();
    const refs = new PageRefs();
    const pgmap = p2p.memmap.pgmapOfPfn(NVME0_PFN)!;
    const freed: number[] = [];
    refs.setPagemapOps(pgmap, { pageFree: (page) => freed.push(page.pfn) });
    const page = p2p.memmap.pfnToPage(NVME0_PFN + 5);
    refs.setPageCount(page, 2);
    refs.putRefs(page);
    expect(freed).toEqual([]);
    refs.putRefs(page);
    expect(freed).toEqual([NVME0_PFN + 5]);
  });
});
