/**
 * Request merging (block/blk-merge.c v6.16; reference §5.2, §5.3): back and front merges, the
 * virt-boundary gap rule (bio_will_gap), max sectors, max segments (nr_phys_segments) and the
 * REQ_NOMERGE_FLAGS refusal, which is how a v6.16 P2P bio stays out of other requests. Expected
 * values are worked out by hand; a page's physical address is pfn * 4096.
 */
import {
  Bio,
  bioAddPage,
  bioAlloc,
  REQ_FUA,
  REQ_NOMERGE,
  REQ_OP_READ,
  REQ_OP_WRITE,
  REQ_P2PDMA,
} from '../src/block/bio';
import { blkAttemptBioMerge, llBackMergeFn, llFrontMergeFn } from '../src/block/blk-merge';
import { defaultQueueLimits } from '../src/block/queue-limits';
import { blkRqBytes, blkRqFromBio, blkRqPos, rqDataDir, Request } from '../src/block/request';
import { blkQueueFlagSet, QUEUE_FLAG_NOMERGES, RequestQueue } from '../src/block/request-queue';
import { MEMORY_DEVICE_PCI_P2PDMA, Page, type DevPagemap } from '../src/mm/page';

/** NVMe-like queue: virt boundary 4095, at most 4 segments and 64 sectors (32 KiB). */
function nvmeQueue(): RequestQueue {
  return new RequestQueue(
    'nvme0n1',
    defaultQueueLimits({ virtBoundaryMask: 4095, maxSegments: 4, maxHwSectors: 64 }),
  );
}

/** A bio at `sector` of the given [pfn, offset, len] bvecs, built with bio_add_page(). */
function bio(
  sector: number,
  vs: [number, number, number][],
  opf = REQ_OP_WRITE,
  pgmap?: DevPagemap,
): Bio {
  const b = bioAlloc(opf, 8);
  for (const [pfn, off, len] of vs) {
    if (bioAddPage(b, new Page(pfn, pgmap), len, off) !== len) throw new Error('bio full');
  }
  b.sector = sector;
  return b;
}

const P2P: DevPagemap = {
  type: MEMORY_DEVICE_PCI_P2PDMA,
  range: { start: 0x80_0000, end: 0x9f_ffff },
};

describe('bio into request: back and front merges (§5.2)', () => {
  it('a bio right after the request merges at the back', () => {
    const q = nvmeQueue();
    const rq = blkRqFromBio(q, bio(0, [[0x100, 0, 4096]]));
    expect([rq.nrPhysSegments, rqDataDir(rq)]).toEqual([1, 1]);
    // the request covers sectors [0, 8); a bio at sector 8 is a back merge
    const r = blkAttemptBioMerge(rq, bio(8, [[0x300, 0, 4096]]));
    expect(r).toEqual({ merged: true, kind: 'back', status: 'BIO_MERGE_OK', reason: '' });
    expect([blkRqPos(rq), blkRqBytes(rq), rq.bios.length, rq.nrPhysSegments]).toEqual([
      0, 8192, 2, 2,
    ]);
  });

  it('a bio right before the request merges at the front and moves its start', () => {
    const rq = blkRqFromBio(nvmeQueue(), bio(16, [[0x100, 0, 4096]]));
    // 16 - 8 sectors = 8: a front merge
    const front = bio(8, [[0x300, 0, 4096]]);
    expect(blkAttemptBioMerge(rq, front).kind).toBe('front');
    expect([blkRqPos(rq), blkRqBytes(rq), rq.bios[0]]).toEqual([8, 8192, front]);
  });

  it('a bio elsewhere, of another operation, or with QUEUE_FLAG_NOMERGES is BIO_MERGE_NONE', () => {
    const q = nvmeQueue();
    const rq = blkRqFromBio(q, bio(0, [[0x100, 0, 4096]]));
    expect(blkAttemptBioMerge(rq, bio(100, [[0x300, 0, 4096]])).reason).toBe('not adjacent');
    expect(blkAttemptBioMerge(rq, bio(8, [[0x300, 0, 4096]], REQ_OP_READ)).reason).toBe(
      'different operations',
    );
    blkQueueFlagSet(QUEUE_FLAG_NOMERGES, q);
    expect(blkAttemptBioMerge(rq, bio(8, [[0x300, 0, 4096]])).status).toBe('BIO_MERGE_NONE');
  });
});

