/**
 * The dma-iommu flush queue: lazy (deferred) IOTLB invalidation for IOMMU_DOMAIN_DMA_FQ domains
 * (drivers/iommu/dma-iommu.c struct iova_fq, queue_iova(), fq_ring_free(), fq_flush_iotlb(),
 * fq_flush_timeout(); v6.16, reference §4.5).
 *
 * Unmapping in lazy mode does not wait for an IOTLB invalidation: the IOVA range goes into a ring
 * stamped with the number of flushes started so far, and only becomes reusable (free_iova_fast())
 * once a flush that started after it has finished. A flush happens when the ring is full (on the
 * CPU that found it full) or when the domain-wide timer, armed by the first queued entry, expires.
 * Per-CPU rings of IOVA_DEFAULT_FQ_SIZE entries and a 10 ms timer by default; one shared ring of
 * IOVA_SINGLE_FQ_SIZE entries and 1000 ms for IOMMUs whose flushes shadow page tables
 * (dev->iommu->shadow_on_flush, iommu_dma_init_options()).
 *
 * Not modelled: the freelist of page-table pages freed with each entry (iommu_put_pages_list()).
 */
import { NSEC_PER_MSEC, type SimClock, type SimTimer } from '@dmasim/core';
import type { IovaDomain } from './iova';

/** Entries per per-CPU flush queue. */
export const IOVA_DEFAULT_FQ_SIZE = 256;
/** Entries of the single shared flush queue. */
export const IOVA_SINGLE_FQ_SIZE = 32768;
/** Timeout (ms) after which the per-CPU queues are flushed. */
export const IOVA_DEFAULT_FQ_TIMEOUT = 10;
/** Timeout (ms) after which the single queue is flushed. */
export const IOVA_SINGLE_FQ_TIMEOUT = 1000;

/** enum iommu_dma_queue_type */
export type IommuDmaQueueType = 'per-cpu' | 'single';

/** struct iommu_dma_options */
export interface IommuDmaOptions {
  qt: IommuDmaQueueType;
  /** Ring size: a power of two; a ring holds fqSize - 1 entries (one slot tells full from empty). */
  fqSize: number;
  /** Timer period in ms. */
  fqTimeout: number;
}

/**
 * iommu_dma_init_options(): the single queue for IOMMUs whose IOTLB flush is expensive because it
 * shadows page tables (virtualised IOMMUs), the per-CPU queues otherwise.
 */
export function iommuDmaInitOptions(shadowOnFlush: boolean): IommuDmaOptions {
  return shadowOnFlush
    ? { qt: 'single', fqSize: IOVA_SINGLE_FQ_SIZE, fqTimeout: IOVA_SINGLE_FQ_TIMEOUT }
    : { qt: 'per-cpu', fqSize: IOVA_DEFAULT_FQ_SIZE, fqTimeout: IOVA_DEFAULT_FQ_TIMEOUT };
}

/** struct iova_fq: a ring of (pfn, pages, counter) entries. */
export class IovaFq {
  head = 0;
  tail = 0;
  readonly modMask: number;
  readonly pfn: Float64Array;
  readonly pages: Float64Array;
  /** fq_flush_start_cnt when each entry was queued. */
  readonly counter: Float64Array;

  constructor(size: number) {
    this.modMask = size - 1;
    this.pfn = new Float64Array(size);
    this.pages = new Float64Array(size);
    this.counter = new Float64Array(size);
  }

  /** fq_full() */
  full(): boolean {
    return ((this.tail + 1) & this.modMask) === this.head;
  }

  /** Entries queued. */
  get length(): number {
    return (this.tail - this.head) & this.modMask;
  }
}

/** What a flush queue has done. */
export class FlushQueueStats {
  /** fq_flush_iotlb() calls, i.e. flushIotlbAll() calls. */
  flushes = 0;
  /** ...of which because a ring was full, and because the timer expired. */
  fullFlushes = 0;
  timerFlushes = 0;
  /** Entries queued by queue_iova() and freed by fq_ring_free(). */
  queued = 0;
  freed = 0;
}

