/**
 * Splitting and segment counting of dma-direct bios (reference §5.6, with the §5.2 rules it
 * generalises). Addresses: B = 2^44, a bus address that is a multiple of 64 KiB and of 4 GiB (the
 * 16 TiB bus offset of the conformance fabric's first host bridge), so B + x has the low bits x.
 */
import fc from 'fast-check';
import {
  bioAddPage,
  bioAlloc,
  blkQueueFlagSet,
  blkRqFromBio,
  defaultQueueLimits,
  KernelLog,
  Page,
  REQ_NOMERGE,
  REQ_OP_WRITE,
  RequestQueue,
  type QueueLimits,
} from '@dmasim/core';
import {
  __vecGapToPrev,
  bioAddDmaAddr,
  bioCalcSegs,
  bioDmaAlloc,
  bioDmaCalcSegs,
  blkBioSegmentSplitAt,
  blkDmaRqFromBio,
  blkQueueSplit,
  blkRecalcRqSegmentsRfc,
  blkSegmentSplitCtx,
  DmaVecBio,
  QUEUE_FLAG_DMA_DIRECT,
  REQ_DMA_DIRECT,
  vecGapToPrev,
  vecPhysMergeable,
  vecShouldSplit,
  vecSplitSegs,
  type DmaVec,
} from '../src';

const SEED = Number(process.env.FC_SEED ?? 20261121);
const B = 2 ** 44;

function queue(lim: Partial<QueueLimits> = {}): RequestQueue {
  const q = new RequestQueue('nvme0n1', defaultQueueLimits(lim), new KernelLog());
  blkQueueFlagSet(QUEUE_FLAG_DMA_DIRECT, q);
  return q;
}

function dmaBio(q: RequestQueue, vecs: DmaVec[], sector = 0): DmaVecBio {
  const bio = bioDmaAlloc(REQ_OP_WRITE, Math.max(vecs.length, 1), q);
  bio.sector = sector;
  for (const v of vecs) expect(bioAddDmaAddr(q, bio, v.addr, v.len)).toBe(v.len);
  return bio;
}

describe('§5.6 vec_phys_mergeable() and __vec_gap_to_prev() on DMA addresses', () => {
  it('mergeable: contiguous and inside one segment-boundary window of the address', () => {
    const q = queue({ segBoundaryMask: 0xffff });
    // B+0x10000..B+0x11fff: both ends | 0xffff = B+0x1ffff -> one window
    expect(vecPhysMergeable(q, B + 0x10000, 0x1000, B + 0x11000, 0x1000)).toBe(true);
    // B+0x1f000 | 0xffff = B+0x1ffff, but the end B+0x20fff | 0xffff = B+0x2ffff: crosses 64 KiB
    expect(vecPhysMergeable(q, B + 0x1f000, 0x1000, B + 0x20000, 0x1000)).toBe(false);
    // a hole of 0x1000 between them
    expect(vecPhysMergeable(q, B + 0x10000, 0x1000, B + 0x12000, 0x1000)).toBe(false);
  });

  it('gap: with a virt boundary the next vector must start on it and the previous end on it', () => {
    const q = queue({ virtBoundaryMask: 0xfff });
    // previous ends at B+0x1800: (B+0x1800) & 0xfff = 0x800 -> gap
    expect(__vecGapToPrev(q, B + 0x1000, 0x800, B + 0x2000)).toBe(true);
    // previous ends on B+0x2000, next starts on B+0x2000 -> no gap
    expect(vecGapToPrev(q, B + 0x1000, 0x1000, B + 0x2000)).toBe(false);
    // next starts at B+0x2200: 0x200 off the boundary -> gap
    expect(vecGapToPrev(q, B + 0x1000, 0x1000, B + 0x2200)).toBe(true);
    // no virt boundary: never a gap
    expect(vecGapToPrev(queue(), B + 0x1000, 0x800, B + 0x2200)).toBe(false);
  });
});

