/**
 * struct iommu_dma_cookie: what dma-iommu keeps per IOMMU domain used by the DMA API, its IOVA
 * domain and (for lazy domains) its flush queue, set up as iommu_dma_init_domain() does
 * (drivers/iommu/dma-iommu.c; v6.16, reference §4.5), and the per-device dev->iommu flag the
 * IOVA allocator's 32-bit-first policy keeps.
 *
 * The IOMMU hardware model supplies the domain's geometry, page sizes and flush_iotlb_all();
 * the cookie only needs those, so it takes them as plain values and a callback.
 */
import type { DmaDevice, IommuDomainGeometry, KernelLog, SimClock } from '@dmasim/core';
import { IovaFlushQueue, iommuDmaInitOptions, type IommuDmaOptions } from './flush-queue';
import { IovaDomain } from './iova';

export interface IommuDmaCookieParams {
  /** domain->pgsize_bitmap; default 4 KiB | 2 MiB | 1 GiB (x86). The smallest is the granule. */
  pgsizeBitmap?: number;
  /** default: [0, 2^48 - 1] forced (a 4-level VT-d table). */
  geometry?: IommuDomainGeometry;
  clock: SimClock;
  log?: KernelLog;
  /** num_online_cpus() for the rcaches and per-CPU flush queues; default 1. */
  nrCpus?: number;
  /**
   * IOMMU_DOMAIN_DMA_FQ (lazy invalidation, iommu.strict=0) with a flush queue; default false
   * (strict: IOVAs are freed right after the IOTLB sync). Needs `flushIotlbAll`.
   */
  lazy?: boolean;
  /** The domain's flush_iotlb_all(); called once per flush-queue flush. */
  flushIotlbAll?: () => void;
  /** dev->iommu->shadow_on_flush of the first device: the single 32768-entry / 1 s queue. */
  shadowOnFlush?: boolean;
  /** iommu.forcedac=1: PCI devices skip the 32-bit-first attempt. */
  forcedac?: boolean;
}

/** The x86 IOMMUs' page sizes: 4 KiB, 2 MiB, 1 GiB. */
export const X86_IOMMU_PGSIZE_BITMAP = 4096 + 2 ** 21 + 2 ** 30;

/** __ffs() of a page-size bitmap, as the size 1 << __ffs(): its lowest set bit. */
function lowestPageSize(bitmap: number): number {
  if (!Number.isSafeInteger(bitmap) || bitmap <= 0) {
    throw new RangeError(`pgsize_bitmap ${bitmap} must be a positive integer`);
  }
  let p = 1;
  while (Math.floor(bitmap / p) % 2 === 0) p *= 2;
  return p;
}

export class IommuDmaCookie {
  readonly iovad: IovaDomain;
  /** cookie->fq_domain != NULL: the flush queue of a lazy domain, null in strict mode. */
  readonly fq: IovaFlushQueue | null;
  readonly geometry: IommuDomainGeometry;
  readonly options: IommuDmaOptions;
  readonly forcedac: boolean;

  /**
   * iommu_get_dma_cookie() + iommu_dma_init_domain(): granule = the smallest page size,
   * base_pfn = max(1, aperture_start >> shift) so IOVA 0 is never handed out, rcaches, options,
   * and the flush queue for a lazy domain. Reserved regions are added with reserve().
   */
  constructor(p: IommuDmaCookieParams) {
    const granule = lowestPageSize(p.pgsizeBitmap ?? X86_IOMMU_PGSIZE_BITMAP);
    this.geometry = p.geometry ?? {
      apertureStart: 0,
      apertureEnd: 2 ** 48 - 1,
      forceAperture: true,
    };
    const basePfn = Math.max(1, Math.floor(this.geometry.apertureStart / granule));
    this.iovad = new IovaDomain(granule, basePfn, { nrCpus: p.nrCpus, clock: p.clock, log: p.log });
    this.options = iommuDmaInitOptions(p.shadowOnFlush ?? false);
    this.forcedac = p.forcedac ?? false;
    if (p.lazy) {
      if (!p.flushIotlbAll) throw new Error('IommuDmaCookie: a lazy domain needs flushIotlbAll');
      this.fq = new IovaFlushQueue(this.iovad, p.clock, p.flushIotlbAll, this.options);
    } else {
      this.fq = null;
    }
  }

  /**
   * reserve_iova() of the IOVA pages of the byte range [start, end] (inclusive), as
   * iova_reserve_iommu_regions() does for IOMMU reserved regions (the x86 MSI window
   * 0xfee00000-0xfeefffff) and iova_reserve_pci_windows() for host-bridge MEM windows and the
   * gaps between dma-ranges.
   */
  reserve(start: number, end: number): void {
    this.iovad.reserveIova(this.iovad.iovaPfn(start), this.iovad.iovaPfn(end));
  }
}

/** The part of struct dev_iommu the IOVA allocator reads and writes. */
export interface DevIommu {
  /**
   * pci_32bit_workaround: try below 4 GiB first. Set for PCI devices unless iommu.forcedac
   * (iommu_setup_dma_ops()); cleared for good the first time a 32-bit attempt fails.
   */
  pci32bitWorkaround: boolean;
}

const devIommus = new WeakMap<DmaDevice, DevIommu>();

/** dev->iommu of a device, created on first use as iommu_setup_dma_ops() would have. */
export function devIommu(dev: DmaDevice, forcedac = false): DevIommu {
  let d = devIommus.get(dev);
  if (d === undefined) {
    d = { pci32bitWorkaround: dev.pci !== undefined && !forcedac };
    devIommus.set(dev, d);
  }
  return d;
}
