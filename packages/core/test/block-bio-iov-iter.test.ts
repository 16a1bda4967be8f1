/**
 * O_DIRECT bios from user buffers (block/bio-iov-iter.ts): reference §5.4 (mmap p2pmem/allocate,
 * then read()/write() with O_DIRECT: the pages are pinned with FOLL_PCI_P2PDMA only when the
 * queue has the P2PDMA capability; without it the I/O fails with -EREMOTEIO at pin time) and
 * §5.3 (v6.16: a bio of P2P pages is REQ_P2PDMA | REQ_NOMERGE and never mixes page maps;
 * v6.2-v6.15: pages of different page maps share a bio in separate bvecs).
 */
import {
  Bio,
  bioAlloc,
  REQ_IDLE,
  REQ_NOMERGE,
  REQ_OP_READ,
  REQ_OP_WRITE,
  REQ_P2PDMA,
  REQ_SYNC,
} from '../src/block/bio';
import {
  bioIovIterGetPages,
  bioPagePinned,
  bioReleasePages,
  blkdevDirectIo,
} from '../src/block/bio-iov-iter';
import { BLK_STS_OK } from '../src/block/blk-status';
import { BLK_FEAT_PCI_P2PDMA, defaultQueueLimits } from '../src/block/queue-limits';
import { blkQueueFlagSet, QUEUE_FLAG_PCI_P2PDMA, RequestQueue } from '../src/block/request-queue';
import { EFAULT, EINVAL, EIO, EREMOTEIO } from '../src/errno';
import type { KernelLog } from '../src/kernel-log';
import { ITER_DEST, ITER_SOURCE, IovIter, iovIterCount } from '../src/mm/iov-iter';
import { MAP_FIXED, MAP_SHARED, mmapAnonymous, mmapPfnRange } from '../src/mm/mm';
import { Page } from '../src/mm/page';
import { p2pmemMmap } from '../src/p2pdma/p2pmem-mmap';
import { MiB, NVME0_PFN, p2pmemMachine, RAM_PFN } from './helpers/p2pmem';

const KiB = 1024;
const WARN_BIO = 'WARNING: at block/bio.c __bio_iov_iter_get_pages: WARN_ON_ONCE(1)';

/** An NVMe namespace queue: 512-byte blocks, dma_alignment 3, with or without BLK_FEAT_PCI_P2PDMA. */
function nvmeQueue(log: KernelLog, p2pdma: boolean, dmaAlignment = 3): RequestQueue {
  return new RequestQueue(
    'nvme1n1',
    defaultQueueLimits({ features: p2pdma ? BLK_FEAT_PCI_P2PDMA : 0, dmaAlignment }),
    log,
  );
}

/** Two RAM pages at `a`, followed at a + 8 KiB by two pages of nvme0's P2P memory. */
function ramThenP2p() {
  const m = p2pmemMachine();
  const a = mmapAnonymous(m.mm, [RAM_PFN, RAM_PFN + 1]);
  const b = p2pmemMmap(m.p2p, m.nvme0, m.mm, {
    len: 8192,
    addr: a + 8192,
    flags: MAP_SHARED | MAP_FIXED,
  });
  expect(b).toBe(a + 8192);
  return { ...m, a };
}

