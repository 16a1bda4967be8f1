/**
 * blk_rq_map_sg() (block/blk-mq-dma.c v6.15+; reference §5.5): physically contiguous bvecs,
 * across bios, become one scatterlist entry while they stay in one segment-boundary window,
 * within get_max_segment_size() and (2026 fix) in one page map; the entry count never exceeds
 * nr_phys_segments, and the kernel WARNs if it would. Expected values are worked out by hand; a
 * page's physical address is pfn * 4096.
 */
import { Bio, bioAddPage, bioAlloc, REQ_OP_WRITE } from '../src/block/bio';
import { blkAttemptBioMerge } from '../src/block/blk-merge';
import { blkRqMapSg, blkRqPhysVecs } from '../src/block/blk-map-sg';
import { defaultQueueLimits, type QueueLimits } from '../src/block/queue-limits';
import { blkRqFromBio, Request } from '../src/block/request';
import { RequestQueue } from '../src/block/request-queue';
import { KernelLog } from '../src/kernel-log';
import { MEMORY_DEVICE_PCI_P2PDMA, Page, type DevPagemap } from '../src/mm/page';
import { SgTable, sgEntries, sgIsLast, sgPhys } from '../src/scatterlist/scatterlist';

function bioOf(
  vs: [pfn: number, offset: number, len: number, pgmap?: DevPagemap][],
  sector = 0,
): Bio {
  const bio = bioAlloc(REQ_OP_WRITE, Math.max(vs.length, 1));
  bio.vecs = vs.map(([pfn, offset, len, pgmap]) => ({ page: new Page(pfn, pgmap), offset, len }));
  bio.size = vs.reduce((n, v) => n + v[2], 0);
  bio.sector = sector;
  return bio;
}

/** Maps the request and returns [phys, length] of each entry. */
function mapped(rq: Request, opts = {}): [number, number][] {
  const sgt = new SgTable();
  const n = blkRqMapSg(rq, sgt, opts);
  expect(sgt.nents).toBe(n);
  expect(sgt.origNents).toBe(n);
  const ents = sgEntries(sgt.sgl, n);
  if (n) expect(sgIsLast(ents[n - 1]!)).toBe(true);
  return ents.map((sg) => [sgPhys(sg), sg.length]);
}

const queue = (lim: Partial<QueueLimits>, log?: KernelLog) =>
  new RequestQueue('sda', defaultQueueLimits(lim), log);

describe('blk_rq_map_sg (§5.5)', () => {
  it('[DERIVED] §5.2: 0x3000 bytes at 0x1F000 with a 64 KiB boundary are 2 entries', () => {
    const rq = blkRqFromBio(
      queue({ segBoundaryMask: 0xffff, maxSegmentSize: 0x10000 }),
      bioOf([[0x1f, 0, 0x3000]]),
    );
    expect(rq.nrPhysSegments).toBe(2);
    // 0x1f000 + 0x1000 to the boundary, then 0x20000 + 0x2000
    expect(mapped(rq)).toEqual([
      [0x1_f000, 0x1000],
      [0x2_0000, 0x2000],
    ]);
  });

  it('merges physically contiguous bvecs of two bios into one entry (count <= nr_phys_segments)', () => {
    const q = queue({ virtBoundaryMask: 4095, maxHwSectors: 2048 });
    const rq = blkRqFromBio(q, bioOf([[0x100, 0, 4096]], 0));
    const second = bioAlloc(REQ_OP_WRITE, 1);
    bioAddPage(second, new Page(0x101), 4096, 0);
    second.sector = 8;
    expect(blkAttemptBioMerge(rq, second).merged).toBe(true);
    // two segments counted per bio, but 0x100000 + 0x1000 = 0x101000: one entry of 8 KiB
    expect(rq.nrPhysSegments).toBe(2);
    expect(mapped(rq)).toEqual([[0x10_0000, 0x2000]]);
  });

  it('does not merge across a segment boundary', () => {
    // 0xf000 and 0x10000 are contiguous but in different 64 KiB windows
    const rq = blkRqFromBio(
      queue({ segBoundaryMask: 0xffff }),
      bioOf([
        [0xf, 0, 4096],
        [0x10, 0, 4096],
      ]),
    );
    expect(mapped(rq)).toEqual([
      [0xf000, 4096],
      [0x1_0000, 4096],
    ]);
  });

  it('merges up to max_segment_size only', () => {
    // three contiguous pages as three bvecs; max 8 KiB per segment: 4096 + 4096, then 4096
    const rq = blkRqFromBio(
      queue({ maxSegmentSize: 8192 }),
      bioOf([
        [0x100, 0, 4096],
        [0x101, 0, 4096],
        [0x102, 0, 4096],
      ]),
    );
    expect(rq.nrPhysSegments).toBe(3);
    expect(mapped(rq)).toEqual([
      [0x10_0000, 8192],
      [0x10_2000, 4096],
    ]);
  });

  it('never merges bvecs of different page maps (biovec_phys_mergeable, 2026 fix)', () => {
    const p2p: DevPagemap = {
      type: MEMORY_DEVICE_PCI_P2PDMA,
      range: { start: 0x80_0000, end: 0x9f_ffff },
    };
    // RAM pfn 0x7ff and P2P pfn 0x800 are contiguous (0x7ff000 + 0x1000 = 0x800000), as a
    // v6.2-v6.15 bio could hold them in two bvecs
    const rq = blkRqFromBio(
      queue({}),
      bioOf([
        [0x7ff, 0, 4096],
        [0x800, 0, 4096, p2p],
      ]),
    );
    const sgt = new SgTable();
    expect(blkRqMapSg(rq, sgt)).toBe(2);
    const [a, b] = sgEntries(sgt.sgl, 2);
    expect([a!.page!.pgmap, b!.page!.pgmap]).toEqual([undefined, p2p]);
    // before the fix one entry of 8 KiB came out, its page RAM: the P2P page map was lost
    expect(blkRqPhysVecs(rq, { samePgmapCheck: false })).toEqual([
      { paddr: 0x7f_f000, len: 8192, pgmap: undefined },
    ]);
  });

  it('WARNs when the entries would outnumber nr_phys_segments', () => {
    const log = new KernelLog();
    const q = queue({}, log);
    // a request that claims 1 segment but holds two separate pages
    const rq = new Request(
      q,
      REQ_OP_WRITE,
      0,
      [
        bioOf([
          [0x100, 0, 4096],
          [0x300, 0, 4096],
        ]),
      ],
      1,
    );
    expect(mapped(rq)).toEqual([
      [0x10_0000, 4096],
      [0x30_0000, 4096],
    ]);
    expect(log.messages()).toEqual([
      {
        level: 'warn',
        msg:
          'WARNING: at block/blk-mq-dma.c __blk_rq_map_sg: 2 segments mapped, ' +
          'blk_rq_nr_phys_segments() is 1 (sda)',
      },
    ]);
    // a correctly counted request maps without a word
    log.clear();
    mapped(
      blkRqFromBio(
        q,
        bioOf([
          [0x100, 0, 4096],
          [0x300, 0, 4096],
        ]),
      ),
    );
    expect(log.messages()).toEqual([]);
  });

  it('a request without data maps to no entries', () => {
    const rq = new Request(queue({}), REQ_OP_WRITE, 0, [bioOf([])], 0);
    expect(mapped(rq)).toEqual([]);
  });
});
