/**
 * The NVMe PCI controller and its driver state (struct nvme_ctrl / struct nvme_dev of
 * drivers/nvme/host/nvme.h and pci.c; reference §6, §6.1, §6.3, §6.4, §5.1): one per NVMe PCI
 * function. The hardware side is what the controller reports (CAP, Identify Controller MDTS and
 * SGLS, the namespaces, the CMB registers of p2pdma/cmb.ts); the driver side is what
 * nvmeProbe() sets up from it, as nvme_probe() and nvme_reset_work() do: DMA parameters, the
 * transfer and segment limits, the descriptor pools, the CMB (nvme_map_cmb()) and one request
 * queue per namespace with the limits of nvmeSetQueueLimits().
 *
 * Releases (`release`): 'v5.x' has the limits of the v5.x scatterlist driver whose
 * nvme_map_data() is modelled in map-data.ts (NVME_MAX_KB_SZ 4 MiB, NVME_MAX_SEGS 127, virt
 * boundary always set); '2026' takes the limits of the 2026 driver (NVME_MAX_BYTES 8 MiB,
 * NVME_MAX_SEGS 256, virt boundary only without SGLs, SGLs forced for requests with unaligned
 * gaps) while the data pointer is still built the v5.x way. The default is 'v5.x', because that
 * is the mapping code modelled here; the 2026 limits are there to compare against. Not modelled
 * separately: the v6.3-v6.16 limits (8 MiB, 128 segments) and v5.x's use of
 * dma_max_mapping_size() where v6.2+ uses dma_opt_mapping_size() (see nvmeCtrlLimits()).
 */
import { BLK_FEAT_PCI_P2PDMA, SECTOR_SHIFT } from '../block/queue-limits';
import { blkQueueFlagSet, QUEUE_FLAG_PCI_P2PDMA, RequestQueue } from '../block/request-queue';
import type { Request } from '../block/request';
import type { RequestMapper } from '../block/request-mapper';
import type { DmaDevice } from '../dma/device';
import { dmaOptMappingSize, dmaPciP2pdmaSupported, dmaSetMaxSegSize } from '../dma/mapping';
import type { PciDev } from '../pci/device';
import {
  nvmeMapCmb,
  NvmeCmbState,
  type NvmeMapCmbOptions,
  type NvmeMapCmbResult,
} from '../p2pdma/cmb';
import type { P2pdmaDevices } from '../p2pdma/state';
import { NvmeDescriptorPool, type NvmeDescriptorPoolRegion } from './descriptor-pool';
import {
  nvmeCtrlSglSupported,
  nvmeMdtsSectors,
  nvmeNamespacesFromSpecs,
  type NvmeNamespace,
  type NvmeNamespaceSpec,
} from './identify';
import { NVME_SMALL_POOL_SIZE, type NvmeDescriptorPools } from './prp';
import { nvmeSetQueueLimits } from './queue-limits';
import {
  NVME_CTRL_PAGE_SIZE,
  nvmeCapCmbs,
  nvmeCapEncode,
  nvmeCapMpsmin,
  type NvmeCapFields,
} from './registers';

/** The NVMe driver releases whose limits differ (see the file comment). */
export type NvmeRelease = 'v5.x' | '2026';
export const DEFAULT_NVME_RELEASE: NvmeRelease = 'v5.x';

/** enum nvme_ctrl_ops flags (drivers/nvme/host/nvme.h). */
export const NVME_F_FABRICS = 1 << 0;
export const NVME_F_METADATA_SUPPORTED = 1 << 1;
/**
 * v4.20-v5.19: the ops flag that gave a namespace QUEUE_FLAG_PCI_P2PDMA. v6.0 replaced it with
 * the supports_pci_p2pdma() op (dma_pci_p2pdma_supported()), which the model uses for every
 * release (§6.3); the constant stays for designs that read it.
 */
export const NVME_F_PCI_P2PDMA = 1 << 2;

/** v5.x NVME_MAX_KB_SZ: 4096 KiB per command. */
export const NVME_MAX_KB_SZ = 4096;
/** v5.x NVME_MAX_SEGS */
export const NVME_MAX_SEGS_V5 = 127;
/** 2026 NVME_MAX_BYTES: SZ_8M. */
export const NVME_MAX_BYTES = 8 * 1024 * 1024;
/** 2026 NVME_MAX_SEGS: NVME_CTRL_PAGE_SIZE / sizeof(struct nvme_sgl_desc) = 256. */
export const NVME_MAX_SEGS_2026 = NVME_CTRL_PAGE_SIZE / 16;
/** The sgl_threshold module parameter's default: SZ_32K (0 disables SGLs). */
export const NVME_SGL_THRESHOLD_DEFAULT = 32768;