describe('§5.4 mmap a CMB and O_DIRECT into it', () => {
  it('against a queue with BLK_FEAT_PCI_P2PDMA: one bio of the P2P pages, REQ_P2PDMA | REQ_NOMERGE', () => {
    const m = p2pmemMachine();
    const q = nvmeQueue(m.log, true);
    const a = p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 64 * KiB });
    // read(fd, buf = a, 64 KiB) at offset 4096 of the device: the buffer is the destination.
    const it = IovIter.ubuf(m.mm, ITER_DEST, a, 64 * KiB);
    const r = blkdevDirectIo(q, it, 4096);
    expect(r.ret).toBe(65536);
    expect(r.bios).toHaveLength(1);
    const bio = r.bios[0]!;
    expect(bio.opf).toBe(REQ_OP_READ | REQ_P2PDMA | REQ_NOMERGE);
    // byte 4096 = sector 4096 / 512 = 8.
    expect(bio.sector).toBe(8);
    // 16 physically contiguous pages of one page map merge into one bvec of 64 KiB.
    expect(bio.vecs).toHaveLength(1);
    expect(bio.vecs[0]).toMatchObject({ offset: 0, len: 65536 });
    expect(bio.vecs[0]!.page.pfn).toBe(NVME0_PFN);
    expect(bio.vecs[0]!.page.pgmap).toBe(m.p2p.get(m.nvme0)!.pgmaps[0]);
    expect(bio.status).toBe(BLK_STS_OK);
    expect(bioPagePinned(bio)).toBe(true);
    // Each page: the mapping's reference + one pin = 1 + 1024.
    const last = m.p2p.memmap.pfnToPage(NVME0_PFN + 15);
    expect(m.refs.refCount(last)).toBe(1025);
    // Completion unpins once per page.
    bioReleasePages(bio, m.refs);
    expect(m.refs.refCount(last)).toBe(1);
    expect(iovIterCount(it)).toBe(0);
  });

  it('a write from the CMB is REQ_OP_WRITE | REQ_SYNC | REQ_IDLE plus the P2P marks', () => {
    const m = p2pmemMachine();
    const q = nvmeQueue(m.log, true);
    const a = p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 8 * KiB });
    const r = blkdevDirectIo(q, IovIter.ubuf(m.mm, ITER_SOURCE, a, 8 * KiB), 0);
    expect(r.ret).toBe(8192);
    expect(r.bios[0]!.opf).toBe(REQ_OP_WRITE | REQ_SYNC | REQ_IDLE | REQ_P2PDMA | REQ_NOMERGE);
  });

  it('against a queue without the capability: -EREMOTEIO at pin time, no bio, nothing pinned', () => {
    const m = p2pmemMachine();
    const q = nvmeQueue(m.log, false);
    const a = p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 64 * KiB });
    const it = IovIter.ubuf(m.mm, ITER_DEST, a, 64 * KiB);
    expect(blkdevDirectIo(q, it, 0)).toEqual({ ret: -EREMOTEIO, bios: [] });
    expect(m.refs.refCount(m.p2p.memmap.pfnToPage(NVME0_PFN))).toBe(1);
    expect(iovIterCount(it)).toBe(65536);
  });

  it('v6.2-v6.10 read the capability from QUEUE_FLAG_PCI_P2PDMA (bit 25), not the features', () => {
    const m = p2pmemMachine();
    const q = nvmeQueue(m.log, true);
    const a = p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 8 * KiB });
    const it = () => IovIter.ubuf(m.mm, ITER_DEST, a, 8 * KiB);
    expect(blkdevDirectIo(q, it(), 0, { release: 'v6.2' }).ret).toBe(-EREMOTEIO);
    blkQueueFlagSet(QUEUE_FLAG_PCI_P2PDMA, q);
    const r = blkdevDirectIo(q, it(), 0, { release: 'v6.2' });
    expect(r.ret).toBe(8192);
    // No REQ_P2PDMA before v6.16.
    expect(r.bios[0]!.opf).toBe(REQ_OP_READ);
  });

  it('a resourceN mapping of the BAR (VM_PFNMAP) cannot be used for O_DIRECT: -EFAULT (§6.4 end)', () => {
    const m = p2pmemMachine();
    const q = nvmeQueue(m.log, true);
    const a = mmapPfnRange(m.mm, NVME0_PFN, 16);
    expect(blkdevDirectIo(q, IovIter.ubuf(m.mm, ITER_DEST, a, 64 * KiB), 0).ret).toBe(-EFAULT);
  });
});

