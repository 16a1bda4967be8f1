/**
 * NVMe PRP building and the descriptor pools: reference §6.1 (nvme_pci_setup_prps(), the
 * "prp list page" / "prp list 256" dma_pools). Segments are given as mapped DMA segments
 * ({dmaAddress, length}); every expected entry is worked out by hand in the comments.
 */
import { BLK_STS_IOERR, BLK_STS_OK, BLK_STS_RESOURCE } from '../src/block/blk-status';
import { NvmeDescriptorPool } from '../src/nvme/descriptor-pool';
import {
  nvmePciSetupPrps,
  nvmePrpWalk,
  type NvmeDescriptorPools,
  type NvmeDmaSegment,
} from '../src/nvme/prp';

const KiB = 1024;
const MiB = 1024 * KiB;
const PAGE_BASE = 0x1000_0000;
const SMALL_BASE = 0x1010_0000;

function pools(caps: { page?: number; small?: number } = {}): NvmeDescriptorPools {
  return {
    page: new NvmeDescriptorPool(
      'prp list page',
      4096,
      4096,
      { base: PAGE_BASE, size: MiB },
      {
        maxBlocks: caps.page,
      },
    ),
    small: new NvmeDescriptorPool(
      'prp list 256',
      256,
      256,
      { base: SMALL_BASE, size: 64 * KiB },
      {
        maxBlocks: caps.small,
      },
    ),
  };
}

const seg = (dmaAddress: number, length: number): NvmeDmaSegment => ({ dmaAddress, length });
const total = (segs: NvmeDmaSegment[]) => segs.reduce((n, s) => n + s.length, 0);
/** `n` consecutive 4 KiB page addresses from `start`. */
const pagesFrom = (start: number, n: number) =>
  Array.from({ length: n }, (_, i) => start + i * 4096);

function lookupIn(p: NvmeDescriptorPools) {
  return (dma: number) => p.page.lookup(dma) ?? p.small.lookup(dma);
}

describe('§6.1 nvme_pci_setup_prps: PRP1 and PRP2', () => {
  it('PRP1 only when the payload ends within the first controller page', () => {
    const p = pools();
    // offset 0x100; payload 0xf00 - (0x1000 - 0x100) = 0: PRP1 alone, PRP2 = 0
    const r = nvmePciSetupPrps([seg(0x20_0100, 0xf00)], 0xf00, p);
    expect(r).toEqual({ status: BLK_STS_OK, prp1: 0x20_0100, prp2: 0, lists: [], npages: -1 });
    expect(p.small.stats.allocations + p.page.stats.allocations).toBe(0);
  });

  it('PRP2 = the next page of the same segment when the rest fits one page', () => {
    // 4 KiB at offset 0x800: PRP1 covers 0x800 bytes; 0x800 are left in the same segment,
    // which continues at 0x20_1000
    const r = nvmePciSetupPrps([seg(0x20_0800, 0x1000)], 0x1000, pools());
    expect(r).toMatchObject({ status: BLK_STS_OK, prp1: 0x20_0800, prp2: 0x20_1000, npages: -1 });
  });

  it('PRP2 = the next segment when the first one ends at its page end', () => {
    // first segment 0x800 bytes to the page end; the remaining 0x1000 are the second segment
    const r = nvmePciSetupPrps([seg(0x20_0800, 0x800), seg(0x50_0000, 0x1000)], 0x1800, pools());
    expect(r).toMatchObject({ status: BLK_STS_OK, prp1: 0x20_0800, prp2: 0x50_0000, lists: [] });
  });
});

