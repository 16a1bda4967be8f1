/**
 * Scatterlist tables (reference §3.1) and sg_alloc_*_table_from_pages (reference §10.1):
 * max_segment rounding, chunking, offsets and lengths, page-map boundaries, appending, end marks,
 * and the 128-slot chained allocations of __sg_alloc_table() and get_next_sg().
 *
 * Cases marked "main.c" come from the kernel's userspace harness, tools/testing/scatterlist/main.c
 * (its pfn(...) vectors, offset 0); the expected entries are worked out here from the rules.
 * PAGE_SIZE is 4096 throughout.
 */
import fc from 'fast-check';
import { EINVAL } from '../src/errno';
import {
  MEMORY_DEVICE_PCI_P2PDMA,
  Page,
  PAGE_SIZE,
  pagesFromPfns,
  type DevPagemap,
} from '../src/mm/page';
import {
  SG_CHAIN,
  SG_MAX_SINGLE_ALLOC,
  SgAppendTable,
  sgAllocAppendTableFromPages,
  sgAllocTable,
  sgAllocTableFromPages,
  sgAllocTableFromPagesSegment,
  sgEntries,
  sgIsChain,
  sgIsLast,
  sgNents,
  sgNext,
  sgPhys,
  SgTable,
  type Scatterlist,
} from '../src/scatterlist/scatterlist';

const UINT_MAX = 0xffff_ffff;
const SEED = Number(process.env.FC_SEED ?? 20261121);

interface Entry {
  pfn: number;
  offset: number;
  length: number;
}

/** The table's entries as (first pfn, offset, length), walking sg_next() from sgl. */
function entriesOf(sgt: SgTable): Entry[] {
  return sgEntries(sgt.sgl, sgt.origNents).map((s) => ({
    pfn: s.page!.pfn,
    offset: s.offset,
    length: s.length,
  }));
}

/** sgAllocTableFromPagesSegment() that must succeed; returns the table. */
function fromPages(pages: Page[], offset: number, size: number, maxSeg: number): SgTable {
  const sgt = new SgTable();
  expect(sgAllocTableFromPagesSegment(sgt, pages, offset, size, maxSeg)).toBe(0);
  return sgt;
}

/**
 * The slot count of each allocation of a table, in chain order: walks `sg + 1` (slotNext) to the
 * end of an allocation and follows its last slot when it is a chain entry.
 */
function allocations(sgl: Scatterlist | undefined): number[] {
  const sizes: number[] = [];
  let s = sgl;
  while (s) {
    let n = 1;
    let last = s;
    while (last.slotNext) {
      last = last.slotNext;
      n++;
    }
    sizes.push(n);
    s = sgIsChain(last) ? last.chainPtr : undefined;
  }
  return sizes;
}

/** pfns 0, 2, 4, ...: every page starts a new chunk. */
function discontiguous(n: number): Page[] {
  return pagesFromPfns(Array.from({ length: n }, (_, i) => 2 * i));
}

/** A P2PDMA-type page map over [startPfn, startPfn + nPages). */
function pgmapOver(startPfn: number, nPages: number): DevPagemap {
  return {
    type: MEMORY_DEVICE_PCI_P2PDMA,
    range: { start: startPfn * PAGE_SIZE, end: (startPfn + nPages) * PAGE_SIZE - 1 },
  };
}

