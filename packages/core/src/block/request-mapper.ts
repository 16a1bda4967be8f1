/**
 * How a request becomes the DMA segments a device is given: the RequestMapper extension point
 * and the default of the page-backed design, which is what NVMe's nvme_map_data() does for a
 * request that takes the general path (drivers/nvme/host/pci.c, v6.0-v6.16; reference §3.3,
 * §5.5, §6.1): blk_rq_map_sg(), then dma_map_sgtable().
 */
import { injectable } from 'inversify';
import { EREMOTEIO } from '../errno';
import type { DmaDevice } from '../dma/device';
import type { DmaDataDirection } from '../dma/direction';
import { dmaMapSgtable, dmaUnmapSgtable } from '../dma/mapping';
import { sgEntries, sgFreeTable, SgTable } from '../scatterlist/scatterlist';
import { BLK_STS_OK, BLK_STS_RESOURCE, BLK_STS_TARGET, type BlkStatus } from './blk-status';
import { blkRqMapSg } from './blk-map-sg';
import type { Request } from './request';

/** The service id designs bind their request mapper to. */
export const RequestMapper = Symbol.for('dmasim.RequestMapper');

/** One range the device DMAs: sg_dma_address() / sg_dma_len() of a mapped entry. */
export interface DmaSegment {
  dmaAddress: number;
  length: number;
}

/** The outcome of mapping one request. */
export interface RequestMapping {
  /** BLK_STS_OK or the failure. */
  status: BlkStatus;
  /** What the device DMAs, in order (empty on failure). */
  segments: DmaSegment[];
  /** The mapped table, when there is one. */
  sgt?: SgTable;
  /** False when nothing was mapped (e.g. dma_vec requests, or a failure). */
  needsUnmap: boolean;
  /** The DMA API's error behind a failure (-EREMOTEIO ...). */
  errno?: number;
}

export interface RequestMapper {
  /** How a request becomes device DMA segments. */
  mapRequest(dev: DmaDevice, rq: Request, dir: DmaDataDirection): RequestMapping;
  unmapRequest(dev: DmaDevice, rq: Request, dir: DmaDataDirection, m: RequestMapping): void;
}

/**
 * The default mapper: blk_rq_map_sg() into a fresh table, then dma_map_sgtable(dev, sgt, dir, 0)
 * through the device's DMA ops. Failures are translated as nvme_map_data() does since v6.0:
 * -EREMOTEIO (the device cannot reach the P2PDMA memory) -> BLK_STS_TARGET, any other error ->
 * BLK_STS_RESOURCE; a request that maps to no entries is BLK_STS_RESOURCE too.
 */
@injectable()
export class DmaMapSgRequestMapper implements RequestMapper {
  mapRequest(dev: DmaDevice, rq: Request, dir: DmaDataDirection): RequestMapping {
    const sgt = new SgTable();
    const n = blkRqMapSg(rq, sgt, { log: dev.log });
    if (!n) {
      sgFreeTable(sgt);
      return { status: BLK_STS_RESOURCE, segments: [], needsUnmap: false };
    }
    const rc = dmaMapSgtable(dev, sgt, dir, 0);
    if (rc) {
      sgFreeTable(sgt);
      return {
        status: rc === -EREMOTEIO ? BLK_STS_TARGET : BLK_STS_RESOURCE,
        segments: [],
        needsUnmap: false,
        errno: rc,
      };
    }
    // for_each_sgtable_dma_sg(): the mapped entries, sgt.nents of them.
    const segments = sgEntries(sgt.sgl, sgt.nents).map((sg) => ({
      dmaAddress: sg.dmaAddress,
      length: sg.dmaLength,
    }));
    return { status: BLK_STS_OK, segments, sgt, needsUnmap: true };
  }

  /** nvme_unmap_data(): dma_unmap_sgtable() (orig_nents) when something was mapped. */
  unmapRequest(dev: DmaDevice, _rq: Request, dir: DmaDataDirection, m: RequestMapping): void {
    if (!m.needsUnmap || !m.sgt) return;
    dmaUnmapSgtable(dev, m.sgt, dir, 0);
    sgFreeTable(m.sgt);
    m.needsUnmap = false;
  }
}
