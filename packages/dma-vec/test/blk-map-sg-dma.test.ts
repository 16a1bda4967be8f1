/**
 * blk_rq_map_sg() for dma-direct requests (reference §5.6, __blk_dma_bios_map_sg; §5.5 for the
 * page counterpart). B = 2^44 is 64 KiB and 4 GiB aligned, so B + x has the low bits x.
 */
import {
  bioAlloc,
  blkQueueFlagSet,
  blkRqFromBio,
  defaultQueueLimits,
  KernelLog,
  REQ_OP_WRITE,
  RequestQueue,
  sgEntries,
  sgIsLast,
  SgTable,
  type QueueLimits,
} from '@dmasim/core';
import {
  bioAddDmaAddr,
  bioDmaAlloc,
  blkDmaRqFromBio,
  blkDmaRqMapSg,
  QUEUE_FLAG_DMA_DIRECT,
  type DmaVec,
} from '../src';

const B = 2 ** 44;

function queue(lim: Partial<QueueLimits> = {}): RequestQueue {
  const q = new RequestQueue('nvme0n1', defaultQueueLimits(lim), new KernelLog());
  blkQueueFlagSet(QUEUE_FLAG_DMA_DIRECT, q);
  return q;
}

function request(q: RequestQueue, vecs: DmaVec[], swappedSegmentCount = false) {
  const bio = bioDmaAlloc(REQ_OP_WRITE, vecs.length, q);
  for (const v of vecs) expect(bioAddDmaAddr(q, bio, v.addr, v.len)).toBe(v.len);
  return blkDmaRqFromBio(q, bio, { swappedSegmentCount });
}

/** (sg_dma_address, sg_dma_len) of the table's entries. */
function dmaEntries(sgt: SgTable) {
  return sgEntries(sgt.sgl, sgt.nents).map((sg) => ({ addr: sg.dmaAddress, len: sg.dmaLength }));
}

describe('§5.6 __blk_dma_bios_map_sg()', () => {
  it('merges two contiguous dma_vecs into one entry, with no page and nothing mapped', () => {
    // default limits: max_segment_size 64 KiB, boundary 4 GiB
    const q = queue();
    const rq = request(q, [
      { addr: B, len: 0x1000 },
      { addr: B + 0x1000, len: 0x1000 },
    ]);
    // counting does not merge vectors: 1 segment each
    expect(rq.nrPhysSegments).toBe(2);
    const sgt = new SgTable();
    // 0x1000 + 0x1000 <= 0x10000 and B..B+0x1fff lies in one 4 GiB window -> one entry
    expect(blkDmaRqMapSg(rq, sgt)).toBe(1);
    expect(sgt.nents).toBe(1);
    expect(sgt.origNents).toBe(1);
    expect(dmaEntries(sgt)).toEqual([{ addr: B, len: 0x2000 }]);
    const [sg] = sgEntries(sgt.sgl, 1);
    expect(sg!.page).toBeUndefined();
    expect(sg!.length).toBe(0);
    expect(sgIsLast(sg!)).toBe(true);
    expect(q.log!.messages()).toEqual([]);
  });

  it('does not merge when the entry would exceed max_segment_size', () => {
    const q = queue();
    const rq = request(q, [
      { addr: B, len: 0xf000 },
      { addr: B + 0xf000, len: 0x2000 },
    ]);
    // 0xf000 + 0x2000 = 0x11000 > 0x10000: the second vector starts an entry of its own
    const sgt = new SgTable();
    expect(blkDmaRqMapSg(rq, sgt)).toBe(2);
    expect(dmaEntries(sgt)).toEqual([
      { addr: B, len: 0xf000 },
      { addr: B + 0xf000, len: 0x2000 },
    ]);
  });

  it('seg mask 0xffff: one dma_vec across a 64 KiB line becomes two entries, split on the DMA address', () => {
    const q = queue({ segBoundaryMask: 0xffff });
    const rq = request(q, [{ addr: B + 0xf000, len: 0x3000 }]);
    // get_max_segment_size(B+0xf000) = 0xffff - 0xf000 + 1 = 0x1000; then B+0x10000 takes 0x2000
    expect(rq.nrPhysSegments).toBe(2);
    const sgt = new SgTable();
    expect(blkDmaRqMapSg(rq, sgt)).toBe(2);
    expect(dmaEntries(sgt)).toEqual([
      { addr: B + 0xf000, len: 0x1000 },
      { addr: B + 0x10000, len: 0x2000 },
    ]);
  });

  it('seg mask 0xffff: contiguous dma_vecs on both sides of the line stay apart', () => {
    const q = queue({ segBoundaryMask: 0xffff });
    const rq = request(q, [
      { addr: B + 0xf000, len: 0x1000 },
      { addr: B + 0x10000, len: 0x1000 },
    ]);
    // (B+0xf000) | 0xffff = B+0xffff, but (B+0x10fff) | 0xffff = B+0x1ffff: not mergeable
    const sgt = new SgTable();
    expect(blkDmaRqMapSg(rq, sgt)).toBe(2);
    expect(dmaEntries(sgt)).toEqual([
      { addr: B + 0xf000, len: 0x1000 },
      { addr: B + 0x10000, len: 0x1000 },
    ]);
  });

  it('with patch 15 as posted the count is 1 and the map 2 entries: blk_rq_map_sg() WARNs', () => {
    const q = queue({ segBoundaryMask: 0xffff });
    const rq = request(q, [{ addr: B + 0x1f000, len: 0x3000 }], true);
    // page routine on the dma_vec: in-page offset 0 -> one segment (see blk-merge-dma.test.ts)
    expect(rq.nrPhysSegments).toBe(1);
    const sgt = new SgTable();
    // the map cuts at B+0x20000: 0x1000 + 0x2000
    expect(blkDmaRqMapSg(rq, sgt)).toBe(2);
    expect(dmaEntries(sgt)).toEqual([
      { addr: B + 0x1f000, len: 0x1000 },
      { addr: B + 0x20000, len: 0x2000 },
    ]);
    expect(q.log!.messages()).toEqual([
      {
        level: 'warn',
        msg:
          'WARNING: at block/blk-merge.c blk_rq_map_sg: 2 segments mapped, ' +
          'blk_rq_nr_phys_segments() is 1 (nvme0n1)',
      },
    ]);
  });

  it('a page request is not dma-direct: misuse, core’s blkRqMapSg() maps it', () => {
    const q = queue();
    const rq = blkRqFromBio(q, bioAlloc(REQ_OP_WRITE, 1));
    expect(() => blkDmaRqMapSg(rq, new SgTable())).toThrow(/not a dma-direct request/);
  });
});