describe('§6.1 nvme_pci_setup_prps: PRP lists', () => {
  it('5 pages after PRP1 go to a 256-byte list of the small pool (nprps <= 32)', () => {
    const p = pools();
    // 6 pages at 0x30_0000: PRP1 = page 0; 0x5000 left -> nprps 5 -> small pool, npages 0
    const r = nvmePciSetupPrps([seg(0x30_0000, 0x6000)], 0x6000, p);
    expect(r).toMatchObject({ status: BLK_STS_OK, prp1: 0x30_0000, prp2: SMALL_BASE, npages: 0 });
    expect(r.lists).toHaveLength(1);
    expect(r.lists[0]!.dma).toBe(SMALL_BASE);
    expect(r.lists[0]!.le64s().slice(0, 6)).toEqual([...pagesFrom(0x30_1000, 5), 0]);
    expect(p.small.stats).toMatchObject({ allocations: 1, inUse: 1 });
    expect(p.page.stats.allocations).toBe(0);
  });

  it('walks several segments: 0xe00 + 0x2000 + 0x700 bytes -> 3 list entries', () => {
    // PRP1 0x40_0200 covers 0xe00 (to the page end, which ends segment 0); 0x2100 left ->
    // nprps = ceil(0x2100 / 0x1000) = 3: 0x80_0000, 0x80_1000, then segment 2 at 0x90_0000
    const segs = [seg(0x40_0200, 0xe00), seg(0x80_0000, 0x2000), seg(0x90_0000, 0x700)];
    const p = pools();
    const r = nvmePciSetupPrps(segs, total(segs), p);
    expect(r.status).toBe(BLK_STS_OK);
    expect(r.prp1).toBe(0x40_0200);
    expect(r.lists[0]!.le64s().slice(0, 3)).toEqual([0x80_0000, 0x80_1000, 0x90_0000]);
    expect(nvmePrpWalk(r.prp1, r.prp2, total(segs), lookupIn(p))).toEqual([
      0x40_0200, 0x80_0000, 0x80_1000, 0x90_0000,
    ]);
  });

  it('32 list entries still fit the small pool; 33 need a 4096-byte page', () => {
    // 33 pages: PRP1 + 32 entries (32 * 8 = 256 bytes) -> small
    const a = pools();
    expect(nvmePciSetupPrps([seg(0x100_0000, 33 * 4096)], 33 * 4096, a)).toMatchObject({
      status: BLK_STS_OK,
      npages: 0,
      prp2: SMALL_BASE,
    });
    // 34 pages: 33 entries > 32 -> page pool, npages 1
    const b = pools();
    const r = nvmePciSetupPrps([seg(0x100_0000, 34 * 4096)], 34 * 4096, b);
    expect(r).toMatchObject({ status: BLK_STS_OK, npages: 1, prp2: PAGE_BASE });
    expect(r.lists[0]!.le64s().slice(0, 34)).toEqual([...pagesFrom(0x100_1000, 33), 0]);
    expect(b.page.stats.allocations).toBe(1);
    expect(b.small.stats.allocations).toBe(0);
  });

  it('chains at 512 entries: 2 MiB + 8 KiB (514 pages) -> two list pages', () => {
    const p = pools();
    const base = 0x4000_0000;
    // PRP1 = page 0; 513 entries. List 0 fills slots 0..511 with pages 1..512; the 513th entry
    // finds i == 512: list 1 is allocated, its slot 0 takes page 512 from list 0 slot 511, and
    // list 0 slot 511 becomes list 1's DMA address; page 513 goes to list 1 slot 1.
    const r = nvmePciSetupPrps([seg(base, 2 * MiB + 8 * KiB)], 2 * MiB + 8 * KiB, p);
    expect(r).toMatchObject({ status: BLK_STS_OK, prp1: base, prp2: PAGE_BASE, npages: 2 });
    const [l0, l1] = r.lists;
    expect(l1!.dma).toBe(PAGE_BASE + 4096);
    expect(l0!.le64s()).toEqual([...pagesFrom(base + 4096, 511), l1!.dma]);
    expect(l1!.le64s().slice(0, 3)).toEqual([base + 512 * 4096, base + 513 * 4096, 0]);
    expect(p.page.stats).toMatchObject({ allocations: 2, inUse: 2 });
    // a controller following the chain reads pages 0..513 in order
    expect(nvmePrpWalk(r.prp1, r.prp2, 2 * MiB + 8 * KiB, lookupIn(p))).toEqual(
      pagesFrom(base, 514),
    );
  });

  it('4 MiB aligned: 1023 entries = 511 + a full second page (no second chain)', () => {
    const p = pools();
    const base = 0x4000_0000;
    // 1024 pages: PRP1 + 1023 entries; list 0 keeps 511 and the pointer, list 1 gets 512
    const r = nvmePciSetupPrps([seg(base, 4 * MiB)], 4 * MiB, p);
    expect(r.npages).toBe(2);
    expect(r.lists[1]!.le64s()).toEqual(pagesFrom(base + 512 * 4096, 512));
    expect(nvmePrpWalk(r.prp1, r.prp2, 4 * MiB, lookupIn(p))).toEqual(pagesFrom(base, 1024));
  });

  it('4 MiB at offset 0x200 touches 1025 pages: chains twice (3 list pages)', () => {
    const p = pools();
    const start = 0x4000_0200;
    // PRP1 covers 0xe00; 4 MiB - 0xe00 left -> ceil(1023.125) = 1024 entries:
    // list 0: 511 + pointer, list 1: 511 + pointer, list 2: the last 2
    const r = nvmePciSetupPrps([seg(start, 4 * MiB)], 4 * MiB, p);
    expect(r).toMatchObject({ status: BLK_STS_OK, npages: 3 });
    expect(r.lists[0]!.getLe64(511)).toBe(r.lists[1]!.dma);
    expect(r.lists[1]!.getLe64(511)).toBe(r.lists[2]!.dma);
    expect(r.lists[2]!.le64s().slice(0, 3)).toEqual([
      0x4000_0000 + 1023 * 4096,
      0x4000_0000 + 1024 * 4096,
      0,
    ]);
    const walked = nvmePrpWalk(r.prp1, r.prp2, 4 * MiB, lookupIn(p));
    expect(walked).toEqual([start, ...pagesFrom(0x4000_1000, 1024)]);
  });
});

