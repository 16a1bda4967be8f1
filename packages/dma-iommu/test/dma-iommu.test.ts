/**
 * dma-iommu's DmaMapOps (dma-iommu.ts; drivers/iommu/dma-iommu.c and iommu_map_sg(), reference
 * §4.1-§4.4, §4.6, §3.5) on the fabric of fabric.ts, through createKernelContainer() with the
 * DMA-API debug checker on. Every expected number is worked out in the comments from the rules.
 *
 * Numbers that recur (4 KiB granule, nvme0 a 64-bit PCI device, §4.5): a PCI device tries below
 * 4 GiB first; the IOVA allocator rounds sizes under 32 pages up to a power of two and places a
 * range top-down, aligned to that size, below pfn 0x100000, so a first range of n pages (n a power
 * of two) starts at pfn 0x100000 - n: 1 page 0xfffff000, 2 pages 0xffffe000, 4 pages 0xffffc000.
 * gpuA's and gpuB's BAR0 bus addresses are CPU + 64 GiB: 0x110_0000_0000 and 0x110_0400_0000.
 */
import {
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_MAPPING_ERROR,
  DmaDataDirection,
  EINVAL,
  EIO,
  ENOMEM,
  EREMOTEIO,
  IOMMU_CACHE,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_MMIO,
  IOMMU_READ,
  IOMMU_WRITE,
  SG_DMA_SWIOTLB,
  dmaGetMergeBoundary,
  dmaMapPhys,
  dmaMapResource,
  dmaMapSgtable,
  dmaMappingError,
  dmaMaxMappingSize,
  dmaOptMappingSize,
  dmaUnmapPhys,
  dmaUnmapResource,
  dmaUnmapSgtable,
  type DmaDevice,
  type SgTable,
} from '@dmasim/core';
import { IOVA_RCACHE_RANGE } from '@dmasim/dma-iommu';
import {
  BAR,
  GiB,
  HB0_BUS_OFFSET,
  HIGH,
  KiB,
  MiB,
  POOL_START,
  TestKernel,
  cpuOf,
  dmaOf,
  entries,
} from './fabric';

const { DMA_BIDIRECTIONAL: BIDI, DMA_TO_DEVICE, DMA_FROM_DEVICE } = DmaDataDirection;
const MS = 1_000_000;
const PAGE = 4 * KiB;
const BUS_A = BAR.gpuA + HB0_BUS_OFFSET; // 0x110_0000_0000
const BUS_B = BAR.gpuB + HB0_BUS_OFFSET; // 0x110_0400_0000
const ERR: [number, number, boolean] = [DMA_MAPPING_ERROR, 0, false];

/** map_sg through the device's ops (the debug checker's wrapper); returns the raw result. */
function mapSg(dev: DmaDevice, sgt: SgTable, dir = BIDI, attrs = 0): number {
  const n = dev.dmaOps.mapSg(dev, sgt.sgl!, sgt.origNents, dir, attrs);
  if (n > 0) sgt.nents = n;
  return n;
}

function unmapSg(dev: DmaDevice, sgt: SgTable, dir = BIDI, attrs = 0): void {
  dev.dmaOps.unmapSg(dev, sgt.sgl!, sgt.origNents, dir, attrs);
}

/** The checker reported nothing and holds no mapping of `dev`. */
function expectClean(k: TestKernel, dev: DmaDevice): void {
  expect(k.debugErrors()).toEqual([]);
  expect(k.debug.entries(dev)).toEqual([]);
}

describe('§4.2 map_sg: stashing, granule expansion, offsets', () => {
  it('an entry at page offset 0x200 of 0x1000 bytes takes 2 granules; its DMA address is IOVA + 0x200', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev();
    const sgt = k.table([{ phys: HIGH + 0x200, len: 0x1000 }]);
    // off = 0x200; s_length = ALIGN(0x1000 + 0x200, 0x1000) = 0x2000 = 2 granules = iova_len;
    // 2 pages below 4 GiB: pfn 0x100000 - 2 = 0xffffe -> IOVA 0xffffe000, DMA 0xffffe200.
    expect(mapSg(dev, sgt)).toBe(1);
    expect(dmaOf(sgt, 1)).toEqual([[0xffffe200, 0x1000, false]]);
    // __finalise_sg() put the offset and length back.
    expect(cpuOf(sgt)).toEqual([[0x200, 0x1000]]);
    // One iommu_map() of both granules, from the page start: [HIGH, HIGH + 0x2000).
    expect(k.iommu.counters.iommuMap).toBe(1);
    expect(k.ops.stats.bytesMapped).toBe(0x2000);
    expect(k.ops.stats.iovaBytes).toBe(0x2000);
    expect(k.ops.dmaToPhys(dev, 0xffffe200)).toBe(HIGH + 0x200);
    expect(k.ops.dmaToPhys(dev, 0xffffe000)).toBe(HIGH);
    expect(k.ops.dmaToPhys(dev, 0xffffffff)).toBe(HIGH + 0x1fff);
    expect(k.ops.lastMapSgIova()).toEqual({
      device: dev.name,
      iova: 0xffffe000,
      size: 0x2000,
      granule: PAGE,
    });
    unmapSg(dev, sgt);
    expect(k.ops.dmaToPhys(dev, 0xffffe200)).toBeUndefined();
    expectClean(k, dev);
  });

  it('the kernel log is quiet: no "Using N-bit DMA addresses" while 32-bit IOVAs last', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev();
    const sgt = k.table([{ phys: HIGH, len: PAGE }]);
    expect(mapSg(dev, sgt)).toBe(1);
    // 1 page: pfn 0xfffff, the highest below 4 GiB.
    expect(dmaOf(sgt, 1)).toEqual([[0xfffff000, PAGE, false]]);
    unmapSg(dev, sgt);
    expect(k.messages()).toEqual([]);
  });
});