describe('blkdev_direct_IO alignment (blkdev_dio_invalid)', () => {
  it('dma_alignment 3: a buffer at +2 is -EINVAL, at +4 it is accepted', () => {
    const m = p2pmemMachine();
    const q = nvmeQueue(m.log, true);
    const a = mmapAnonymous(m.mm, [RAM_PFN, RAM_PFN + 1]);
    expect(blkdevDirectIo(q, IovIter.ubuf(m.mm, ITER_SOURCE, a + 2, 512), 0)).toEqual({
      ret: -EINVAL,
      bios: [],
    });
    // Nothing was pinned by the refused call.
    expect(m.refs.refCount(new Page(RAM_PFN))).toBe(1);
    const r = blkdevDirectIo(q, IovIter.ubuf(m.mm, ITER_SOURCE, a + 4, 512), 0);
    expect(r.ret).toBe(512);
    expect(r.bios[0]!.vecs).toEqual([
      { page: expect.objectContaining({ pfn: RAM_PFN }), offset: 4, len: 512 },
    ]);
  });

  it('the default dma_alignment 511 refuses a 4-byte aligned buffer', () => {
    const m = p2pmemMachine();
    const q = nvmeQueue(m.log, true, 0); // 0 -> blk_validate_limits() sets 511
    expect(q.limits.dmaAlignment).toBe(511);
    const a = mmapAnonymous(m.mm, [RAM_PFN]);
    expect(blkdevDirectIo(q, IovIter.ubuf(m.mm, ITER_SOURCE, a + 4, 512), 0).ret).toBe(-EINVAL);
    expect(blkdevDirectIo(q, IovIter.ubuf(m.mm, ITER_SOURCE, a + 512, 512), 0).ret).toBe(512);
  });

  it('a length or a position that is not a multiple of the 512-byte block is -EINVAL', () => {
    const m = p2pmemMachine();
    const q = nvmeQueue(m.log, true);
    const a = mmapAnonymous(m.mm, [RAM_PFN]);
    expect(blkdevDirectIo(q, IovIter.ubuf(m.mm, ITER_SOURCE, a, 1000), 0).ret).toBe(-EINVAL);
    expect(blkdevDirectIo(q, IovIter.ubuf(m.mm, ITER_SOURCE, a, 512), 100).ret).toBe(-EINVAL);
    expect(blkdevDirectIo(q, IovIter.ubuf(m.mm, ITER_SOURCE, a, 0), 100)).toEqual({
      ret: 0,
      bios: [],
    });
  });
});

