/**
 * Pinning user pages (mm/gup.ts): reference §5.4 (FOLL_PCI_P2PDMA gates P2PDMA pages; fast GUP
 * falls back to slow GUP, which fails with -EREMOTEIO; FOLL_LONGTERM | FOLL_PCI_P2PDMA is
 * refused), §6.4 end (a resourceN mapping is PFNMAP and cannot be pinned), §2.4 (pages of a
 * p2pmem mapping are normal struct-page mappings).
 */
import fc from 'fast-check';
import { EFAULT, EINVAL, EOPNOTSUPP, EREMOTEIO } from '../src/errno';
import {
  FOLL_LONGTERM,
  FOLL_PCI_P2PDMA,
  FOLL_PIN,
  FOLL_WRITE,
  pinUserPages,
  pinUserPagesFast,
  unpinUserPages,
} from '../src/mm/gup';
import { MAP_FIXED, MAP_SHARED, mmapAnonymous, mmapPfnRange, PROT_READ } from '../src/mm/mm';
import { Page, type Page as PageT } from '../src/mm/page';
import { p2pmemMmap } from '../src/p2pdma/p2pmem-mmap';
import { NVME0_PFN, p2pmemMachine, RAM_PFN } from './helpers/p2pmem';

const SEED = Number(process.env.FC_SEED ?? 20261121);

/** Two RAM pages at `a`, followed at a + 8 KiB by two pages of nvme0's P2P memory. */
function ramThenP2p() {
  const m = p2pmemMachine();
  const a = mmapAnonymous(m.mm, [RAM_PFN, RAM_PFN + 1]);
  const b = p2pmemMmap(m.p2p, m.nvme0, m.mm, {
    len: 8192,
    addr: a + 8192,
    flags: MAP_SHARED | MAP_FIXED,
  });
  expect(b).toBe(a + 8192);
  return { ...m, a };
}