describe('§4.2 seg-boundary padding (segment boundary mask 0xffff, 64 KiB segments)', () => {
  const limits = { segmentBoundaryMask: 0xffff, maxSegmentSize: 64 * KiB };

  it('an entry that would straddle 64 KiB pushes itself to the boundary by padding the previous one', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev(limits);
    // A: 60 KiB at HIGH; B: 8 KiB at HIGH + 1 MiB (not physically after A).
    const sgt = k.table([
      { phys: HIGH, len: 0xf000 },
      { phys: HIGH + MiB, len: 0x2000 },
    ]);
    // A: pad = 0 (iova_len 0), iova_len = 0xf000.
    // B: pad = (0xffff - 0xf000 + 1) & 0xffff = 0x1000, and 0x1000 < 0x2000 - 1, so A grows to
    // 0x10000 and iova_len = 0x10000 + 0x2000 = 0x12000 (18 pages), rounded up to 32 pages and
    // aligned to them: pfn 0x100000 - 0x20 = 0xfffe0 -> IOVA 0xfffe0000.
    expect(mapSg(dev, sgt)).toBe(2);
    // A: 0xfffe0000, 0xf000 bytes; it ends before its (padded) granules end, so cur_len = 0 and B
    // starts a new entry at 0xfffe0000 + 0x10000 = 0xffff0000, on the boundary.
    expect(dmaOf(sgt, 2)).toEqual([
      [0xfffe0000, 0xf000, false],
      [0xffff0000, 0x2000, false],
    ]);
    expect(cpuOf(sgt)).toEqual([
      [0, 0xf000],
      [0, 0x2000],
    ]);
    // iommu_map_sg(): A's padded run [HIGH, HIGH + 0x10000) then B's: two iommu_map() calls.
    // The padding granule maps what physically follows A.
    expect(k.iommu.counters.iommuMap).toBe(2);
    expect(k.ops.stats.bytesMapped).toBe(0x12000);
    expect(k.ops.dmaToPhys(dev, 0xfffef000)).toBe(HIGH + 0xf000);
    expect(k.ops.dmaToPhys(dev, 0xffff0000)).toBe(HIGH + MiB);
    expect(k.ops.lastMapSgIova()?.size).toBe(0x12000);
    unmapSg(dev, sgt);
    expectClean(k, dev);
  });

  it('an entry that ends exactly on the boundary is not padded and merges up to 64 KiB', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev(limits);
    const sgt = k.table([
      { phys: HIGH, len: 0xf000 },
      { phys: HIGH + MiB, len: PAGE },
    ]);
    // B: pad = 0x1000 but not < 0x1000 - 1: no padding; iova_len = 0x10000 = 16 pages ->
    // pfn 0x100000 - 0x10 = 0xffff0 -> IOVA 0xffff0000. B's IOVA 0xfffff000 & 0xffff != 0,
    // cur_len 0xf000, room 0x10000 - 0xf000 = 0x1000 >= 0x1000: merged into one 64 KiB entry.
    expect(mapSg(dev, sgt)).toBe(1);
    expect(dmaOf(sgt, 1)).toEqual([[0xffff0000, 0x10000, false]]);
    expect(k.ops.stats.merges).toBe(1);
    unmapSg(dev, sgt);
    expectClean(k, dev);
  });
});