/**
 * Default coherent-memory region of the descriptor pools: 32 MiB at 2 GiB + 32 MiB times the
 * function's topology index, inside the low RAM of the default machine. A scenario that lays
 * out RAM itself passes `descriptorRegion`.
 */
export const NVME_DESCRIPTOR_REGION_BASE = 0x8000_0000;
export const NVME_DESCRIPTOR_REGION_SIZE = 32 * 1024 * 1024;

/** The controller's transport ops (struct nvme_ctrl_ops) as far as the model needs them. */
export interface NvmeCtrlOps {
  /** "pcie" */
  readonly name: string;
  /** NVME_F_*: NVME_F_METADATA_SUPPORTED plus what a design adds. */
  readonly flags: number;
  /** supports_pci_p2pdma(ctrl) (v6.0+): dma_pci_p2pdma_supported(dev) for PCI. */
  supportsPciP2pdma(ctrl: NvmeCtrl): boolean;
}

export interface NvmeCtrlOptions {
  /** Default DEFAULT_NVME_RELEASE ('v5.x'). */
  release?: NvmeRelease;
  /** CAP fields (DEFAULT_NVME_CAP for the rest: MPSMIN 0, CMBS set). */
  cap?: Partial<NvmeCapFields>;
  /** Identify Controller MDTS: 2^MDTS minimum pages per command, 0 for no limit. Default 0. */
  mdts?: number;
  /** Identify Controller SGLS (NVME_CTRL_SGLS_*). Default 0: no SGLs. */
  sgls?: number;
  /** The namespaces. Default one 1 TiB namespace of 512-byte LBAs. */
  namespaces?: NvmeNamespaceSpec[];
  /** NVME_F_* a design adds to the PCI ops flags (e.g. the dma_vec RFC's NVME_F_DMA_DIRECT). */
  opsFlags?: number;
  /** The sgl_threshold module parameter. Default 32768. */
  sglThreshold?: number;
  /** The use_cmb_sqes module parameter. Default true. */
  useCmbSqes?: boolean;
  /** nvme_map_cmb() options other than the state, CAP.CMBS and use_cmb_sqes. */
  cmb?: Omit<NvmeMapCmbOptions, 'state' | 'cmbs' | 'useCmbSqes'>;
  /** Coherent memory the descriptor pools carve (see NVME_DESCRIPTOR_REGION_BASE). */
  descriptorRegion?: NvmeDescriptorPoolRegion;
  /** Caps on the blocks in use per pool (dma_pool_alloc() fails beyond them). */
  descriptorPoolBlocks?: { page?: number; small?: number };
  /**
   * Requests for which the single-segment fast path must not run: the dma_vec RFC's
   * REQ_DMA_DIRECT requests carry DMA addresses, not pages (§5.6).
   */
  skipFastPath?: (rq: Request) => boolean;
  /**
   * A design's additions to nvme_alloc_ns(), run on each namespace queue once its limits are set
   * (the dma_vec RFC sets QUEUE_FLAG_DMA_DIRECT when ctrl.ops.flags has NVME_F_DMA_DIRECT).
   */
  allocNs?: (ctrl: NvmeCtrl, ns: NvmeNamespace, q: RequestQueue) => void;
  /** The controller instance number in "nvme%d". Default 0. */
  instance?: number;
}

/** One NVMe PCI controller: registers, identify data and driver state. */
export class NvmeCtrl {
  readonly pci: PciDev;
  readonly release: NvmeRelease;
  /** The CAP register. */
  readonly cap: bigint;
  /** Identify Controller MDTS. */
  readonly mdts: number;
  /** Identify Controller SGLS (ctrl->sgls). */
  readonly sgls: number;
  readonly namespaces: readonly NvmeNamespace[];
  readonly ops: NvmeCtrlOps;
  /** The module parameters this controller's driver runs with. */
  readonly params: { readonly sglThreshold: number; readonly useCmbSqes: boolean };
  /** dev->cmb_size, cmb_use_sqes, cmbsz, cmbloc, CMBMSC. */
  readonly cmb = new NvmeCmbState();
  /** What nvme_map_cmb() did at probe. */
  cmbResult: NvmeMapCmbResult | undefined = undefined;
  /** ctrl->max_hw_sectors (512-byte sectors). */
  maxHwSectors = 0;
  /** ctrl->max_segments */
  maxSegments = 0;
  /** dev->prp_page_pool and dev->prp_small_pool. */
  readonly pools: NvmeDescriptorPools;
  /** The namespaces' request queues, by nsid, once probed. */
  readonly queues = new Map<number, RequestQueue>();
  readonly instance: number;
  readonly skipFastPath: ((rq: Request) => boolean) | undefined;
  probed = false;
  private readonly opts: NvmeCtrlOptions;

