/**
 * The request queue (struct request_queue, include/linux/blkdev.h, v6.16): its limits and its
 * flag word, and how the P2PDMA capability is read across releases (reference §5.3).
 */
import type { KernelLog } from '../kernel-log';
import { BLK_FEAT_PCI_P2PDMA, defaultQueueLimits, type QueueLimits } from './queue-limits';

/**
 * The block-layer releases whose P2P behaviour differs (§0, §5.3):
 * - 'v6.1': before the userspace P2PDMA work; bio merging ignores page maps;
 * - 'v6.2': pages of different page maps never share a bvec; capability is QUEUE_FLAG_PCI_P2PDMA;
 * - 'v6.11': the capability moved to BLK_FEAT_PCI_P2PDMA in queue_limits.features;
 * - 'v6.16': REQ_P2PDMA; pages of different page maps never share a bio (the default).
 */
export type BlockRelease = 'v6.1' | 'v6.2' | 'v6.11' | 'v6.16';

const RELEASE_ORDER: readonly BlockRelease[] = ['v6.1', 'v6.2', 'v6.11', 'v6.16'];

/** The newest modelled block-layer behaviour. */
export const DEFAULT_BLOCK_RELEASE: BlockRelease = 'v6.16';

/** Whether `release` is `than` or newer. */
export function blockReleaseAtLeast(release: BlockRelease, than: BlockRelease): boolean {
  const r = RELEASE_ORDER.indexOf(release);
  if (r < 0) throw new RangeError(`unknown block release ${String(release)}`);
  return r >= RELEASE_ORDER.indexOf(than);
}

/** Options that select a release's behaviour. */
export interface BlockReleaseOptions {
  /** Default DEFAULT_BLOCK_RELEASE ('v6.16'). */
  release?: BlockRelease;
}

/** QUEUE_FLAG_* bit numbers of v6.16 (enum in include/linux/blkdev.h). */
export const QUEUE_FLAG_DYING = 0;
export const QUEUE_FLAG_NOMERGES = 1;
export const QUEUE_FLAG_SAME_COMP = 2;
export const QUEUE_FLAG_FAIL_IO = 3;
export const QUEUE_FLAG_NOXMERGES = 4;
export const QUEUE_FLAG_SAME_FORCE = 5;
export const QUEUE_FLAG_INIT_DONE = 6;
export const QUEUE_FLAG_STATS = 7;
export const QUEUE_FLAG_REGISTERED = 8;
export const QUEUE_FLAG_QUIESCED = 9;
export const QUEUE_FLAG_RQ_ALLOC_TIME = 10;
export const QUEUE_FLAG_HCTX_ACTIVE = 11;
export const QUEUE_FLAG_SQ_SCHED = 12;
export const QUEUE_FLAG_DISABLE_WBT_DEF = 13;
export const QUEUE_FLAG_NO_ELV_SWITCH = 14;
export const QUEUE_FLAG_QOS_ENABLED = 15;
/** The P2PDMA capability bit of v4.20-v6.10 (bit 25 then); replaced by BLK_FEAT_PCI_P2PDMA. */
export const QUEUE_FLAG_PCI_P2PDMA = 25;

/** struct request_queue: the modelled fields. */
export class RequestQueue {
  /** QUEUE_FLAG_* bits (1 << flag). */
  queueFlags = 0;
  limits: QueueLimits;

  /**
   * @param name the disk's name ("nvme0n1"), for messages
   * @param limits validated limits (defaultQueueLimits() when omitted)
   * @param log where the block layer's WARNs about this queue go
   */
  constructor(
    readonly name: string,
    limits?: QueueLimits,
    readonly log?: KernelLog,
  ) {
    this.limits = limits ?? defaultQueueLimits();
  }
}

function checkFlag(flag: number): void {
  if (!Number.isInteger(flag) || flag < 0 || flag > 31) {
    throw new RangeError(`queue flag bit ${flag} out of range`);
  }
}

/** blk_queue_flag_set(flag, q) */
export function blkQueueFlagSet(flag: number, q: RequestQueue): void {
  checkFlag(flag);
  q.queueFlags = (q.queueFlags | (1 << flag)) >>> 0;
}

/** blk_queue_flag_clear(flag, q) */
export function blkQueueFlagClear(flag: number, q: RequestQueue): void {
  checkFlag(flag);
  q.queueFlags = (q.queueFlags & ~(1 << flag)) >>> 0;
}

/** test_bit(flag, &q->queue_flags) */
export function blkQueueFlagTest(flag: number, q: RequestQueue): boolean {
  checkFlag(flag);
  return (q.queueFlags & (1 << flag)) !== 0;
}

/** blk_queue_nomerges(q) */
export function blkQueueNomerges(q: RequestQueue): boolean {
  return blkQueueFlagTest(QUEUE_FLAG_NOMERGES, q);
}

/**
 * blk_queue_pci_p2pdma(q): whether the queue takes P2PDMA pages. v6.11+: BLK_FEAT_PCI_P2PDMA in
 * the limits' features; v4.20-v6.10 ('v6.1', 'v6.2'): QUEUE_FLAG_PCI_P2PDMA in the flags.
 */
export function blkQueuePciP2pdma(q: RequestQueue, opts: BlockReleaseOptions = {}): boolean {
  if (blockReleaseAtLeast(opts.release ?? DEFAULT_BLOCK_RELEASE, 'v6.11')) {
    return (q.limits.features & BLK_FEAT_PCI_P2PDMA) !== 0;
  }
  return blkQueueFlagTest(QUEUE_FLAG_PCI_P2PDMA, q);
}
