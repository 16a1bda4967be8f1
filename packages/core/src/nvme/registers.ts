/**
 * NVMe controller registers the PCI driver reads (include/linux/nvme.h, NVMe 1.4; reference
 * §6, §6.4): the Controller Capabilities register CAP and the controller page size the driver
 * programs. The CMB registers (CMBLOC, CMBSZ, CMBMSC) live with nvme_map_cmb() in
 * p2pdma/cmb.ts.
 *
 * CAP is a 64-bit register whose CMBS bit (57) lies above 2^53, so it is held as a bigint; every
 * field is read out as a number.
 */

/** Register offsets (enum in include/linux/nvme.h). */
export const NVME_REG_CAP = 0x0000;
export const NVME_REG_VS = 0x0008;
export const NVME_REG_CC = 0x0014;
export const NVME_REG_CSTS = 0x001c;

/**
 * NVME_CTRL_PAGE_SHIFT / NVME_CTRL_PAGE_SIZE: the driver always programs CC.MPS for 4 KiB,
 * whatever the CPU page size, so PRPs and the virt boundary are in 4 KiB units (§6).
 */
export const NVME_CTRL_PAGE_SHIFT = 12;
export const NVME_CTRL_PAGE_SIZE = 4096;

/** The fields of CAP (NVMe 1.4 figure 68), as numbers. */
export interface NvmeCapFields {
  /** MQES bits 15:0: maximum queue entries supported, 0's based. */
  mqes: number;
  /** CQR bit 16: contiguous queues required. */
  cqr: boolean;
  /** AMS bits 18:17: arbitration mechanisms supported. */
  ams: number;
  /** TO bits 31:24: ready timeout in 500 ms units. */
  to: number;
  /** DSTRD bits 35:32: doorbell stride, 2^(2 + DSTRD) bytes. */
  dstrd: number;
  /** NSSRS bit 36: NVM subsystem reset supported. */
  nssrs: boolean;
  /** CSS bits 44:37: command sets supported (bit 37 = NVM command set). */
  css: number;
  /** BPS bit 45: boot partition support. */
  bps: boolean;
  /** MPSMIN bits 51:48: minimum memory page size, 2^(12 + MPSMIN). */
  mpsmin: number;
  /** MPSMAX bits 55:52: maximum memory page size, 2^(12 + MPSMAX). */
  mpsmax: number;
  /** PMRS bit 56: persistent memory region supported. */
  pmrs: boolean;
  /**
   * CMBS bit 57 (NVMe 1.4): CMBLOC and CMBSZ read as zero until the host sets CMBMSC.CRE, and
   * the host must give the CMB's address in CMBMSC.CBA before using it (§6.4).
   */
  cmbs: boolean;
}

/** CAP.CSS bit for the NVM command set (NVME_CAP_CSS_NVM = 1 << 0 of the field). */
export const NVME_CAP_CSS_NVM = 1 << 0;

/** The CAP a controller reports when nothing else is given: 1024-entry queues, 4 KiB pages, CMBS. */
export const DEFAULT_NVME_CAP: NvmeCapFields = Object.freeze({
  mqes: 1023,
  cqr: true,
  ams: 0,
  to: 30,
  dstrd: 0,
  nssrs: false,
  css: NVME_CAP_CSS_NVM,
  bps: false,
  mpsmin: 0,
  mpsmax: 0,
  pmrs: false,
  cmbs: true,
});

function field(name: string, v: number, bits: number): bigint {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) {
    throw new RangeError(`CAP.${name} = ${v} does not fit ${bits} bits`);
  }
  return BigInt(v);
}

/** The CAP register value of the given fields (missing ones from DEFAULT_NVME_CAP). */
export function nvmeCapEncode(f: Partial<NvmeCapFields> = {}): bigint {
  const c = { ...DEFAULT_NVME_CAP, ...f };
  const b = (x: boolean) => (x ? 1n : 0n);
  return (
    field('MQES', c.mqes, 16) |
    (b(c.cqr) << 16n) |
    (field('AMS', c.ams, 2) << 17n) |
    (field('TO', c.to, 8) << 24n) |
    (field('DSTRD', c.dstrd, 4) << 32n) |
    (b(c.nssrs) << 36n) |
    (field('CSS', c.css, 8) << 37n) |
    (b(c.bps) << 45n) |
    (field('MPSMIN', c.mpsmin, 4) << 48n) |
    (field('MPSMAX', c.mpsmax, 4) << 52n) |
    (b(c.pmrs) << 56n) |
    (b(c.cmbs) << 57n)
  );
}

function bits(cap: bigint, shift: number, width: number): number {
  return Number((cap >> BigInt(shift)) & ((1n << BigInt(width)) - 1n));
}

/** NVME_CAP_MQES(cap) */
export function nvmeCapMqes(cap: bigint): number {
  return bits(cap, 0, 16);
}

/** NVME_CAP_TIMEOUT(cap) */
export function nvmeCapTimeout(cap: bigint): number {
  return bits(cap, 24, 8);
}

/** NVME_CAP_STRIDE(cap) */
export function nvmeCapStride(cap: bigint): number {
  return bits(cap, 32, 4);
}

/** NVME_CAP_NSSRC(cap) */
export function nvmeCapNssrc(cap: bigint): boolean {
  return bits(cap, 36, 1) === 1;
}

/** NVME_CAP_CSS(cap) */
export function nvmeCapCss(cap: bigint): number {
  return bits(cap, 37, 8);
}

/** NVME_CAP_MPSMIN(cap) */
export function nvmeCapMpsmin(cap: bigint): number {
  return bits(cap, 48, 4);
}

/** NVME_CAP_MPSMAX(cap) */
export function nvmeCapMpsmax(cap: bigint): number {
  return bits(cap, 52, 4);
}

/** NVME_CAP_CMBS(cap) (bit 57, §6.4) */
export function nvmeCapCmbs(cap: bigint): boolean {
  return bits(cap, 57, 1) === 1;
}

/** Every field of a CAP value. */
export function nvmeCapDecode(cap: bigint): NvmeCapFields {
  return {
    mqes: nvmeCapMqes(cap),
    cqr: bits(cap, 16, 1) === 1,
    ams: bits(cap, 17, 2),
    to: nvmeCapTimeout(cap),
    dstrd: nvmeCapStride(cap),
    nssrs: nvmeCapNssrc(cap),
    css: nvmeCapCss(cap),
    bps: bits(cap, 45, 1) === 1,
    mpsmin: nvmeCapMpsmin(cap),
    mpsmax: nvmeCapMpsmax(cap),
    pmrs: bits(cap, 56, 1) === 1,
    cmbs: nvmeCapCmbs(cap),
  };
}