describe('§4.3 __finalise_sg merging', () => {
  // Four 4 KiB entries 64 KiB apart: never physically contiguous, contiguous in IOVA space.
  const four = (k: TestKernel) =>
    k.table([0, 1, 2, 3].map((i) => ({ phys: HIGH + i * 0x10000, len: PAGE })));

  it('4 entries contiguous in IOVA merge into 1 with a 64 KiB max segment size', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev({ maxSegmentSize: 64 * KiB });
    const sgt = four(k);
    // iova_len = 4 pages -> IOVA 0xffffc000; every entry starts on a granule, fills it, lies
    // off a 4 GiB boundary, and 4 x 4 KiB fits 64 KiB: one entry of 0x4000.
    expect(mapSg(dev, sgt)).toBe(4 - 3);
    expect(dmaOf(sgt, 4)).toEqual([[0xffffc000, 0x4000, false], ERR, ERR, ERR]);
    expect(k.ops.stats.merges).toBe(3);
    // Physically apart: one iommu_map() per entry.
    expect(k.iommu.counters.iommuMap).toBe(4);
    // The CPU side is what was built.
    expect(cpuOf(sgt)).toEqual([
      [0, PAGE],
      [0, PAGE],
      [0, PAGE],
      [0, PAGE],
    ]);
    unmapSg(dev, sgt);
    expectClean(k, dev);
  });

  it('with an 8 KiB max segment size the same entries give 2', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev({ maxSegmentSize: 8 * KiB });
    const sgt = four(k);
    // entry 1: room 8K - 4K = 4K >= 4K, merged (8 KiB); entry 2: room 0 < 4K, new entry at
    // 0xffffc000 + 0x2000; entry 3 merged into it.
    expect(mapSg(dev, sgt)).toBe(2);
    expect(dmaOf(sgt, 4)).toEqual([
      [0xffffc000, 0x2000, false],
      [0xffffe000, 0x2000, false],
      ERR,
      ERR,
    ]);
    expect(k.ops.stats.merges).toBe(2);
    unmapSg(dev, sgt);
    expectClean(k, dev);
  });

  it('an entry starting exactly on a segment boundary (mask 0x1fff) starts a new entry', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev({ maxSegmentSize: 64 * KiB, segmentBoundaryMask: 0x1fff });
    const sgt = four(k);
    // No padding (each 4 KiB entry fits before the next 8 KiB boundary: pad 0x1000 is not
    // < 0xfff). IOVA 0xffffc000; entry 2 is at 0xffffe000, & 0x1fff == 0: not merged.
    expect(mapSg(dev, sgt)).toBe(2);
    expect(dmaOf(sgt, 2)).toEqual([
      [0xffffc000, 0x2000, false],
      [0xffffe000, 0x2000, false],
    ]);
    unmapSg(dev, sgt);
    expectClean(k, dev);
  });

  it('an entry with an offset inside its granule never joins the entry before it', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev();
    const sgt = k.table([
      { phys: HIGH, len: PAGE },
      { phys: HIGH + 0x10000 + 0x100, len: 0xf00 },
    ]);
    // iova_len 0x1000 + ALIGN(0xf00 + 0x100) = 0x2000 -> IOVA 0xffffe000. Entry 1: s_iova_off
    // 0x100 != 0, so a new entry at 0xfffff000 + 0x100.
    expect(mapSg(dev, sgt)).toBe(2);
    expect(dmaOf(sgt, 2)).toEqual([
      [0xffffe000, PAGE, false],
      [0xfffff100, 0xf00, false],
    ]);
    unmapSg(dev, sgt);
    expectClean(k, dev);
  });
});

