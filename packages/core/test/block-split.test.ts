/**
 * Bio splitting (block/blk-merge.c v6.16; reference §5.2): segment sizes, the bvec and bio
 * split points, get_max_io_size(), the REQ_NOWAIT / REQ_ATOMIC errors, bio_split() and the
 * split-to-limits loop, with a fast-check property over random bios and limits. Expected values
 * are worked out by hand in the comments; a page's physical address is pfn * 4096.
 */
import fc from 'fast-check';
import {
  Bio,
  bioAlloc,
  bioSectors,
  REQ_ATOMIC,
  REQ_NOMERGE,
  REQ_NOWAIT,
  REQ_OP_WRITE,
  type BioVec,
} from '../src/block/bio';
import {
  bioAllowedMaxSectors,
  bioSplit,
  bioSplitRwAt,
  bioSplitToLimits,
  bvecSplitSegs,
  getMaxIoSize,
  getMaxSegmentSize,
} from '../src/block/blk-merge';
import { BLK_STS_AGAIN, BLK_STS_INVAL, BLK_STS_OK } from '../src/block/blk-status';
import {
  BLK_FEAT_ATOMIC_WRITES,
  defaultQueueLimits,
  type QueueLimits,
} from '../src/block/queue-limits';
import { blkRqFromBio } from '../src/block/request';
import { RequestQueue } from '../src/block/request-queue';
import { EAGAIN, EINVAL } from '../src/errno';
import { Page } from '../src/mm/page';

const SEED = Number(process.env.FC_SEED ?? 20261121);

function bioOf(vs: [pfn: number, offset: number, len: number][], opf = 0, sector = 0): Bio {
  const bio = bioAlloc(opf, Math.max(vs.length, 1));
  bio.vecs = vs.map(([pfn, offset, len]) => ({ page: new Page(pfn), offset, len }));
  bio.size = vs.reduce((n, v) => n + v[2], 0);
  bio.sector = sector;
  return bio;
}
const vecs = (bio: Bio) => bio.vecs.map((v) => [v.page.pfn, v.offset, v.len]);

describe('segment sizes (§5.2)', () => {
  // [DERIVED] example of §5.2: seg_mask 0xFFFF, max_segment_size 0x10000
  const lim = defaultQueueLimits({ segBoundaryMask: 0xffff, maxSegmentSize: 0x10000 });

  it('[DERIVED] a bvec at 0x1F000 of 0x3000 bytes is 0x1000 + 0x2000: 2 segments', () => {
    // to the 64 KiB boundary: 0xffff - (0x1f000 & 0xffff) = 0xfff, min(0xfff, 0xffff) + 1 = 0x1000
    expect(getMaxSegmentSize(lim, 0x1_f000, 0x3000)).toBe(0x1000);
    // at 0x20000 the whole window is ahead: min(0x2000, 0xffff + 1) = 0x2000
    expect(getMaxSegmentSize(lim, 0x2_0000, 0x2000)).toBe(0x2000);
    const acc = { nsegs: 0, bytes: 0 };
    const bv: BioVec = { page: new Page(0x1f), offset: 0, len: 0x3000 };
    expect(bvecSplitSegs(lim, bv, acc, 128, 0xffff_ffff)).toBe(false);
    expect(acc).toEqual({ nsegs: 2, bytes: 0x3000 });
    // offset + len = 0x3000 > min_segment_size 4096: the slow path counts 2, no split
    expect(bioSplitRwAt(bioOf([[0x1f, 0, 0x3000]]), lim, 0xffff_ffff)).toEqual({ ret: 0, segs: 2 });
    expect(
      blkRqFromBio(new RequestQueue('sda', lim), bioOf([[0x1f, 0, 0x3000]])).nrPhysSegments,
    ).toBe(2);
  });

  it('caps a segment at max_segment_size', () => {
    const small = defaultQueueLimits({ maxSegmentSize: 8192 });
    // at 0x100000 the 4 GiB window leaves 0xffefffff; min(that, 8191) + 1 = 8192
    expect(getMaxSegmentSize(small, 0x10_0000, 0x5000)).toBe(8192);
    // 0x5000 = 8192 + 8192 + 4096: 3 segments
    expect(bioSplitRwAt(bioOf([[0x100, 0, 0x5000]]), small, 0xffff_ffff).segs).toBe(3);
  });

  it('bvecs within a page take the fast path: one segment each', () => {
    const lim0 = defaultQueueLimits();
    // three sub-page bvecs, not contiguous: 3 segments, 1536 bytes
    const bio = bioOf([
      [0x100, 512, 512],
      [0x200, 0, 512],
      [0x300, 3584, 512],
    ]);
    expect(bioSplitRwAt(bio, lim0, 0xffff_ffff)).toEqual({ ret: 0, segs: 3 });
  });
});