describe('§5.6 vec_split_segs() on a raw range (the §5.2 loop)', () => {
  it('[DERIVED §5.2] seg mask 0xffff: 0x3000 bytes at B+0x1f000 are 0x1000 + 0x2000 = 2 segments', () => {
    const q = queue({ segBoundaryMask: 0xffff });
    const acc = { nsegs: 0, sectors: 0 };
    expect(vecSplitSegs(q, B + 0x1f000, 0x3000, acc, 128)).toBe(false);
    // 2 segments, 0x3000 / 512 = 24 sectors
    expect(acc).toEqual({ nsegs: 2, sectors: 24 });
    // capped at one segment: the 0x1000 up to the boundary (8 sectors), bytes left -> split
    const capped = { nsegs: 0, sectors: 0 };
    expect(vecSplitSegs(q, B + 0x1f000, 0x3000, capped, 1)).toBe(true);
    expect(capped).toEqual({ nsegs: 1, sectors: 8 });
  });

  it('stops after a segment that ends off the virt boundary', () => {
    const q = queue({ virtBoundaryMask: 0xfff, maxSegmentSize: 0x1000 });
    const acc = { nsegs: 0, sectors: 0 };
    // first segment B+0x800..B+0x17ff (max_segment_size 0x1000) ends at 0x800 into a page:
    // the loop stops with 0x1000 of 0x2000 bytes left -> split
    expect(vecSplitSegs(q, B + 0x800, 0x2000, acc, 128)).toBe(true);
    expect(acc).toEqual({ nsegs: 1, sectors: 8 });
  });
});

describe('§5.6 vec_should_split()', () => {
  it('a virt-boundary gap to the previous vector splits before it', () => {
    const q = queue({ virtBoundaryMask: 0xfff });
    const ctx = blkSegmentSplitCtx(255, 128);
    // first: 0x800 bytes at B, one segment, 4 sectors
    expect(vecShouldSplit(q, B, 0x800, ctx)).toBe(false);
    expect(vecShouldSplit(q, B + 0x1000, 0x1000, ctx)).toBe(true);
    // nothing of the second vector was counted
    expect(ctx.nsegs).toBe(1);
    expect(ctx.sectors).toBe(4);
  });

  it('sectors + len/512 > max_sectors: counts the part that fits, then splits inside the vector', () => {
    const q = queue();
    const ctx = blkSegmentSplitCtx(16, 128);
    expect(vecShouldSplit(q, B, 0x1000, ctx)).toBe(false); // 8 sectors, 1 segment
    // 8 + 0x3000/512 = 8 + 24 = 32 > 16: (16 - 8) * 512 = 0x1000 bytes of it are counted
    expect(vecShouldSplit(q, B + 0x100000, 0x3000, ctx)).toBe(true);
    expect(ctx.nsegs).toBe(2);
    expect(ctx.sectors).toBe(16);
  });

  it('nsegs == max_segs splits before the next vector', () => {
    const q = queue();
    const ctx = blkSegmentSplitCtx(255, 2);
    expect(vecShouldSplit(q, B, 0x1000, ctx)).toBe(false);
    expect(vecShouldSplit(q, B + 0x10000, 0x1000, ctx)).toBe(false);
    // 16 + 8 = 24 sectors would fit max_sectors 255, but both segments are used
    expect(vecShouldSplit(q, B + 0x20000, 0x1000, ctx)).toBe(true);
    expect(ctx.nsegs).toBe(2);
    expect(ctx.sectors).toBe(16);
  });

  it('the PAGE_SIZE fast path is never taken for a DMA address: offset is the full address', () => {
    const q = queue();
    // a bvec at offset 0 of its page: 0 + 512 <= 4096 -> fast path
    const page = blkSegmentSplitCtx(255, 128);
    expect(vecShouldSplit(q, 0, 512, page)).toBe(false);
    expect(page.fastPathVecs).toBe(1);
    // the same 512 bytes as a dma_vec at B: 2^44 + 512 > 4096 -> vec_split_segs(), still 1 segment
    const dma = blkSegmentSplitCtx(255, 128);
    expect(vecShouldSplit(q, B, 512, dma)).toBe(false);
    expect(dma.fastPathVecs).toBe(0);
    expect(dma.nsegs).toBe(1);
    expect(dma.sectors).toBe(1);
  });

  it('over a whole bio: three 512-byte dma_vecs take no fast path, three 512-byte bvecs all do', () => {
    const q = queue();
    const at = blkBioSegmentSplitAt(
      q,
      dmaBio(q, [
        { addr: B, len: 512 },
        { addr: B + 0x10000, len: 512 },
        { addr: B + 0x20000, len: 512 },
      ]),
    );
    expect(at).toEqual({ doSplit: false, sectors: 3, nsegs: 3, fastPathVecs: 0 });
    const pageBio = bioAlloc(REQ_OP_WRITE, 3);
    for (const pfn of [0x100, 0x200, 0x300])
      expect(bioAddPage(pageBio, new Page(pfn), 512, 0)).toBe(512);
    expect(blkBioSegmentSplitAt(q, pageBio)).toEqual({
      doSplit: false,
      sectors: 3,
      nsegs: 3,
      fastPathVecs: 3,
    });
  });
});

