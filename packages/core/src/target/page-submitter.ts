/**
 * The page-backed in-kernel submitter (the KernelSubmitter every design gets unless it binds its
 * own): what mainline's NVMe-oF target does with a buffer of struct pages.
 * - buildRequests(): nvmet_bdev_execute_rw() (drivers/nvme/target/io-cmd-bdev.c, v6.x):
 *   bio_alloc(min(pages, BIO_MAX_VECS)), bio_add_page() per page, a new bio (chained) when
 *   bio_add_page() says the bio is full; then the block layer's bio_split_to_limits() and one
 *   request per piece (no merging: each bio of an nvmet command is its own request here).
 * - mapForDevice(): rdma_rw_ctx_init() (drivers/infiniband/core/rw.c): the pages as a
 *   scatterlist (sg_alloc_table_from_pages(), contiguous pages merged) mapped with
 *   dma_map_sgtable(), which decides P2P per entry (reference §3.2, §4.6).
 */
import { bioAddPage, bioAlloc, BIO_MAX_VECS, type Bio } from '../block/bio';
import { bioSplitToLimits } from '../block/blk-merge';
import { BLK_STS_IOERR, blkStatusName, type BlkStatus } from '../block/blk-status';
import { blkRqFromBio, type Request } from '../block/request';
import type { RequestQueue } from '../block/request-queue';
import type { DmaDevice } from '../dma/device';
import type { DmaDataDirection } from '../dma/direction';
import { dmaMapSgtable, dmaMapSgtableErrorText, dmaUnmapSgtable } from '../dma/mapping';
import { errnoName } from '../errno';
import { PAGE_SIZE } from '../mm/page';
import { sgAllocTableFromPages, sgEntries, sgFreeTable, SgTable } from '../scatterlist/scatterlist';
import type {
  DeviceMapping,
  KernelBuffer,
  KernelSubmitter,
  SubmittedIo,
  SubmitFailure,
} from './kernel-submitter';

/** sizeof(struct bio_vec) and sizeof(struct scatterlist) on 64-bit (reference §9 / anchors §3). */
export const BIO_VEC_BYTES = 16;
export const SCATTERLIST_BYTES = 32;

const noRelease = (): void => {};

/** The pages of [offset, offset + len) of a page-backed buffer; misuse when it has none. */
export function kernelBufferPages(buf: KernelBuffer, offset: number, len: number, who: string) {
  if (!buf.pages) throw new Error(`${who}: the buffer has no struct pages`);
  if (offset < 0 || len <= 0 || offset + len > buf.size) {
    throw new RangeError(`${who}: [${offset}, +${len}) is outside the ${buf.size}-byte buffer`);
  }
  const first = Math.floor(offset / PAGE_SIZE);
  const last = Math.floor((offset + len - 1) / PAGE_SIZE);
  return { pages: buf.pages.slice(first, last + 1), pageOffset: offset % PAGE_SIZE };
}

/** The block layer's splitter of the release a design builds on: a piece to submit, or failure. */
export type BioSplitter = (bio: Bio) => {
  bio: Bio | undefined;
  remainder: Bio | undefined;
  nrSegs: number;
  status?: BlkStatus;
};

export class PageKernelSubmitter implements KernelSubmitter {
  /** @param splitBio v6.16's bio_split_to_limits() unless a design builds on another release */
  constructor(private readonly splitBio: BioSplitter = bioSplitToLimits) {}

  buildRequests(
    q: RequestQueue,
    _dev: DmaDevice,
    opf: number,
    sector: number,
    buf: KernelBuffer,
    offset: number,
    len: number,
  ): SubmittedIo {
    const { pages, pageOffset } = kernelBufferPages(buf, offset, len, 'nvmet_bdev_execute_rw');
    const requests: Request[] = [];
    let vecBytes = 0;
    let left = len;
    let off = pageOffset;
    let sect = sector;
    let i = 0;
    while (left > 0) {
      const bio = bioAlloc(opf, Math.min(pages.length - i, BIO_MAX_VECS), q);
      bio.sector = sect;
      while (left > 0 && i < pages.length) {
        const n = Math.min(PAGE_SIZE - off, left);
        // 0: the bio is full (or, v6.16, the page belongs to another page map): a new bio
        if (bioAddPage(bio, pages[i]!, n, off) < n) break;
        left -= n;
        off = 0;
        i++;
      }
      if (bio.size === 0) {
        return {
          requests,
          vecBytes,
          structPagesTouched: i,
          release: noRelease,
          failure: {
            stage: 'bio',
            status: BLK_STS_IOERR,
            message: 'bio_add_page() refused the first page of a new bio',
          },
        };
      }
      vecBytes += bio.vcnt * BIO_VEC_BYTES;
      sect += bio.size / 512;
      let piece: typeof bio | undefined = bio;
      while (piece) {
        const s = this.splitBio(piece);
        if (!s.bio) {
          return {
            requests,
            vecBytes,
            structPagesTouched: i,
            release: noRelease,
            failure: {
              stage: 'split',
              status: s.status ?? BLK_STS_IOERR,
              message: `bio_split_to_limits() failed with ${blkStatusName(s.status ?? BLK_STS_IOERR)}`,
            },
          };
        }
        requests.push(blkRqFromBio(q, s.bio, s.nrSegs));
        piece = s.remainder;
      }
    }
    return { requests, vecBytes, structPagesTouched: pages.length, release: noRelease };
  }

  mapForDevice(
    dev: DmaDevice,
    buf: KernelBuffer,
    offset: number,
    len: number,
    dir: DmaDataDirection,
  ): DeviceMapping | number | SubmitFailure {
    const { pages, pageOffset } = kernelBufferPages(buf, offset, len, 'rdma_rw_ctx_init');
    const sgt = new SgTable();
    const rc = sgAllocTableFromPages(sgt, pages, pageOffset, len);
    if (rc) return rc;
    const entries = sgt.origNents;
    const ret = dmaMapSgtable(dev, sgt, dir, 0);
    if (ret) {
      dev.log.err(
        dev.pci,
        `rdma_rw_ctx_init: dma_map_sgtable ${errnoName(ret)}: ${dmaMapSgtableErrorText(ret)}`,
      );
      sgFreeTable(sgt);
      return ret;
    }
    const segments = sgEntries(sgt.sgl, sgt.nents).map((sg) => ({
      dmaAddress: sg.dmaAddress,
      length: sg.dmaLength,
    }));
    return {
      segments,
      metadataBytes: entries * SCATTERLIST_BYTES,
      structPagesTouched: pages.length,
      entriesMapped: entries,
      unmap: () => {
        dmaUnmapSgtable(dev, sgt, dir, 0);
        sgFreeTable(sgt);
      },
    };
  }
}
