/**
 * The in-kernel submitter extension point: how kernel code that owns a buffer (an NVMe-oF
 * target, an RDMA upper layer) hands it to a block device and to a device's DMA engine. This is
 * where the designs under comparison differ for kernel users of P2P memory:
 * - page-backed (mainline since v4.20, the dma-direct and dma-iommu designs): nvmet's bdev
 *   backend (nvmet_bdev_execute_rw()) adds the buffer's pages to bios with bio_add_page(); the
 *   RDMA side maps a scatterlist of the same pages with dma_map_sg() (rdma_rw_ctx_init());
 * - dma-vec (2019 RFC, reference §5.6): P2P memory has no struct pages, so the submitter maps
 *   it for the target device itself and puts the DMA addresses into dma_vec bios.
 * RAM buffers take the page path in every design. The kernel container binds the page-backed
 * submitter unless the strategy's module binds its own.
 */
import type { BlkStatus } from '../block/blk-status';
import type { Request } from '../block/request';
import type { RequestQueue } from '../block/request-queue';
import type { DmaDataDirection } from '../dma/direction';
import type { DmaDevice } from '../dma/device';
import type { Page } from '../mm/page';
import type { PciDev } from '../pci/device';
import type { DmaSegment } from '../block/request-mapper';

export const KernelSubmitter = Symbol.for('dmasim.KernelSubmitter');

/** A buffer kernel code owns: RAM pages, or P2P memory from pci_alloc_p2pmem(). */
export interface KernelBuffer {
  readonly size: number;
  /** The P2P provider; undefined for RAM. */
  readonly provider?: PciDev;
  /** The pci_alloc_p2pmem() address of the first byte (P2P memory only). */
  readonly p2pVirt?: number;
  /** One struct page per 4 KiB, when the memory has them (RAM, page-backed P2P memory). */
  readonly pages?: readonly Page[];
  /** CPU physical address of the byte at `offset`. */
  physAt(offset: number): number;
}

/** Where an I/O failed before reaching the device. */
export interface SubmitFailure {
  stage: 'bio' | 'split' | 'map';
  /** BLK_STS_* for the block layer, or 0 with `errno` for a DMA API failure. */
  status: BlkStatus;
  /** The -errno behind it, when there is one. */
  errno?: number;
  message: string;
}

/** The requests one I/O became, and what building them cost. */
export interface SubmittedIo {
  requests: Request[];
  failure?: SubmitFailure;
  /** bio_vec / dma_vec bytes of the bios built (16 bytes each on 64-bit). */
  vecBytes: number;
  /** struct pages referenced (bio_add_page() per page). */
  structPagesTouched: number;
  /** DMA addresses the submitter mapped itself (dma-vec), to release after completion. */
  release(): void;
  /** Map-type lookups and BUS_ADDR addresses the submitter made itself (outside the DMA API). */
  p2pLookups?: number;
  busAddrSegments?: number;
}

/** A buffer range mapped for one device's DMA engine. */
export interface DeviceMapping {
  segments: DmaSegment[];
  /** struct scatterlist bytes (32 per entry) or dma address bytes the mapping built. */
  metadataBytes: number;
  structPagesTouched: number;
  /** Entries given to the DMA API's map_sg (before merging), 0 when it was not used. */
  entriesMapped: number;
  unmap(): void;
  /** Map-type lookups and BUS_ADDR addresses the caller made itself (outside the DMA API). */
  p2pLookups?: number;
  busAddrSegments?: number;
}

export interface KernelSubmitter {
  /**
   * nvmet_bdev_execute_rw(): bios for `len` bytes at `offset` of `buf`, aimed at `q`'s device
   * at `sector`, split to the queue limits and turned into requests (one per bio piece).
   * `dev` is the device behind the queue, for designs that map for it.
   */
  buildRequests(
    q: RequestQueue,
    dev: DmaDevice,
    opf: number,
    sector: number,
    buf: KernelBuffer,
    offset: number,
    len: number,
  ): SubmittedIo;
  /**
   * rdma_rw_ctx_init()-style: map `len` bytes at `offset` of `buf` for `dev` to DMA in
   * direction `dir`; the mapping, or -errno (-EREMOTEIO: the device cannot reach the memory),
   * or a failure the design explains itself.
   */
  mapForDevice(
    dev: DmaDevice,
    buf: KernelBuffer,
    offset: number,
    len: number,
    dir: DmaDataDirection,
  ): DeviceMapping | number | SubmitFailure;
}