describe('§10.1 max_segment is rounded down to a multiple of PAGE_SIZE', () => {
  test('0 and PAGE_SIZE - 1 round to 0 (< PAGE_SIZE): WARN and -EINVAL, table untouched (main.c)', () => {
    for (const maxSeg of [0, PAGE_SIZE - 1]) {
      const sgt = new SgTable();
      const warnings: string[] = [];
      const ret = sgAllocTableFromPagesSegment(sgt, pagesFromPfns([0]), 0, PAGE_SIZE, maxSeg, (m) =>
        warnings.push(m),
      );
      expect(ret).toBe(-EINVAL);
      expect(warnings).toHaveLength(1);
      expect(sgt.sgl).toBeUndefined();
      expect(sgt.nents).toBe(0);
    }
  });

  test('PAGE_SIZE + 1 behaves as PAGE_SIZE: one page per entry (main.c)', () => {
    // pfns 0,1,2 are contiguous; a 4096-byte limit closes each chunk after one page:
    // 3 entries of 4096 bytes, the same as max_segment = 4096.
    const pages = pagesFromPfns([0, 1, 2]);
    const expected = [0, 1, 2].map((pfn) => ({ pfn, offset: 0, length: 4096 }));
    expect(entriesOf(fromPages(pages, 0, 3 * PAGE_SIZE, PAGE_SIZE + 1))).toEqual(expected);
    expect(entriesOf(fromPages(pages, 0, 3 * PAGE_SIZE, PAGE_SIZE))).toEqual(expected);
    // main.c: one page, PAGE_SIZE + 1 -> 1 entry
    expect(fromPages(pagesFromPfns([0]), 0, PAGE_SIZE, PAGE_SIZE + 1).nents).toBe(1);
  });

  test('2 * PAGE_SIZE - 1 behaves as PAGE_SIZE', () => {
    // 8191 rounds down to 4096: pfns 0,1 give 2 entries, not 1.
    expect(fromPages(pagesFromPfns([0, 1]), 0, 2 * PAGE_SIZE, 2 * PAGE_SIZE - 1).nents).toBe(2);
  });

  test('UINT_MAX behaves as 0xFFFFF000: 2^20 contiguous pages make two entries', () => {
    // 0xFFFFF000 / 4096 = 0xFFFFF = 1048575 pages per chunk at most. 2^20 = 1048576 contiguous
    // pages: a chunk of 1048575 pages (length 0xFFFFF000) and a chunk of 1 page (4096).
    const n = 2 ** 20;
    const pfns = new Uint32Array(n);
    for (let i = 0; i < n; i++) pfns[i] = 0x100000 + i;
    const pages = pagesFromPfns(pfns);
    const expected = [
      { pfn: 0x100000, offset: 0, length: 0xfffff000 },
      { pfn: 0x100000 + 0xfffff, offset: 0, length: 4096 },
    ];
    expect(entriesOf(fromPages(pages, 0, n * PAGE_SIZE, UINT_MAX))).toEqual(expected);
    expect(entriesOf(fromPages(pages, 0, n * PAGE_SIZE, 0xfffff000))).toEqual(expected);
    // sg_alloc_table_from_pages() is the UINT_MAX variant
    const sgt = new SgTable();
    expect(sgAllocTableFromPages(sgt, pages, 0, n * PAGE_SIZE)).toBe(0);
    expect(entriesOf(sgt)).toEqual(expected);
  });
});