describe('bio_split_rw_at (§5.2)', () => {
  // NVMe: virt_boundary_mask = NVME_CTRL_PAGE_SIZE - 1 = 4095
  const nvme = defaultQueueLimits({ virtBoundaryMask: 4095, maxHwSectors: 2048 });

  it('virt boundary: a bvec after one that ends off a 4 KiB boundary starts a new bio', () => {
    // bvec 2 ends at offset 2048 (not 4 KiB aligned): a gap before bvec 3
    const bio = bioOf([
      [0x100, 0, 4096],
      [0x200, 0, 2048],
      [0x300, 0, 4096],
    ]);
    // split after 4096 + 2048 = 6144 bytes = 12 sectors, 2 segments
    expect(bioSplitRwAt(bio, nvme, 2048 * 512)).toEqual({ ret: 12, segs: 2 });
    // a bvec starting at offset 512 after a full page: gap, split after 4096 = 8 sectors
    expect(
      bioSplitRwAt(
        bioOf([
          [0x100, 0, 4096],
          [0x200, 512, 512],
        ]),
        nvme,
        2048 * 512,
      ).ret,
    ).toBe(8);
    // without a virt boundary the same bio needs no split
    expect(bioSplitRwAt(bio, defaultQueueLimits(), 255 * 512)).toEqual({ ret: 0, segs: 3 });
  });

  it('max bytes: a too-long bvec is split in the middle', () => {
    // 0x5000 bytes against 8 KiB: bvec_split_segs takes 8192 and reports the rest -> 16 sectors
    const lim = defaultQueueLimits({ maxHwSectors: 16 });
    expect(bioSplitRwAt(bioOf([[0x400, 0, 0x5000]]), lim, 8192)).toEqual({ ret: 16, segs: 1 });
  });

  it('rounds the split point down to the logical block size', () => {
    // 4 KiB logical blocks, one segment per request: bvec 1 (6144 bytes) is one segment, bvec 2
    // needs a second -> split after 6144 bytes, ALIGN_DOWN(6144, 4096) = 4096 = 8 sectors
    const lim = defaultQueueLimits({ logicalBlockSize: 4096, maxSegments: 1 });
    const bio = bioOf([
      [0x100, 0, 6144],
      [0x300, 0, 2048],
    ]);
    expect(bioSplitRwAt(bio, lim, 248 * 512)).toEqual({ ret: 8, segs: 1 });
  });

  it('REQ_ATOMIC cannot be split: -EINVAL; REQ_NOWAIT cannot wait for one: -EAGAIN', () => {
    const vs: [number, number, number][] = [
      [0x100, 0, 4096],
      [0x200, 0, 2048],
      [0x300, 0, 4096],
    ];
    expect(bioSplitRwAt(bioOf(vs, REQ_OP_WRITE | REQ_ATOMIC), nvme, 2048 * 512)).toEqual({
      ret: -EINVAL,
      segs: 0,
    });
    expect(bioSplitRwAt(bioOf(vs, REQ_NOWAIT), nvme, 2048 * 512)).toEqual({
      ret: -EAGAIN,
      segs: 0,
    });
    // a NOWAIT bio that fits is fine
    expect(bioSplitRwAt(bioOf([[0x100, 0, 4096]], REQ_NOWAIT), nvme, 2048 * 512).ret).toBe(0);
    // through bioSplitToLimits the bio ends with errno_to_blk_status(): AGAIN (12), INVAL (19)
    const nowait = bioOf(vs, REQ_NOWAIT);
    const r = bioSplitToLimits(nowait, nvme);
    expect([r.bio, r.status, nowait.status]).toEqual([undefined, BLK_STS_AGAIN, 12]);
    const atomicLim = defaultQueueLimits({
      features: BLK_FEAT_ATOMIC_WRITES,
      atomicWriteMaxSectors: 16,
    });
    // 32 sectors against an atomic cap of 16: a split is needed, and forbidden
    const atomic = bioOf([[0x100, 0, 16384]], REQ_OP_WRITE | REQ_ATOMIC);
    expect(bioSplitToLimits(atomic, atomicLim).status).toBe(BLK_STS_INVAL);
    expect(BLK_STS_INVAL).toBe(19);
  });
});

