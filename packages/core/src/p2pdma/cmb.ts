/**
 * The NVMe Controller Memory Buffer as a P2PDMA provider (reference §6.4): the CMBLOC/CMBSZ
 * registers a controller reports for its CMB, and nvme_map_cmb() of drivers/nvme/host/pci.c,
 * which decodes them, registers the CMB with pci_p2pdma_add_resource() and publishes it.
 *
 * Registers (include/linux/nvme.h, NVMe 1.4): CMBLOC (0x38) BIR bits 2:0, OFST bits 31:12;
 * CMBSZ (0x3c) SQS bit 0, CQS bit 1, LISTS bit 2, RDS bit 3, WDS bit 4, SZU bits 11:8, SZ bits
 * 31:12; CMBMSC (0x50) CRE bit 0, CMSE bit 1, CBA bits 63:12. Both 32-bit registers are held as
 * non-negative numbers (0..2^32-1).
 */
import type { KernelLog } from '../kernel-log';
import { hexAddr } from '../pci/units';
import type { PciCmb, PciDev } from '../pci/device';
import { pciP2pdmaAddResource, pciP2pmemPublish } from './provider';
import { SUBSECTION_SIZE } from '../mm/memremap';
import type { P2pdmaDevices } from './state';

export const NVME_REG_CMBLOC = 0x38;
export const NVME_REG_CMBSZ = 0x3c;
export const NVME_REG_CMBMSC = 0x50;

export const NVME_CMBSZ_SQS = 1 << 0;
export const NVME_CMBSZ_CQS = 1 << 1;
export const NVME_CMBSZ_LISTS = 1 << 2;
export const NVME_CMBSZ_RDS = 1 << 3;
export const NVME_CMBSZ_WDS = 1 << 4;
export const NVME_CMBSZ_SZU_SHIFT = 8;
export const NVME_CMBSZ_SZU_MASK = 0xf;
export const NVME_CMBSZ_SZ_SHIFT = 12;
export const NVME_CMBSZ_SZ_MASK = 0xfffff;

export const NVME_CMBMSC_CRE = 1 << 0;
export const NVME_CMBMSC_CMSE = 1 << 1;

/** The size units SZU 0..6 name: 4 KiB, 64 KiB, 1 MiB, 16 MiB, 256 MiB, 4 GiB, 64 GiB. */
export const NVME_CMB_MAX_SZU = 6;

export interface NvmeCmbRegisters {
  cmbsz: number;
  cmbloc: number;
}

/** nvme_cmb_size_unit(): 1 << (12 + 4 * SZU) bytes. */
export function nvmeCmbSizeUnit(cmbsz: number): number {
  const szu = (cmbsz >>> NVME_CMBSZ_SZU_SHIFT) & NVME_CMBSZ_SZU_MASK;
  return 2 ** (12 + 4 * szu);
}

/** nvme_cmb_size(): CMBSZ.SZ, the size in units. */
export function nvmeCmbSize(cmbsz: number): number {
  return (cmbsz >>> NVME_CMBSZ_SZ_SHIFT) & NVME_CMBSZ_SZ_MASK;
}

/** NVME_CMB_BIR(cmbloc): the BAR holding the CMB. */
export function nvmeCmbBir(cmbloc: number): number {
  return cmbloc & 0x7;
}

/** NVME_CMB_OFST(cmbloc): the CMB's offset in the BAR, in CMBSZ units. */
export function nvmeCmbOfst(cmbloc: number): number {
  return (cmbloc >>> 12) & 0xfffff;
}

/**
 * The CMBSZ and CMBLOC a controller reports for a CMB of the topology: SZU is the smallest unit
 * in which both the size and the offset are whole and fit the 20-bit SZ and OFST fields; RDS,
 * WDS and SQS as given (CQS and LISTS clear). Throws a RangeError for a CMB that no unit
 * represents exactly (for example 4 GiB + 4 KiB: 4 KiB units need a 21-bit SZ).
 */