describe('§5.4 FOLL_PCI_P2PDMA gates P2PDMA pages', () => {
  it('pins RAM pages: each refcount goes 1 -> 1 + 1024; unpin restores 1', () => {
    const { mm, refs } = p2pmemMachine();
    const a = mmapAnonymous(mm, [RAM_PFN, RAM_PFN + 1, RAM_PFN + 2]);
    const pages: PageT[] = [];
    expect(pinUserPagesFast(mm, a, 3, FOLL_WRITE, pages)).toBe(3);
    expect(pages.map((p) => p.pfn)).toEqual([RAM_PFN, RAM_PFN + 1, RAM_PFN + 2]);
    expect(refs.refCount(pages[0]!)).toBe(1025);
    unpinUserPages(refs, pages);
    expect(refs.refCount(pages[0]!)).toBe(1);
  });

  it('without FOLL_PCI_P2PDMA a buffer in P2P memory fails with -EREMOTEIO and pins nothing', () => {
    const { mm, refs, p2p, nvme0 } = p2pmemMachine();
    const a = p2pmemMmap(p2p, nvme0, mm, { len: 8192 });
    const pages: PageT[] = [];
    // GUP-fast refuses the first page, slow GUP's try_grab_folio() returns -EREMOTEIO for it.
    expect(pinUserPagesFast(mm, a, 2, FOLL_WRITE, pages)).toBe(-EREMOTEIO);
    expect(pages).toEqual([]);
    expect(pinUserPages(mm, a, 2, 0, pages)).toBe(-EREMOTEIO);
    // The mapping's reference only: 1.
    expect(refs.refCount(p2p.memmap.pfnToPage(NVME0_PFN))).toBe(1);
  });

  it('with FOLL_PCI_P2PDMA the P2P pages are pinned like any page (1 -> 1025)', () => {
    const { mm, refs, p2p, nvme0 } = p2pmemMachine();
    const a = p2pmemMmap(p2p, nvme0, mm, { len: 8192 });
    const pages: PageT[] = [];
    expect(pinUserPagesFast(mm, a, 2, FOLL_WRITE | FOLL_PCI_P2PDMA, pages)).toBe(2);
    // First fit from the BAR start: pfns 0x1000_0000 and 0x1000_0001, in nvme0's page map.
    expect(pages.map((p) => p.pfn)).toEqual([NVME0_PFN, NVME0_PFN + 1]);
    expect(pages[0]!.pgmap).toBe(p2p.get(nvme0)!.pgmaps[0]);
    expect(refs.refCount(pages[1]!)).toBe(1025);
    unpinUserPages(refs, pages);
    expect(refs.refCount(pages[1]!)).toBe(1);
  });

  it('RAM then P2P without the flag: the RAM pages pinned before the refusal are the result (2)', () => {
    const { mm, refs, a } = ramThenP2p();
    const pages: PageT[] = [];
    // GUP-fast pins RAM_PFN and RAM_PFN + 1, stops at the P2P page; the slow path fails there with
    // -EREMOTEIO, and gup_fast_fallback() returns the 2 already pinned instead.
    expect(pinUserPagesFast(mm, a, 4, 0, pages)).toBe(2);
    expect(pages.map((p) => p.pfn)).toEqual([RAM_PFN, RAM_PFN + 1]);
    expect(refs.refCount(new Page(RAM_PFN + 1))).toBe(1025);
    // The slow-only entry point returns the same partial count ("i ? i : ret").
    const slow: PageT[] = [];
    expect(pinUserPages(mm, a, 4, 0, slow)).toBe(2);
    expect(refs.refCount(new Page(RAM_PFN + 1))).toBe(2049);
    // Starting at the P2P page instead: nothing before it, so the error itself.
    expect(pinUserPagesFast(mm, a + 8192, 2, 0, [])).toBe(-EREMOTEIO);
  });

  it(`property: without the flag the result is the index of the first P2P page (fast-check seed ${SEED})`, () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 10 }),
        fc.boolean(),
        (kinds, allow) => {
          // kinds[i] true = page i of the buffer is P2P memory; each run is its own mapping.
          const { mm, refs, p2p, nvme0 } = p2pmemMachine();
          const base = 0x10_0000_0000;
          let ram = RAM_PFN;
          for (let i = 0; i < kinds.length; i++) {
            const addr = base + i * 4096;
            const r = kinds[i]
              ? p2pmemMmap(p2p, nvme0, mm, { len: 4096, addr, flags: MAP_SHARED | MAP_FIXED })
              : mmapAnonymous(mm, [ram++], { addr });
            expect(r).toBe(addr);
          }
          const pages: PageT[] = [];
          const got = pinUserPagesFast(mm, base, kinds.length, allow ? FOLL_PCI_P2PDMA : 0, pages);
          const firstP2p = kinds.indexOf(true);
          const want =
            allow || firstP2p < 0 ? kinds.length : firstP2p === 0 ? -EREMOTEIO : firstP2p;
          expect(got).toBe(want);
          const pinned = Math.max(got, 0);
          for (let i = 0; i < pinned; i++) expect(refs.refCount(pages[i]!)).toBe(1025);
          unpinUserPages(refs, pages);
          for (const v of mm.vmas)
            for (const pte of v.ptes) expect(refs.refCount(pte!.page!)).toBe(1);
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });
});