describe('§5.3 a buffer whose pages change page map (RAM, then P2P memory)', () => {
  it('v6.16: bio_add_page refuses the first P2P page; the WARN path leaves a short I/O of the RAM bytes', () => {
    const m = ramThenP2p();
    const q = nvmeQueue(m.log, true);
    const it = IovIter.ubuf(m.mm, ITER_SOURCE, m.a, 16 * KiB);
    const r = blkdevDirectIo(q, it, 0);
    // All 4 pages are pinned by one extraction; RAM_PFN and RAM_PFN + 1 merge into one 8 KiB bvec;
    // the P2P page is refused, __bio_iov_iter_get_pages() WARNs, returns -EINVAL without reverting
    // the iterator, and bio_iov_iter_get_pages() returns 0 because the bio has a bvec.
    expect(r.ret).toBe(8192);
    expect(r.bios).toHaveLength(1);
    expect(r.bios[0]!.vecs).toHaveLength(1);
    expect(r.bios[0]!.vecs[0]).toMatchObject({ offset: 0, len: 8192 });
    expect(r.bios[0]!.opf & REQ_P2PDMA).toBe(0);
    expect(m.log.messages()).toEqual([{ level: 'warn', msg: WARN_BIO }]);
    // The refused P2P pages were unpinned again (1025 -> 1); the RAM pages stay pinned (1025).
    expect(m.refs.refCount(m.p2p.memmap.pfnToPage(NVME0_PFN))).toBe(1);
    expect(m.refs.refCount(new Page(RAM_PFN + 1))).toBe(1025);
    // The iterator was consumed all the same: 16 KiB - 16 KiB = 0.
    expect(iovIterCount(it)).toBe(0);
    // Userspace retries the 8 KiB it did not get: that I/O is a bio of its own, marked P2P.
    const r2 = blkdevDirectIo(q, IovIter.ubuf(m.mm, ITER_SOURCE, m.a + 8192, 8 * KiB), 8192);
    expect(r2.ret).toBe(8192);
    expect(r2.bios[0]!.opf & (REQ_P2PDMA | REQ_NOMERGE)).toBe(REQ_P2PDMA | REQ_NOMERGE);
    // byte 8192 = sector 16.
    expect(r2.bios[0]!.sector).toBe(16);
    expect(r2.bios[0]!.vecs[0]!.page.pfn).toBe(NVME0_PFN);
  });

  it('v6.2-v6.15: one bio, the RAM bytes and the P2P bytes in separate bvecs, no REQ_P2PDMA', () => {
    const m = ramThenP2p();
    const q = nvmeQueue(m.log, true);
    blkQueueFlagSet(QUEUE_FLAG_PCI_P2PDMA, q);
    const r = blkdevDirectIo(q, IovIter.ubuf(m.mm, ITER_SOURCE, m.a, 16 * KiB), 0, {
      release: 'v6.2',
    });
    expect(r.ret).toBe(16384);
    expect(r.bios).toHaveLength(1);
    expect(r.bios[0]!.vecs.map((v) => [v.page.pfn, v.len])).toEqual([
      [RAM_PFN, 8192],
      [NVME0_PFN, 8192],
    ]);
    expect(r.bios[0]!.opf).toBe(REQ_OP_WRITE | REQ_SYNC | REQ_IDLE);
    expect(m.log.messages()).toEqual([]);
  });

  it('without the queue capability: the RAM part goes through (8 KiB), the P2P rest fails with -EREMOTEIO', () => {
    const m = ramThenP2p();
    const q = nvmeQueue(m.log, false);
    const it = IovIter.ubuf(m.mm, ITER_SOURCE, m.a, 16 * KiB);
    // GUP pins the 2 RAM pages and stops at the P2P page; the next extraction fails with
    // -EREMOTEIO, which bio_iov_iter_get_pages() drops because the bio already has a bvec.
    const r = blkdevDirectIo(q, it, 0);
    expect(r.ret).toBe(8192);
    expect(iovIterCount(it)).toBe(8192);
    expect(blkdevDirectIo(q, it, 8192).ret).toBe(-EREMOTEIO);
  });

  it('readv() with a RAM segment and a P2P segment: the second segment hits the same WARN', () => {
    const m = ramThenP2p();
    const q = nvmeQueue(m.log, true);
    const it = IovIter.iovec(m.mm, ITER_DEST, [
      { base: m.a, len: 4096 },
      { base: m.a + 8192, len: 4096 },
    ]);
    const r = blkdevDirectIo(q, it, 0);
    expect(r.ret).toBe(4096);
    expect(r.bios[0]!.vecs.map((v) => v.page.pfn)).toEqual([RAM_PFN]);
    expect(m.log.messages()).toEqual([{ level: 'warn', msg: WARN_BIO }]);
  });

  it('more than 256 pages: where a bio fills up at the page map change, the P2P pages get a bio of their own', () => {
    const m = p2pmemMachine();
    const q = nvmeQueue(m.log, true);
    // 256 RAM pages that are not physically contiguous (every other pfn): one bvec each, so the
    // first bio (BIO_MAX_VECS = 256 bvecs) is full exactly where the P2P pages start.
    const ram = Array.from({ length: 256 }, (_, i) => RAM_PFN + 2 * i);
    const a = mmapAnonymous(m.mm, ram, { addr: 0x10_0000_0000 });
    expect(
      p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 8192, addr: a + MiB, flags: MAP_SHARED | MAP_FIXED }),
    ).toBe(a + MiB);
    // 1 MiB + 8 KiB = 258 pages > 256: the multi-bio path.
    const r = blkdevDirectIo(q, IovIter.ubuf(m.mm, ITER_SOURCE, a, MiB + 8192), 0);
    expect(r.ret).toBe(1056768);
    expect(r.bios).toHaveLength(2);
    const [b1, b2] = r.bios as [Bio, Bio];
    expect([b1.vecs.length, b1.size, b1.sector, b1.opf & REQ_P2PDMA]).toEqual([256, MiB, 0, 0]);
    // The second bio starts at byte 1 MiB = sector 2048, with the 2 P2P pages in one bvec.
    expect([b2.vecs.length, b2.size, b2.sector]).toEqual([1, 8192, 2048]);
    expect(b2.opf & REQ_P2PDMA).toBe(REQ_P2PDMA);
    expect(m.log.messages()).toEqual([]);
  });

  it('more than 256 pages, contiguous RAM: the first bio is not full, so the P2P pages hit the WARN', () => {
    const m = p2pmemMachine();
    const q = nvmeQueue(m.log, true);
    const ram = Array.from({ length: 256 }, (_, i) => RAM_PFN + i);
    const a = mmapAnonymous(m.mm, ram, { addr: 0x10_0000_0000 });
    p2pmemMmap(m.p2p, m.nvme0, m.mm, { len: 8192, addr: a + MiB, flags: MAP_SHARED | MAP_FIXED });
    const r = blkdevDirectIo(q, IovIter.ubuf(m.mm, ITER_SOURCE, a, MiB + 8192), 0);
    // 256 contiguous pages merge into 1 bvec; the next extraction brings the P2P pages into the
    // same bio and bio_add_page() refuses them: 1 MiB transferred, 8 KiB silently dropped.
    expect(r.ret).toBe(MiB);
    expect(r.bios).toHaveLength(1);
    expect(r.bios[0]!.vecs).toHaveLength(1);
    expect(m.log.messages()).toEqual([{ level: 'warn', msg: WARN_BIO }]);
  });
});