export function nvmeCmbRegisters(cmb: PciCmb): NvmeCmbRegisters {
  const { size, offset, bar } = cmb;
  if (!Number.isInteger(bar) || bar < 0 || bar > 7)
    throw new RangeError(`CMB BAR ${bar} does not fit CMBLOC.BIR`);
  for (let szu = 0; szu <= NVME_CMB_MAX_SZU; szu++) {
    const unit = 2 ** (12 + 4 * szu);
    if (size % unit !== 0 || offset % unit !== 0) continue;
    const sz = size / unit;
    const ofst = offset / unit;
    if (sz > NVME_CMBSZ_SZ_MASK || ofst > 0xfffff) continue;
    const flags =
      (cmb.sqs ? NVME_CMBSZ_SQS : 0) |
      (cmb.rds ? NVME_CMBSZ_RDS : 0) |
      (cmb.wds ? NVME_CMBSZ_WDS : 0);
    // Multiplication instead of << so that bit 31 does not make the value negative.
    const cmbsz = sz * 2 ** NVME_CMBSZ_SZ_SHIFT + szu * 2 ** NVME_CMBSZ_SZU_SHIFT + flags;
    const cmbloc = ofst * 2 ** 12 + bar;
    return { cmbsz, cmbloc };
  }
  throw new RangeError(
    `a CMB of ${size} bytes at offset ${offset} cannot be encoded in CMBSZ/CMBLOC: no unit of 4 KiB * 16^n ` +
      `(n = 0..6) divides both with a quotient below 2^20`,
  );
}

/** The struct nvme_dev fields nvme_map_cmb() reads and sets. */
export class NvmeCmbState {
  /** dev->cmb_size: bytes registered; non-zero makes later nvme_map_cmb() calls return at once. */
  cmbSize = 0;
  /** dev->cmb_use_sqes: I/O submission queues go in the CMB. */
  cmbUseSqes = false;
  /** dev->cmbsz as read. */
  cmbsz = 0;
  /** dev->cmbloc as read. */
  cmbloc = 0;
  /** The last value written to CMBMSC (0 when never written). */
  cmbmsc = 0;
}

export interface NvmeMapCmbOptions {
  /** Register values to use instead of nvmeCmbRegisters(dev.props.cmb) (for raw-register cases). */
  registers?: NvmeCmbRegisters;
  /** CAP.CMBS (NVMe 1.4+): CMBLOC/CMBSZ must be enabled through CMBMSC. Default true. */
  cmbs?: boolean;
  /** The use_cmb_sqes module parameter. Default true. */
  useCmbSqes?: boolean;
  /** memremap_compat_align(): SUBSECTION_SIZE (2 MiB) by default; 16 MiB on ppc64 hash MMU. */
  compatAlign?: number;
  /**
   * Skip a CMB whose size or BAR start is not compatAlign-aligned before registering it (2025,
   * commit 56cf7ef0d490). false models earlier releases, which tried to register it and failed
   * with the memory-hotplug warning and "failed to register the CMB". Default true.
   */
  skipMisaligned?: boolean;
  /** Write 0 to CMBMSC when registration fails (2025, commit 6a3572e10f74). Default true. */
  clearCmbmscOnFailure?: boolean;
  /** The controller's nvme_dev fields; a fresh NvmeCmbState when absent. */
  state?: NvmeCmbState;
  /**
   * pci_p2pdma_add_resource() of the design (P2pMemory.addResource); default the page-backed
   * one of provider.ts.
   */
  addResource?: typeof pciP2pdmaAddResource;
}

export type NvmeCmbSkipReason =
  /** dev->cmb_size is already set: the CMB was mapped by an earlier call. */
  | 'already-mapped'
  /** CMBSZ reads 0: no CMB. */
  | 'no-cmb'
  /** The offset lies beyond the BAR. */
  | 'offset-beyond-bar'
  /** The (clipped) size or the BAR start is not memremap_compat_align()-aligned. */
  | 'misaligned'
  /** pci_p2pdma_add_resource() failed. */
  | 'add-resource-failed';

export interface NvmeMapCmbResult {
  /** The CMB is P2P memory now (pci_p2pdma_add_resource() returned 0). */
  registered: boolean;
  /** pci_p2pmem_publish(pdev, true) was called (both WDS and RDS). */
  published: boolean;
  /** BIR */
  bar: number;
  /** unit * OFST */
  offset: number;
  /** unit * SZ, then clipped to the BAR: what was (or would have been) registered. */
  size: number;
  /** Why nothing was registered. */
  reason?: NvmeCmbSkipReason;
  /** The pci_p2pdma_add_resource() error, with reason 'add-resource-failed'. */
  error?: number;
  /** Human-readable detail of the reason (the kernel itself is silent except for add failures). */
  detail?: string;
  /** The controller's CMB fields after the call. */
  state: NvmeCmbState;
}