describe('§4.2/§4.3/§4.6 P2P entries', () => {
  it('a BUS_ADDR entry between two RAM entries: 3 output entries, the bus entry marked, RAM not merged across it', () => {
    const k = new TestKernel({ mode: 'strict', options: { headLengthQuirk: false } });
    const dev = k.dev();
    const sgt = k.table([
      { phys: HIGH, len: PAGE },
      { phys: BAR.gpuA, len: PAGE },
      { phys: HIGH + 0x10000, len: PAGE },
    ]);
    // iova_len = 2 pages (the bus entry takes none) -> IOVA 0xffffe000; the RAM entries are
    // contiguous in IOVA space, but the bus entry between them resets cur_len.
    expect(mapSg(dev, sgt)).toBe(3);
    expect(dmaOf(sgt, 3)).toEqual([
      [0xffffe000, PAGE, false],
      [BUS_A, PAGE, true],
      [0xfffff000, PAGE, false],
    ]);
    expect(k.ops.lastMapSgIova()?.size).toBe(0x2000);
    // The device reaches gpuA's BAR through the switch at the bus address (no IOMMU involved).
    expect(k.ops.dmaToPhys(dev, BUS_A + 0x10)).toBe(BAR.gpuA + 0x10);
    expect(k.iommu.counters.iommuMap).toBe(2);
    unmapSg(dev, sgt);
    // §4.4: the marks are cleared, the one IOVA range [0xffffe000, 0x100000000) unmapped.
    expect(entries(sgt).map((s) => s.dmaFlags)).toEqual([0, 0, 0]);
    expect(k.ops.stats.bytesUnmapped).toBe(0x2000);
    expect(k.iommu.counters.iotlbSync).toBe(1);
    expectClean(k, dev);
  });

  it('an all-bus list allocates no IOVA (allocator counters unchanged) and maps nothing', () => {
    const k = new TestKernel({ mode: 'strict', options: { headLengthQuirk: false } });
    const dev = k.dev();
    const sgt = k.table([
      { phys: BAR.gpuA, len: PAGE },
      { phys: BAR.gpuB + 0x800, len: 0x800 },
    ]);
    // iova_len == 0: __finalise_sg() with base 0; only the bus addresses are written.
    expect(mapSg(dev, sgt)).toBe(2);
    expect(dmaOf(sgt, 2)).toEqual([
      [BUS_A, PAGE, true],
      [BUS_B + 0x800, 0x800, true],
    ]);
    const cookie = k.ops.iommuDmaCookie(dev)!;
    expect(k.ops.stats.iovaAllocs).toBe(0);
    expect(cookie.iovad.stats.rangeAllocs).toBe(0);
    expect(cookie.iovad.stats.rcacheHits).toBe(0);
    expect(k.iommu.counters.iommuMap).toBe(0);
    expect(k.ops.lastMapSgIova()).toBeUndefined();
    unmapSg(dev, sgt);
    // §4.4: every entry is a bus address, so no range: no unmap, no IOTLB sync, no free.
    expect(k.iommu.counters.iommuUnmap).toBe(0);
    expect(k.iommu.counters.iotlbSync).toBe(0);
    expect(k.ops.stats.iovaFrees).toBe(0);
    expect(entries(sgt).map((s) => s.dmaFlags)).toEqual([0, 0]);
    expectClean(k, dev);
  });

  it('THRU_HOST_BRIDGE entries are mapped through the IOVA range and merge like RAM', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev();
    const sgt = k.table([
      { phys: HIGH, len: PAGE },
      { phys: BAR.gpuC, len: PAGE },
      { phys: BAR.gpuC + PAGE, len: PAGE },
    ]);
    // iova_len 3 pages, rounded up to 4 -> IOVA 0xffffc000; all three merge (12 KiB < 64 KiB).
    expect(mapSg(dev, sgt)).toBe(1);
    expect(dmaOf(sgt, 1)).toEqual([[0xffffc000, 0x3000, false]]);
    // Two physically contiguous runs: the RAM page, and gpuC's two pages.
    expect(k.iommu.counters.iommuMap).toBe(2);
    expect(k.ops.dmaToPhys(dev, 0xffffd000)).toBe(BAR.gpuC);
    expect(k.ops.dmaToPhys(dev, 0xffffe800)).toBe(BAR.gpuC + 0x1800);
    // §4.1: map_sg adds no IOMMU_MMIO for them: RW + CACHE (coherent device).
    const pt = k.iommu.iommuGetDomainForDev('nvme0')!.pageTable!;
    expect(pt.leafAt(0xffffd000)!.prot).toBe(IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE);
    unmapSg(dev, sgt);
    expectClean(k, dev);
  });

  it('a NOT_SUPPORTED entry fails the list with -EREMOTEIO, the list restored and nothing mapped', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev();
    const built: [number, number][] = [
      [0x200, 0x1000],
      [0, PAGE],
      [0, PAGE],
      [0, PAGE],
    ];
    const sgt = k.table([
      { phys: HIGH + 0x200, len: 0x1000 },
      { phys: BAR.gpuA, len: PAGE },
      { phys: BAR.gpuD, len: PAGE },
      { phys: HIGH + 0x10000, len: PAGE },
    ]);
    // Entry 0 was stashed and widened, entry 1 marked; the restore undoes both.
    expect(mapSg(dev, sgt)).toBe(-EREMOTEIO);
    expect(cpuOf(sgt)).toEqual(built);
    expect(dmaOf(sgt, 4)).toEqual([ERR, ERR, ERR, ERR]);
    expect(entries(sgt).map((s) => s.dmaFlags)).toEqual([0, 0, 0, 0]);
    expect(k.ops.stats.iovaAllocs).toBe(0);
    expect(k.iommu.counters.iommuMap).toBe(0);
    expectClean(k, dev);
    // dma_map_sgtable() passes the code on (§3.3).
    expect(dmaMapSgtable(dev, sgt, BIDI)).toBe(-EREMOTEIO);
    expect(cpuOf(sgt)).toEqual(built);
  });

  describe('the BUS_ADDR head-length quirk (v6.16+, §4.2 note)', () => {
    // Head: RAM at page offset 0x200, 0x1000 bytes, widened to 0x2000 by the time the bus
    // entries are seen; then gpuA (0x1000) and gpuB (0x800).
    const list = (k: TestKernel) =>
      k.table([
        { phys: HIGH + 0x200, len: 0x1000 },
        { phys: BAR.gpuA, len: PAGE },
        { phys: BAR.gpuB, len: 0x800 },
      ]);

    it('on (the default): every bus entry gets the list head’s length as it is then (0x2000)', () => {
      const k = new TestKernel({ mode: 'strict' });
      expect(k.ops.options.headLengthQuirk).toBe(true);
      const dev = k.dev();
      const sgt = list(k);
      expect(mapSg(dev, sgt)).toBe(3);
      expect(dmaOf(sgt, 3)).toEqual([
        [0xffffe200, 0x1000, false],
        [BUS_A, 0x2000, true],
        [BUS_B, 0x2000, true],
      ]);
      unmapSg(dev, sgt);
    });

    it('off (v6.0-v6.15): each bus entry keeps its own length', () => {
      const k = new TestKernel({ mode: 'strict', options: { headLengthQuirk: false } });
      const dev = k.dev();
      const sgt = list(k);
      expect(mapSg(dev, sgt)).toBe(3);
      expect(dmaOf(sgt, 3)).toEqual([
        [0xffffe200, 0x1000, false],
        [BUS_A, PAGE, true],
        [BUS_B, 0x800, true],
      ]);
      unmapSg(dev, sgt);
      expectClean(k, dev);
    });

    it('on, with a bus entry at the head: later bus entries get its length (0x1000, not 0x800)', () => {
      const k = new TestKernel({ mode: 'strict' });
      const dev = k.dev();
      const sgt = k.table([
        { phys: BAR.gpuA, len: PAGE },
        { phys: BAR.gpuB, len: 0x800 },
      ]);
      expect(mapSg(dev, sgt)).toBe(2);
      expect(dmaOf(sgt, 2)).toEqual([
        [BUS_A, PAGE, true],
        [BUS_B, PAGE, true],
      ]);
      unmapSg(dev, sgt);
    });
  });
});