describe('gap, size and segment rules (§5.2)', () => {
  it('refuses a bio that would leave a virt-boundary gap (req_gap_back_merge)', () => {
    const q = nvmeQueue();
    // the request ends at offset 2048 of pfn 0x100 (not 4 KiB aligned)
    const rq = blkRqFromBio(q, bio(0, [[0x100, 0, 2048]]));
    // next bio at pfn 0x300: not physically mergeable with 0x100800, and 2048 & 4095 != 0
    const r = blkAttemptBioMerge(rq, bio(4, [[0x300, 0, 4096]]));
    expect([r.merged, r.kind, r.status, r.reason]).toEqual([
      false,
      'back',
      'BIO_MERGE_FAILED',
      'virt boundary gap',
    ]);
    // but the bytes right after (0x100800) are physically mergeable: no gap
    expect(blkAttemptBioMerge(rq, bio(4, [[0x100, 2048, 2048]])).merged).toBe(true);
  });

  it('refuses any back merge when the request starts off the virt boundary', () => {
    const rq = blkRqFromBio(nvmeQueue(), bio(0, [[0x100, 512, 3584]]));
    // first bvec offset 512 & 4095 != 0 -> bio_will_gap() is true whatever follows
    expect(blkAttemptBioMerge(rq, bio(7, [[0x300, 0, 4096]])).reason).toBe('virt boundary gap');
    expect(llBackMergeFn(rq, bio(7, [[0x300, 0, 4096]]), 1)).toBe(0);
  });

  it('refuses to grow past max_sectors and marks the request REQ_NOMERGE', () => {
    const q = nvmeQueue();
    // 7 contiguous pages from pfn 0x100: one bvec of 28 KiB = 56 sectors, one segment
    const rq = blkRqFromBio(q, bio(0, [[0x100, 0, 7 * 4096]]));
    expect(rq.nrPhysSegments).toBe(1);
    // 56 + 16 = 72 sectors > 64
    const r = blkAttemptBioMerge(rq, bio(56, [[0x300, 0, 8192]]));
    expect([r.status, r.reason]).toEqual(['BIO_MERGE_FAILED', 'max sectors: 56 + 16 > 64']);
    expect(rq.cmdFlags & REQ_NOMERGE).toBe(REQ_NOMERGE);
    // from now on the request takes nothing, even a bio that would fit
    expect(blkAttemptBioMerge(rq, bio(56, [[0x300, 0, 4096]])).status).toBe('BIO_MERGE_NONE');
  });

  it('refuses more than max_segments physical segments (nr_phys_segments)', () => {
    const q = nvmeQueue();
    // four separate pages: 4 segments, the queue's maximum
    const rq = blkRqFromBio(
      q,
      bio(0, [
        [0x100, 0, 4096],
        [0x200, 0, 4096],
        [0x300, 0, 4096],
        [0x400, 0, 4096],
      ]),
    );
    expect(rq.nrPhysSegments).toBe(4);
    const r = blkAttemptBioMerge(rq, bio(32, [[0x500, 0, 4096]]));
    expect(r.reason).toBe('max segments: 4 + 1 > 4');
    expect(rq.nrPhysSegments).toBe(4);
  });

  it('ll_front_merge_fn applies the gap rule to the new first bio', () => {
    const q = nvmeQueue();
    const rq = blkRqFromBio(q, bio(8, [[0x300, 0, 4096]]));
    // the new first bio ends at offset 2048: a gap before the request's first bvec
    expect(llFrontMergeFn(rq, bio(4, [[0x100, 0, 2048]]), 1)).toBe(0);
    expect(llFrontMergeFn(rq, bio(0, [[0x100, 0, 4096]]), 1)).toBe(1);
    expect(rq.nrPhysSegments).toBe(2);
  });
});

describe('REQ_NOMERGE_FLAGS and P2P bios (§5.2, §5.3)', () => {
  it('a FUA bio never merges', () => {
    const rq = blkRqFromBio(nvmeQueue(), bio(0, [[0x100, 0, 4096]]));
    const r = blkAttemptBioMerge(rq, bio(8, [[0x300, 0, 4096]], REQ_OP_WRITE | REQ_FUA));
    expect([r.status, r.reason]).toEqual(['BIO_MERGE_NONE', 'bio has REQ_NOMERGE_FLAGS']);
  });

  it('v6.16: a P2P bio (REQ_P2PDMA | REQ_NOMERGE) neither joins nor takes in other bios', () => {
    const q = nvmeQueue();
    const ramRq = blkRqFromBio(q, bio(0, [[0x100, 0, 4096]]));
    const p2pBio = bio(8, [[0x800, 0, 4096]], REQ_OP_WRITE, P2P);
    expect(p2pBio.opf & REQ_P2PDMA).toBe(REQ_P2PDMA);
    expect(blkAttemptBioMerge(ramRq, p2pBio).reason).toBe('bio has REQ_NOMERGE_FLAGS');
    const p2pRq = blkRqFromBio(q, bio(100, [[0x800, 0, 4096]], REQ_OP_WRITE, P2P));
    expect(blkAttemptBioMerge(p2pRq, bio(108, [[0x300, 0, 4096]])).reason).toBe(
      'request not mergeable (REQ_NOMERGE_FLAGS or its op)',
    );
  });

  it('v6.2: a P2P bio carries no flag, so it merges into a RAM request', () => {
    const q = nvmeQueue();
    const ramRq = blkRqFromBio(q, bio(0, [[0x100, 0, 4096]]));
    const p2pBio = bioAlloc(REQ_OP_WRITE, 1);
    bioAddPage(p2pBio, new Page(0x800, P2P), 4096, 0, { release: 'v6.2' });
    p2pBio.sector = 8;
    const r = blkAttemptBioMerge(ramRq, p2pBio);
    expect(r.merged).toBe(true);
    // one request now mixes RAM and P2P pages: what v6.16's REQ_NOMERGE prevents
    expect(ramRq.bios.map((b) => b.vecs[0]!.page.pgmap)).toEqual([undefined, P2P]);
    expect(ramRq).toBeInstanceOf(Request);
  });
});