/**
 * nvme_map_cmb(dev) (drivers/nvme/host/pci.c, v6.15-era with the two 2025 fixes; options select
 * the earlier behaviour): reads CMBSZ (0 -> no CMB) and CMBLOC; size = unit * SZ, offset =
 * unit * OFST, bar = BIR; gives up if offset > BAR length; clips size to BAR length - offset
 * (a CMB may be larger than the BAR behind a bridge); skips unless size and the BAR start (not
 * BAR start + offset) are aligned to memremap_compat_align(); with CAP.CMBS programs CMBMSC with
 * CRE | CMSE | (bus address of the BAR + offset); pci_p2pdma_add_resource(bar, size, offset),
 * on failure dev_warn "failed to register the CMB" (logged against the PCI function here, where
 * the kernel names the nvme controller device) and CMBMSC cleared; cmb_use_sqes = use_cmb_sqes
 * && SQS; publishes the memory only when both WDS and RDS are set.
 */
export function nvmeMapCmb(
  p2p: P2pdmaDevices,
  dev: PciDev,
  log?: KernelLog,
  opts: NvmeMapCmbOptions = {},
): NvmeMapCmbResult {
  const st = opts.state ?? new NvmeCmbState();
  const cmbs = opts.cmbs ?? true;
  const align = opts.compatAlign ?? SUBSECTION_SIZE;
  const result = (r: Omit<NvmeMapCmbResult, 'state'>): NvmeMapCmbResult => ({ ...r, state: st });
  const skipped = (
    reason: NonNullable<NvmeMapCmbResult['reason']>,
    where = { bar: 0, offset: 0, size: 0 },
    more: Pick<NvmeMapCmbResult, 'detail' | 'error'> = {},
  ): NvmeMapCmbResult => result({ registered: false, published: false, ...where, reason, ...more });

  if (st.cmbSize) {
    return skipped('already-mapped');
  }
  if (cmbs) st.cmbmsc = NVME_CMBMSC_CRE;

  const regs =
    opts.registers ?? (dev.props.cmb ? nvmeCmbRegisters(dev.props.cmb) : { cmbsz: 0, cmbloc: 0 });
  st.cmbsz = regs.cmbsz;
  if (!st.cmbsz) {
    return skipped('no-cmb');
  }
  st.cmbloc = regs.cmbloc;

  const unit = nvmeCmbSizeUnit(st.cmbsz);
  let size = unit * nvmeCmbSize(st.cmbsz);
  const offset = unit * nvmeCmbOfst(st.cmbloc);
  const bar = nvmeCmbBir(st.cmbloc);
  const res = dev.bar(bar);
  // pci_resource_len()/pci_resource_start() of a BAR that is not implemented are 0.
  const barSize = res?.size ?? 0;
  const barStart = res?.cpuAddress ?? 0;

  if (offset > barSize) {
    return skipped(
      'offset-beyond-bar',
      { bar, offset, size },
      {
        detail: `CMB offset ${hexAddr(offset)} is beyond the ${hexAddr(barSize)} bytes of BAR ${bar}`,
      },
    );
  }
  size = Math.min(size, barSize - offset);

  if ((opts.skipMisaligned ?? true) && (size % align !== 0 || barStart % align !== 0)) {
    return skipped(
      'misaligned',
      { bar, offset, size },
      {
        detail:
          size % align !== 0
            ? `CMB size ${hexAddr(size)} is not a multiple of memremap_compat_align() ${hexAddr(align)}`
            : `BAR ${bar} start ${hexAddr(barStart)} is not aligned to memremap_compat_align() ${hexAddr(align)}`,
      },
    );
  }

  if (cmbs) st.cmbmsc = NVME_CMBMSC_CRE + NVME_CMBMSC_CMSE + ((res?.busAddress ?? 0) + offset);

  const err = (opts.addResource ?? pciP2pdmaAddResource)(p2p, dev, bar, size, offset, log);
  if (err) {
    log?.warn(dev, 'failed to register the CMB');
    if (cmbs && (opts.clearCmbmscOnFailure ?? true)) st.cmbmsc = 0;
    return skipped('add-resource-failed', { bar, offset, size }, { error: err });
  }

  st.cmbSize = size;
  st.cmbUseSqes = (opts.useCmbSqes ?? true) && (st.cmbsz & NVME_CMBSZ_SQS) !== 0;
  const both = NVME_CMBSZ_WDS | NVME_CMBSZ_RDS;
  const published = (st.cmbsz & both) === both;
  if (published) pciP2pmemPublish(p2p, dev, true);
  return result({ registered: true, published, bar, offset, size });
}
