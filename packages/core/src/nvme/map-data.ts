/**
 * nvme_map_data() and nvme_unmap_data() of the scatterlist-based NVMe PCI driver
 * (drivers/nvme/host/pci.c, v5.2-v6.16; v6.0+ for the dma_map_sgtable() error translation;
 * reference §6.1, §6.3): how a request's data becomes the command's data pointer.
 *
 * - Single-segment fast path: a request of one physical segment whose page is not a P2PDMA page
 *   is mapped with dma_map_bvec(); if offset + length fits two controller pages, PRP1/PRP2 are
 *   filled directly (nvme_setup_prp_simple()); else, on an I/O queue with sgl_threshold set and
 *   a controller with SGLs, one SGL data descriptor (nvme_setup_sgl_simple()).
 * - General path: the RequestMapper maps the request (blk_rq_map_sg() + dma_map_sgtable() by
 *   default; failures come back as BLK_STS_TARGET or BLK_STS_RESOURCE), then SGLs or PRPs are
 *   built over the mapped segments (nvme_pci_use_sgls(), prp.ts, sgl.ts).
 *
 * P2P requests (§6.3) always take the general path; their segments carry bus addresses
 * (BUS_ADDR) or IOVAs/CPU physical addresses (THRU_HOST_BRIDGE) as the DMA ops decided.
 */
import { isPciP2pdmaPage } from '../mm/page';
import { bvecPhys, REQ_FUA, type BioVec } from '../block/bio';
import { BLK_STS_OK, BLK_STS_RESOURCE, type BlkStatus } from '../block/blk-status';
import {
  blkRqBytes,
  blkRqNrPhysSegments,
  blkRqPos,
  rqDataDir,
  type Request,
} from '../block/request';
import type { RequestMapper, RequestMapping } from '../block/request-mapper';
import { DmaDataDirection } from '../dma/direction';
import { dmaMapPageAttrs, dmaMappingError, dmaUnmapPhys, warnOnce } from '../dma/mapping';
import type { KernelLog } from '../kernel-log';
import { sgEntries, sgPhys } from '../scatterlist/scatterlist';
import {
  NVME_CMD_SGL_METABUF,
  NVME_SGL_FMT_DATA_DESC,
  nvmeSetupRw,
  nvmeSglType,
  NvmeCommand,
} from './command';
import type { NvmeCtrl } from './ctrl';
import type { NvmeDescriptorBlock } from './descriptor-pool';
import { nvmePciSetupPrps, type NvmeDmaSegment } from './prp';
import { NVME_CTRL_PAGE_SIZE } from './registers';
import { nvmePciSetupSgls } from './sgl';
import { printkPad } from '../printk';

/** Which way nvme_map_data() built the data pointer. */
export type NvmeDataPath = 'none' | 'prp-simple' | 'sgl-simple' | 'prp' | 'sgl';

/**
 * struct nvme_iod: the per-request driver state — the command, and what must be undone at
 * completion (the fast path's mapping, the general path's RequestMapping, descriptor lists).
 */
export class NvmeIod {
  /** iod->use_sgl */
  useSgl = false;
  /** iod->npages: -1 no list, 0 a small-pool list, n list pages. */
  npages = -1;
  /** iod->first_dma: the fast path's mapping, or list 0 / PRP2 of the general path. */
  firstDma = 0;
  /** iod->dma_len: bytes the fast path mapped (0 for the general path). */
  dmaLen = 0;
  /** The descriptor lists the command points to, in chain order (a controller walks them). */
  descriptors: NvmeDescriptorBlock[] = [];
  /** The general path's mapping, until nvme_unmap_data(). */
  mapping: RequestMapping | undefined = undefined;
  /** Lists a failed PRP build left allocated: the kernel never frees them ([DERIVED] leak). */
  leaked: NvmeDescriptorBlock[] = [];
  path: NvmeDataPath = 'none';

  constructor(
    readonly cmd: NvmeCommand,
    /** The submission queue: 0 is the admin queue, I/O queues are 1 and up. */
    readonly qid: number,
    /** rq_dma_dir(req) */
    readonly dir: DmaDataDirection,
  ) {}
}

