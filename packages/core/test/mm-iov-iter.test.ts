/**
 * I/O iterators (mm/iov-iter.ts): reference §5.4 (iov_iter_extract_pages() translates
 * ITER_ALLOW_P2PDMA into FOLL_PCI_P2PDMA; a READ destination is pinned with FOLL_WRITE), plus the
 * iterator arithmetic the O_DIRECT path relies on (advance, revert, alignment, page counts).
 */
import { EFAULT, EREMOTEIO } from '../src/errno';
import { mmapAnonymous, PROT_READ } from '../src/mm/mm';
import {
  ITER_ALLOW_P2PDMA,
  ITER_DEST,
  ITER_SOURCE,
  IovIter,
  iovIterAdvance,
  iovIterCount,
  iovIterExtractPages,
  iovIterExtractWillPin,
  iovIterIsAligned,
  iovIterNpages,
  iovIterRevert,
  iovIterRw,
  MAX_RW_COUNT,
  READ,
  WRITE,
} from '../src/mm/iov-iter';
import { Page } from '../src/mm/page';
import { p2pmemMmap } from '../src/p2pdma/p2pmem-mmap';
import { NVME0_PFN, p2pmemMachine, RAM_PFN } from './helpers/p2pmem';

describe('§5.4 iov_iter_extract_pages on user memory', () => {
  it('pins the pages of a ubuf and reports the offset into the first', () => {
    const { mm, refs } = p2pmemMachine();
    const a = mmapAnonymous(mm, [RAM_PFN, RAM_PFN + 1, RAM_PFN + 2]);
    const it = IovIter.ubuf(mm, ITER_SOURCE, a + 100, 8192);
    expect(iovIterRw(it)).toBe(WRITE);
    expect(iovIterExtractWillPin(it)).toBe(true);
    const ex = iovIterExtractPages(it, 1 << 30, 16);
    // 8192 bytes from offset 100 span ceil((100 + 8192) / 4096) = 3 pages.
    expect(ex.offset).toBe(100);
    expect(ex.size).toBe(8192);
    expect(ex.pages.map((p) => p.pfn)).toEqual([RAM_PFN, RAM_PFN + 1, RAM_PFN + 2]);
    expect(refs.refCount(ex.pages[2]!)).toBe(1025);
    expect(iovIterCount(it)).toBe(0);
  });

  it('maxpages limits the size: 2 pages from offset 100 hold 8192 - 100 = 8092 bytes', () => {
    const { mm } = p2pmemMachine();
    const a = mmapAnonymous(mm, [RAM_PFN, RAM_PFN + 1, RAM_PFN + 2]);
    const it = IovIter.ubuf(mm, ITER_SOURCE, a + 100, 8192);
    const ex = iovIterExtractPages(it, 1 << 30, 2);
    expect(ex.size).toBe(8092);
    expect(iovIterCount(it)).toBe(100);
  });

  it('a P2P buffer: -EREMOTEIO without ITER_ALLOW_P2PDMA, its pages with it', () => {
    const { mm, p2p, nvme0 } = p2pmemMachine();
    const a = p2pmemMmap(p2p, nvme0, mm, { len: 8192 });
    const it = IovIter.ubuf(mm, ITER_SOURCE, a, 8192);
    expect(iovIterExtractPages(it, 8192, 2).size).toBe(-EREMOTEIO);
    // A failed extraction does not advance the iterator.
    expect(iovIterCount(it)).toBe(8192);
    const ex = iovIterExtractPages(it, 8192, 2, ITER_ALLOW_P2PDMA);
    expect(ex.size).toBe(8192);
    expect(ex.pages.map((p) => p.pfn)).toEqual([NVME0_PFN, NVME0_PFN + 1]);
  });

  it('a READ destination is pinned for writing: a read-only buffer gives -EFAULT', () => {
    const { mm } = p2pmemMachine();
    const a = mmapAnonymous(mm, [RAM_PFN], { prot: PROT_READ });
    const dest = IovIter.ubuf(mm, ITER_DEST, a, 4096);
    expect(iovIterRw(dest)).toBe(READ);
    expect(iovIterExtractPages(dest, 4096, 1).size).toBe(-EFAULT);
    // As the source of a WRITE the same buffer is only read: fine.
    expect(iovIterExtractPages(IovIter.ubuf(mm, ITER_SOURCE, a, 4096), 4096, 1).size).toBe(4096);
  });

  it('an empty iterator extracts 0 bytes; MAX_RW_COUNT = 0x7ffff000', () => {
    const { mm } = p2pmemMachine();
    expect(iovIterExtractPages(IovIter.ubuf(mm, ITER_SOURCE, 0x1000, 0), 4096, 1).size).toBe(0);
    expect(MAX_RW_COUNT).toBe(2 ** 31 - 4096);
  });

  it('an iovec extraction stops at the end of the first non-empty segment', () => {
    const { mm } = p2pmemMachine();
    const a = mmapAnonymous(mm, [RAM_PFN, RAM_PFN + 1]);
    const b = mmapAnonymous(mm, [RAM_PFN + 8]);
    const it = IovIter.iovec(mm, ITER_SOURCE, [
      { base: a, len: 0 },
      { base: a + 512, len: 4096 },
      { base: b, len: 1024 },
    ]);
    expect(iovIterCount(it)).toBe(5120);
    const ex = iovIterExtractPages(it, 1 << 20, 16);
    // The 4096 bytes at a + 512 span two pages; the third segment is left for the next call.
    expect([ex.size, ex.offset, ex.pages.length]).toEqual([4096, 512, 2]);
    expect(iovIterCount(it)).toBe(1024);
    const ex2 = iovIterExtractPages(it, 1 << 20, 16);
    expect([ex2.size, ex2.offset, ex2.pages[0]!.pfn]).toEqual([1024, 0, RAM_PFN + 8]);
  });
});