describe('§5.6 splitting a dma-direct bio (blk_queue_split of v5.2 with the RFC)', () => {
  it('splits at max_sectors inside a dma_vec; the halves cover the original bytes exactly', () => {
    // max_sectors 16 = 8 KiB; the bio: 4 KiB at B, 12 KiB at B + 1 MiB = 32 sectors at sector 100
    const q = queue({ maxSectors: 16 });
    const bio = dmaBio(
      q,
      [
        { addr: B, len: 0x1000 },
        { addr: B + 0x100000, len: 0x3000 },
      ],
      100,
    );
    const r = blkQueueSplit(q, bio);
    // front: the first vector and 0x1000 of the second (8 + 8 = 16 sectors), 2 segments
    expect(r.bio).toBeInstanceOf(DmaVecBio);
    const front = r.bio as DmaVecBio;
    expect(front.dmaVecs).toEqual([
      { addr: B, len: 0x1000 },
      { addr: B + 0x100000, len: 0x1000 },
    ]);
    expect(front.size).toBe(0x2000);
    expect(front.sector).toBe(100);
    expect(r.nrSegs).toBe(2);
    expect(front.opf & REQ_DMA_DIRECT).toBe(REQ_DMA_DIRECT);
    expect(front.opf & REQ_NOMERGE).toBe(REQ_NOMERGE);
    expect(front.cloned).toBe(true);
    // remainder: the second vector from byte 0x1000 on, at sector 100 + 16
    const rest = r.remainder as DmaVecBio;
    expect(rest).toBe(bio);
    expect(rest.dmaVecs).toEqual([{ addr: B + 0x101000, len: 0x2000 }]);
    expect(rest.size).toBe(0x2000);
    expect(rest.sector).toBe(116);
    // 0x2000 + 0x2000 = 0x4000 = 0x1000 + 0x3000, byte for byte
    expect(front.size + rest.size).toBe(0x4000);
    // the remainder is 16 sectors: 16 > 16 is false, it fits in one piece of 1 segment
    const again = blkQueueSplit(q, rest);
    expect(again).toEqual({ bio: rest, remainder: undefined, nrSegs: 1 });
  });

  it(`property: repeated splits cover the bio, respect max_sectors/max_segments, count like bio_dma_calc_segs (seed ${SEED})`, () => {
    const vecArb = fc.record({
      // 512-byte aligned addresses and lengths keep every segment a whole number of sectors
      page: fc.integer({ min: 0, max: 4096 }),
      off: fc.integer({ min: 0, max: 7 }),
      sectors: fc.integer({ min: 1, max: 256 }),
    });
    const prop = fc.property(
      fc.array(vecArb, { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 8, max: 128 }),
      fc.integer({ min: 1, max: 8 }),
      fc.constantFrom(0xfff, 0xffff, 0xffff_ffff),
      (vs, maxSectors, maxSegments, segBoundaryMask) => {
        const q = queue({ maxSectors, maxSegments, segBoundaryMask });
        const vecs = vs.map((v) => ({
          addr: B + v.page * 0x10000 + v.off * 512,
          len: v.sectors * 512,
        }));
        let bio: DmaVecBio | undefined = dmaBio(q, vecs, 0);
        const bytes: DmaVec[] = [];
        let sector = 0;
        while (bio) {
          const r = blkQueueSplit(q, bio);
          const front = r.bio as DmaVecBio;
          expect(front.sector).toBe(sector);
          expect(front.size).toBeLessThanOrEqual(maxSectors * 512);
          expect(r.nrSegs).toBeLessThanOrEqual(maxSegments);
          expect(r.nrSegs).toBe(bioDmaCalcSegs(q, front));
          sector += front.size / 512;
          for (const dv of front.dmaVecs) bytes.push({ ...dv });
          bio = r.remainder as DmaVecBio | undefined;
        }
        // the pieces, in order, rebuild each original vector: a vector cut by a split continues
        // in the next front at the address where the previous part ended
        let i = 0;
        for (const v of vecs) {
          let got = 0;
          while (got < v.len) {
            const p = bytes[i++]!;
            expect(p.addr).toBe(v.addr + got);
            got += p.len;
          }
          expect(got).toBe(v.len);
        }
        expect(i).toBe(bytes.length);
        expect(sector * 512).toBe(vecs.reduce((n, v) => n + v.len, 0));
      },
    );
    fc.assert(prop, { seed: SEED, numRuns: 100 });
  });
});