describe('§10.1 chunks: a new entry at a pfn discontinuity or when the chunk reached max_segment', () => {
  // The vectors of tools/testing/scatterlist/main.c (offset 0, size = pages * PAGE_SIZE unless
  // stated), with each expected entry count derived from the chunk rule.
  const S = UINT_MAX;
  const P = PAGE_SIZE;
  test.each([
    // [pfns, size, max_segment, expected entry count, why]
    [[0], P, S, 1, 'one page'],
    [[0], 1, S, 1, 'one page, 1 byte'],
    [[0, 1], 2 * P, S, 1, '1 follows 0'],
    [[1, 0], 2 * P, S, 2, '0 does not follow 1'],
    [[0, 1, 2], 3 * P, S, 1, 'one run'],
    [[0, 2, 1], 3 * P, S, 3, 'breaks at 2 and at 1'],
    [[0, 1, 3], 3 * P, S, 2, '{0,1} {3}'],
    [[1, 2, 4], 3 * P, S, 2, '{1,2} {4}'],
    [[1, 3, 4], 3 * P, S, 2, '{1} {3,4}'],
    [[0, 1, 3, 4], 4 * P, S, 2, '{0,1} {3,4}'],
    [[0, 1, 3, 4, 5], 5 * P, S, 2, '{0,1} {3,4,5}'],
    [[0, 1, 3, 4, 6], 5 * P, S, 3, '{0,1} {3,4} {6}'],
    [[0, 1, 2, 3, 4], 5 * P, S, 1, 'one run'],
    [[0, 1, 2, 3, 4], 5 * P, 2 * P, 3, '2-page chunks: {0,1} {2,3} {4}'],
    [[0, 1, 2, 3, 4, 5], 6 * P, 2 * P, 3, '{0,1} {2,3} {4,5}'],
    [[0, 2, 3, 4, 5, 6], 6 * P, 2 * P, 4, '{0} {2,3} {4,5} {6}'],
  ] as [number[], number, number, number, string][])(
    'main.c: pfns %j, size %d, max_segment %d -> %d entries (%s)',
    (pfns, size, maxSeg, n, _why) => {
      const sgt = fromPages(pagesFromPfns(pfns), 0, size, maxSeg);
      expect(sgt.nents).toBe(n);
      expect(sgt.origNents).toBe(n);
      expect(sgNents(sgt.sgl)).toBe(n);
    },
  );

  test('first entry starts at the offset; each length is min(size left, chunk pages * 4096 - offset)', () => {
    // pfns 10,11,12 | 20,21; offset 100; size 5 * 4096 - 100 - 200 = 20180 (the last page ends
    // 200 bytes early).
    // entry 0: pfn 10, offset 100, min(20180, 3 * 4096 - 100 = 12188) = 12188; left 7992
    // entry 1: pfn 20, offset 0, min(7992, 2 * 4096 = 8192) = 7992
    const sgt = fromPages(pagesFromPfns([10, 11, 12, 20, 21]), 100, 20180, UINT_MAX);
    expect(entriesOf(sgt)).toEqual([
      { pfn: 10, offset: 100, length: 12188 },
      { pfn: 20, offset: 0, length: 7992 },
    ]);
    // sg_phys() of the first entry: 10 * 4096 + 100 = 41060
    expect(sgPhys(sgt.sgl!)).toBe(41060);
  });

  test('max_segment chunks with an offset: the first chunk is short by the offset', () => {
    // pfns 0..4 contiguous, max_segment 2 pages, offset 100, size 5 * 4096 - 100 - 50 = 20330.
    // chunks {0,1} {2,3} {4}: 8192 - 100 = 8092 (left 12238), 8192 (left 4046), min(4046, 4096).
    const sgt = fromPages(pagesFromPfns([0, 1, 2, 3, 4]), 100, 20330, 2 * PAGE_SIZE);
    expect(entriesOf(sgt)).toEqual([
      { pfn: 0, offset: 100, length: 8092 },
      { pfn: 2, offset: 0, length: 8192 },
      { pfn: 4, offset: 0, length: 4046 },
    ]);
  });

  test('one page, 1 byte at offset 4095', () => {
    // chunk 4096 - 4095 = 1, size 1: one entry of 1 byte at phys 7 * 4096 + 4095 = 32767.
    const sgt = fromPages(pagesFromPfns([7]), 4095, 1, UINT_MAX);
    expect(entriesOf(sgt)).toEqual([{ pfn: 7, offset: 4095, length: 1 }]);
    expect(sgPhys(sgt.sgl!)).toBe(32767);
  });

  test('size is an unsigned long: once it runs out, later entries get whole chunks (SGL)', () => {
    // `size -= chunk_size` wraps below 0, and min_t(unsigned long, size, chunk) is then the chunk.
    // pfns 0,2,4, size 100: entry 0 min(100, 4096) = 100, size wraps; entries 1 and 2: 4096.
    expect(entriesOf(fromPages(pagesFromPfns([0, 2, 4]), 0, 100, UINT_MAX))).toEqual([
      { pfn: 0, offset: 0, length: 100 },
      { pfn: 2, offset: 0, length: 4096 },
      { pfn: 4, offset: 0, length: 4096 },
    ]);
    // Size used up exactly at a chunk end: size 0 is left, min(0, 4096) = 0 for the next entry.
    expect(entriesOf(fromPages(pagesFromPfns([0, 2]), 0, 4096, UINT_MAX))).toEqual([
      { pfn: 0, offset: 0, length: 4096 },
      { pfn: 2, offset: 0, length: 0 },
    ]);
  });
});

describe('§10.1 merging only within one page map (zone_device_pages_have_same_pgmap, v6.2+)', () => {
  // RAM up to pfn 0x7ffff; a P2P page map from pfn 0x80000 (2 GiB), 512 pages; a second page
  // map right after it, from pfn 0x80200.
  const p2pA = pgmapOver(0x80000, 512);
  const p2pB = pgmapOver(0x80200, 512);

  test('a RAM page followed by a P2P page of the next pfn: two entries', () => {
    const pages = [new Page(0x7ffff), new Page(0x80000, p2pA)];
    expect(entriesOf(fromPages(pages, 0, 2 * PAGE_SIZE, UINT_MAX))).toEqual([
      { pfn: 0x7ffff, offset: 0, length: 4096 },
      { pfn: 0x80000, offset: 0, length: 4096 },
    ]);
  });

  test('the last page of one page map and the first of the next: two entries', () => {
    const pages = [...pagesFromPfns([0x801fe, 0x801ff], p2pA), ...pagesFromPfns([0x80200], p2pB)];
    const sgt = fromPages(pages, 0, 3 * PAGE_SIZE, UINT_MAX);
    // {0x801fe, 0x801ff} in A (8192 bytes), {0x80200} in B
    expect(entriesOf(sgt)).toEqual([
      { pfn: 0x801fe, offset: 0, length: 8192 },
      { pfn: 0x80200, offset: 0, length: 4096 },
    ]);
    const [e0, e1] = sgEntries(sgt.sgl, 2);
    expect(e0!.page!.pgmap).toBe(p2pA);
    expect(e1!.page!.pgmap).toBe(p2pB);
  });

  test('consecutive pages of one page map merge', () => {
    const pages = pagesFromPfns([0x80000, 0x80001, 0x80002], p2pA);
    expect(entriesOf(fromPages(pages, 0, 3 * PAGE_SIZE, UINT_MAX))).toEqual([
      { pfn: 0x80000, offset: 0, length: 3 * 4096 },
    ]);
  });
});

