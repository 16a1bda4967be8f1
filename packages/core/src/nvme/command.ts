/**
 * NVMe I/O commands as the PCI driver builds them (struct nvme_rw_command and struct
 * nvme_sgl_desc, include/linux/nvme.h; nvme_setup_rw(), drivers/nvme/host/core.c, v5.15-v6.16;
 * reference §6): a command is a descriptor, not bytes. Building a command and its data pointer
 * is kept apart from executing it (a controller model reads these descriptors and the
 * descriptor lists they point to).
 */
import type { NvmeNamespace } from './identify';
import { nvmeSectToLba } from './identify';

/** enum nvme_opcode (NVM command set). */
export const NVME_CMD_FLUSH = 0x00;
export const NVME_CMD_WRITE = 0x01;
export const NVME_CMD_READ = 0x02;

/**
 * Command dword 0 flags: PSDT (bits 7:6) selects PRPs (00b) or SGLs for the data pointer.
 * NVME_CMD_SGL_METABUF (01b): SGL for data, the metadata pointer is a plain address.
 */
export const NVME_CMD_FUSE_FIRST = 1 << 0;
export const NVME_CMD_FUSE_SECOND = 1 << 1;
export const NVME_CMD_SGL_METABUF = 1 << 6;
export const NVME_CMD_SGL_METASEG = 1 << 7;
export const NVME_CMD_SGL_ALL = NVME_CMD_SGL_METABUF | NVME_CMD_SGL_METASEG;

/** nvme_rw_command.control bits. */
export const NVME_RW_FUA = 1 << 14;

/** SGL descriptor formats (enum in include/linux/nvme.h); the type byte is format << 4. */
export const NVME_SGL_FMT_DATA_DESC = 0x00;
export const NVME_SGL_FMT_SEG_DESC = 0x02;
export const NVME_SGL_FMT_LAST_SEG_DESC = 0x03;
export const NVME_KEY_SGL_FMT_DATA_DESC = 0x04;
export const NVME_TRANSPORT_SGL_DATA_DESC = 0x05;

/** sizeof(struct nvme_sgl_desc): addr u64, length u32, rsvd[3], type u8. */
export const NVME_SGL_DESC_SIZE = 16;
/** sizeof(__le64): one PRP entry. */
export const NVME_PRP_ENTRY_SIZE = 8;

/** struct nvme_sgl_desc */
export interface NvmeSglDesc {
  addr: number;
  length: number;
  /** format << 4 | subtype */
  type: number;
}

/** The data pointer as PRP entries. */
export interface NvmePrpDptr {
  prp1: number;
  prp2: number;
}

/** The data pointer as one SGL descriptor (data block, segment or last segment). */
export interface NvmeSglDptr {
  sgl: NvmeSglDesc;
}

/** union nvme_data_ptr */
export type NvmeDptr = NvmePrpDptr | NvmeSglDptr;

/** Whether the data pointer holds an SGL descriptor. */
export function nvmeDptrIsSgl(d: NvmeDptr): d is NvmeSglDptr {
  return 'sgl' in d;
}

/** The SGL descriptor type byte for a format: format << 4. */
export function nvmeSglType(format: number): number {
  return format << 4;
}

/** The format of an SGL descriptor type byte. */
export function nvmeSglFormat(type: number): number {
  return type >> 4;
}

/** PSDT of a command's flags: 0 PRP, 1 SGL (metadata buffer), 2 SGL (metadata segment). */
export function nvmePsdt(flags: number): number {
  return (flags >> 6) & 3;
}

/** struct nvme_rw_command (the fields the model uses). */
export class NvmeCommand {
  /** Command dword 0 flags (FUSE, PSDT). */
  flags = 0;
  /** The data pointer: zeroed PRPs until nvme_map_data() fills it. */
  dptr: NvmeDptr = { prp1: 0, prp2: 0 };
  /** NVME_RW_* control bits (FUA, ...). */
  control = 0;

  constructor(
    readonly opcode: number,
    readonly nsid: number,
    /** Starting LBA. */
    readonly slba: number,
    /** Number of logical blocks, 0's based. */
    readonly length: number,
  ) {}

  /** Blocks the command moves (length + 1). */
  get nlb(): number {
    return this.length + 1;
  }
}

/** What nvme_setup_rw() reads of a request. */
export interface NvmeRwRequest {
  /** Write (true) or read. */
  write: boolean;
  /** blk_rq_pos(): first 512-byte sector. */
  sector: number;
  /** blk_rq_bytes() */
  bytes: number;
  /** REQ_FUA */
  fua?: boolean;
}

/**
 * nvme_setup_rw(ns, req, cmnd, op) (drivers/nvme/host/core.c, v5.15-v6.16): opcode read 0x02 or
 * write 0x01, the namespace id, slba = nvme_sect_to_lba(blk_rq_pos()), length = blocks - 1
 * (0's based), NVME_RW_FUA for REQ_FUA. The data pointer stays zero for nvme_map_data(). Throws
 * for a request that is not a whole number of blocks (the block layer never builds one).
 */
export function nvmeSetupRw(ns: NvmeNamespace, rq: NvmeRwRequest): NvmeCommand {
  const blocks = rq.bytes / 2 ** ns.lbaShift;
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > 0x10000) {
    throw new RangeError(
      `nvme_setup_rw: ${rq.bytes} bytes are not 1..65536 blocks of ${2 ** ns.lbaShift} bytes`,
    );
  }
  const cmd = new NvmeCommand(
    rq.write ? NVME_CMD_WRITE : NVME_CMD_READ,
    ns.nsid,
    nvmeSectToLba(ns, rq.sector),
    blocks - 1,
  );
  if (rq.fua) cmd.control |= NVME_RW_FUA;
  return cmd;
}