  /**
   * @param dev the PCI function's struct device, with the DMA ops of the design under test
   * @param p2p the kernel's P2PDMA state (nvme_map_cmb() registers the CMB in it)
   * @param mapper how the general path of nvme_map_data() maps a request
   */
  constructor(
    readonly dev: DmaDevice,
    readonly p2p: P2pdmaDevices,
    readonly mapper: RequestMapper,
    opts: NvmeCtrlOptions = {},
  ) {
    const pci = dev.pci;
    if (!pci) throw new RangeError(`${dev.name}: an NVMe controller must be a PCI function`);
    if (pci.kind !== 'endpoint' || (pci.props.class ?? 'nvme') !== 'nvme') {
      throw new RangeError(
        `${pci.label}: a ${pci.props.class ?? pci.kind} is not an NVMe controller`,
      );
    }
    this.pci = pci;
    this.opts = opts;
    this.release = opts.release ?? DEFAULT_NVME_RELEASE;
    if (this.release !== 'v5.x' && this.release !== '2026') {
      throw new RangeError(`unknown NVMe release ${String(this.release)}`);
    }
    this.cap = nvmeCapEncode(opts.cap);
    this.mdts = opts.mdts ?? 0;
    this.sgls = opts.sgls ?? 0;
    this.namespaces = nvmeNamespacesFromSpecs(opts.namespaces ?? [{}]);
    this.ops = {
      name: 'pcie',
      flags: NVME_F_METADATA_SUPPORTED | (opts.opsFlags ?? 0),
      supportsPciP2pdma: (ctrl) => dmaPciP2pdmaSupported(ctrl.dev),
    };
    const sglThreshold = opts.sglThreshold ?? NVME_SGL_THRESHOLD_DEFAULT;
    if (!Number.isInteger(sglThreshold) || sglThreshold < 0 || sglThreshold > 0xffff_ffff) {
      throw new RangeError(`sgl_threshold ${sglThreshold} is not an unsigned int`);
    }
    this.params = { sglThreshold, useCmbSqes: opts.useCmbSqes ?? true };
    this.instance = opts.instance ?? 0;
    this.skipFastPath = opts.skipFastPath;

    const region = opts.descriptorRegion ?? {
      base: NVME_DESCRIPTOR_REGION_BASE + Math.max(pci.index, 0) * NVME_DESCRIPTOR_REGION_SIZE,
      size: NVME_DESCRIPTOR_REGION_SIZE,
    };
    // The page pool takes the first 15/16 of the region, the small pool the rest.
    const smallSize = Math.max(4096, Math.floor(region.size / 16 / 4096) * 4096);
    const pageSize = region.size - smallSize;
    const caps = opts.descriptorPoolBlocks ?? {};
    this.pools = {
      page: new NvmeDescriptorPool(
        'prp list page',
        NVME_CTRL_PAGE_SIZE,
        NVME_CTRL_PAGE_SIZE,
        { base: region.base, size: pageSize },
        { maxBlocks: caps.page },
      ),
      small: new NvmeDescriptorPool(
        'prp list 256',
        NVME_SMALL_POOL_SIZE,
        NVME_SMALL_POOL_SIZE,
        { base: region.base + pageSize, size: smallSize },
        { maxBlocks: caps.small },
      ),
    };
  }

  /** nvme_ctrl_sgl_supported(ctrl) */
  get sglSupported(): boolean {
    return nvmeCtrlSglSupported(this.sgls);
  }

  /** "nvme0" */
  get name(): string {
    return `nvme${this.instance}`;
  }

  /** The options the controller was created with (nvme_map_cmb() options among them). */
  get options(): Readonly<NvmeCtrlOptions> {
    return this.opts;
  }

  /** The namespace whose request queue is `q`, if it is one of this controller's. */
  nsOfQueue(q: RequestQueue): NvmeNamespace | undefined {
    for (const ns of this.namespaces) if (this.queues.get(ns.nsid) === q) return ns;
    return undefined;
  }
}

/** NVME_MAX_SEGS of the release. */
export function nvmeMaxSegs(release: NvmeRelease): number {
  return release === 'v5.x' ? NVME_MAX_SEGS_V5 : NVME_MAX_SEGS_2026;
}

/** The driver's own per-command cap in sectors: NVME_MAX_KB_SZ << 1, or NVME_MAX_BYTES >> 9. */
export function nvmeMaxDriverSectors(release: NvmeRelease): number {
  return release === 'v5.x' ? NVME_MAX_KB_SZ << 1 : NVME_MAX_BYTES >> SECTOR_SHIFT;
}