describe('§4.5 IOVA placement and exhaustion as map_sg sees it', () => {
  it('32-bit first; a range that does not fit below 4 GiB logs "Using 48-bit DMA addresses" and goes top-down below 2^48', () => {
    const k = new TestKernel({ mode: 'strict' });
    // NVMe-like limits, so that 1 GiB entries are legal segments.
    const dev = k.dev({ maxSegmentSize: 0xffff_ffff });
    const sgt = k.table([
      { phys: HIGH, len: GiB },
      { phys: HIGH + 2 * GiB, len: GiB },
    ]);
    // iova_len 2 GiB = 0x80000 pages, aligned to 0x80000. Below 4 GiB: [0x80000, 0xfffff] holds
    // the MSI window 0xfee00-0xfeeff, the next candidate (0xfee00 - 0x80000) & ~0x7ffff = 0 is
    // below pfn 1: no room. pci_32bit_workaround is cleared, the notice logged, and the range
    // placed below the 48-bit aperture end: (0x1000000000 - 0x80000) = 0xfff_ff80_000 ->
    // IOVA 0xffff_8000_0000.
    expect(mapSg(dev, sgt)).toBe(1);
    // Entry 1 at 0xffff_c000_0000: & 0xffffffff = 0xc0000000 != 0, room 0xffffffff - 1 GiB:
    // merged into one 2 GiB entry.
    expect(dmaOf(sgt, 2)).toEqual([[0xffff_8000_0000, 2 * GiB, false], ERR]);
    expect(k.messages()).toEqual([`${dev.name}: Using 48-bit DMA addresses`]);
    // The workaround stays off: a 1-page list now goes below the last range, 0xffff_7fff_f000.
    const one = k.table([{ phys: HIGH + 4 * GiB, len: PAGE }]);
    expect(mapSg(dev, one)).toBe(1);
    expect(dmaOf(one, 1)).toEqual([[0xffff_7fff_f000, PAGE, false]]);
    unmapSg(dev, one);
    unmapSg(dev, sgt);
    expect(k.messages()).toHaveLength(1);
    expectClean(k, dev);
  });

  it('iommu.forcedac=1: no 32-bit attempt, the first page is the highest below 2^48', () => {
    const k = new TestKernel({ mode: 'strict', options: { forcedac: true } });
    const dev = k.dev();
    const sgt = k.table([{ phys: HIGH, len: PAGE }]);
    expect(mapSg(dev, sgt)).toBe(1);
    // pfn (2^48 - 1) >> 12 = 0xfffffffff -> IOVA 0xffff_ffff_f000; nothing logged.
    expect(dmaOf(sgt, 1)).toEqual([[0xffff_ffff_f000, PAGE, false]]);
    expect(k.messages()).toEqual([]);
    unmapSg(dev, sgt);
  });

  it('no IOVA space left: -ENOMEM with the list restored; after an unmap the retry succeeds', () => {
    const k = new TestKernel({ mode: 'strict' });
    // A 24-bit mask: IOVA space [pfn 1, pfn 0xfff] (16 MiB less a page).
    const dev = k.dev({ dmaMaskBits: 24, maxSegmentSize: 8 * MiB });
    const a = k.table([{ phys: HIGH, len: 8 * MiB }]);
    const b = k.table([{ phys: HIGH + 16 * MiB, len: 8 * MiB }]);
    // a: 0x800 pages, aligned: (0x1000 - 0x800) = 0x800 -> IOVA 0x800000.
    expect(mapSg(dev, a)).toBe(1);
    expect(dmaOf(a, 1)).toEqual([[0x80_0000, 8 * MiB, false]]);
    // b: below 0x800 the only aligned candidate is pfn 0, under pfn 1: none, even after the
    // rcache flush.
    expect(mapSg(dev, b)).toBe(-ENOMEM);
    expect(cpuOf(b)).toEqual([[0, 8 * MiB]]);
    expect(dmaOf(b, 1)).toEqual([ERR]);
    expect(k.ops.stats.iovaAllocFailures).toBe(1);
    // The 24-bit limit is below 4 GiB: no 32-bit-first attempt, no notice.
    expect(k.messages()).toEqual([]);
    // "Should succeed if retried later": strict unmap frees 0x800000 (too big for the rcache).
    unmapSg(dev, a);
    expect(mapSg(dev, b)).toBe(1);
    expect(dmaOf(b, 1)).toEqual([[0x80_0000, 8 * MiB, false]]);
    unmapSg(dev, b);
    expectClean(k, dev);
  });
});

describe('§4.4 unmap_sg', () => {
  it('the range runs from the first to the last non-bus output entry; bus marks are cleared; the IOVA is reused', () => {
    const k = new TestKernel({ mode: 'strict', options: { headLengthQuirk: false } });
    const dev = k.dev();
    const sgt = k.table([
      { phys: BAR.gpuA, len: PAGE },
      { phys: HIGH, len: PAGE },
      { phys: BAR.gpuB, len: PAGE },
      { phys: HIGH + 0x10000, len: PAGE },
    ]);
    expect(mapSg(dev, sgt)).toBe(4);
    expect(dmaOf(sgt, 4)).toEqual([
      [BUS_A, PAGE, true],
      [0xffffe000, PAGE, false],
      [BUS_B, PAGE, true],
      [0xfffff000, PAGE, false],
    ]);
    unmapSg(dev, sgt);
    // start 0xffffe000, end 0xfffff000 + 0x1000: one __iommu_dma_unmap() of 0x2000 bytes.
    expect(k.ops.stats.iommuUnmapCalls).toBe(1);
    expect(k.ops.stats.bytesUnmapped).toBe(0x2000);
    expect(k.iommu.counters.iotlbSync).toBe(1);
    expect(entries(sgt).map((s) => s.dmaFlags)).toEqual([0, 0, 0, 0]);
    // Strict: the 2-page range went into the rcache; the next 2-page list gets it back.
    const again = k.table([
      { phys: HIGH + 0x20000, len: PAGE },
      { phys: HIGH + 0x30000, len: PAGE },
    ]);
    expect(mapSg(dev, again)).toBe(1);
    expect(dmaOf(again, 1)).toEqual([[0xffffe000, 0x2000, false]]);
    unmapSg(dev, again);
    expectClean(k, dev);
  });
});