describe('§5.4 FOLL_LONGTERM | FOLL_PCI_P2PDMA', () => {
  it('v6.3+ (default): an invalid argument, with a WARN: pin_user_pages_fast -EINVAL, pin_user_pages 0', () => {
    const { mm, refs, p2p, nvme0, log } = p2pmemMachine();
    const a = p2pmemMmap(p2p, nvme0, mm, { len: 8192 });
    const pages: PageT[] = [];
    expect(pinUserPagesFast(mm, a, 2, FOLL_LONGTERM | FOLL_PCI_P2PDMA, pages)).toBe(-EINVAL);
    expect(pinUserPages(mm, a, 2, FOLL_LONGTERM | FOLL_PCI_P2PDMA, pages)).toBe(0);
    expect(pages).toEqual([]);
    expect(refs.refCount(p2p.memmap.pfnToPage(NVME0_PFN))).toBe(1);
    // WARN_ON_ONCE: one message for both calls.
    expect(log.messages()).toEqual([
      {
        level: 'warn',
        msg: 'WARNING: at mm/gup.c is_valid_gup_args: WARN_ON_ONCE((gup_flags & FOLL_LONGTERM) && (gup_flags & FOLL_PCI_P2PDMA))',
      },
    ]);
  });

  it('v6.2: check_vma_flags() returns -EOPNOTSUPP on the slow path', () => {
    const { mm, p2p, nvme0 } = p2pmemMachine({ gupRelease: 'v6.2' });
    const a = p2pmemMmap(p2p, nvme0, mm, { len: 8192 });
    expect(pinUserPages(mm, a, 2, FOLL_LONGTERM | FOLL_PCI_P2PDMA, [])).toBe(-EOPNOTSUPP);
    // Also for RAM: the check is on the flags, not the pages.
    const r = mmapAnonymous(mm, [RAM_PFN]);
    expect(pinUserPages(mm, r, 1, FOLL_LONGTERM | FOLL_PCI_P2PDMA, [])).toBe(-EOPNOTSUPP);
  });

  it('v6.2: GUP-fast never reaches check_vma_flags(), so present pages are pinned (2)', () => {
    const { mm, refs, p2p, nvme0 } = p2pmemMachine({ gupRelease: 'v6.2' });
    const a = p2pmemMmap(p2p, nvme0, mm, { len: 8192 });
    const pages: PageT[] = [];
    expect(pinUserPagesFast(mm, a, 2, FOLL_LONGTERM | FOLL_PCI_P2PDMA, pages)).toBe(2);
    expect(refs.refCount(pages[0]!)).toBe(1025);
  });

  it('FOLL_LONGTERM alone pins RAM, and refuses P2P memory with -EREMOTEIO (no FOLL_PCI_P2PDMA)', () => {
    const { mm, p2p, nvme0 } = p2pmemMachine();
    const r = mmapAnonymous(mm, [RAM_PFN]);
    expect(pinUserPagesFast(mm, r, 1, FOLL_LONGTERM | FOLL_WRITE, [])).toBe(1);
    const a = p2pmemMmap(p2p, nvme0, mm, { len: 4096 });
    expect(pinUserPagesFast(mm, a, 1, FOLL_LONGTERM | FOLL_WRITE, [])).toBe(-EREMOTEIO);
  });
});

describe('§5.4 / §6.4 -EFAULT cases', () => {
  it('an unmapped address fails with -EFAULT; a buffer running past its mapping pins what is mapped', () => {
    const { mm, refs } = p2pmemMachine();
    expect(pinUserPagesFast(mm, 0x1000_0000, 1, 0, [])).toBe(-EFAULT);
    const a = mmapAnonymous(mm, [RAM_PFN, RAM_PFN + 1]);
    const pages: PageT[] = [];
    // 3 pages asked, 2 mapped (the page after them is mmap_base: unmapped): 2.
    expect(pinUserPagesFast(mm, a, 3, 0, pages)).toBe(2);
    expect(refs.refCount(new Page(RAM_PFN + 1))).toBe(1025);
  });

  it('a VM_PFNMAP | VM_IO mapping (resourceN) cannot be pinned, even with FOLL_PCI_P2PDMA', () => {
    const { mm } = p2pmemMachine();
    const a = mmapPfnRange(mm, NVME0_PFN, 2);
    // GUP-fast stops at the special pte; check_vma_flags() refuses VM_IO | VM_PFNMAP.
    expect(pinUserPagesFast(mm, a, 2, FOLL_PCI_P2PDMA, [])).toBe(-EFAULT);
    expect(pinUserPages(mm, a, 2, FOLL_PCI_P2PDMA, [])).toBe(-EFAULT);
  });

  it('FOLL_WRITE on a read-only mapping fails with -EFAULT; reading it works', () => {
    const { mm } = p2pmemMachine();
    const a = mmapAnonymous(mm, [RAM_PFN], { prot: PROT_READ });
    expect(pinUserPagesFast(mm, a, 1, FOLL_WRITE, [])).toBe(-EFAULT);
    expect(pinUserPagesFast(mm, a, 1, 0, [])).toBe(1);
  });

  it('callers may not pass internal flags: FOLL_PIN -> -EINVAL (fast) / 0 (slow)', () => {
    const { mm } = p2pmemMachine();
    const a = mmapAnonymous(mm, [RAM_PFN]);
    expect(pinUserPagesFast(mm, a, 1, FOLL_PIN, [])).toBe(-EINVAL);
    expect(pinUserPages(mm, a, 1, FOLL_PIN, [])).toBe(0);
  });

  it('an unaligned start pins the page holding it', () => {
    const { mm } = p2pmemMachine();
    const a = mmapAnonymous(mm, [RAM_PFN, RAM_PFN + 1]);
    const pages: PageT[] = [];
    expect(pinUserPagesFast(mm, a + 4100, 1, 0, pages)).toBe(1);
    expect(pages[0]!.pfn).toBe(RAM_PFN + 1);
  });
});
