/**
 * The in-kernel submitter of the dma-vec design (2019 RFC "Removing struct page from P2PDMA",
 * reference §5.6; the nvmet and rdma_rw patches of the series): P2P memory has no struct pages,
 * so the submitter asks for the DMA address the target device must use (p2pmemDmaMap():
 * the bus address for BUS_ADDR, dma_map_resource() for THRU_HOST_BRIDGE) and
 * - for a block device: puts it in REQ_DMA_DIRECT bios (bio_add_dma_addr()), split by the RFC's
 *   blk_queue_split() and turned into requests whose DMA addresses skip the DMA API;
 * - for a device's DMA engine: hands the address over as the single segment.
 * RAM buffers have pages and take the page path, with the RFC's (v5.2-based) splitter.
 */
import {
  BLK_STS_IOERR,
  DmaDataDirection,
  EINVAL,
  errnoName,
  PageKernelSubmitter,
  REQ_OP_MASK,
  REQ_OP_WRITE,
  type DeviceMapping,
  type DmaDevice,
  type KernelBuffer,
  type KernelSubmitter,
  type P2pdmaDevices,
  type RequestQueue,
  type Request,
  type SubmittedIo,
  type SubmitFailure,
} from '@dmasim/core';
import { bioAddDmaAddr, bioDmaAlloc } from './bio-dma';
import { blkQueueSplit } from './blk-merge-dma';
import { blkDmaRqFromBio } from './blk-rq-dma';
import type { WcMappings } from './p2pdma';
import { p2pmemDmaMap, p2pmemDmaUnmap } from './p2pmem-dma';

/** sizeof(struct dma_vec) on 64-bit: dma_addr_t + unsigned int, padded (anchors §3). */
export const DMA_VEC_BYTES = 16;

/**
 * A buffer that mixes RAM pages with P2P memory, which has no pages here: a bio holds bio_vecs or
 * (REQ_DMA_DIRECT) dma_vecs, never both, and the RFC's submitters never mix them.
 */
function mixedFailure(buf: KernelBuffer, stage: 'bio' | 'map'): SubmittedIo {
  return {
    requests: [],
    vecBytes: 0,
    structPagesTouched: 0,
    release: () => {},
    failure: {
      stage,
      status: BLK_STS_IOERR,
      errno: -EINVAL,
      message: `the buffer mixes RAM pages with P2P memory that has no struct pages: a dma_vec bio carries DMA addresses only and a page bio cannot hold P2P memory without pages, so the RFC's submitter cannot describe this ${buf.size}-byte I/O as one`,
    },
  };
}

export class DmaVecKernelSubmitter implements KernelSubmitter {
  private readonly pages = new PageKernelSubmitter((bio) => {
    const s = blkQueueSplit(bio.q!, bio);
    return { bio: s.bio, remainder: s.remainder, nrSegs: s.nrSegs };
  });

  constructor(
    private readonly p2p: P2pdmaDevices,
    private readonly wc: WcMappings,
  ) {}

  buildRequests(
    q: RequestQueue,
    dev: DmaDevice,
    opf: number,
    sector: number,
    buf: KernelBuffer,
    offset: number,
    len: number,
  ): SubmittedIo {
    if (!buf.provider && !buf.pages) return mixedFailure(buf, 'bio');
    if (!buf.provider || buf.pages) {
      return this.pages.buildRequests(q, dev, opf, sector, buf, offset, len);
    }
    const dir =
      (opf & REQ_OP_MASK) === REQ_OP_WRITE
        ? DmaDataDirection.DMA_TO_DEVICE
        : DmaDataDirection.DMA_FROM_DEVICE;
    const a = p2pmemDmaMap(this.p2p, this.wc, buf.provider, dev, buf.p2pVirt! + offset, len, dir);
    const noop = () => {};
    if (typeof a === 'number') {
      return {
        requests: [],
        vecBytes: 0,
        structPagesTouched: 0,
        release: noop,
        failure: {
          stage: 'map',
          status: BLK_STS_IOERR,
          errno: a,
          message: `the submitter found no DMA address of ${buf.provider.label}'s P2P memory for ${dev.name} (${errnoName(a)})`,
        },
      };
    }
    const release = () => p2pmemDmaUnmap(dev, a, dir);
    const bio = bioDmaAlloc(opf, 1, q);
    bio.sector = sector;
    const ret = bioAddDmaAddr(q, bio, a.dmaAddr, len);
    if (ret !== len) {
      return {
        requests: [],
        vecBytes: 0,
        structPagesTouched: 0,
        release,
        failure: {
          stage: 'bio',
          status: BLK_STS_IOERR,
          errno: ret < 0 ? ret : -EINVAL,
          message:
            ret === -EINVAL
              ? `bio_add_dma_addr() refused the DMA address: ${q.name} has no QUEUE_FLAG_DMA_DIRECT`
              : `bio_add_dma_addr() returned ${ret}`,
        },
      };
    }
    const requests: Request[] = [];
    let piece: typeof bio | undefined = bio;
    while (piece) {
      const s = blkQueueSplit(q, piece);
      requests.push(blkDmaRqFromBio(q, s.bio as typeof bio, { nrSegs: s.nrSegs }));
      piece = s.remainder as typeof bio | undefined;
    }
    return {
      requests,
      vecBytes: DMA_VEC_BYTES,
      structPagesTouched: 0,
      release,
      p2pLookups: 1,
      busAddrSegments: a.mapped ? 0 : 1,
    };
  }

  mapForDevice(
    dev: DmaDevice,
    buf: KernelBuffer,
    offset: number,
    len: number,
    dir: DmaDataDirection,
  ): DeviceMapping | number | SubmitFailure {
    if (!buf.provider && !buf.pages) return mixedFailure(buf, 'map').failure!;
    if (!buf.provider || buf.pages) return this.pages.mapForDevice(dev, buf, offset, len, dir);
    const a = p2pmemDmaMap(this.p2p, this.wc, buf.provider, dev, buf.p2pVirt! + offset, len, dir);
    if (typeof a === 'number') return a;
    return {
      segments: [{ dmaAddress: a.dmaAddr, length: len }],
      metadataBytes: DMA_VEC_BYTES,
      structPagesTouched: 0,
      entriesMapped: 0,
      unmap: () => p2pmemDmaUnmap(dev, a, dir),
      p2pLookups: 1,
      busAddrSegments: a.mapped ? 0 : 1,
    };
  }
}