describe('get_max_io_size and bio_allowed_max_sectors (§5.2)', () => {
  it('ends a request on a physical block boundary when it can', () => {
    // pbs 4096 = 8 sectors, max_sectors 20. From sector 3: start = 3, end = (3 + 20) & ~7 = 16,
    // so 16 - 3 = 13 sectors and the request ends at sector 16
    const lim = defaultQueueLimits({ physicalBlockSize: 4096, maxHwSectors: 20 });
    expect(lim.maxSectors).toBe(20);
    expect(getMaxIoSize(bioOf([[0x100, 0, 4096]], 0, 3), lim)).toBe(13);
    // from sector 0: end = 16 -> 16
    expect(getMaxIoSize(bioOf([[0x100, 0, 4096]], 0, 0), lim)).toBe(16);
  });

  it('falls back to max_sectors rounded to the logical block size', () => {
    // pbs 64 KiB = 128 sectors, max 8: from sector 5, end = (5 + 8) & ~127 = 0 <= 5 -> 8
    const lim = defaultQueueLimits({ physicalBlockSize: 65536, maxHwSectors: 8 });
    expect(getMaxIoSize(bioOf([[0x100, 0, 4096]], 0, 5), lim)).toBe(8);
  });

  it('stops at a chunk boundary', () => {
    // chunk 64 sectors, from sector 60: 64 - 60 = 4 sectors left
    const lim = defaultQueueLimits({ chunkSectors: 64 });
    expect(getMaxIoSize(bioOf([[0x100, 0, 4096]], 0, 60), lim)).toBe(4);
  });

  it('bio_allowed_max_sectors = round_down(UINT_MAX, lbs) >> 9', () => {
    // 0xfffffe00 >> 9 = 0x7fffff; 0xfffff000 >> 9 = 0x7ffff8
    expect(bioAllowedMaxSectors(defaultQueueLimits())).toBe(0x7f_ffff);
    expect(bioAllowedMaxSectors(defaultQueueLimits({ logicalBlockSize: 4096 }))).toBe(0x7f_fff8);
  });
});

describe('bio_split and the split-to-limits loop (§5.2)', () => {
  it('bio_split cuts a bvec in the middle and moves the rest on', () => {
    const bio = bioOf([[0x400, 0, 0x5000]], REQ_OP_WRITE, 100);
    const front = bioSplit(bio, 16) as Bio;
    expect([front.sector, front.size, vecs(front)]).toEqual([100, 8192, [[0x400, 0, 8192]]]);
    // the rest keeps the bvec's first page with the offset moved on by 8192
    expect([bio.sector, bio.size, vecs(bio)]).toEqual([116, 0x3000, [[0x400, 8192, 0x3000]]]);
    expect(() => bioSplit(bio, bioSectors(bio))).toThrow(RangeError);
  });

  it('splits a 20 KiB bio at 8 KiB twice; each front part is REQ_NOMERGE', () => {
    const lim = defaultQueueLimits({ maxHwSectors: 16 });
    const bio = bioOf([[0x400, 0, 0x5000]], REQ_OP_WRITE, 0);
    const pieces: Bio[] = [];
    for (;;) {
      const r = bioSplitToLimits(bio, lim);
      expect(r.status).toBe(BLK_STS_OK);
      pieces.push(r.bio!);
      if (!r.remainder) break;
    }
    // 0x5000 = 8192 + 8192 + 4096
    expect(pieces.map((p) => [p.sector, p.size])).toEqual([
      [0, 8192],
      [16, 8192],
      [32, 4096],
    ]);
    expect(pieces.map((p) => (p.opf & REQ_NOMERGE) !== 0)).toEqual([true, true, false]);
    expect(pieces[2]).toBe(bio);
  });

  it('splits at the virt-boundary gap (NVMe mask 4095)', () => {
    const nvme = defaultQueueLimits({ virtBoundaryMask: 4095, maxHwSectors: 2048 });
    const bio = bioOf([
      [0x100, 0, 4096],
      [0x200, 0, 2048],
      [0x300, 0, 4096],
    ]);
    const r = bioSplitToLimits(bio, nvme);
    expect([r.bio!.size, r.nrSegs, vecs(r.bio!)]).toEqual([
      6144,
      2,
      [
        [0x100, 0, 4096],
        [0x200, 0, 2048],
      ],
    ]);
    expect([r.remainder, bio.sector, vecs(bio)]).toEqual([bio, 12, [[0x300, 0, 4096]]]);
  });
});

/* ------------------------------------------------------------------------------------------ */

interface Case {
  lim: QueueLimits;
  bio: Bio;
}

const LBS = [512, 4096] as const;

