/**
 * Strict versus lazy IOVA freeing and the flush queue (flush-queue.ts, iommu_dma_free_iova();
 * drivers/iommu/dma-iommu.c v6.16 queue_iova(), fq_ring_free(), fq_flush_timeout(); reference
 * §4.5 "Freeing", §4.4), and the simulated clock the queue's timer runs on.
 * 4 KiB granule: the highest 32-bit pfn is 0xFFFFF (IOVA 0xFFFFF000).
 */
import { DmaDevice, KernelLog, SimClock, type DmaMapOps } from '@dmasim/core';
import {
  IOVA_DEFAULT_FQ_SIZE,
  IOVA_SINGLE_FQ_SIZE,
  IommuDmaCookie,
  iommuDmaAllocIova,
  iommuDmaFreeIova,
  type IommuDmaCookieParams,
} from '@dmasim/dma-iommu';

const MS = 1_000_000;
const PAGE = 4096;

/** A non-PCI device with a 32-bit mask: allocations stay below 4 GiB, no 32-bit-first step. */
function dev32(): DmaDevice {
  return new DmaDevice('dev32', undefined, {} as DmaMapOps, new KernelLog(), { dmaMaskBits: 32 });
}

function setup(p: Partial<IommuDmaCookieParams> = {}) {
  const clock = new SimClock();
  let flushes = 0;
  const cookie = new IommuDmaCookie({
    clock,
    flushIotlbAll: () => flushes++,
    ...p,
  });
  const dev = dev32();
  const alloc = (size = PAGE) => iommuDmaAllocIova(cookie, dev, size, dev.dmaMask);
  return { clock, cookie, dev, alloc, flushes: () => flushes };
}

describe('§4.5 strict freeing', () => {
  it('a strictly freed IOVA is reusable at once (no flush queue, no IOTLB flush here)', () => {
    const { cookie, alloc, flushes } = setup();
    expect(cookie.fq).toBeNull();
    const a = alloc();
    expect(a).toBe(0xffff_f000);
    iommuDmaFreeIova(cookie, a, PAGE, { queued: false });
    expect(alloc()).toBe(0xffff_f000); // from the rcache
    expect(flushes()).toBe(0);
  });
});

describe('§4.5 lazy freeing through the flush queue (256 entries / 10 ms per CPU)', () => {
  it('a queued IOVA is not reusable until the timer flushes, 10 ms after the first entry', () => {
    const { clock, cookie, alloc, flushes } = setup({ lazy: true });
    expect(cookie.options).toEqual({ qt: 'per-cpu', fqSize: 256, fqTimeout: 10 });
    const a = alloc();
    expect(a).toBe(0xffff_f000);
    iommuDmaFreeIova(cookie, a, PAGE, { queued: true });
    expect(cookie.fq?.pending).toBe(1);
    // not reusable: the next page down
    expect(alloc()).toBe(0xffff_e000);
    clock.advance(10 * MS - 1);
    expect(flushes()).toBe(0);
    clock.advance(1); // t = 10 ms: one flush, the entry (counter 0 < finish 1) is freed
    expect(flushes()).toBe(1);
    expect(cookie.fq?.pending).toBe(0);
    expect(alloc()).toBe(0xffff_f000);
  });

  it('a full ring flushes on the next queue_iova: 255 entries fit, the 256th flushes', () => {
    const { clock, cookie, alloc, flushes } = setup({ lazy: true });
    const fq = cookie.fq!;
    const iovas: number[] = [];
    for (let i = 0; i < IOVA_DEFAULT_FQ_SIZE; i++) iovas.push(alloc());
    // a ring of 256 slots holds 255 entries (one slot tells full from empty)
    for (let i = 0; i < 255; i++) iommuDmaFreeIova(cookie, iovas[i], PAGE, { queued: true });
    expect(flushes()).toBe(0);
    expect(fq.pending).toBe(255);
    // the 256th finds the ring full: flush (start 1, finish 1), free the 255 (counter 0 < 1),
    // then queue itself with counter 1
    iommuDmaFreeIova(cookie, iovas[255], PAGE, { queued: true });
    expect(flushes()).toBe(1);
    expect(fq.stats).toMatchObject({ fullFlushes: 1, queued: 256, freed: 255 });
    expect(fq.pending).toBe(1);
    // the timer armed by the first entry at t = 0 still fires at 10 ms: flush 2 frees the last
    clock.advance(10 * MS);
    expect(flushes()).toBe(2);
    expect(fq.stats).toMatchObject({ timerFlushes: 1, freed: 256 });
  });

  it('each CPU has its own ring: 255 entries on each of two CPUs need no flush', () => {
    const { cookie, alloc, flushes } = setup({ lazy: true, nrCpus: 2 });
    const iovas: number[] = [];
    for (let i = 0; i < 510; i++) iovas.push(alloc());
    for (let i = 0; i < 510; i++) {
      cookie.iovad.cpu = i % 2;
      iommuDmaFreeIova(cookie, iovas[i], PAGE, { queued: true });
    }
    expect(flushes()).toBe(0);
    expect(cookie.fq!.queues.map((q) => q.length)).toEqual([255, 255]);
  });

  it('exhaustion returns 0 (-ENOMEM for the caller); after the queue flushes a retry succeeds', () => {
    const { clock, cookie, alloc } = setup({ lazy: true });
    cookie.reserve(PAGE, 0xffff_dfff); // pfns 1..0xFFFFD: two pages left below 4 GiB
    const a = alloc();
    const b = alloc();
    expect([a, b]).toEqual([0xffff_f000, 0xffff_e000]);
    expect(alloc()).toBe(0);
    iommuDmaFreeIova(cookie, b, PAGE, { queued: true });
    // flushing the rcaches does not help: the IOVA sits in the flush queue
    expect(alloc()).toBe(0);
    clock.advance(10 * MS);
    expect(alloc()).toBe(0xffff_e000);
  });

  it('strict mode after exhaustion: the freed page is reusable at once', () => {
    const { cookie, alloc } = setup();
    cookie.reserve(PAGE, 0xffff_dfff);
    const a = alloc();
    alloc();
    expect(alloc()).toBe(0);
    iommuDmaFreeIova(cookie, a, PAGE);
    expect(alloc()).toBe(0xffff_f000);
  });
});