/** The flush-queue half of struct iommu_dma_cookie (iommu_dma_init_fq()). */
export class IovaFlushQueue {
  /** fq_flush_start_cnt / fq_flush_finish_cnt */
  flushStartCnt = 0;
  flushFinishCnt = 0;
  /** fq_timer_on */
  timerOn = false;
  readonly queues: IovaFq[];
  readonly stats = new FlushQueueStats();
  private readonly timer: SimTimer;

  /**
   * @param iovad the domain entries are freed back to (free_iova_fast()); its `cpu` selects the
   *   per-CPU ring
   * @param clock the kernel clock the timer runs on
   * @param flushIotlbAll the IOMMU driver's flush_iotlb_all(domain), from the hardware model
   * @param options queue type, ring size, timeout (iommuDmaInitOptions())
   */
  constructor(
    readonly iovad: IovaDomain,
    readonly clock: SimClock,
    private readonly flushIotlbAll: () => void,
    readonly options: IommuDmaOptions = iommuDmaInitOptions(false),
  ) {
    const { fqSize } = options;
    if (!Number.isInteger(fqSize) || fqSize < 2 || (fqSize & (fqSize - 1)) !== 0) {
      throw new RangeError(`iommu_dma_init_fq: fq_size ${fqSize} must be a power of two >= 2`);
    }
    const n = options.qt === 'single' ? 1 : iovad.nrCpus;
    this.queues = [];
    for (let i = 0; i < n; i++) this.queues.push(new IovaFq(fqSize));
    this.timer = clock.timer(() => this.fqFlushTimeout());
  }

  /** Entries waiting in every ring. */
  get pending(): number {
    let n = 0;
    for (const q of this.queues) n += q.length;
    return n;
  }

  /**
   * queue_iova(cookie, pfn, pages, freelist): drops entries already flushed, flushes if the ring
   * is still full, queues the range and arms the timer if it is not armed.
   */
  queueIova(pfn: number, pages: number): void {
    const fq = this.options.qt === 'single' ? this.queues[0] : this.queues[this.iovad.cpu];
    this.fqRingFree(fq);
    if (fq.full()) {
      this.stats.fullFlushes++;
      this.fqFlushIotlb();
      this.fqRingFree(fq);
    }
    const idx = fq.tail;
    fq.tail = (idx + 1) & fq.modMask;
    fq.pfn[idx] = pfn;
    fq.pages[idx] = pages;
    fq.counter[idx] = this.flushStartCnt;
    this.stats.queued++;
    if (!this.timerOn) {
      this.timerOn = true;
      this.timer.mod(this.clock.now + this.options.fqTimeout * NSEC_PER_MSEC);
    }
  }

  /**
   * fq_ring_free_locked(): frees, oldest first, the entries queued before the last finished flush
   * started (counter < fq_flush_finish_cnt); stops at the first one that is not.
   */
  fqRingFree(fq: IovaFq): void {
    const finish = this.flushFinishCnt;
    const iovad = this.iovad;
    while (fq.head !== fq.tail) {
      const idx = fq.head;
      if (fq.counter[idx] >= finish) break;
      iovad.freeIovaFast(fq.pfn[idx], fq.pages[idx]);
      fq.head = (idx + 1) & fq.modMask;
      this.stats.freed++;
    }
  }

  /** fq_flush_iotlb(): one IOTLB flush of the whole domain, bracketed by the two counters. */
  fqFlushIotlb(): void {
    this.flushStartCnt++;
    this.stats.flushes++;
    this.flushIotlbAll();
    this.flushFinishCnt++;
  }

  /** fq_flush_timeout(): flush once, then free what every ring may free. */
  fqFlushTimeout(): void {
    this.timerOn = false;
    this.stats.timerFlushes++;
    this.fqFlushIotlb();
    for (const fq of this.queues) this.fqRingFree(fq);
  }

  /**
   * iommu_dma_free_fq(): timer_delete_sync() and drop the queues. Queued IOVAs are not freed one
   * by one: the kernel tears the whole iova domain down after this.
   */
  destroy(): void {
    this.timer.del();
    this.timerOn = false;
  }
}