describe('§5.6 segment recount: patch 15 corrected vs as posted (swapped branches)', () => {
  // seg mask 0xffff, max_segment_size 64 KiB; 0x3000 bytes starting 0x1000 before a 64 KiB line
  const lim = { segBoundaryMask: 0xffff };

  it('a dma_vec at B+0x1f000: 2 segments by the DMA routine, 1 when the page routine counts it', () => {
    const q = queue(lim);
    const bio = dmaBio(q, [{ addr: B + 0x1f000, len: 0x3000 }]);
    // DMA routine, offset = B+0x1f000: 0xffff - 0xf000 + 1 = 0x1000 to the line, then 0x2000
    expect(bioDmaCalcSegs(q, bio)).toBe(2);
    // page routine, offset = (B+0x1f000) & 0xfff = 0: min(0xffff - 0 + 1, 0x10000) >= 0x3000 -> 1
    expect(bioCalcSegs(q, bio)).toBe(1);
    expect(blkDmaRqFromBio(q, bio).nrPhysSegments).toBe(2);
    expect(blkDmaRqFromBio(q, bio, { swappedSegmentCount: true }).nrPhysSegments).toBe(1);
    // a bio that went through the splitter keeps the splitter's count (BIO_SEG_VALID)
    expect(blkDmaRqFromBio(q, bio, { nrSegs: 2, swappedSegmentCount: true }).nrPhysSegments).toBe(
      2,
    );
  });

  it('a page bvec at phys 0x1f000: 1 segment by the page routine, 2 when the DMA routine counts it', () => {
    const q = queue(lim);
    const bio = bioAlloc(REQ_OP_WRITE, 4);
    // pfns 0x1f, 0x20, 0x21 are contiguous: one bvec {pfn 0x1f, offset 0, len 0x3000}
    for (const pfn of [0x1f, 0x20, 0x21])
      expect(bioAddPage(bio, new Page(pfn), 0x1000, 0)).toBe(0x1000);
    expect(bio.vecs.length).toBe(1);
    const rq = blkRqFromBio(q, bio);
    // page routine: bv_offset 0 -> one 0x3000 segment (v5.2 checks the boundary on the offset)
    expect(blkRecalcRqSegmentsRfc(rq)).toBe(1);
    expect(rq.nrPhysSegments).toBe(1);
    // swapped: the DMA routine takes phys 0x1f000 as "offset" -> 0x1000 + 0x2000
    expect(blkRecalcRqSegmentsRfc(rq, { swappedSegmentCount: true })).toBe(2);
    expect(rq.nrPhysSegments).toBe(2);
  });
});