/** Random limits, and a bio whose offsets and lengths are multiples of the logical block size. */
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    lbsI: fc.integer({ min: 0, max: 1 }),
    pbsShift: fc.integer({ min: 0, max: 3 }),
    maxSegments: fc.integer({ min: 1, max: 8 }),
    maxHwSectors: fc.integer({ min: 8, max: 256 }),
    segBoundaryMask: fc.constantFrom(0xfff, 0x3fff, 0xffff, 0xffff_ffff),
    virt: fc.boolean(),
    maxSegmentSize: fc.constantFrom(0, 4096, 8192, 12288, 65536),
    chunkSectors: fc.constantFrom(0, 64, 128),
    sectorBlocks: fc.integer({ min: 0, max: 1000 }),
    vecs: fc.array(
      fc.record({
        contiguous: fc.boolean(),
        pfn: fc.integer({ min: 0x100, max: 0xffff }),
        offBlocks: fc.integer({ min: 0, max: 7 }),
        lenBlocks: fc.integer({ min: 1, max: 40 }),
      }),
      { minLength: 1, maxLength: 10 },
    ),
  })
  .map((r) => {
    const lbs = LBS[r.lbsI]!;
    const lim = defaultQueueLimits({
      logicalBlockSize: lbs,
      physicalBlockSize: Math.max(lbs, 512 << (r.pbsShift * 2)),
      maxSegments: r.maxSegments,
      maxHwSectors: r.maxHwSectors,
      segBoundaryMask: r.segBoundaryMask,
      virtBoundaryMask: r.virt ? 4095 : 0,
      maxSegmentSize: r.maxSegmentSize,
      chunkSectors: r.chunkSectors,
    });
    const blocksPerPage = 4096 / lbs;
    const bio = bioAlloc(REQ_OP_WRITE, r.vecs.length);
    let end = -1;
    for (const v of r.vecs) {
      const len = v.lenBlocks * lbs;
      let bv: BioVec;
      if (v.contiguous && end >= 0) {
        bv = { page: new Page(Math.floor(end / 4096)), offset: end % 4096, len };
      } else {
        bv = { page: new Page(v.pfn), offset: (v.offBlocks % blocksPerPage) * lbs, len };
      }
      bio.vecs.push(bv);
      bio.size += len;
      end = bv.page.pfn * 4096 + bv.offset + len;
    }
    bio.sector = r.sectorBlocks * (lbs / 512);
    return { lim, bio };
  });

/** The bytes of a list of bvecs as coalesced [phys, len] runs. */
function runs(vs: readonly BioVec[]): [number, number][] {
  const out: [number, number][] = [];
  for (const v of vs) {
    const p = v.page.pfn * 4096 + v.offset;
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === p) last[1] += v.len;
    else out.push([p, v.len]);
  }
  return out;
}

/** Segments of a bvec counted naively: cut at every segment boundary and max_segment_size. */
function naiveSegments(lim: QueueLimits, vs: readonly BioVec[]): number {
  let n = 0;
  for (const v of vs) {
    let pos = v.page.pfn * 4096 + v.offset;
    const end = pos + v.len;
    const window = lim.segBoundaryMask + 1;
    while (pos < end) {
      const windowEnd = (Math.floor(pos / window) + 1) * window;
      pos += Math.min(end - pos, windowEnd - pos, lim.maxSegmentSize);
      n++;
    }
  }
  return n;
}

describe(`bio splitting property (§5.2; fast-check seed ${SEED})`, () => {
  it('every piece fits the limits and the pieces hold the original bytes in order', () => {
    fc.assert(
      fc.property(caseArb, ({ lim, bio }) => {
        const want = runs(bio.vecs);
        const start = bio.sector;
        const total = bio.size;
        const pieces: Bio[] = [];
        for (let guard = 0; ; guard++) {
          if (guard > 10_000) throw new Error('no progress');
          const r = bioSplitToLimits(bio, lim);
          if (r.status !== BLK_STS_OK || !r.bio) throw new Error(`status ${r.status}`);
          pieces.push(r.bio);
          if (!r.remainder) break;
        }
        let sector = start;
        for (const p of pieces) {
          // in order, back to back, each a whole number of logical blocks
          if (p.sector !== sector || p.size <= 0 || p.size % lim.logicalBlockSize) return false;
          sector += p.size / 512;
          // within max_sectors (and the chunk and physical-block rules of get_max_io_size)
          const maxSectors = getMaxIoSize(p, lim);
          if (p.size / 512 > maxSectors) return false;
          // the splitter has nothing left to cut, within max_segments
          const at = bioSplitRwAt(p, lim, maxSectors * 512);
          if (at.ret !== 0 || at.segs > lim.maxSegments) return false;
          // and, checked without the splitter: max_sectors, chunks, segments, virt boundary
          const sectors = p.size / 512;
          if (sectors > lim.maxSectors) return false;
          const chunk = lim.chunkSectors;
          if (
            chunk &&
            Math.floor(p.sector / chunk) !== Math.floor((p.sector + sectors - 1) / chunk)
          ) {
            return false;
          }
          if (naiveSegments(lim, p.vecs) > lim.maxSegments) return false;
          for (let i = 1; i < p.vecs.length && lim.virtBoundaryMask; i++) {
            const a = p.vecs[i - 1]!;
            if ((a.offset + a.len) % 4096 || p.vecs[i]!.offset % 4096) return false;
          }
        }
        const got = runs(pieces.flatMap((p) => p.vecs));
        return sector === start + total / 512 && JSON.stringify(got) === JSON.stringify(want);
      }),
      { seed: SEED, numRuns: 400 },
    );
  });
});