describe('bio_iov_iter_get_pages details', () => {
  it('trims each extraction to whole logical blocks and gives the rest back to the iterator', () => {
    const m = p2pmemMachine();
    const q = nvmeQueue(m.log, true);
    const a = mmapAnonymous(m.mm, [RAM_PFN, RAM_PFN + 1]);
    // 1024 bytes from page offset 0xd00 = 3328: a bio of one bvec slot can take the first page
    // only, 4096 - 3328 = 768 bytes; 768 % 512 = 256 are trimmed: 512 bytes go in.
    const bio = bioAlloc(REQ_OP_WRITE, 1, q);
    const it = IovIter.ubuf(m.mm, ITER_SOURCE, a + 0xd00, 1024);
    expect(bioIovIterGetPages(bio, it)).toBe(0);
    expect(bio.vecs).toEqual([
      { page: expect.objectContaining({ pfn: RAM_PFN }), offset: 3328, len: 512 },
    ]);
    expect(iovIterCount(it)).toBe(512);
    expect(m.refs.refCount(new Page(RAM_PFN))).toBe(1025);
  });

  it('nothing left after the trim: -EFAULT, the page unpinned, the iterator restored', () => {
    const m = p2pmemMachine();
    const q = nvmeQueue(m.log, true);
    const a = mmapAnonymous(m.mm, [RAM_PFN, RAM_PFN + 1]);
    // From 0xf00 = 3840 the first page holds 256 bytes: all trimmed.
    const bio = bioAlloc(REQ_OP_WRITE, 1, q);
    const it = IovIter.ubuf(m.mm, ITER_SOURCE, a + 0xf00, 1024);
    expect(bioIovIterGetPages(bio, it)).toBe(-EFAULT);
    expect(bio.vcnt).toBe(0);
    expect(iovIterCount(it)).toBe(1024);
    expect(m.refs.refCount(new Page(RAM_PFN))).toBe(1);
  });

  it('a bvec iterator becomes the bio as is (BIO_CLONED): no pin, and no REQ_P2PDMA even for P2P pages', () => {
    const m = p2pmemMachine();
    const q = nvmeQueue(m.log, true);
    const p2pPage = m.p2p.memmap.pfnToPage(NVME0_PFN);
    const it = IovIter.bvecs(ITER_SOURCE, [
      { page: p2pPage, offset: 0, len: 4096 },
      { page: new Page(RAM_PFN), offset: 0, len: 4096 },
    ]);
    const r = blkdevDirectIo(q, it, 0);
    expect(r.ret).toBe(8192);
    const bio = r.bios[0]!;
    expect(bio.maxVecs).toBe(0);
    expect(bio.cloned).toBe(true);
    expect(bio.vecs.map((v) => v.page.pfn)).toEqual([NVME0_PFN, RAM_PFN]);
    expect(bio.opf & REQ_P2PDMA).toBe(0);
    expect(bioPagePinned(bio)).toBe(false);
    // A cloned bio takes no more pages: -EIO.
    expect(bioIovIterGetPages(bio, IovIter.bvecs(ITER_SOURCE, []))).toBe(-EIO);
  });
});