/** rq_dma_dir(rq): DMA_TO_DEVICE for a write, DMA_FROM_DEVICE for a read. */
export function rqDmaDir(rq: Request): DmaDataDirection {
  return rqDataDir(rq) ? DmaDataDirection.DMA_TO_DEVICE : DmaDataDirection.DMA_FROM_DEVICE;
}

/** req_bvec(rq): the first (multi-page) bvec of the request. */
export function reqBvec(rq: Request): BioVec {
  const bv = rq.bios[0]?.vecs[0];
  if (!bv) throw new RangeError('req_bvec: the request has no data');
  return bv;
}

/**
 * Whether two neighbouring bvecs of the request meet at a gap that is not 4 KiB aligned
 * (req_phys_gap_mask(req) & (NVME_CTRL_PAGE_SIZE - 1) of the 2026 driver, §6.2): PRPs cannot
 * describe such a request. [DERIVED] from the bvecs' physical addresses.
 */
export function nvmeReqHasUnalignedGap(rq: Request): boolean {
  let prevEnd: number | undefined;
  for (const bio of rq.bios) {
    for (const bv of bio.vecs) {
      const start = bvecPhys(bv);
      if (prevEnd !== undefined && prevEnd !== start) {
        if (prevEnd % NVME_CTRL_PAGE_SIZE || start % NVME_CTRL_PAGE_SIZE) return true;
      }
      prevEnd = start + bv.len;
    }
  }
  return false;
}

/**
 * nvme_pci_use_sgls(dev, req) (v5.x-v6.16; §6.1): SGLs iff the controller supports them, the
 * queue is an I/O queue, sgl_threshold is not 0, and the average segment size
 * DIV_ROUND_UP(payload, nr_phys_segments) is at least sgl_threshold. Release '2026' also forces
 * SGLs for a request PRPs cannot describe (§6.2 SGL_FORCED), whatever the threshold.
 */
export function nvmePciUseSgls(ctrl: NvmeCtrl, rq: Request, qid: number): boolean {
  if (!ctrl.sglSupported || !qid) return false;
  if (ctrl.release === '2026' && nvmeReqHasUnalignedGap(rq)) return true;
  const nseg = blkRqNrPhysSegments(rq);
  const avgSegSize = Math.ceil(blkRqBytes(rq) / nseg);
  const threshold = ctrl.params.sglThreshold;
  return threshold !== 0 && avgSegSize >= threshold;
}

/**
 * nvme_setup_prp_simple(dev, req, cmnd, bv) (v5.2-v6.16): maps the bvec with dma_map_bvec();
 * PRP1 = the DMA address, PRP2 = DMA address + (4096 - bv_offset % 4096) when the bvec reaches
 * into a second controller page. BLK_STS_RESOURCE when the mapping fails.
 */
export function nvmeSetupPrpSimple(ctrl: NvmeCtrl, iod: NvmeIod, bv: BioVec): BlkStatus {
  const offset = bv.offset % NVME_CTRL_PAGE_SIZE;
  const firstPrpLen = NVME_CTRL_PAGE_SIZE - offset;
  iod.firstDma = dmaMapPageAttrs(ctrl.dev, bv.page, bv.offset, bv.len, iod.dir, 0);
  if (dmaMappingError(ctrl.dev, iod.firstDma)) return BLK_STS_RESOURCE;
  iod.dmaLen = bv.len;
  iod.path = 'prp-simple';
  iod.cmd.dptr = {
    prp1: iod.firstDma,
    prp2: bv.len > firstPrpLen ? iod.firstDma + firstPrpLen : 0,
  };
  return BLK_STS_OK;
}

/**
 * nvme_setup_sgl_simple(dev, req, cmnd, bv) (v5.2-v6.16): maps the bvec and puts one data block
 * descriptor in the command (PSDT = NVME_CMD_SGL_METABUF).
 */
