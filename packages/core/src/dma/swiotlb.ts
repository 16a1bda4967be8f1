/**
 * PLACEHOLDER, replaced by the swiotlb model (kernel/dma/swiotlb.c). Only the shape the kernel
 * container needs is here.
 */
import type { KernelLog } from '../kernel-log';
import type { PhysMemoryMap } from '../mm/memory-map';

export interface SwiotlbOptions {
  /** Pool size in bytes (swiotlb=<slabs> * 2 KiB); default 64 MiB. */
  size?: number;
  /** swiotlb=force: bounce every mapping dma-direct makes. */
  force?: boolean;
}

export class Swiotlb {
  constructor(
    readonly mem: PhysMemoryMap,
    readonly options: SwiotlbOptions,
    readonly log: KernelLog,
  ) {}
}
