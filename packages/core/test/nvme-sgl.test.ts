/**
 * NVMe SGL building: reference §6 (descriptor layout: addr u64, length u32, type = format << 4;
 * data 0x0, segment 0x2, last segment 0x3) and §6.1 (nvme_pci_setup_sgls(): one entry -> a data
 * descriptor in the command; a small-pool list for <= 16 entries; 256-descriptor pages chained
 * with a segment descriptor in the last slot; LAST_SEGMENT for the final chunk).
 */
import { BLK_STS_OK, BLK_STS_RESOURCE } from '../src/block/blk-status';
import { NvmeDescriptorPool } from '../src/nvme/descriptor-pool';
import type { NvmeDescriptorPools, NvmeDmaSegment } from '../src/nvme/prp';
import { nvmePciSetupSgls, nvmeSglDescRead, SGES_PER_PAGE } from '../src/nvme/sgl';

const PAGE_BASE = 0x1000_0000;
const SMALL_BASE = 0x1010_0000;
const DATA = 0x00;
const SEG = 0x20;
const LAST = 0x30;

function pools(caps: { page?: number } = {}): NvmeDescriptorPools {
  return {
    page: new NvmeDescriptorPool(
      'prp list page',
      4096,
      4096,
      { base: PAGE_BASE, size: 1 << 20 },
      {
        maxBlocks: caps.page,
      },
    ),
    small: new NvmeDescriptorPool('prp list 256', 256, 256, { base: SMALL_BASE, size: 1 << 16 }),
  };
}

/** `n` segments of 64 KiB, segment k at 0x1_0000_0000 + k * 1 MiB (so they never touch). */
function segs(n: number): NvmeDmaSegment[] {
  return Array.from({ length: n }, (_, k) => ({
    dmaAddress: 2 ** 32 + k * 2 ** 20,
    length: 65536,
  }));
}
const data = (k: number) => ({ addr: 2 ** 32 + k * 2 ** 20, length: 65536, type: DATA });

describe('§6.1 nvme_pci_setup_sgls', () => {
  it('one mapped entry: a data block descriptor in the command, no list', () => {
    const p = pools();
    const r = nvmePciSetupSgls(segs(1), p);
    expect(r).toEqual({ status: BLK_STS_OK, sgl: data(0), lists: [], npages: -1 });
    expect(p.small.stats.allocations + p.page.stats.allocations).toBe(0);
  });

  it('3 entries: a small-pool list and a LAST_SEGMENT descriptor of 3 * 16 = 48 bytes', () => {
    const p = pools();
    const r = nvmePciSetupSgls(segs(3), p);
    expect(r.sgl).toEqual({ addr: SMALL_BASE, length: 48, type: LAST });
    expect(r.npages).toBe(0);
    expect([0, 1, 2].map((i) => nvmeSglDescRead(r.lists[0]!, i))).toEqual([0, 1, 2].map(data));
    // addr at bytes 0-7, length at 8-11, type at byte 15 (little-endian)
    const v = r.lists[0]!.view;
    expect([v.getUint32(16 + 8, true), v.getUint8(16 + 15)]).toEqual([65536, DATA]);
  });

  it('16 entries (256 bytes) fit the small pool; 17 take a page', () => {
    const a = pools();
    expect(nvmePciSetupSgls(segs(16), a)).toMatchObject({
      npages: 0,
      sgl: { addr: SMALL_BASE, length: 256, type: LAST },
    });
    const b = pools();
    const r = nvmePciSetupSgls(segs(17), b);
    // 17 < 256: still LAST_SEGMENT, 17 * 16 = 272 bytes, from the page pool
    expect(r).toMatchObject({ npages: 1, sgl: { addr: PAGE_BASE, length: 272, type: LAST } });
    expect(b.small.stats.allocations).toBe(0);
  });

  it('chains past 256: 300 entries -> SEGMENT in the command, LAST_SEGMENT in slot 255', () => {
    const p = pools();
    const r = nvmePciSetupSgls(segs(300), p);
    // 300 >= SGES_PER_PAGE: the command points at page 0 as a SEGMENT of PAGE_SIZE bytes
    expect(SGES_PER_PAGE).toBe(256);
    expect(r).toMatchObject({ status: BLK_STS_OK, npages: 2 });
    expect(r.sgl).toEqual({ addr: PAGE_BASE, length: 4096, type: SEG });
    const [p0, p1] = r.lists;
    expect(p1!.dma).toBe(PAGE_BASE + 4096);
    // page 0: entries 0..254, then (at the 257th entry, 300 - 256 = 44 still to write) slot 255
    // becomes LAST_SEGMENT(page 1, 44 * 16 = 704) and entry 255 moves to page 1 slot 0
    expect(nvmeSglDescRead(p0!, 254)).toEqual(data(254));
    expect(nvmeSglDescRead(p0!, 255)).toEqual({ addr: p1!.dma, length: 704, type: LAST });
    // page 1: entries 255..299 in slots 0..44 = 45 descriptors, one more than the 704 bytes
    // announce ([DERIVED]: the kernel's count leaves out the moved entry)
    expect(nvmeSglDescRead(p1!, 0)).toEqual(data(255));
    expect(nvmeSglDescRead(p1!, 44)).toEqual(data(299));
    expect(nvmeSglDescRead(p1!, 45)).toEqual({ addr: 0, length: 0, type: 0 });
  });

  it('600 entries chain twice: SEGMENT(page 1) then LAST_SEGMENT(page 2, 89 * 16)', () => {
    const r = nvmePciSetupSgls(segs(600), pools());
    expect(r.npages).toBe(3);
    const [p0, p1, p2] = r.lists;
    // first chain at entry 256: 600 - 256 = 344 >= 256 -> SEGMENT, PAGE_SIZE bytes
    expect(nvmeSglDescRead(p0!, 255)).toEqual({ addr: p1!.dma, length: 4096, type: SEG });
    // page 1 holds entries 255..509 in slots 0..254; second chain at entry 511:
    // 600 - 511 = 89 left -> LAST_SEGMENT of 89 * 16 = 1424 bytes; entry 510 moves to page 2
    expect(nvmeSglDescRead(p1!, 254)).toEqual(data(509));
    expect(nvmeSglDescRead(p1!, 255)).toEqual({ addr: p2!.dma, length: 1424, type: LAST });
    expect(nvmeSglDescRead(p2!, 0)).toEqual(data(510));
    expect(nvmeSglDescRead(p2!, 89)).toEqual(data(599));
  });

  it('[DERIVED] exactly 256 entries: SEGMENT of a page whose last slot is a data descriptor', () => {
    const r = nvmePciSetupSgls(segs(256), pools());
    expect(r.sgl).toEqual({ addr: PAGE_BASE, length: 4096, type: SEG });
    expect(r.npages).toBe(1);
    expect(nvmeSglDescRead(r.lists[0]!, 255)).toEqual(data(255));
  });

  it('BLK_STS_RESOURCE when a chained page is refused; the first page is freed', () => {
    const p = pools({ page: 1 });
    expect(nvmePciSetupSgls(segs(300), p)).toMatchObject({ status: BLK_STS_RESOURCE, lists: [] });
    expect(p.page.stats).toMatchObject({ allocations: 1, failures: 1, frees: 1, inUse: 0 });
  });
});