describe('§4.5 strict and lazy IOTLB invalidation across map/unmap cycles', () => {
  function cycles(k: TestKernel, n: number): number[] {
    const dev = k.dev();
    const iovas: number[] = [];
    for (let i = 0; i < n; i++) {
      const sgt = k.table([{ phys: HIGH + i * 0x10000, len: PAGE }]);
      expect(mapSg(dev, sgt)).toBe(1);
      iovas.push(entries(sgt)[0]!.dmaAddress);
      unmapSg(dev, sgt);
    }
    return iovas;
  }

  it('strict (DMA domain): one range invalidation per unmap, the IOVA reused at once', () => {
    const k = new TestKernel({ mode: 'strict' });
    expect(k.iommu.iommuGetDomainForDev('nvme0')!.type).toBe(IOMMU_DOMAIN_DMA);
    expect(cycles(k, 3)).toEqual([0xfffff000, 0xfffff000, 0xfffff000]);
    expect(k.iommu.counters.iotlbSync).toBe(3);
    expect(k.iommu.counters.flushIotlbAll).toBe(0);
    expect(k.iommu.iotlbStats().rangeInvalidations).toBe(3);
    expect(k.iommu.iotlbStats().globalInvalidations).toBe(0);
  });

  it('lazy (DMA-FQ domain): no invalidation until the 10 ms flush-queue timer fires', () => {
    const k = new TestKernel({ mode: 'lazy' });
    expect(k.iommu.iommuGetDomainForDev('nvme0')!.type).toBe(IOMMU_DOMAIN_DMA_FQ);
    // Queued IOVAs are not reusable before the flush: each cycle takes the next page down.
    expect(cycles(k, 3)).toEqual([0xfffff000, 0xffffe000, 0xffffd000]);
    const fq = k.ops.iommuDmaCookie(k.dev())!.fq!;
    expect(fq.pending).toBe(3);
    expect(k.iommu.counters.iotlbSync).toBe(0);
    expect(k.iommu.counters.flushIotlbAll).toBe(0);
    // The timer was armed by the first queued entry, at t = 0: it fires at 10 ms.
    k.clock.advance(10 * MS - 1);
    expect(k.iommu.counters.flushIotlbAll).toBe(0);
    k.clock.advance(1);
    expect(k.iommu.counters.flushIotlbAll).toBe(1);
    expect(k.iommu.iotlbStats().globalInvalidations).toBe(1);
    expect(k.iommu.iotlbStats().rangeInvalidations).toBe(0);
    expect(fq.pending).toBe(0);
    // Freed oldest first into the order-0 magazine (0xfffff, 0xffffe, 0xffffd): the next
    // allocation pops the last one pushed.
    expect(cycles(k, 1)).toEqual([0xffffd000]);
  });

  it('lazy: a full ring (255 of 256 slots) flushes on the 256th unmap without the timer', () => {
    const k = new TestKernel({ mode: 'lazy' });
    cycles(k, 255);
    expect(k.iommu.counters.flushIotlbAll).toBe(0);
    cycles(k, 1);
    expect(k.iommu.counters.flushIotlbAll).toBe(1);
    expect(k.ops.iommuDmaCookie(k.dev())!.fq!.stats.fullFlushes).toBe(1);
    expect(k.iommu.counters.iotlbSync).toBe(0);
  });
});

describe('§4.6 device DMA through the IOMMU (iommu.dmaAccess)', () => {
  it('strict: a DMA to a live mapping reaches the buffer, with its permission; after unmap it faults', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev();
    const sgt = k.table([{ phys: HIGH, len: 0x2000 }]);
    expect(mapSg(dev, sgt, DMA_TO_DEVICE)).toBe(1);
    // 2 pages -> IOVA 0xffffe000, mapped IOMMU_READ (the device reads memory for TO_DEVICE).
    const ok = k.iommu.dmaAccess('nvme0', 0xffffe000, 0x2000, DMA_TO_DEVICE);
    expect(ok).toMatchObject({ ok: true, translated: true, paddr: HIGH });
    const write = k.iommu.dmaAccess('nvme0', 0xffffe000, 4, DMA_FROM_DEVICE);
    expect(write).toMatchObject({ ok: false, fault: { reason: 'permission' } });
    unmapSg(dev, sgt, DMA_TO_DEVICE);
    const after = k.iommu.dmaAccess('nvme0', 0xffffe000, 4, DMA_TO_DEVICE);
    expect(after).toMatchObject({ ok: false, fault: { reason: 'unmapped', address: 0xffffe000 } });
  });

  it('lazy: the stale IOTLB entry still translates after unmap until the flush queue flushes', () => {
    const k = new TestKernel({ mode: 'lazy' });
    const dev = k.dev();
    const sgt = k.table([{ phys: HIGH, len: PAGE }]);
    expect(mapSg(dev, sgt)).toBe(1);
    expect(k.iommu.dmaAccess('nvme0', 0xfffff000, 64, BIDI)).toMatchObject({ ok: true });
    unmapSg(dev, sgt);
    // The page table no longer maps it, but the IOTLB entry the DMA filled is still there.
    expect(k.ops.dmaToPhys(dev, 0xfffff000)).toBeUndefined();
    expect(k.iommu.dmaAccess('nvme0', 0xfffff000, 64, BIDI)).toMatchObject({
      ok: true,
      paddr: HIGH,
    });
    k.clock.advance(10 * MS);
    expect(k.iommu.dmaAccess('nvme0', 0xfffff000, 64, BIDI)).toMatchObject({
      ok: false,
      fault: { reason: 'unmapped' },
    });
  });
});