describe('§6.1 nvme_pci_setup_prps: illegal layouts and failures', () => {
  it('"Invalid SGL": a middle segment that is not a multiple of 4 KiB -> BLK_STS_IOERR', () => {
    const p = pools();
    // PRP1 = 0x10_0000 (its segment ends at the page end); 0x1800 left -> nprps 2 -> small
    // list; entry 0x20_0000 uses 0x1000 of a 0x800 segment: dma_len < 0 with 0x800 still to go
    const segs = [seg(0x10_0000, 0x1000), seg(0x20_0000, 0x800), seg(0x30_0000, 0x1000)];
    const r = nvmePciSetupPrps(segs, total(segs), p);
    expect(r).toMatchObject({ status: BLK_STS_IOERR, invalid: true });
    // [DERIVED] the kernel returns without freeing the list: it stays allocated
    expect(r.lists).toHaveLength(1);
    expect(p.small.stats).toMatchObject({ allocations: 1, frees: 0, inUse: 1 });
  });

  it('[DERIVED] a short first segment is not caught: PRP2 runs past it (virt_boundary prevents this)', () => {
    // segment 0 is 0x800 bytes at a page start: dma_len = 0x800 - 0x1000 != 0, so the driver
    // advances within it to 0x10_1000 and, with 0x800 left, takes that as PRP2
    const r = nvmePciSetupPrps([seg(0x10_0000, 0x800), seg(0x20_0000, 0x1000)], 0x1800, pools());
    expect(r).toMatchObject({ status: BLK_STS_OK, prp1: 0x10_0000, prp2: 0x10_1000 });
  });

  it('BLK_STS_RESOURCE when the first list cannot be allocated', () => {
    const p = pools({ small: 0 });
    const r = nvmePciSetupPrps([seg(0x30_0000, 0x6000)], 0x6000, p);
    expect(r).toMatchObject({ status: BLK_STS_RESOURCE, lists: [], npages: -1 });
    expect(p.small.stats).toMatchObject({ failures: 1, inUse: 0 });
  });

  it('BLK_STS_RESOURCE when a chained page cannot be allocated: the lists so far are freed', () => {
    const p = pools({ page: 1 });
    const r = nvmePciSetupPrps([seg(0x4000_0000, 2 * MiB + 8 * KiB)], 2 * MiB + 8 * KiB, p);
    expect(r.status).toBe(BLK_STS_RESOURCE);
    // list 0 allocated, list 1 refused, list 0 freed (nvme_free_prps)
    expect(p.page.stats).toMatchObject({ allocations: 1, failures: 1, frees: 1, inUse: 0 });
  });

  it('throws when the segments hold less than the payload', () => {
    expect(() => nvmePciSetupPrps([seg(0x10_0000, 0x1000)], 0x3000, pools())).toThrow(
      /segments end before/,
    );
  });
});

describe('§6.1 descriptor pools (dma_pool)', () => {
  it('carves 16 small blocks per page, lowest first, and reuses freed blocks LIFO unzeroed', () => {
    const small = new NvmeDescriptorPool('prp list 256', 256, 256, {
      base: SMALL_BASE,
      size: 8192,
    });
    const blocks = Array.from({ length: 16 }, () => small.alloc()!);
    // 4096 / 256 = 16 blocks in the first page: SMALL_BASE + 0x000 .. + 0xf00
    expect(blocks.map((b) => b.dma)).toEqual(
      Array.from({ length: 16 }, (_, i) => SMALL_BASE + i * 256),
    );
    expect(small.stats).toMatchObject({ pages: 1, allocations: 16, inUse: 16, peakInUse: 16 });
    blocks[3]!.setLe64(0, 0xdead_0000);
    small.free(blocks[3]!);
    const again = small.alloc()!;
    expect(again).toBe(blocks[3]);
    expect(again.getLe64(0)).toBe(0xdead_0000);
    // the 17th block opens a second page at SMALL_BASE + 0x1000; the 8 KiB region then is full
    expect(small.alloc()!.dma).toBe(SMALL_BASE + 0x1000);
    expect(small.stats.pages).toBe(2);
    for (let i = 0; i < 15; i++) small.alloc();
    expect(small.alloc()).toBeUndefined();
    expect(small.stats).toMatchObject({ failures: 1, inUse: 32 });
  });

  it('finds a block by DMA address; rejects double and foreign frees', () => {
    const p = pools();
    const b = p.small.alloc()!;
    expect(p.small.lookup(SMALL_BASE + 0x18)).toEqual({ block: b, offset: 0x18 });
    expect(p.small.lookup(SMALL_BASE + 0x100)?.block.allocated).toBe(false);
    expect(p.small.lookup(SMALL_BASE - 8)).toBeUndefined();
    expect(() => p.page.free(b)).toThrow(/not from this pool/);
    p.small.free(b);
    expect(() => p.small.free(b)).toThrow(/already free/);
  });
});