/**
 * The transfer limits nvme_pci_alloc_dev() and nvme_init_ctrl_finish() set (reference §5.1):
 * max_hw_sectors = min(driver cap, dma_opt_mapping_size(dev) >> 9) (128 KiB behind an IOMMU,
 * whose IOVA caching makes larger mappings slow), then min_not_zero() with what MDTS allows;
 * max_segments = NVME_MAX_SEGS. dma_opt_mapping_size() is what v6.2+ reads for every release
 * here; v5.x read dma_max_mapping_size(), which an IOMMU does not lower.
 */
export function nvmeCtrlLimits(ctrl: NvmeCtrl): { maxHwSectors: number; maxSegments: number } {
  // min_t(u32, ...): the shifted size is truncated to 32 bits (SIZE_MAX >> 9 becomes UINT_MAX).
  const dmaSectors = Math.floor(dmaOptMappingSize(ctrl.dev) / 512) % 2 ** 32;
  let maxHwSectors = Math.min(nvmeMaxDriverSectors(ctrl.release), dmaSectors);
  const mdtsSectors = nvmeMdtsSectors(ctrl.mdts, nvmeCapMpsmin(ctrl.cap));
  maxHwSectors = maxHwSectors ? Math.min(maxHwSectors, mdtsSectors) : mdtsSectors;
  return { maxHwSectors, maxSegments: nvmeMaxSegs(ctrl.release) };
}

/**
 * nvme_alloc_ns(ctrl, info) (drivers/nvme/host/core.c): the namespace's request queue
 * ("nvme0n1") with the limits of nvmeSetQueueLimits(), then the design's `allocNs` hook;
 * recorded in ctrl.queues. The P2PDMA capability is set both as BLK_FEAT_PCI_P2PDMA (v6.11+)
 * and as QUEUE_FLAG_PCI_P2PDMA (before), so blk_queue_pci_p2pdma() finds it whichever block
 * release reads it.
 */
export function nvmeAllocNs(ctrl: NvmeCtrl, ns: NvmeNamespace): RequestQueue {
  const q = new RequestQueue(`${ctrl.name}n${ns.nsid}`, nvmeSetQueueLimits(ctrl, ns), ctrl.dev.log);
  if (q.limits.features & BLK_FEAT_PCI_P2PDMA) blkQueueFlagSet(QUEUE_FLAG_PCI_P2PDMA, q);
  ctrl.options.allocNs?.(ctrl, ns, q);
  ctrl.queues.set(ns.nsid, q);
  return q;
}

/**
 * nvme_probe(pdev, id) with nvme_reset_work() and the namespace scan (drivers/nvme/host/pci.c,
 * v6.x; §6.1, §6.4, §5.1), for a controller created with `new NvmeCtrl()`:
 * - dma_set_min_align_mask(dev, 4095) and dma_set_max_seg_size(dev, 0xffffffff);
 * - ctrl->max_hw_sectors and ctrl->max_segments (nvmeCtrlLimits());
 * - nvme_map_cmb(): with CAP.CMBS, CMBMSC enables the registers first; the CMB is registered as
 *   P2P memory, published only with RDS and WDS, and used for SQs with SQS and use_cmb_sqes;
 * - nvme_alloc_ns() for every namespace.
 * Probing twice is a misuse and throws.
 */
export function nvmeProbeCtrl(ctrl: NvmeCtrl): NvmeCtrl {
  if (ctrl.probed) throw new RangeError(`${ctrl.name}: already probed`);
  const dev = ctrl.dev;
  dev.minAlignMask = NVME_CTRL_PAGE_SIZE - 1;
  dmaSetMaxSegSize(dev, 0xffff_ffff);
  const limits = nvmeCtrlLimits(ctrl);
  ctrl.maxHwSectors = limits.maxHwSectors;
  ctrl.maxSegments = limits.maxSegments;
  ctrl.cmbResult = nvmeMapCmb(ctrl.p2p, ctrl.pci, dev.log, {
    ...ctrl.options.cmb,
    state: ctrl.cmb,
    cmbs: nvmeCapCmbs(ctrl.cap),
    useCmbSqes: ctrl.params.useCmbSqes,
  });
  for (const ns of ctrl.namespaces) nvmeAllocNs(ctrl, ns);
  ctrl.probed = true;
  return ctrl;
}

/** A controller for `dev`, probed (new NvmeCtrl() then nvmeProbeCtrl()). */
export function nvmeProbe(
  dev: DmaDevice,
  p2p: P2pdmaDevices,
  mapper: RequestMapper,
  opts: NvmeCtrlOptions = {},
): NvmeCtrl {
  return nvmeProbeCtrl(new NvmeCtrl(dev, p2p, mapper, opts));
}
