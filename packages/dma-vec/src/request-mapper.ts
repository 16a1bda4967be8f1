/**
 * The request mapper of design (3): nvme_map_data() / nvme_unmap_data() as RFC patch 19
 * ("nvme-pci: Support dma-direct bios", 2019 RFC, v5.2-rc5 base; reference §5.6) changed them.
 * A dma-direct request carries DMA addresses the submitter computed for the device, so the
 * driver builds the table with blk_rq_map_sg() and takes its entry count as the mapped count:
 * no dma_map_sg(), no IOVA even behind an IOMMU, and nothing to unmap. (The same patch makes
 * nvme_map_data() skip its single-segment fast path for such requests, since that path reads a
 * bio_vec; that check is the driver's, before it calls a mapper.) Every other request is RAM in
 * struct pages and goes
 * through the platform's DMA ops like in the page-backed designs (core's DmaMapSgRequestMapper).
 */
import { injectable } from 'inversify';
import {
  BLK_STS_OK,
  BLK_STS_RESOURCE,
  DmaMapSgRequestMapper,
  sgEntries,
  sgFreeTable,
  SgTable,
  type DmaDataDirection,
  type DmaDevice,
  type Request,
  type RequestMapper,
  type RequestMapping,
} from '@dmasim/core';
import { blkRqIsDmaDirect } from './bio-dma';
import { blkDmaRqMapSg } from './blk-map-sg-dma';

@injectable()
export class DmaVecRequestMapper implements RequestMapper {
  /** RAM requests: blk_rq_map_sg() then dma_map_sgtable() through the device's DMA ops. */
  private readonly pageMapper = new DmaMapSgRequestMapper();

  /**
   * nvme_map_data() of RFC patch 19: for a dma-direct request, blkDmaRqMapSg() into a fresh
   * table and the entries' DMA addresses as the segments (a request that maps to no entry is
   * BLK_STS_RESOURCE, as an empty table is in nvme_map_data()); needsUnmap is false. Other
   * requests are handed to core's DmaMapSgRequestMapper.
   */
  mapRequest(dev: DmaDevice, rq: Request, dir: DmaDataDirection): RequestMapping {
    if (!blkRqIsDmaDirect(rq)) return this.pageMapper.mapRequest(dev, rq, dir);
    const sgt = new SgTable();
    const n = blkDmaRqMapSg(rq, sgt, { log: dev.log });
    if (!n) {
      sgFreeTable(sgt);
      return { status: BLK_STS_RESOURCE, segments: [], needsUnmap: false };
    }
    const segments = sgEntries(sgt.sgl, sgt.nents).map((sg) => ({
      dmaAddress: sg.dmaAddress,
      length: sg.dmaLength,
    }));
    return { status: BLK_STS_OK, segments, sgt, needsUnmap: false };
  }

  /**
   * nvme_unmap_data() of RFC patch 19: a dma-direct request skips dma_unmap_sg() and only frees
   * its table; other requests are unmapped by core's DmaMapSgRequestMapper.
   */
  unmapRequest(dev: DmaDevice, rq: Request, dir: DmaDataDirection, m: RequestMapping): void {
    if (!blkRqIsDmaDirect(rq)) {
      this.pageMapper.unmapRequest(dev, rq, dir, m);
      return;
    }
    if (m.sgt) sgFreeTable(m.sgt);
  }
}