describe('iterator arithmetic', () => {
  it('advance and revert across iovec segments', () => {
    const { mm } = p2pmemMachine();
    const it = IovIter.iovec(mm, ITER_SOURCE, [
      { base: 0x10000, len: 1000 },
      { base: 0x20000, len: 3000 },
    ]);
    iovIterAdvance(it, 1500);
    // 1000 bytes finish segment 0, 500 go into segment 1.
    expect([it.seg, it.iovOffset, iovIterCount(it)]).toEqual([1, 500, 2500]);
    iovIterRevert(it, 700);
    // 500 back in segment 1, then 200 back into segment 0: offset 1000 - 200 = 800.
    expect([it.seg, it.iovOffset, iovIterCount(it)]).toEqual([0, 800, 3200]);
  });

  it('iov_iter_is_aligned checks each segment address against addr_mask and length against len_mask', () => {
    const { mm } = p2pmemMachine();
    const ok = IovIter.iovec(mm, ITER_SOURCE, [
      { base: 0x10004, len: 512 },
      { base: 0x20000, len: 1024 },
    ]);
    // dma_alignment 3 (NVMe): addresses 4-byte aligned; logical block 512: lengths multiples of 512.
    expect(iovIterIsAligned(ok, 3, 511)).toBe(true);
    // the default dma_alignment 511 refuses the address 0x10004.
    expect(iovIterIsAligned(ok, 511, 511)).toBe(false);
    const badLen = IovIter.iovec(mm, ITER_SOURCE, [{ base: 0x10000, len: 1000 }]);
    expect(iovIterIsAligned(badLen, 3, 511)).toBe(false);
    expect(iovIterIsAligned(IovIter.ubuf(mm, ITER_SOURCE, 0x10002, 512), 3, 511)).toBe(false);
  });

  it('iov_iter_npages counts the pages each segment spans', () => {
    const { mm } = p2pmemMachine();
    const it = IovIter.iovec(mm, ITER_SOURCE, [
      { base: 0x10f00, len: 512 }, // 0x10f00..0x110ff: 2 pages
      { base: 0x20000, len: 8192 }, // 2 pages
    ]);
    expect(iovIterNpages(it, 100)).toBe(4);
    expect(iovIterNpages(it, 3)).toBe(3);
    // ubuf at offset 0xf00 with 4096 bytes: ceil((0xf00 + 4096) / 4096) = 2.
    expect(iovIterNpages(IovIter.ubuf(mm, ITER_SOURCE, 0x10f00, 4096), 100)).toBe(2);
  });
});

describe('ITER_BVEC: kernel pages are listed, not pinned', () => {
  it('a multi-page bvec is extracted as its pages; a piece not ending on a page boundary stops it', () => {
    const p = new Page(RAM_PFN);
    const it = IovIter.bvecs(ITER_SOURCE, [
      { page: p, offset: 0, len: 8192 }, // pfns RAM_PFN, RAM_PFN + 1
      { page: new Page(RAM_PFN + 10), offset: 0, len: 1024 },
      { page: new Page(RAM_PFN + 20), offset: 0, len: 4096 },
    ]);
    expect(iovIterExtractWillPin(it)).toBe(false);
    const ex = iovIterExtractPages(it, 1 << 20, 16);
    // 4096 + 4096 + 1024: the 1024-byte piece does not end at a page boundary, so it ends the run.
    expect(ex.size).toBe(9216);
    expect(ex.pages.map((q) => q.pfn)).toEqual([RAM_PFN, RAM_PFN + 1, RAM_PFN + 10]);
    expect(iovIterCount(it)).toBe(4096);
    const ex2 = iovIterExtractPages(it, 1 << 20, 16);
    expect([ex2.size, ex2.pages[0]!.pfn]).toEqual([4096, RAM_PFN + 20]);
  });

  it('after the first page, a piece starting inside its page ends the run', () => {
    const it = IovIter.bvecs(ITER_SOURCE, [
      { page: new Page(RAM_PFN), offset: 0, len: 4096 },
      { page: new Page(RAM_PFN + 5), offset: 512, len: 512 },
    ]);
    const ex = iovIterExtractPages(it, 1 << 20, 16);
    expect([ex.size, ex.pages.length]).toEqual([4096, 1]);
    const ex2 = iovIterExtractPages(it, 1 << 20, 16);
    expect([ex2.size, ex2.offset, ex2.pages[0]!.pfn]).toEqual([512, 512, RAM_PFN + 5]);
  });
});
