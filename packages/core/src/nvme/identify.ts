/**
 * What Identify Controller and Identify Namespace tell the driver (include/linux/nvme.h,
 * drivers/nvme/host/core.c and nvme.h, v5.15-v6.16; reference §6, §5.1): MDTS, SGLS and the
 * number of namespaces, and per namespace the LBA size and capacity. Kept to what shapes DMA:
 * a namespace is an LBA size (512 or 4096 bytes) and a capacity.
 */
import { SECTOR_SHIFT, UINT_MAX } from '../block/queue-limits';
import { NVME_CTRL_PAGE_SHIFT } from './registers';

/** Identify Controller SGLS bits 1:0 (NVMe 1.4): SGLs with no alignment requirement. */
export const NVME_CTRL_SGLS_BYTE_ALIGNED = 1;
/** SGLS bits 1:0 = 10b: SGLs with dword alignment and granularity for data blocks. */
export const NVME_CTRL_SGLS_DWORD_ALIGNED = 2;
/** SGLS bit 2: keyed SGL data block descriptors. */
export const NVME_CTRL_SGLS_KSDBDS = 1 << 2;
/** SGLS bit 19: metadata pointer may point to an SGL segment (MSDS). */
export const NVME_CTRL_SGLS_MSDS = 1 << 19;
/** SGLS bit 20: SGL address field as an offset (SAOS). */
export const NVME_CTRL_SGLS_SAOS = 1 << 20;

/**
 * nvme_ctrl_sgl_supported(ctrl) (drivers/nvme/host/nvme.h, v5.15-v6.16): the controller
 * advertises byte- or dword-aligned SGLs for data (SGLS bits 1:0 non-zero, §6).
 */
export function nvmeCtrlSglSupported(sgls: number): boolean {
  return (sgls & (NVME_CTRL_SGLS_BYTE_ALIGNED | NVME_CTRL_SGLS_DWORD_ALIGNED)) !== 0;
}

/**
 * nvme_mps_to_sectors(ctrl, units) (drivers/nvme/host/core.c, v5.15+): MDTS is a power of two
 * in units of the minimum memory page size 2^(12 + CAP.MPSMIN), so the transfer limit is
 * 2^(units + 12 + MPSMIN - 9) sectors, UINT_MAX when that shift overflows a u32.
 */
export function nvmeMpsToSectors(units: number, mpsmin: number): number {
  const shift = units + NVME_CTRL_PAGE_SHIFT + mpsmin - SECTOR_SHIFT;
  return shift >= 32 ? UINT_MAX : 2 ** shift;
}

/**
 * The max_hw_sectors MDTS gives (nvme_init_ctrl_finish(), v5.15+): 0 means "no limit", which
 * the driver reads as UINT_MAX.
 */
export function nvmeMdtsSectors(mdts: number, mpsmin: number): number {
  if (!Number.isInteger(mdts) || mdts < 0 || mdts > 255) {
    throw new RangeError(`MDTS ${mdts} is not a u8`);
  }
  return mdts ? nvmeMpsToSectors(mdts, mpsmin) : UINT_MAX;
}

/** What a namespace is described by (the topology/scenario side). */
export interface NvmeNamespaceSpec {
  /** Namespace id; default 1, 2, ... in order. */
  nsid?: number;
  /** LBA data size in bytes: 512 or 4096 (Identify Namespace LBAF[FLBAS].LBADS = 9 or 12). */
  lbaSize?: 512 | 4096;
  /** Capacity in bytes (NSZE * LBA size); default 1 TiB. */
  capacity?: number;
}

/** Default namespace capacity: 1 TiB. */
export const NVME_DEFAULT_NS_CAPACITY = 2 ** 40;

/** One namespace of a controller (the struct nvme_ns fields that shape I/O). */
export class NvmeNamespace {
  /** ns->lba_shift: log2 of the LBA size. */
  readonly lbaShift: number;
  /** NSZE: capacity in LBAs. */
  readonly nsze: number;

  constructor(
    readonly nsid: number,
    readonly lbaSize: number,
    readonly capacity: number,
  ) {
    if (!Number.isInteger(nsid) || nsid < 1 || nsid > 0xffff_fffe) {
      throw new RangeError(`namespace id ${nsid} is not in 1..0xfffffffe`);
    }
    if (lbaSize !== 512 && lbaSize !== 4096) {
      throw new RangeError(`namespace ${nsid}: LBA size ${lbaSize} is not 512 or 4096`);
    }
    if (!Number.isSafeInteger(capacity) || capacity <= 0 || capacity % lbaSize !== 0) {
      throw new RangeError(
        `namespace ${nsid}: capacity ${capacity} is not a positive multiple of ${lbaSize}`,
      );
    }
    this.lbaShift = lbaSize === 512 ? 9 : 12;
    this.nsze = capacity / lbaSize;
  }
}

/** nvme_sect_to_lba(ns, sector): 512-byte sectors to LBAs. */
export function nvmeSectToLba(ns: NvmeNamespace, sector: number): number {
  return Math.floor(sector / 2 ** (ns.lbaShift - SECTOR_SHIFT));
}

/** nvme_lba_to_sect(ns, lba) */
export function nvmeLbaToSect(ns: NvmeNamespace, lba: number): number {
  return lba * 2 ** (ns.lbaShift - SECTOR_SHIFT);
}

/** Namespaces from their specs: nsid 1, 2, ... unless given; 512-byte LBAs and 1 TiB by default. */
export function nvmeNamespacesFromSpecs(specs: readonly NvmeNamespaceSpec[]): NvmeNamespace[] {
  const out: NvmeNamespace[] = [];
  const seen = new Set<number>();
  specs.forEach((s, i) => {
    const nsid = s.nsid ?? i + 1;
    if (seen.has(nsid)) throw new RangeError(`namespace id ${nsid} given twice`);
    seen.add(nsid);
    out.push(new NvmeNamespace(nsid, s.lbaSize ?? 512, s.capacity ?? NVME_DEFAULT_NS_CAPACITY));
  });
  return out;
}