export function nvmeSetupSglSimple(ctrl: NvmeCtrl, iod: NvmeIod, bv: BioVec): BlkStatus {
  iod.firstDma = dmaMapPageAttrs(ctrl.dev, bv.page, bv.offset, bv.len, iod.dir, 0);
  if (dmaMappingError(ctrl.dev, iod.firstDma)) return BLK_STS_RESOURCE;
  iod.dmaLen = bv.len;
  iod.path = 'sgl-simple';
  iod.cmd.flags = NVME_CMD_SGL_METABUF;
  iod.cmd.dptr = {
    sgl: { addr: iod.firstDma, length: iod.dmaLen, type: nvmeSglType(NVME_SGL_FMT_DATA_DESC) },
  };
  return BLK_STS_OK;
}

const printedSgl = new WeakSet<KernelLog>();

/**
 * The DO_ONCE(nvme_print_sgl) + WARN of nvme_pci_setup_prps()'s bad_sgl (once per kernel):
 * "sg[%d] phys_addr:%pad offset:%d length:%d dma_address:%pad dma_length:%d" per mapped entry
 * (when the mapping has a table), then "Invalid SGL for payload:%d nents:%d" with nents the
 * mapped count (iod->sgt.nents, v6.0+).
 */
function nvmeWarnInvalidSgl(log: KernelLog, payload: number, m: RequestMapping): void {
  if (printedSgl.has(log)) return;
  printedSgl.add(log);
  const nents = m.sgt ? m.sgt.nents : m.segments.length;
  if (m.sgt) {
    sgEntries(m.sgt.sgl, nents).forEach((sg, i) => {
      log.warn(
        undefined,
        `sg[${i}] phys_addr:${printkPad(sgPhys(sg))} offset:${sg.offset} length:${sg.length} ` +
          `dma_address:${printkPad(sg.dmaAddress)} dma_length:${sg.dmaLength}`,
      );
    });
  }
  warnOnce(
    log,
    'drivers/nvme/host/pci.c nvme_pci_setup_prps',
    `Invalid SGL for payload:${payload} nents:${nents}`,
  );
}

export interface NvmeMapDataOptions {
  /** The mapper of the general path; default the controller's. */
  mapper?: RequestMapper;
}

/**
 * nvme_map_data(dev, req, cmnd) (drivers/nvme/host/pci.c, v5.2-v6.16; §6.1): fills
 * iod.cmd's data pointer (see the file comment) and records in `iod` what nvmeUnmapData() must
 * undo. Returns BLK_STS_OK or the failure: BLK_STS_RESOURCE (a mapping or a pool allocation
 * failed), BLK_STS_TARGET (the DMA API refused P2PDMA memory: -EREMOTEIO), BLK_STS_IOERR (the
 * segments cannot be described by PRPs, "Invalid SGL for payload"). On failure the general
 * path's mapping is undone (nvme_unmap_sg()).
 */
export function nvmeMapData(
  ctrl: NvmeCtrl,
  rq: Request,
  iod: NvmeIod,
  opts: NvmeMapDataOptions = {},
): BlkStatus {
  const dev = ctrl.dev;
  if (blkRqNrPhysSegments(rq) === 1 && !ctrl.skipFastPath?.(rq)) {
    const bv = reqBvec(rq);
    if (!isPciP2pdmaPage(bv.page)) {
      if (bv.offset + bv.len <= NVME_CTRL_PAGE_SIZE * 2) return nvmeSetupPrpSimple(ctrl, iod, bv);
      if (iod.qid && ctrl.params.sglThreshold && ctrl.sglSupported) {
        return nvmeSetupSglSimple(ctrl, iod, bv);
      }
    }
  }

  iod.dmaLen = 0;
  const mapper = opts.mapper ?? ctrl.mapper;
  const m = mapper.mapRequest(dev, rq, iod.dir);
  if (m.status !== BLK_STS_OK) return m.status;
  iod.mapping = m;

  iod.useSgl = nvmePciUseSgls(ctrl, rq, iod.qid);
  const segs: readonly NvmeDmaSegment[] = m.segments;
  let status: BlkStatus;
  if (iod.useSgl) {
    // PSDT is set before the entries are looked at, even for a single descriptor.
    iod.cmd.flags = NVME_CMD_SGL_METABUF;
    const r = nvmePciSetupSgls(segs, ctrl.pools, { singleLevel: ctrl.release === '2026' });
    status = r.status;
    if (status === BLK_STS_OK) {
      iod.cmd.dptr = { sgl: r.sgl! };
      iod.descriptors = r.lists;
      iod.npages = r.npages;
      iod.firstDma = r.lists[0]?.dma ?? 0;
      iod.path = 'sgl';
    }
  } else {
    const payload = blkRqBytes(rq);
    const r = nvmePciSetupPrps(segs, payload, ctrl.pools);
    status = r.status;
    if (status === BLK_STS_OK) {
      iod.cmd.dptr = { prp1: r.prp1, prp2: r.prp2 };
      iod.descriptors = r.lists;
      iod.npages = r.npages;
      iod.firstDma = r.prp2;
      iod.path = 'prp';
    } else if (r.invalid) {
      iod.leaked = r.lists;
      nvmeWarnInvalidSgl(dev.log, payload, m);
    }
  }
  if (status !== BLK_STS_OK) {
    // out_unmap_sg
    if (m.needsUnmap) mapper.unmapRequest(dev, rq, iod.dir, m);
    iod.mapping = undefined;
  }
  return status;
}

