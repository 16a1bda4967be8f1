/**
 * Bios and bio_add_page() (block/bio.c): the ordinary rules (merging into the last bvec, a full
 * bio, bi_size overflow) and the P2P rules of each release (reference §5.3). Expected values are
 * worked out by hand in the comments; a page's physical address is pfn * 4096.
 */
import {
  Bio,
  bioAddPage,
  bioAlloc,
  BIO_MAX_VECS,
  bioOp,
  bvecPhys,
  REQ_NOMERGE,
  REQ_OP_WRITE,
  REQ_P2PDMA,
  REQ_SYNC,
} from '../src/block/bio';
import { bioSplit } from '../src/block/blk-merge';
import { UINT_MAX } from '../src/block/queue-limits';
import { MEMORY_DEVICE_PCI_P2PDMA, Page, type DevPagemap } from '../src/mm/page';

/** Two P2P page maps back to back: A = pfns 0x800-0x9ff, B = pfns 0xa00-0xbff. */
const pgmapA: DevPagemap = {
  type: MEMORY_DEVICE_PCI_P2PDMA,
  range: { start: 0x80_0000, end: 0x9f_ffff },
};
const pgmapB: DevPagemap = {
  type: MEMORY_DEVICE_PCI_P2PDMA,
  range: { start: 0xa0_0000, end: 0xbf_ffff },
};
const ram = (pfn: number) => new Page(pfn);
const p2pA = (pfn: number) => new Page(pfn, pgmapA);
const p2pB = (pfn: number) => new Page(pfn, pgmapB);
const vecs = (bio: Bio) => bio.vecs.map((v) => [v.page.pfn, v.offset, v.len]);

describe('bio_add_page: ordinary rules (§5.3, block/bio.c v6.16)', () => {
  it('allocates an empty bio of the given operation and capacity', () => {
    const bio = bioAlloc(REQ_OP_WRITE | REQ_SYNC, 4);
    expect(bioOp(bio)).toBe(REQ_OP_WRITE);
    expect(bio.maxVecs).toBe(4);
    expect([bio.vcnt, bio.size]).toEqual([0, 0]);
    // more than BIO_MAX_VECS (256) bvecs is a misuse
    expect(() => bioAlloc(0, BIO_MAX_VECS + 1)).toThrow(RangeError);
  });

  it('extends the last bvec with the next physical page (one multi-page bvec)', () => {
    const bio = bioAlloc(0, 4);
    expect(bioAddPage(bio, ram(0x100), 4096, 0)).toBe(4096);
    // 0x100fff + 1 = 0x101000 = pfn 0x101 at offset 0: contiguous, and pfn 0x101 follows 0x100
    expect(bioAddPage(bio, ram(0x101), 4096, 0)).toBe(4096);
    expect(vecs(bio)).toEqual([[0x100, 0, 8192]]);
    expect(bio.size).toBe(8192);
    expect(bvecPhys(bio.vecs[0]!)).toBe(0x10_0000);
  });

  it('extends within the same page, and starts a new bvec after a hole', () => {
    const bio = bioAlloc(0, 4);
    bioAddPage(bio, ram(0x100), 512, 0);
    // [0x100000, +512) then 0x100200: contiguous within the page -> one bvec of 1024
    bioAddPage(bio, ram(0x100), 512, 512);
    // the bvec ends at 0x100400; offset 1536 (0x100600) leaves a 512-byte hole -> a new bvec
    bioAddPage(bio, ram(0x100), 512, 1536);
    expect(vecs(bio)).toEqual([
      [0x100, 0, 1024],
      [0x100, 1536, 512],
    ]);
    expect(bio.size).toBe(1536);
  });

  it('returns 0 when every bvec is used, but still merges into the last one', () => {
    const bio = bioAlloc(0, 2);
    expect(bioAddPage(bio, ram(0x100), 4096, 0)).toBe(4096);
    expect(bioAddPage(bio, ram(0x300), 4096, 0)).toBe(4096);
    // a third non-contiguous page needs a third bvec: full
    expect(bioAddPage(bio, ram(0x500), 4096, 0)).toBe(0);
    // pfn 0x301 follows the last bvec (0x300): the merge comes before the full check
    expect(bioAddPage(bio, ram(0x301), 4096, 0)).toBe(4096);
    expect(vecs(bio)).toEqual([
      [0x100, 0, 4096],
      [0x300, 0, 8192],
    ]);
  });

  it('refuses bytes that would overflow bi_size (UINT_MAX)', () => {
    const bio = bioAlloc(0, 4);
    // one bvec of 0xfffff000 bytes: bi_size = 0xfffff000
    expect(bioAddPage(bio, ram(0x10_0000), 0xffff_f000, 0)).toBe(0xffff_f000);
    // 0xfffff000 > UINT_MAX - 0x1000 = 0xffffefff: refused
    expect(bioAddPage(bio, ram(0x20_0000), 0x1000, 0)).toBe(0);
    // 0xfffff000 > UINT_MAX - 0xfff = 0xfffff000 is false: exactly fills bi_size
    expect(bioAddPage(bio, ram(0x20_0000), 0xfff, 0)).toBe(0xfff);
    expect(bio.size).toBe(UINT_MAX);
  });

  it('a split-off front part is a clone and takes no pages', () => {
    const bio = bioAlloc(0, 4);
    bioAddPage(bio, ram(0x100), 8192, 0);
    const front = bioSplit(bio, 8) as Bio;
    expect(front.cloned).toBe(true);
    expect(bioAddPage(front, ram(0x101), 512, 0)).toBe(0);
  });
});

