/**
 * struct iommu_domain (include/linux/iommu.h, v6.x-7.0): what a group of devices is attached to.
 * Its type decides what a DMA from the group does at the IOMMU: pass through (IDENTITY), fault
 * (BLOCKED), or translate through its I/O page table (the paging types: UNMANAGED for a driver's
 * own domain, DMA for the DMA API in strict mode, DMA_FQ for the DMA API with flush queues).
 */
import { IoPageTable } from './page-table';

/** __IOMMU_DOMAIN_* bits (include/linux/iommu.h). */
export const __IOMMU_DOMAIN_PAGING = 1 << 0;
export const __IOMMU_DOMAIN_DMA_API = 1 << 1;
export const __IOMMU_DOMAIN_PT = 1 << 2;
export const __IOMMU_DOMAIN_DMA_FQ = 1 << 3;

/** All DMA is blocked: no __IOMMU_DOMAIN_* bit set. */
export const IOMMU_DOMAIN_BLOCKED = 0;
/** DMA addresses are physical addresses (iommu.passthrough=1). */
export const IOMMU_DOMAIN_IDENTITY = __IOMMU_DOMAIN_PT;
/** A paging domain a driver or VFIO manages itself. */
export const IOMMU_DOMAIN_UNMANAGED = __IOMMU_DOMAIN_PAGING;
/** The DMA API's domain, IOTLB invalidated on every unmap (iommu.strict=1). */
export const IOMMU_DOMAIN_DMA = __IOMMU_DOMAIN_PAGING | __IOMMU_DOMAIN_DMA_API;
/** The DMA API's domain with flush queues: invalidations batched (lazy, the x86 default). */
export const IOMMU_DOMAIN_DMA_FQ = IOMMU_DOMAIN_DMA | __IOMMU_DOMAIN_DMA_FQ;

export type IommuDomainType =
  | typeof IOMMU_DOMAIN_BLOCKED
  | typeof IOMMU_DOMAIN_IDENTITY
  | typeof IOMMU_DOMAIN_UNMANAGED
  | typeof IOMMU_DOMAIN_DMA
  | typeof IOMMU_DOMAIN_DMA_FQ;

/** What /sys/kernel/iommu_groups/N/type shows (iommu_group_show_type()). */
export function iommuDomainTypeName(type: number): string {
  switch (type) {
    case IOMMU_DOMAIN_BLOCKED:
      return 'blocked';
    case IOMMU_DOMAIN_IDENTITY:
      return 'identity';
    case IOMMU_DOMAIN_UNMANAGED:
      return 'unmanaged';
    case IOMMU_DOMAIN_DMA:
      return 'DMA';
    case IOMMU_DOMAIN_DMA_FQ:
      return 'DMA-FQ';
    default:
      return 'unknown';
  }
}

/**
 * The size of a leaf one level above the granule: a table page of `granule` bytes holds
 * granule / 8 eight-byte PTEs, so the level above maps granule * granule / 8 bytes per entry
 * (ARM_LPAE_BLOCK_SIZE at the last-but-one level; VT-d and AMD-Vi 2 MiB large pages with 4 KiB).
 * 4 KiB -> 2 MiB, 16 KiB -> 32 MiB, 64 KiB -> 512 MiB.
 */
export function superpageSizeFor(granule: number): number {
  return (granule * granule) / 8;
}

/**
 * The last IOVA a page table with `addressWidth` input bits can map: 2^width - 1, saturated at
 * Number.MAX_SAFE_INTEGER (2^53 - 1) for 57 bits, as dmaBitMask() saturates 64-bit masks (no
 * modelled address comes near either).
 */
export function apertureEndFor(addressWidth: number): number {
  return addressWidth >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** addressWidth - 1;
}

export interface IommuDomainGeometry {
  /** First IOVA the domain can map. */
  readonly apertureStart: number;
  /** Last IOVA the domain can map (inclusive). */
  readonly apertureEnd: number;
  /** DMA outside the aperture is impossible (all x86 and SMMU drivers set it). */
  readonly forceAperture: boolean;
}

export interface IommuDomainConfig {
  /** Smallest page size (the IOVA granule). */
  granule: number;
  /** Offer the superpage size (superpageSizeFor(granule)) in pgsize_bitmap. */
  superpages: boolean;
  /** Input address bits of the page table. */
  addressWidth: number;
}

export class IommuDomain {
  /** Page sizes the domain's page table can use, OR-ed (domain->pgsize_bitmap). */
  readonly pgsizeBitmap: number;
  readonly geometry: IommuDomainGeometry;
  /** The I/O page table of a paging domain (none for IDENTITY and BLOCKED). */
  readonly pageTable: IoPageTable | undefined;
  /** @internal indices of the IOMMU units (host bridges) some attached group sits behind. */
  readonly units = new Set<number>();

  constructor(
    /** Domain ID as the hardware tags IOTLB entries and AMD-Vi prints it in faults. */
    readonly id: number,
    readonly type: IommuDomainType,
    readonly config: IommuDomainConfig,
  ) {
    const { granule, superpages, addressWidth } = config;
    const superpage = superpages ? superpageSizeFor(granule) : 0;
    this.pgsizeBitmap = granule + superpage;
    this.geometry = {
      apertureStart: 0,
      apertureEnd: apertureEndFor(addressWidth),
      forceAperture: true,
    };
    this.pageTable = this.isPaging
      ? new IoPageTable(granule, superpage, this.geometry.apertureEnd)
      : undefined;
  }

  /** The smallest page size: 1 << __ffs(pgsize_bitmap) (§4.1 `granule`). */
  get granule(): number {
    return this.config.granule;
  }

  /** The paging domain types (iommu_is_dma_domain() for DMA and DMA_FQ). */
  get isPaging(): boolean {
    return (this.type & __IOMMU_DOMAIN_PAGING) !== 0;
  }

  /** cookie->fq_domain: unmaps are queued and the IOTLB is flushed in batches. */
  get usesFlushQueue(): boolean {
    return (this.type & __IOMMU_DOMAIN_DMA_FQ) !== 0;
  }

  get typeName(): string {
    return iommuDomainTypeName(this.type);
  }
}

/** The boot log's name of a default domain type (iommu_domain_type_str()). */
export function iommuDomainTypeStr(type: number): string {
  switch (type) {
    case IOMMU_DOMAIN_BLOCKED:
      return 'Blocked';
    case IOMMU_DOMAIN_IDENTITY:
      return 'Passthrough';
    case IOMMU_DOMAIN_UNMANAGED:
      return 'Unmanaged';
    case IOMMU_DOMAIN_DMA:
    case IOMMU_DOMAIN_DMA_FQ:
      return 'Translated';
    default:
      return 'Unknown';
  }
}