describe('§4.5 the single flush queue (32768 entries / 1000 ms, shadow_on_flush)', () => {
  it('one ring for every CPU, 32767 entries, flushed by a full ring or after 1000 ms', () => {
    const { clock, cookie, dev, flushes } = setup({ lazy: true, shadowOnFlush: true, nrCpus: 2 });
    expect(cookie.options).toEqual({ qt: 'single', fqSize: 32768, fqTimeout: 1000 });
    expect(cookie.fq!.queues).toHaveLength(1);
    const iovas: number[] = [];
    for (let i = 0; i < IOVA_SINGLE_FQ_SIZE; i++) {
      iovas.push(iommuDmaAllocIova(cookie, dev, PAGE, dev.dmaMask));
    }
    for (let i = 0; i < IOVA_SINGLE_FQ_SIZE - 1; i++) {
      cookie.iovad.cpu = i % 2;
      iommuDmaFreeIova(cookie, iovas[i], PAGE, { queued: true });
    }
    clock.advance(10 * MS); // the per-CPU timeout is not this queue's
    expect(flushes()).toBe(0);
    expect(cookie.fq!.pending).toBe(32767);
    iommuDmaFreeIova(cookie, iovas[32767], PAGE, { queued: true }); // full: flush 1
    expect(flushes()).toBe(1);
    expect(cookie.fq!.pending).toBe(1);
    clock.advance(990 * MS - 1);
    expect(flushes()).toBe(1);
    clock.advance(1); // 1000 ms after the first entry
    expect(flushes()).toBe(2);
    expect(cookie.fq!.pending).toBe(0);
  });
});

describe('SimClock (mod_timer / schedule_delayed_work semantics)', () => {
  it('runs due timers in expiry order with now at their expiry; mod_timer re-arms', () => {
    const clock = new SimClock();
    const seen: string[] = [];
    const a = clock.schedule(() => seen.push(`a@${clock.now}`), 30);
    clock.schedule(() => seen.push(`b@${clock.now}`), 10);
    // a callback arming another timer that falls due within the same advance
    clock.schedule(() => clock.schedule(() => seen.push(`c@${clock.now}`), clock.now + 5), 20);
    expect(a.mod(40)).toBe(true); // was pending
    clock.advance(35);
    expect(seen).toEqual(['b@10', 'c@25']);
    expect(clock.now).toBe(35);
    clock.advance(5);
    expect(seen).toEqual(['b@10', 'c@25', 'a@40']);
    expect(a.pending).toBe(false);
  });

  it('scheduleDelayed does not push a pending expiry; del() cancels', () => {
    const clock = new SimClock();
    let n = 0;
    const t = clock.timer(() => n++);
    expect(t.scheduleDelayed(100)).toBe(true);
    clock.advance(50);
    expect(t.scheduleDelayed(100)).toBe(false); // still due at 100, not 150
    clock.advance(50);
    expect(n).toBe(1);
    t.scheduleDelayed(10);
    expect(t.del()).toBe(true);
    clock.advance(100);
    expect(n).toBe(1);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });
});