describe('§3.5 the swiotlb route of untrusted devices', () => {
  it('marks the list, maps entry by entry (own IOVA each, unaligned ones bounced), ignores the P2P state, never merges', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev({ untrusted: true });
    const sgt = k.table([
      { phys: HIGH, len: PAGE },
      { phys: HIGH + 0x10100, len: 0x800 },
      { phys: BAR.gpuA, len: PAGE },
    ]);
    expect(mapSg(dev, sgt)).toBe(3);
    expect(sgt.sgl!.dmaFlags & SG_DMA_SWIOTLB).toBe(SG_DMA_SWIOTLB);
    // entry 0: granule-aligned, no bounce: its own page, 0xfffff000.
    // entry 1: 0x800 bytes at offset 0x100: bounced with alloc_align_mask 0xfff into the pool's
    //   first slots (POOL_START, 2 slots of 2 KiB), then a page of its own: 0xffffe000.
    // entry 2: gpuA's page (BUS_ADDR for a trusted device) mapped like RAM: 0xffffd000, unmarked.
    expect(dmaOf(sgt, 3)).toEqual([
      [0xfffff000, PAGE, false],
      [0xffffe000, 0x800, false],
      [0xffffd000, PAGE, false],
    ]);
    expect(k.ops.dmaToPhys(dev, 0xffffe010)).toBe(HIGH + 0x10110);
    expect(k.ops.dmaToPhys(dev, 0xffffd000)).toBe(BAR.gpuA);
    expect(k.iommu.iommuIovaToPhys(k.iommu.iommuGetDomainForDev('nvme0')!, 0xffffe000)).toBe(
      POOL_START,
    );
    expect(k.swiotlb.used).toBe(2);
    expect(k.ops.stats.swiotlbRoutes).toBe(1);
    expect(k.ops.stats.bounced).toBe(1);
    expect(k.ops.stats.iovaAllocs).toBe(3);
    // swiotlb_max_mapping_size(): one 128-slot segment, 256 KiB.
    expect(dmaMaxMappingSize(dev)).toBe(256 * KiB);
    unmapSg(dev, sgt);
    expect(k.swiotlb.used).toBe(0);
    expect(sgt.sgl!.dmaFlags).toBe(0);
    expect(k.ops.dmaToPhys(dev, 0xffffe010)).toBeUndefined();
    expect(k.iommu.counters.iotlbSync).toBe(3);
    expectClean(k, dev);
  });

  it('without a swiotlb pool an unaligned entry fails the list with -EIO; the entries before it are unmapped', () => {
    const k = new TestKernel({ mode: 'strict', swiotlb: { noforce: true } });
    const dev = k.dev({ untrusted: true });
    const sgt = k.table([
      { phys: HIGH, len: PAGE },
      { phys: HIGH + 0x10100, len: 0x800 },
    ]);
    expect(mapSg(dev, sgt)).toBe(-EIO);
    expect(k.messages()).toEqual([
      `${dev.name}: DMA bounce buffers are inactive, unable to map unaligned transaction.`,
    ]);
    // Entry 0 got 0xfffff000 and was unmapped again (SKIP_CPU_SYNC): nothing translates.
    expect(k.ops.dmaToPhys(dev, 0xfffff000)).toBeUndefined();
    expect(k.ops.stats.iovaFrees).toBe(1);
    expect(sgt.sgl!.dmaFlags).toBe(0);
    expectClean(k, dev);
  });
});