describe('bio_add_page: P2P pages per release (§5.3)', () => {
  it('v6.16: the first P2P page marks the bio REQ_P2PDMA | REQ_NOMERGE', () => {
    const bio = bioAlloc(REQ_OP_WRITE, 4);
    expect(bioAddPage(bio, p2pA(0x800), 4096, 0)).toBe(4096);
    expect(bio.opf & (REQ_P2PDMA | REQ_NOMERGE)).toBe(REQ_P2PDMA | REQ_NOMERGE);
    expect(bioOp(bio)).toBe(REQ_OP_WRITE);
    // the next page of the same page map merges as RAM pages do
    expect(bioAddPage(bio, p2pA(0x801), 4096, 0)).toBe(4096);
    expect(vecs(bio)).toEqual([[0x800, 0, 8192]]);
  });

  it('v6.16: a RAM bio gets no flag and refuses a P2P page (the caller starts a new bio)', () => {
    const bio = bioAlloc(0, 4);
    bioAddPage(bio, ram(0x7ff), 4096, 0);
    expect(bio.opf & REQ_P2PDMA).toBe(0);
    // pfn 0x800 even follows 0x7ff physically; its page map (A) differs from RAM's (none)
    expect(bioAddPage(bio, p2pA(0x800), 4096, 0)).toBe(0);
    expect(vecs(bio)).toEqual([[0x7ff, 0, 4096]]);
    expect(bio.opf & REQ_P2PDMA).toBe(0);
  });

  it('v6.16: pages of two providers never share a bio, nor RAM after P2P', () => {
    const bio = bioAlloc(0, 4);
    bioAddPage(bio, p2pA(0x9ff), 4096, 0);
    // 0x9ff000 + 0x1000 = 0xa00000 = pfn 0xa00 of map B: contiguous, other page map
    expect(bioAddPage(bio, p2pB(0xa00), 4096, 0)).toBe(0);
    expect(bioAddPage(bio, ram(0x100), 4096, 0)).toBe(0);
    expect(bio.vcnt).toBe(1);
  });

  it('v6.2-v6.15: other page maps get a bvec of their own in the same bio, no flag', () => {
    const opts = { release: 'v6.2' as const };
    const bio = bioAlloc(0, 4);
    bioAddPage(bio, ram(0x7ff), 4096, 0, opts);
    // contiguous, but bvec_try_merge_page() refuses other page maps: a second bvec
    expect(bioAddPage(bio, p2pA(0x800), 4096, 0, opts)).toBe(4096);
    expect(bioAddPage(bio, p2pB(0xa00), 4096, 0, opts)).toBe(4096);
    expect(vecs(bio)).toEqual([
      [0x7ff, 0, 4096],
      [0x800, 0, 4096],
      [0xa00, 0, 4096],
    ]);
    expect(bio.opf & (REQ_P2PDMA | REQ_NOMERGE)).toBe(0);
  });

  it('v6.1 and older: no page-map check, contiguous RAM and P2P pages share a bvec', () => {
    const opts = { release: 'v6.1' as const };
    const bio = bioAlloc(0, 4);
    bioAddPage(bio, ram(0x7ff), 4096, 0, opts);
    expect(bioAddPage(bio, p2pA(0x800), 4096, 0, opts)).toBe(4096);
    // one bvec of 8 KiB whose first page is RAM
    expect(vecs(bio)).toEqual([[0x7ff, 0, 8192]]);
    expect(bio.opf & REQ_P2PDMA).toBe(0);
  });
});