/**
 * nvme_unmap_data(dev, req) (v5.2-v6.16): the fast path's dma_unmap_page(); else the mapper's
 * unmap when the mapping needs one (nvme_unmap_sg()) and the descriptor lists go back to their
 * pools (nvme_free_prps() / nvme_free_sgls() / the small pool).
 */
export function nvmeUnmapData(
  ctrl: NvmeCtrl,
  rq: Request,
  iod: NvmeIod,
  opts: NvmeMapDataOptions = {},
): void {
  const dev = ctrl.dev;
  if (iod.dmaLen) {
    dmaUnmapPhys(dev, iod.firstDma, iod.dmaLen, iod.dir, 0);
    iod.dmaLen = 0;
    iod.path = 'none';
    return;
  }
  const m = iod.mapping;
  if (!m) {
    warnOnce(dev.log, 'drivers/nvme/host/pci.c nvme_unmap_data', `${dev.name}: !iod->nents`);
    return;
  }
  if (m.needsUnmap) (opts.mapper ?? ctrl.mapper).unmapRequest(dev, rq, iod.dir, m);
  iod.mapping = undefined;
  for (const l of iod.descriptors) l.pool.free(l);
  iod.descriptors = [];
  iod.npages = -1;
  iod.path = 'none';
}

/** The command of a request (nvme_setup_cmd() for a read or write, §6). */
export function nvmeSetupCmd(ctrl: NvmeCtrl, rq: Request): NvmeCommand {
  const ns = ctrl.nsOfQueue(rq.q);
  if (!ns) throw new RangeError(`request queue ${rq.q.name} is not a namespace of ${ctrl.name}`);
  return nvmeSetupRw(ns, {
    write: rqDataDir(rq) === 1,
    sector: blkRqPos(rq),
    bytes: blkRqBytes(rq),
    fua: (rq.cmdFlags & REQ_FUA) !== 0,
  });
}

export interface NvmePrepRqOptions extends NvmeMapDataOptions {
  /** The submission queue; default 1 (an I/O queue). */
  qid?: number;
}

/**
 * nvme_prep_rq(dev, req) (v6.1+; the part of nvme_queue_rq() before submission): the command
 * (nvme_setup_cmd()) and, when the request has data, its data pointer (nvme_map_data()).
 * Building is kept apart from executing: the caller hands `iod.cmd` to a controller model.
 */
export function nvmePrepRq(
  ctrl: NvmeCtrl,
  rq: Request,
  opts: NvmePrepRqOptions = {},
): { status: BlkStatus; iod: NvmeIod } {
  const iod = new NvmeIod(nvmeSetupCmd(ctrl, rq), opts.qid ?? 1, rqDmaDir(rq));
  const status = blkRqNrPhysSegments(rq) ? nvmeMapData(ctrl, rq, iod, opts) : BLK_STS_OK;
  return { status, iod };
}
