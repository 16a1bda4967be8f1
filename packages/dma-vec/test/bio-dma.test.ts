/**
 * dma-direct bios of the 2019 RFC (reference §5.6): REQ_DMA_DIRECT, QUEUE_FLAG_DMA_DIRECT and
 * bio_add_dma_addr(). BUS is a bus address of P2P memory behind a host bridge with a 16 TiB bus
 * offset (as on the conformance fabric): 2^44 + 2 GiB.
 */
import {
  __REQ_NOUNMAP,
  bioAlloc,
  bioMergeable,
  blkQueueFlagSet,
  defaultQueueLimits,
  EINVAL,
  KernelLog,
  REQ_OP_WRITE,
  RequestQueue,
  UINT_MAX,
} from '@dmasim/core';
import {
  __REQ_DMA_DIRECT,
  bioAddDmaAddr,
  bioDmaAlloc,
  bioDmaCapacity,
  bioIsDmaDirect,
  blkQueueDmaDirect,
  DmaVecBio,
  QUEUE_FLAG_DMA_DIRECT,
  REQ_DMA_DIRECT,
} from '../src';

const BUS = 2 ** 44 + 0x8000_0000;

function queue(dmaDirect = true): RequestQueue {
  const q = new RequestQueue('nvme0n1', defaultQueueLimits(), new KernelLog());
  if (dmaDirect) blkQueueFlagSet(QUEUE_FLAG_DMA_DIRECT, q);
  return q;
}

describe('§5.6 REQ_DMA_DIRECT and QUEUE_FLAG_DMA_DIRECT', () => {
  it('REQ_DMA_DIRECT is the bit after __REQ_NOUNMAP; a dma-direct bio also carries REQ_NOMERGE', () => {
    // __REQ_NOUNMAP is bit 29 in the model's (v6.16) enum, so the flag is bit 30 = 0x4000_0000
    expect(__REQ_NOUNMAP).toBe(29);
    expect(__REQ_DMA_DIRECT).toBe(30);
    expect(REQ_DMA_DIRECT).toBe(0x4000_0000);
    const bio = bioDmaAlloc(REQ_OP_WRITE, 4);
    // REQ_OP_WRITE 1 | REQ_NOMERGE (1 << 14 = 0x4000) | REQ_DMA_DIRECT 0x4000_0000
    expect(bio.opf).toBe(0x4000_4001);
    expect(bioIsDmaDirect(bio)).toBe(true);
    // the RFC adds REQ_DMA_DIRECT to REQ_NOMERGE_FLAGS; REQ_NOMERGE makes core refuse the same merges
    expect(bioMergeable(bio)).toBe(false);
    expect(bioIsDmaDirect(bioAlloc(REQ_OP_WRITE, 4))).toBe(false);
  });

  it('QUEUE_FLAG_DMA_DIRECT is bit 26 of the queue flags', () => {
    const q = queue(false);
    expect(blkQueueDmaDirect(q)).toBe(false);
    blkQueueFlagSet(QUEUE_FLAG_DMA_DIRECT, q);
    // 1 << 26 = 0x400_0000
    expect(q.queueFlags).toBe(0x400_0000);
    expect(blkQueueDmaDirect(q)).toBe(true);
  });
});

describe('§5.6 bio_add_dma_addr()', () => {
  it('-EINVAL when the queue lacks QUEUE_FLAG_DMA_DIRECT; the bio is left as it was', () => {
    const bio = bioDmaAlloc(REQ_OP_WRITE, 4);
    expect(bioAddDmaAddr(queue(false), bio, BUS, 4096)).toBe(-EINVAL);
    expect(bio.dmaVecs).toEqual([]);
    expect(bio.size).toBe(0);
  });

  it('-EINVAL for a page bio: pages and DMA addresses never share a bio', () => {
    const bio = bioAlloc(REQ_OP_WRITE, 4);
    expect(bioAddDmaAddr(queue(), bio, BUS, 4096)).toBe(-EINVAL);
    expect(bio.vecs).toEqual([]);
    expect(bio.size).toBe(0);
  });

  it('returns len and appends a dma_vec without merging it with a contiguous previous one', () => {
    const q = queue();
    const bio = bioDmaAlloc(REQ_OP_WRITE, 4);
    expect(bioAddDmaAddr(q, bio, BUS, 4096)).toBe(4096);
    // BUS + 4096 continues the first range exactly; bio_add_page() would extend the bvec
    expect(bioAddDmaAddr(q, bio, BUS + 4096, 4096)).toBe(4096);
    expect(bio.dmaVecs).toEqual([
      { addr: BUS, len: 4096 },
      { addr: BUS + 4096, len: 4096 },
    ]);
    expect(bio.vcnt).toBe(2);
    expect(bio.size).toBe(8192);
    // bi_io_vec is the other member of the union: no bio_vec was written
    expect(bio.vecs).toEqual([]);
  });

  it('0 when the vector array is full: capacity bi_max_vecs * 16 / 16 = bi_max_vecs', () => {
    // sizeof(bio_vec) = sizeof(dma_vec) = 16 on 64-bit, so 2 bio_vec slots hold 2 dma_vecs
    expect(bioDmaCapacity(2)).toBe(2);
    const q = queue();
    const bio = bioDmaAlloc(REQ_OP_WRITE, 2);
    expect(bioAddDmaAddr(q, bio, BUS, 4096)).toBe(4096);
    expect(bioAddDmaAddr(q, bio, BUS + 0x10000, 4096)).toBe(4096);
    expect(bioAddDmaAddr(q, bio, BUS + 0x20000, 4096)).toBe(0);
    expect(bio.vcnt).toBe(2);
    expect(bio.size).toBe(8192);
  });

  it('0 when bi_size would overflow an unsigned int, as bio_add_page() refuses it', () => {
    const q = queue();
    const bio = bioDmaAlloc(REQ_OP_WRITE, 4);
    // 0xffff_f000 + 0x1000 = 0x1_0000_0000 > UINT_MAX; + 0xfff = UINT_MAX still fits
    expect(bioAddDmaAddr(q, bio, BUS, 0xffff_f000)).toBe(0xffff_f000);
    expect(bioAddDmaAddr(q, bio, BUS + 0xffff_f000, 0x1000)).toBe(0);
    expect(bioAddDmaAddr(q, bio, BUS + 0xffff_f000, 0xfff)).toBe(0xfff);
    expect(bio.size).toBe(UINT_MAX);
  });

  it('misuse throws: a zero length, a REQ_DMA_DIRECT bio that is not a DmaVecBio', () => {
    const q = queue();
    expect(() => bioAddDmaAddr(q, bioDmaAlloc(REQ_OP_WRITE, 1), BUS, 0)).toThrow(RangeError);
    const forged = bioAlloc(REQ_OP_WRITE | REQ_DMA_DIRECT, 1);
    expect(forged).not.toBeInstanceOf(DmaVecBio);
    expect(() => bioAddDmaAddr(q, forged, BUS, 4096)).toThrow(TypeError);
  });
});