describe('§4.1 single mappings, map_resource and the size queries', () => {
  it('dma_map_phys: IOVA + offset into the granule; dma_unmap_phys releases it', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev();
    // 0x2000 bytes at offset 0x10: ALIGN(0x2010) = 3 pages, rounded to 4 -> 0xffffc000 + 0x10.
    const addr = dmaMapPhys(dev, HIGH + 0x10, 0x2000, BIDI);
    expect(dmaMappingError(dev, addr)).toBe(false);
    expect(addr).toBe(0xffffc010);
    expect(k.ops.dmaToPhys(dev, addr + 0x1fff)).toBe(HIGH + 0x200f);
    dmaUnmapPhys(dev, addr, 0x2000, BIDI);
    expect(k.ops.dmaToPhys(dev, addr)).toBeUndefined();
    expectClean(k, dev);
  });

  it('dma_map_resource of a BAR: an IOVA mapped IOMMU_MMIO without IOMMU_CACHE', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev();
    const isRam = (phys: number) => k.topo.memoryMap.isRam(phys, 1);
    const addr = dmaMapResource(dev, BAR.gpuC + 0x100, 0x100, BIDI, 0, isRam);
    expect(dmaMappingError(dev, addr)).toBe(false);
    // One page: 0xfffff000 + 0x100.
    expect(addr).toBe(0xfffff100);
    const pt = k.iommu.iommuGetDomainForDev('nvme0')!.pageTable!;
    expect(pt.leafAt(0xfffff000)!.prot).toBe(IOMMU_READ | IOMMU_WRITE | IOMMU_MMIO);
    expect(k.ops.dmaToPhys(dev, addr)).toBe(BAR.gpuC + 0x100);
    dmaUnmapResource(dev, addr, 0x100, BIDI);
    expect(k.ops.dmaToPhys(dev, addr)).toBeUndefined();
    expectClean(k, dev);
  });

  it('merge boundary granule - 1, optimal mapping size 128 KiB, no maximum for a trusted device', () => {
    const k = new TestKernel({ mode: 'lazy' });
    const dev = k.dev();
    expect(dmaGetMergeBoundary(dev)).toBe(0xfff);
    // PAGE_SIZE << (IOVA_RANGE_CACHE_MAX_SIZE - 1) = 4096 << 5.
    expect(IOVA_RCACHE_RANGE).toBe(128 * KiB);
    expect(dmaOptMappingSize(dev)).toBe(128 * KiB);
    expect(dmaMaxMappingSize(dev)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('a non-coherent device: CPU cache maintenance per entry around map_sg and unmap_sg, none with SKIP_CPU_SYNC, no IOMMU_CACHE', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev({ coherent: false });
    const sgt = k.table([0, 1, 2].map((i) => ({ phys: HIGH + i * 0x10000, len: PAGE })));
    expect(mapSg(dev, sgt)).toBe(1);
    expect(k.ops.stats.cacheSyncsForDevice).toBe(3);
    const pt = k.iommu.iommuGetDomainForDev('nvme0')!.pageTable!;
    // 3 pages -> 4 -> 0xffffc000.
    expect(pt.leafAt(0xffffc000)!.prot).toBe(IOMMU_READ | IOMMU_WRITE);
    unmapSg(dev, sgt);
    expect(k.ops.stats.cacheSyncsForCpu).toBe(3);
    expect(mapSg(dev, sgt, BIDI, DMA_ATTR_SKIP_CPU_SYNC)).toBe(1);
    unmapSg(dev, sgt, BIDI, DMA_ATTR_SKIP_CPU_SYNC);
    expect(k.ops.stats.cacheSyncsForDevice).toBe(3);
    expect(k.ops.stats.cacheSyncsForCpu).toBe(3);
  });
});

describe('which code a device runs (use_dma_iommu())', () => {
  // RAM at page offset 0x200, BUS_ADDR gpuA, gpuB's half page, RAM: what dma-direct gives (§3.2).
  const list = (k: TestKernel) =>
    k.table([
      { phys: HIGH + 0x200, len: 0x1000 },
      { phys: BAR.gpuA, len: PAGE },
      { phys: BAR.gpuB, len: 0x800 },
      { phys: HIGH + 0x10000, len: PAGE },
    ]);
  const direct: [number, number, boolean][] = [
    [HIGH + 0x200, 0x1000, false],
    [BUS_A, PAGE, true],
    [BUS_B, 0x800, true],
    [HIGH + 0x10000, PAGE, false],
  ];

  it.each([
    ['passthrough (identity domain)', 'passthrough' as const],
    ['no IOMMU (no platform.iommu)', undefined],
  ])('%s: dma-direct, one entry per entry, physical addresses', (_what, mode) => {
    const k = new TestKernel({ mode });
    if (mode) expect(k.iommu.iommuGetDomainForDev('nvme0')!.type).toBe(IOMMU_DOMAIN_IDENTITY);
    else expect(k.iommu.enabled).toBe(false);
    const dev = k.dev();
    const sgt = list(k);
    expect(mapSg(dev, sgt)).toBe(4);
    expect(dmaOf(sgt, 4)).toEqual(direct);
    expect(k.direct.stats.mapSgCalls).toBe(1);
    expect(k.ops.stats.mapSgCalls).toBe(0);
    expect(k.ops.iommuDmaCookie(dev)).toBeUndefined();
    expect(k.ops.lastMapSgIova()).toBeUndefined();
    expect(k.ops.dmaToPhys(dev, HIGH + 0x200)).toBe(HIGH + 0x200);
    expect(dmaGetMergeBoundary(dev)).toBe(0);
    expect(dmaOptMappingSize(dev)).toBe(Number.MAX_SAFE_INTEGER);
    unmapSg(dev, sgt);
    expectClean(k, dev);
  });

  it('a group attached to the blocking domain: map_sg -EINVAL, map_phys DMA_MAPPING_ERROR, nothing translates', () => {
    const k = new TestKernel({ mode: 'strict' });
    const dev = k.dev();
    k.iommu.iommuGroupSetBlockingDomain(k.iommu.iommuGroupGet('nvme0')!);
    const sgt = list(k);
    expect(mapSg(dev, sgt)).toBe(-EINVAL);
    expect(cpuOf(sgt)[0]).toEqual([0x200, 0x1000]);
    const addr = dmaMapPhys(dev, HIGH, PAGE, BIDI);
    expect(dmaMappingError(dev, addr)).toBe(true);
    expect(k.ops.dmaToPhys(dev, HIGH)).toBeUndefined();
    expect(dmaMapSgtable(dev, sgt, BIDI)).toBe(-EINVAL);
    expectClean(k, dev);
  });

  it('dma_map_sgtable / dma_unmap_sgtable with dma-iommu: sgt.nents is the merged count', () => {
    const k = new TestKernel({ mode: 'lazy' });
    const dev = k.dev();
    const sgt = k.table([0, 1, 2, 3].map((i) => ({ phys: HIGH + i * 0x10000, len: PAGE })));
    expect(dmaMapSgtable(dev, sgt, BIDI)).toBe(0);
    expect(sgt.nents).toBe(1);
    expect(sgt.origNents).toBe(4);
    dmaUnmapSgtable(dev, sgt, BIDI);
    expectClean(k, dev);
  });
});