describe('§10.1 appending (sg_alloc_append_table_from_pages with sgt_append->prv set)', () => {
  /** First call: `pfns` with `leftPages` promised; returns the append table. */
  function start(pfns: number[], maxSeg: number, leftPages: number, offset = 0): SgAppendTable {
    const t = new SgAppendTable();
    const size = pfns.length * PAGE_SIZE - offset;
    expect(
      sgAllocAppendTableFromPages(t, pagesFromPfns(pfns), offset, size, maxSeg, leftPages),
    ).toBe(0);
    return t;
  }
  function append(t: SgAppendTable, pages: Page[], maxSeg: number, leftPages = 0): number {
    return sgAllocAppendTableFromPages(t, pages, 0, pages.length * PAGE_SIZE, maxSeg, leftPages);
  }

  test('offset != 0 when appending: WARN, -EINVAL, previous entry unchanged', () => {
    const t = start([0, 1], UINT_MAX, 1);
    const warnings: string[] = [];
    const ret = sgAllocAppendTableFromPages(
      t,
      pagesFromPfns([2]),
      100,
      4096 - 100,
      UINT_MAX,
      0,
      (m) => warnings.push(m),
    );
    expect(ret).toBe(-EINVAL);
    expect(warnings).toHaveLength(1);
    expect(t.prv!.length).toBe(8192);
    expect(t.sgt.nents).toBe(1);
  });

  test.each([
    // main.c vectors with pfn_app: [first pfns, appended pfns, max_segment, entries]
    [[0, 1, 2], [3, 4, 5], UINT_MAX, 1], // 3 follows 2: all of 3,4,5 merge into {0..5}
    [[0, 1, 2], [4, 5, 6], UINT_MAX, 2], // 4 does not follow 2: {0,1,2} {4,5,6}
    // {0,1} {3,4,5,6}; 7..12 merge into the second while it stays <= 12 pages: 4 + 6 = 10
    [[0, 1, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12], 12 * PAGE_SIZE, 2],
  ])('main.c: %j then %j, max_segment %d -> %d entries', (first, app, maxSeg, n) => {
    const t = start(first, maxSeg, first.length);
    expect(append(t, pagesFromPfns(app), maxSeg)).toBe(0);
    expect(t.sgt.nents).toBe(n);
    expect(t.sgt.origNents).toBe(n);
    expect(sgNents(t.sgt.sgl)).toBe(n);
  });

  test('leading pages merge into prv only while prv.length + PAGE_SIZE <= max_segment', () => {
    // max_segment 3 pages. First call {0,1}: 8192. Append 2,3,4: 2 merges (8192 + 4096 = 12288
    // <= 12288); 3 would make 16384 > 12288, so {3,4} is a new entry of 8192.
    const maxSeg = 3 * PAGE_SIZE;
    const t = start([0, 1], maxSeg, 3);
    const prv = t.prv!;
    expect(append(t, pagesFromPfns([2, 3, 4]), maxSeg)).toBe(0);
    expect(t.sgt.nents).toBe(2);
    expect(t.sgt.origNents).toBe(t.sgt.nents);
    const [e0, e1] = sgEntries(t.sgt.sgl, 2);
    expect(e0).toBe(prv);
    expect({ pfn: e0!.page!.pfn, length: e0!.length }).toEqual({ pfn: 0, length: 12288 });
    expect({ pfn: e1!.page!.pfn, length: e1!.length }).toEqual({ pfn: 3, length: 8192 });
    expect(t.prv).toBe(e1);
  });

  test('prv with the first-call offset: length counts from the offset', () => {
    // First call {5,6} offset 1000: prv.length 8192 - 1000 = 7192, sg_phys = 5 * 4096 + 1000,
    // so next_pfn = (21480 + 7192) / 4096 = 28672 / 4096 = 7. Appending 7, 8 with max_segment
    // 3 pages: 7192 + 4096 = 11288 <= 12288 merges 7; 15384 > 12288 stops before 8.
    const maxSeg = 3 * PAGE_SIZE;
    const t = start([5, 6], maxSeg, 2, 1000);
    expect(append(t, pagesFromPfns([7, 8]), maxSeg)).toBe(0);
    expect(entriesOf(t.sgt)).toEqual([
      { pfn: 5, offset: 1000, length: 11288 },
      { pfn: 8, offset: 0, length: 4096 },
    ]);
  });

  test('a P2P page of the next pfn does not merge into a RAM prv', () => {
    const p2p = pgmapOver(0x80000, 512);
    const t = new SgAppendTable();
    expect(append(t, pagesFromPfns([0x7fffe, 0x7ffff]), UINT_MAX, 1)).toBe(0);
    expect(append(t, [new Page(0x80000, p2p)], UINT_MAX)).toBe(0);
    expect(entriesOf(t.sgt)).toEqual([
      { pfn: 0x7fffe, offset: 0, length: 8192 },
      { pfn: 0x80000, offset: 0, length: 4096 },
    ]);
  });

  test('all pages merged: no new entry, prv grows, and the end mark goes on prv', () => {
    // {0,1} with 2 pages promised, then 2,3 merge: one entry of 4 * 4096 = 16384.
    const t = start([0, 1], UINT_MAX, 2);
    const prv = t.prv!;
    expect(sgIsLast(prv)).toBe(false);
    expect(append(t, pagesFromPfns([2, 3]), UINT_MAX)).toBe(0);
    expect(t.prv).toBe(prv);
    expect(prv.length).toBe(16384);
    expect(t.sgt.nents).toBe(1);
    expect(t.sgt.origNents).toBe(1);
    expect(sgIsLast(prv)).toBe(true);
    expect(sgNents(t.sgt.sgl)).toBe(1);
  });

  test('all pages merged with more promised: still not terminated', () => {
    const t = start([0, 1], UINT_MAX, 4);
    expect(append(t, pagesFromPfns([2, 3]), UINT_MAX, 2)).toBe(0);
    expect(sgIsLast(t.prv!)).toBe(false);
    expect(append(t, pagesFromPfns([4, 5]), UINT_MAX, 0)).toBe(0);
    expect(sgIsLast(t.prv!)).toBe(true);
    expect(t.prv!.length).toBe(6 * 4096);
  });

  test('the end mark only when left_pages == 0', () => {
    // {0} {2} with 1 page promised: 2 entries, neither marked; sg_init_table() marked only the
    // last slot of the allocation, min(2 + 1, 128) = 3 slots.
    const t = new SgAppendTable();
    expect(append(t, pagesFromPfns([0, 2]), UINT_MAX, 1)).toBe(0);
    expect(t.totalNents).toBe(3);
    expect(sgIsLast(t.prv!)).toBe(false);
    expect(allocations(t.sgt.sgl)).toEqual([3]);
    // {4} does not follow 2: the third slot, now marked.
    expect(append(t, pagesFromPfns([4]), UINT_MAX)).toBe(0);
    expect(sgIsLast(t.prv!)).toBe(true);
    expect(t.sgt.nents).toBe(3);
    expect(t.sgt.origNents).toBe(3);
    expect(sgNents(t.sgt.sgl)).toBe(3);
    // Appending to a terminated table is misuse: sg_next() of the end is NULL.
    expect(() => append(t, pagesFromPfns([9]), UINT_MAX)).toThrow(/terminated/);
  });
});

describe('§3.1 chained tables: chunks of SG_MAX_SINGLE_ALLOC = 128 slots', () => {
  test('sg_alloc_table(300): allocations 128 + 128 + 46, a chain slot at each 128th slot', () => {
    // 300 > 128: 128 slots, 127 usable (left 173); 173 > 128: 128 again, 127 usable (left 46);
    // then 46. 127 + 127 + 46 = 300 entries.
    const sgt = new SgTable();
    expect(sgAllocTable(sgt, 300)).toBe(0);
    expect(sgt.nents).toBe(300);
    expect(sgt.origNents).toBe(300);
    expect(allocations(sgt.sgl)).toEqual([128, 128, 46]);
    // slot 127 of the first allocation is the chain entry; sg_next() of entry 126 skips it
    let slot = sgt.sgl!;
    for (let i = 0; i < 127; i++) slot = slot.slotNext!;
    expect(sgIsChain(slot)).toBe(true);
    expect(slot.pageLink).toBe(SG_CHAIN);
    const entries = sgEntries(sgt.sgl, 300);
    expect(entries).toHaveLength(300);
    expect(entries.some(sgIsChain)).toBe(false);
    expect(new Set(entries).size).toBe(300);
    expect(sgNext(entries[126]!)).toBe(slot.chainPtr);
    expect(entries[127]).toBe(slot.chainPtr);
    // the end mark is on entry 299 only
    expect(entries.filter(sgIsLast)).toEqual([entries[299]]);
    expect(sgNext(entries[299]!)).toBeUndefined();
    expect(sgNents(sgt.sgl)).toBe(300);
  });

  test.each([
    // [nents, allocations]
    [1, [1]],
    [128, [128]], // fits: no chain
    [129, [128, 2]], // 127 + 2
    [254, [128, 127]], // 127 + 127
    [255, [128, 128]], // 127 + 128
    [256, [128, 128, 2]], // 127 + 127 + 2
  ])('sg_alloc_table(%d): allocations %j', (n, sizes) => {
    const sgt = new SgTable();
    expect(sgAllocTable(sgt, n)).toBe(0);
    expect(allocations(sgt.sgl)).toEqual(sizes);
    expect(sgNents(sgt.sgl)).toBe(n);
    expect(sgt.origNents).toBe(n);
  });

  test('sg_alloc_table(0): -EINVAL', () => {
    expect(sgAllocTable(new SgTable(), 0)).toBe(-EINVAL);
  });

  test('get_next_sg(): 300 chunks allocate min(needed, 128) each time: 128, 128, 46', () => {
    // needed = chunks - i. i = 0: min(300, 128) = 128, total 128, entries in slots 0..126.
    // i = 127: slot 127 is the allocation's last and 173 > 1 are needed: min(173, 128) = 128
    // chained there, total += 127 -> 255. i = 254: needed 46: 46 slots, total += 45 -> 300.
    const t = new SgAppendTable();
    const pages = discontiguous(300);
    expect(sgAllocAppendTableFromPages(t, pages, 0, 300 * PAGE_SIZE, UINT_MAX, 0)).toBe(0);
    expect(allocations(t.sgt.sgl)).toEqual([128, 128, 46]);
    expect(t.totalNents).toBe(300);
    expect(t.sgt.nents).toBe(300);
    expect(sgNents(t.sgt.sgl)).toBe(300);
    // entry i holds page i (pfn 2i), across the chain slots
    const entries = sgEntries(t.sgt.sgl, 300);
    expect(entries.every((e, i) => e.page!.pfn === 2 * i && e.length === 4096)).toBe(true);
  });

  test('get_next_sg(): the last slot is used, not chained, when exactly one entry is needed', () => {
    // 255 chunks: 128 (127 entries), then needed 128 -> 128 more; at i = 254 the last slot of the
    // second allocation is reached with needed = 1, so it holds entry 254: 127 + 128 = 255.
    const t = new SgAppendTable();
    expect(
      sgAllocAppendTableFromPages(t, discontiguous(255), 0, 255 * PAGE_SIZE, UINT_MAX, 0),
    ).toBe(0);
    expect(allocations(t.sgt.sgl)).toEqual([128, 128]);
    expect(t.totalNents).toBe(255);
    expect(sgNents(t.sgt.sgl)).toBe(255);
  });

  test('get_next_sg() with pages promised: sizes count left_pages', () => {
    // First call: 3 chunks ({0} {2} {4}), left_pages 200: min(3 + 200, 128) = 128 slots.
    // Append 200 more chunks (pfns 100, 102, ...): slots 3..126 take 124 of them; at i = 124 the
    // last slot is next and 200 - 124 = 76 are needed: 76 slots chained, total 128 + 75 = 203.
    const t = new SgAppendTable();
    expect(sgAllocAppendTableFromPages(t, discontiguous(3), 0, 3 * PAGE_SIZE, UINT_MAX, 200)).toBe(
      0,
    );
    expect(t.totalNents).toBe(128);
    const more = pagesFromPfns(Array.from({ length: 200 }, (_, i) => 100 + 2 * i));
    expect(sgAllocAppendTableFromPages(t, more, 0, 200 * PAGE_SIZE, UINT_MAX, 0)).toBe(0);
    expect(allocations(t.sgt.sgl)).toEqual([128, 76]);
    expect(t.totalNents).toBe(203);
    expect(t.sgt.nents).toBe(203);
    expect(t.sgt.origNents).toBe(203);
    expect(sgNents(t.sgt.sgl)).toBe(203);
  });

  test('sg_alloc_table_from_pages_segment(): orig_nents = nents = the chained entry count', () => {
    const sgt = fromPages(discontiguous(1000), 0, 1000 * PAGE_SIZE, UINT_MAX);
    // 1000 = 127 * 7 + 111: seven full allocations of 128 and one of 111
    expect(allocations(sgt.sgl)).toEqual([128, 128, 128, 128, 128, 128, 128, 111]);
    expect(sgt.nents).toBe(1000);
    expect(sgt.origNents).toBe(1000);
    expect(sgNents(sgt.sgl)).toBe(1000);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: the table against a naive transcription of the §10.1 rule text.

/** Page maps of the property's pfn space: RAM [0, 0x400), A [0x400, 0x600), B [0x600, 0x800), RAM above. */
const PG_A = pgmapOver(0x400, 0x200);
const PG_B = pgmapOver(0x600, 0x200);
function pgmapOf(pfn: number): DevPagemap | undefined {
  if (pfn >= 0x400 && pfn < 0x600) return PG_A;
  if (pfn >= 0x600 && pfn < 0x800) return PG_B;
  return undefined;
}
/** Starts near the page-map boundaries, so runs cross them. */
const BOUNDARIES = [0x3fc, 0x5fc, 0x7fc];

/**
 * §10.1 read literally: walk the pages; a page joins the current entry when its pfn is the
 * previous pfn + 1, it has the same page map, and the entry has fewer than
 * floor(max_segment / 4096) pages; otherwise it starts an entry. Lengths: the first entry loses
 * `offset`, each takes min(size left, its bytes), with size left never below 0 for the sizes used.
 */
function naiveEntries(pages: Page[], offset: number, size: number, maxSegment: number): Entry[] {
  const maxPages = Math.floor(maxSegment / PAGE_SIZE);
  const runs: { first: number; count: number }[] = [];
  for (let i = 0; i < pages.length; i++) {
    const cur = runs[runs.length - 1];
    const p = pages[i]!;
    const prev = pages[i - 1];
    if (cur && prev && p.pfn === prev.pfn + 1 && p.pgmap === prev.pgmap && cur.count < maxPages) {
      cur.count++;
    } else {
      runs.push({ first: i, count: 1 });
    }
  }
  let left = size;
  let off = offset;
  return runs.map((r) => {
    const bytes = r.count * PAGE_SIZE - off;
    const e = { pfn: pages[r.first]!.pfn, offset: off, length: Math.min(left, bytes) };
    left -= bytes;
    off = 0;
    return e;
  });
}

/** [pfn, start in page, end in page) pieces of a list of physical byte ranges, in order. */
function pieces(ranges: { phys: number; length: number }[]): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (const { phys, length } of ranges) {
    let at = phys;
    const end = phys + length;
    while (at < end) {
      const pfn = Math.floor(at / PAGE_SIZE);
      const stop = Math.min(end, (pfn + 1) * PAGE_SIZE);
      out.push([pfn, at - pfn * PAGE_SIZE, stop - pfn * PAGE_SIZE]);
      at = stop;
    }
  }
  return out;
}

const runArb = fc.record({
  start: fc.oneof(fc.integer({ min: 0, max: 0x9ff }), fc.constantFrom(...BOUNDARIES)),
  len: fc.integer({ min: 1, max: 24 }),
  /** continue right after the previous run (the pfns stay contiguous) */
  follow: fc.boolean(),
});
const maxSegArb = fc.oneof(
  fc.integer({ min: 0, max: 12 }).map((k) => k * PAGE_SIZE + 4096),
  fc.integer({ min: PAGE_SIZE, max: UINT_MAX }),
  fc.integer({ min: 0, max: PAGE_SIZE - 1 }).map((d) => 3 * PAGE_SIZE + d),
  fc.constant(UINT_MAX),
);

function buildPages(runs: { start: number; len: number; follow: boolean }[]): Page[] {
  const pages: Page[] = [];
  for (const r of runs) {
    const last = pages[pages.length - 1];
    const start = r.follow && last ? last.pfn + 1 : r.start;
    for (let k = 0; k < r.len; k++) pages.push(new Page(start + k, pgmapOf(start + k)));
  }
  return pages;
}

describe(`§10.1 property (fast-check seed ${SEED}): tables from random page arrays`, () => {
  test('entries reproduce the bytes, respect max_segment and page maps, match the rule text', () => {
    fc.assert(
      fc.property(
        fc.array(runArb, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
        fc.integer({ min: 1, max: PAGE_SIZE }),
        maxSegArb,
        (runs, offset, tail, maxSegment) => {
          const pages = buildPages(runs);
          const n = pages.length;
          // size ends inside the last page: ((n - 1) * 4096 - offset, n * 4096 - offset]
          const size = Math.max(1, (n - 1) * PAGE_SIZE - offset + tail);
          const sgt = fromPages(pages, offset, size, maxSegment);
          const sgs = sgEntries(sgt.sgl, sgt.origNents);
          expect(sgt.nents).toBe(sgt.origNents);
          expect(sgNents(sgt.sgl)).toBe(sgt.nents);
          expect(sgIsLast(sgs[sgs.length - 1]!)).toBe(true);

          // the bytes: page 0 from `offset`, then whole pages, `size` bytes in all
          const expected: { phys: number; length: number }[] = [];
          let left = size;
          pages.forEach((p, i) => {
            const off = i === 0 ? offset : 0;
            const len = Math.min(left, PAGE_SIZE - off);
            if (len > 0) expected.push({ phys: p.pfn * PAGE_SIZE + off, length: len });
            left -= len;
          });
          expect(pieces(sgs.map((s) => ({ phys: sgPhys(s), length: s.length })))).toEqual(
            pieces(expected),
          );

          const rounded = maxSegment - (maxSegment % PAGE_SIZE);
          expect(sgs.filter((s) => s.length > rounded)).toEqual([]);
          // every page an entry covers is in the entry's page map (or all are RAM)
          const spanning = sgs.filter((s) => {
            const lastPfn = Math.floor((sgPhys(s) + s.length - 1) / PAGE_SIZE);
            for (let pfn = s.page!.pfn; pfn <= lastPfn; pfn++) {
              if (pgmapOf(pfn) !== s.page!.pgmap) return true;
            }
            return false;
          });
          expect(spanning).toEqual([]);

          const naive = naiveEntries(pages, offset, size, rounded);
          expect(sgt.nents).toBe(naive.length);
          expect(entriesOf(sgt)).toEqual(naive);
        },
      ),
      { seed: SEED, numRuns: 400 },
    );
  });

  test('appending in two calls gives the table of one call', () => {
    // Split the pages at k: the first call ends on a page boundary with n - k pages promised,
    // the second has offset 0. Merging into prv stops where a chunk of the single call would end,
    // so the entries are the same.
    fc.assert(
      fc.property(
        fc.array(runArb, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
        fc.nat(),
        maxSegArb,
        (runs, offset, cut, maxSegment) => {
          const pages = buildPages(runs);
          const n = pages.length;
          fc.pre(n >= 2);
          const k = 1 + (cut % (n - 1));
          const t = new SgAppendTable();
          const a = pages.slice(0, k);
          const b = pages.slice(k);
          expect(
            sgAllocAppendTableFromPages(t, a, offset, k * PAGE_SIZE - offset, maxSegment, n - k),
          ).toBe(0);
          expect(sgAllocAppendTableFromPages(t, b, 0, (n - k) * PAGE_SIZE, maxSegment, 0)).toBe(0);
          const single = fromPages(pages, offset, n * PAGE_SIZE - offset, maxSegment);
          expect(t.sgt.nents).toBe(single.nents);
          expect(t.sgt.origNents).toBe(t.sgt.nents);
          expect(sgNents(t.sgt.sgl)).toBe(t.sgt.nents);
          expect(entriesOf(t.sgt)).toEqual(entriesOf(single));
          expect(t.totalNents).toBeGreaterThanOrEqual(t.sgt.nents);
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
});

test('SG_MAX_SINGLE_ALLOC is PAGE_SIZE / sizeof(struct scatterlist) = 4096 / 32 = 128 (§3.1)', () => {
  expect(SG_MAX_SINGLE_ALLOC).toBe(128);
});
