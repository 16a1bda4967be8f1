/**
 * The NVMe controller executing the I/O commands the driver builds, and the driver's submission
 * and completion around it (reference §6, §6.1, §6.3; NVM Express Base Specification 1.4 §4.3
 * "Physical Region Page Entry and List", §4.4 "Scatter Gather List", §4.6.1.2.1 "Generic Command
 * Status"; NVM Command Set: Read, Write, Flush).
 *
 * The controller side (nvmeExecuteCommand()) is the model's hardware: it checks the command,
 * walks the data pointer (PRP1/PRP2 and PRP lists, or SGL data block, segment and last segment
 * descriptors) into data pieces, joins pieces whose DMA addresses continue, and moves each run
 * through a DmaPort (the fabric): a Read command's data phase is the controller writing host or
 * peer memory (dmaWrite, from the namespace's data), a Write command's is the controller reading
 * it (dmaRead, into the namespace's data).
 *
 * Descriptor lists are fetched straight from the driver's dma_pool blocks (ctrl.pools, looked up
 * by DMA address) and counted in descriptorBytesFetched, not routed through the fabric: the
 * model's pool memory is RAM whose DMA address equals its physical address and is entered in no
 * IOMMU domain (descriptor-pool.ts), while the kernel's dma_alloc_coherent() memory is mapped for
 * the device; a fabric that translates through the IOMMU would fault on every list fetch that the
 * real machine serves.
 *
 * Errors follow what the controller can see. A DMA that fails visibly (a read completed with
 * UR/CA, a translation fault reported to the device) stops the command with Data Transfer Error.
 * A posted write the fabric drops (no route, a root complex that discards peer traffic) is not
 * seen by the controller: the command completes successfully, the error is kept in `errors` and
 * the data integrity check finds the damage, as on real hardware.
 */
import type { BlkStatus } from '../block/blk-status';
import {
  BLK_STS_IOERR,
  BLK_STS_MEDIUM,
  BLK_STS_NOSPC,
  BLK_STS_NOTSUPP,
  BLK_STS_OK,
  BLK_STS_PROTECTION,
  BLK_STS_RESV_CONFLICT,
  BLK_STS_TARGET,
  BLK_STS_TRANSPORT,
  BLK_STS_ZONE_ACTIVE_RESOURCE,
  BLK_STS_ZONE_OPEN_RESOURCE,
} from '../block/blk-status';
import { blkRqBytes, blkRqNrPhysSegments, type Request } from '../block/request';
import type { ExtentStore } from '../fabric/extent-store';
import type { FabricError } from '../fabric/route';
import type { PciDev } from '../pci/device';
import {
  NVME_CMD_FLUSH,
  NVME_CMD_READ,
  NVME_CMD_WRITE,
  NVME_PRP_ENTRY_SIZE,
  NVME_SGL_DESC_SIZE,
  NVME_SGL_FMT_DATA_DESC,
  NVME_SGL_FMT_LAST_SEG_DESC,
  NVME_SGL_FMT_SEG_DESC,
  nvmeDptrIsSgl,
  nvmePsdt,
  nvmeSglFormat,
  type NvmeCommand,
  type NvmeSglDesc,
} from './command';
import type { NvmeCtrl } from './ctrl';
import type { NvmeDescriptorBlock } from './descriptor-pool';
import { NVME_CTRL_SGLS_DWORD_ALIGNED, nvmeMdtsSectors } from './identify';
import {
  nvmePrepRq,
  nvmeUnmapData,
  type NvmeDataPath,
  type NvmeIod,
  type NvmePrepRqOptions,
} from './map-data';
import type { NvmeNamespaceData } from './namespace-data';
import { NVME_CTRL_PAGE_SIZE, nvmeCapMpsmin } from './registers';
import { nvmeSglDescRead } from './sgl';

/*
 * Status codes (Status Code Type 0 "generic" unless the value says otherwise: bits 10:8 are the
 * type, 7:0 the code), with the kernel's names (include/linux/nvme.h).
 */
export const NVME_SC_SUCCESS = 0x0;
export const NVME_SC_INVALID_OPCODE = 0x1;
export const NVME_SC_INVALID_FIELD = 0x2;
export const NVME_SC_DATA_XFER_ERROR = 0x4;
export const NVME_SC_INTERNAL = 0x6;
export const NVME_SC_INVALID_NS = 0xb;
export const NVME_SC_SGL_INVALID_LAST = 0xd;
export const NVME_SC_SGL_INVALID_COUNT = 0xe;
export const NVME_SC_SGL_INVALID_DATA = 0xf;
export const NVME_SC_SGL_INVALID_TYPE = 0x11;
export const NVME_SC_PRP_INVALID_OFFSET = 0x13;
export const NVME_SC_SGL_INVALID_GRANULARITY = 0x1e;
export const NVME_SC_CMD_INTERRUPTED = 0x21;
export const NVME_SC_LBA_RANGE = 0x80;
export const NVME_SC_CAP_EXCEEDED = 0x81;
export const NVME_SC_NS_NOT_READY = 0x82;
export const NVME_SC_RESERVATION_CONFLICT = 0x83;
export const NVME_SC_BAD_ATTRIBUTES = 0x180;
export const NVME_SC_INVALID_PI = 0x181;
export const NVME_SC_READ_ONLY = 0x182;
export const NVME_SC_ZONE_TOO_MANY_ACTIVE = 0x1bd;
export const NVME_SC_ZONE_TOO_MANY_OPEN = 0x1be;
export const NVME_SC_WRITE_FAULT = 0x280;
export const NVME_SC_READ_ERROR = 0x281;
export const NVME_SC_GUARD_CHECK = 0x282;
export const NVME_SC_APPTAG_CHECK = 0x283;
export const NVME_SC_REFTAG_CHECK = 0x284;
export const NVME_SC_COMPARE_FAILED = 0x285;
export const NVME_SC_ACCESS_DENIED = 0x286;
export const NVME_SC_UNWRITTEN_BLOCK = 0x287;
export const NVME_SC_HOST_PATH_ERROR = 0x370;
/** NVME_SCT_SC_MASK: Status Code Type and Status Code, without the CRD, More and DNR bits. */
export const NVME_SCT_SC_MASK = 0x7ff;

/** The specification's names of the statuses the controller model completes with. */
const STATUS_NAMES: ReadonlyMap<number, string> = new Map([
  [NVME_SC_SUCCESS, 'Successful Completion'],
  [NVME_SC_INVALID_OPCODE, 'Invalid Command Opcode'],
  [NVME_SC_INVALID_FIELD, 'Invalid Field in Command'],
  [NVME_SC_DATA_XFER_ERROR, 'Data Transfer Error'],
  [NVME_SC_INTERNAL, 'Internal Error'],
  [NVME_SC_INVALID_NS, 'Invalid Namespace or Format'],
  [NVME_SC_SGL_INVALID_LAST, 'Invalid SGL Segment Descriptor'],
  [NVME_SC_SGL_INVALID_COUNT, 'Invalid Number of SGL Descriptors'],
  [NVME_SC_SGL_INVALID_DATA, 'Data SGL Length Invalid'],
  [NVME_SC_SGL_INVALID_TYPE, 'SGL Descriptor Type Invalid'],
  [NVME_SC_PRP_INVALID_OFFSET, 'PRP Offset Invalid'],
  [NVME_SC_SGL_INVALID_GRANULARITY, 'SGL Data Block Granularity Invalid'],
  [NVME_SC_LBA_RANGE, 'LBA Out of Range'],
  [NVME_SC_CAP_EXCEEDED, 'Capacity Exceeded'],
  [NVME_SC_NS_NOT_READY, 'Namespace Not Ready'],
]);

/** The specification's name of a status ("LBA Out of Range"); others as "status 0x…". */
export function nvmeStatusName(status: number): string {
  const sc = status & NVME_SCT_SC_MASK;
  return STATUS_NAMES.get(sc) ?? `status 0x${sc.toString(16)}`;
}

/**
 * nvme_error_status(status) (drivers/nvme/host/core.c, v6.5-v6.16): the block status a command
 * completes its request with, from the Status Code Type and Status Code (status & 0x7ff).
 * Data Transfer Error and the SGL/PRP errors are not listed and fall to BLK_STS_IOERR.
 */
export function nvmeErrorStatus(status: number): BlkStatus {
  switch (status & NVME_SCT_SC_MASK) {
    case NVME_SC_SUCCESS:
      return BLK_STS_OK;
    case NVME_SC_CAP_EXCEEDED:
      return BLK_STS_NOSPC;
    case NVME_SC_LBA_RANGE:
    case NVME_SC_CMD_INTERRUPTED:
    case NVME_SC_NS_NOT_READY:
      return BLK_STS_TARGET;
    case NVME_SC_BAD_ATTRIBUTES:
    case NVME_SC_INVALID_OPCODE:
    case NVME_SC_INVALID_FIELD:
    case NVME_SC_INVALID_NS:
      return BLK_STS_NOTSUPP;
    case NVME_SC_WRITE_FAULT:
    case NVME_SC_READ_ERROR:
    case NVME_SC_UNWRITTEN_BLOCK:
    case NVME_SC_ACCESS_DENIED:
    case NVME_SC_READ_ONLY:
    case NVME_SC_COMPARE_FAILED:
      return BLK_STS_MEDIUM;
    case NVME_SC_GUARD_CHECK:
    case NVME_SC_APPTAG_CHECK:
    case NVME_SC_REFTAG_CHECK:
    case NVME_SC_INVALID_PI:
      return BLK_STS_PROTECTION;
    case NVME_SC_RESERVATION_CONFLICT:
      return BLK_STS_RESV_CONFLICT;
    case NVME_SC_HOST_PATH_ERROR:
      return BLK_STS_TRANSPORT;
    case NVME_SC_ZONE_TOO_MANY_ACTIVE:
      return BLK_STS_ZONE_ACTIVE_RESOURCE;
    case NVME_SC_ZONE_TOO_MANY_OPEN:
      return BLK_STS_ZONE_OPEN_RESOURCE;
    default:
      return BLK_STS_IOERR;
  }
}

/**
 * What one DMA did: the fields of the fabric's DmaTransferResult the controller reads (a fake
 * port in a test need not build a route).
 */
export interface NvmeDmaResult {
  readonly ok: boolean;
  readonly bytes: number;
  readonly transferNs: number;
  readonly error?: FabricError;
}

/** What the controller needs of the fabric (Fabric satisfies it). */
export interface NvmeDmaPort {
  /** The device writes len bytes at DMA address addr, from src at srcOff. */
  dmaWrite(
    initiator: PciDev,
    addr: number,
    len: number,
    src: ExtentStore,
    srcOff: number,
  ): NvmeDmaResult;
  /** The device reads len bytes at DMA address addr, into dst at dstOff. */
  dmaRead(
    initiator: PciDev,
    addr: number,
    len: number,
    dst: ExtentStore,
    dstOff: number,
  ): NvmeDmaResult;
}

/** One DMA the controller issued: a run of the data pointer, and where it is in the namespace. */
export interface NvmeDmaTransfer {
  /** DMA address (bus address, IOVA or physical address: whatever the driver put in the PRPs). */
  addr: number;
  len: number;
  /** Byte offset in the namespace. */
  nsOffset: number;
  ok: boolean;
}

/** What executing one command did. */
export interface NvmeExecResult {
  /** The completion's Status Field (SCT << 8 | SC). */
  status: number;
  statusName: string;
  /** Bytes the DMAs moved, as the fabric reports them. */
  bytes: number;
  /** Data pointer entries walked: PRP entries, or SGL data block descriptors. */
  pieces: number;
  /** DMAs issued (pieces whose addresses continue are one DMA). */
  dmas: number;
  transfers: NvmeDmaTransfer[];
  /** PRP list entries or SGL segment bytes read from the descriptor pools. */
  descriptorBytesFetched: number;
  /** Sum of the DMAs' modelled wire time. */
  transferNs: number;
  /** Every error the fabric reported, silent ones included. */
  errors: FabricError[];
  /** Why the status is not Successful Completion, in words. */
  detail?: string;
}

/** A data piece of the data pointer. */
interface DataPiece {
  addr: number;
  len: number;
}

type Walk =
  | { ok: true; pieces: DataPiece[]; fetched: number }
  | { ok: false; status: number; detail: string; fetched: number };

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/**
 * Reads descriptor memory the driver allocated from its pools, by DMA address, and counts the
 * bytes read (see the file comment for why this is not a DMA through the fabric).
 */
class DescriptorFetch {
  fetched = 0;

  constructor(private readonly ctrl: NvmeCtrl) {}

  /** The block holding [dma, dma + len), or undefined when no pool block holds all of it. */
  fetch(dma: number, len: number): { block: NvmeDescriptorBlock; offset: number } | undefined {
    const p = this.ctrl.pools;
    const at = p.page.lookup(dma) ?? p.small.lookup(dma);
    if (!at || at.offset + len > at.block.size) return undefined;
    this.fetched += len;
    return at;
  }

  fail(status: number, detail: string): Walk {
    return { ok: false, status, detail, fetched: this.fetched };
  }
}

/** A __le64 read as a number, or undefined above 2^53 (no such address in the model). */
function le64(block: NvmeDescriptorBlock, i: number): number | undefined {
  const v = block.getLe64Big(i);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(v);
}

/**
 * The controller's PRP walk (NVMe 1.4 §4.3; reference §6.1): PRP1 covers up to the end of its
 * memory page (its offset must be dword aligned); if the rest fits one page PRP2 is that page,
 * else PRP2 points to a PRP list. A list runs to the end of its memory page; when more entries
 * are needed than the page holds, its last entry points to the next list. Every entry but PRP1
 * must have offset 0 (else PRP Offset Invalid). A list that is not in a pool block the driver
 * allocated cannot be fetched: Data Transfer Error.
 */
function nvmeWalkPrps(ctrl: NvmeCtrl, prp1: number, prp2: number, bytes: number): Walk {
  const PAGE = NVME_CTRL_PAGE_SIZE;
  const f = new DescriptorFetch(ctrl);
  if (prp1 % 4) return f.fail(NVME_SC_PRP_INVALID_OFFSET, `PRP1 ${hex(prp1)} is not dword aligned`);
  const first = Math.min(bytes, PAGE - (prp1 % PAGE));
  const pieces: DataPiece[] = [{ addr: prp1, len: first }];
  let left = bytes - first;
  const done = (): Walk => ({ ok: true, pieces, fetched: f.fetched });
  if (!left) return done();
  if (left <= PAGE) {
    if (prp2 % PAGE) return f.fail(NVME_SC_PRP_INVALID_OFFSET, `PRP2 ${hex(prp2)} has an offset`);
    pieces.push({ addr: prp2, len: left });
    return done();
  }
  let list = prp2;
  while (left > 0) {
    if (list % NVME_PRP_ENTRY_SIZE) {
      return f.fail(NVME_SC_PRP_INVALID_OFFSET, `PRP list pointer ${hex(list)} is not a qword`);
    }
    const need = Math.ceil(left / PAGE);
    const room = (PAGE - (list % PAGE)) / NVME_PRP_ENTRY_SIZE;
    const chain = need > room;
    // A list that must chain from the last qword of its page holds no entry at all.
    if (chain && room < 2) {
      return f.fail(NVME_SC_PRP_INVALID_OFFSET, `PRP list pointer ${hex(list)} leaves no room`);
    }
    const n = chain ? room : need;
    const at = f.fetch(list, n * NVME_PRP_ENTRY_SIZE);
    if (!at) {
      return f.fail(
        NVME_SC_DATA_XFER_ERROR,
        `PRP list at ${hex(list)} (${n} entries) is not descriptor memory the driver allocated`,
      );
    }
    const base = at.offset / NVME_PRP_ENTRY_SIZE;
    for (let j = 0; j < (chain ? n - 1 : n); j++) {
      const e = le64(at.block, base + j);
      if (e === undefined) {
        const v = hex(at.block.getLe64Big(base + j));
        return f.fail(NVME_SC_DATA_XFER_ERROR, `PRP entry ${v} is above 2^53`);
      }
      if (e % PAGE) return f.fail(NVME_SC_PRP_INVALID_OFFSET, `PRP entry ${hex(e)} has an offset`);
      const len = Math.min(left, PAGE);
      pieces.push({ addr: e, len });
      left -= len;
    }
    if (chain) {
      const next = le64(at.block, base + n - 1);
      if (next === undefined) return f.fail(NVME_SC_DATA_XFER_ERROR, 'PRP list pointer above 2^53');
      list = next;
    }
  }
  return done();
}

/** Segments the SGL walk follows before it calls the chain a loop. */
const NVME_SGL_MAX_SEGMENTS = 4096;

/**
 * The controller's SGL walk (NVMe 1.4 §4.4; reference §6.1): the descriptor in the command is a
 * data block, or a segment / last segment descriptor pointing to `length` bytes of descriptors
 * (a non-zero multiple of 16). In a segment, only the last descriptor may be a (last) segment
 * descriptor and it must be one; a last segment holds data block descriptors only. Other
 * descriptor types (bit bucket, keyed, transport) and address subtypes other than 0 are not
 * supported: SGL Descriptor Type Invalid. With dword-granular SGL support (SGLS bits 1:0 = 10b)
 * data block addresses and lengths must be multiples of 4. The data blocks must describe exactly
 * the command's bytes (a controller without support for longer SGLs: Data SGL Length Invalid).
 */
function nvmeWalkSgl(ctrl: NvmeCtrl, sgl: NvmeSglDesc, bytes: number): Walk {
  const f = new DescriptorFetch(ctrl);
  const pieces: DataPiece[] = [];
  const dwordOnly = (ctrl.sgls & 3) === NVME_CTRL_SGLS_DWORD_ALIGNED;
  let total = 0;
  const data = (d: NvmeSglDesc): Walk | undefined => {
    if (d.type & 0xf) return f.fail(NVME_SC_SGL_INVALID_TYPE, `data block subtype ${d.type & 0xf}`);
    if (dwordOnly && (d.addr % 4 || d.length % 4)) {
      return f.fail(
        NVME_SC_SGL_INVALID_GRANULARITY,
        `data block ${hex(d.addr)}+${d.length} is not dword granular`,
      );
    }
    total += d.length;
    if (total > bytes) {
      return f.fail(NVME_SC_SGL_INVALID_DATA, `the SGL describes more than ${bytes} bytes`);
    }
    if (d.length) pieces.push({ addr: d.addr, len: d.length });
    return undefined;
  };
  const fmt = nvmeSglFormat(sgl.type);
  if (fmt === NVME_SGL_FMT_DATA_DESC) {
    const r = data(sgl);
    if (r) return r;
  } else if (fmt === NVME_SGL_FMT_SEG_DESC || fmt === NVME_SGL_FMT_LAST_SEG_DESC) {
    let seg: NvmeSglDesc = sgl;
    for (let segments = 1; ; segments++) {
      const last = nvmeSglFormat(seg.type) === NVME_SGL_FMT_LAST_SEG_DESC;
      if (seg.type & 0xf)
        return f.fail(NVME_SC_SGL_INVALID_TYPE, `segment subtype ${seg.type & 0xf}`);
      if (!seg.length || seg.length % NVME_SGL_DESC_SIZE || seg.addr % NVME_SGL_DESC_SIZE) {
        return f.fail(
          NVME_SC_SGL_INVALID_LAST,
          `segment at ${hex(seg.addr)} of ${seg.length} bytes is not whole descriptors`,
        );
      }
      if (segments > NVME_SGL_MAX_SEGMENTS) {
        return f.fail(NVME_SC_SGL_INVALID_LAST, `more than ${NVME_SGL_MAX_SEGMENTS} segments`);
      }
      const at = f.fetch(seg.addr, seg.length);
      if (!at) {
        return f.fail(
          NVME_SC_DATA_XFER_ERROR,
          `SGL segment at ${hex(seg.addr)} (${seg.length} bytes) is not descriptor memory the driver allocated`,
        );
      }
      const n = seg.length / NVME_SGL_DESC_SIZE;
      const base = at.offset / NVME_SGL_DESC_SIZE;
      let next: NvmeSglDesc | undefined;
      for (let i = 0; i < n; i++) {
        // The address is the descriptor's first qword; above 2^53 it is no address the model has.
        if (le64(at.block, (base + i) * 2) === undefined) {
          return f.fail(NVME_SC_DATA_XFER_ERROR, `SGL descriptor ${i}: address above 2^53`);
        }
        const d = nvmeSglDescRead(at.block, base + i);
        const df = nvmeSglFormat(d.type);
        if (df === NVME_SGL_FMT_DATA_DESC) {
          const r = data(d);
          if (r) return r;
        } else if (df === NVME_SGL_FMT_SEG_DESC || df === NVME_SGL_FMT_LAST_SEG_DESC) {
          if (i !== n - 1) {
            return f.fail(
              NVME_SC_SGL_INVALID_COUNT,
              `segment descriptor ${i} of ${n} is not the last of its segment`,
            );
          }
          if (last) {
            return f.fail(NVME_SC_SGL_INVALID_LAST, 'a segment descriptor in the last segment');
          }
          next = d;
        } else {
          return f.fail(NVME_SC_SGL_INVALID_TYPE, `descriptor type ${hex(d.type)}`);
        }
      }
      if (last) break;
      if (!next) {
        return f.fail(
          NVME_SC_SGL_INVALID_LAST,
          `SGL Segment at ${hex(seg.addr)} does not end with a segment descriptor`,
        );
      }
      seg = next;
    }
  } else {
    return f.fail(NVME_SC_SGL_INVALID_TYPE, `descriptor type ${hex(sgl.type)}`);
  }
  if (total !== bytes) {
    return f.fail(NVME_SC_SGL_INVALID_DATA, `the SGL describes ${total} of ${bytes} bytes`);
  }
  return { ok: true, pieces, fetched: f.fetched };
}

/** Pieces whose DMA addresses continue each other, joined (one DMA each run). */
function nvmeCoalescePieces(pieces: readonly DataPiece[]): DataPiece[] {
  const out: DataPiece[] = [];
  for (const p of pieces) {
    const prev = out[out.length - 1];
    if (prev && prev.addr + prev.len === p.addr) prev.len += p.len;
    else out.push({ ...p });
  }
  return out;
}

function execResult(status: number, partial: Partial<NvmeExecResult> = {}): NvmeExecResult {
  return {
    status,
    statusName: nvmeStatusName(status),
    bytes: 0,
    pieces: 0,
    dmas: 0,
    transfers: [],
    descriptorBytesFetched: 0,
    transferNs: 0,
    errors: [],
    ...partial,
  };
}

/**
 * The controller executing one I/O command (the model's hardware; see the file comment):
 * - Flush: nothing to move, Successful Completion. Another opcode than Read, Write, Flush:
 *   Invalid Command Opcode.
 * - An nsid the controller does not have: Invalid Namespace or Format. SLBA + NLB beyond NSZE:
 *   LBA Out of Range. A transfer beyond MDTS (2^MDTS pages of 2^(12 + CAP.MPSMIN)), an SGL on a
 *   controller without SGL support, PSDT 11b: Invalid Field in Command.
 * - The data pointer walked (PRPs or SGL), runs joined, one DMA per run in order: the Read
 *   command's data goes from the namespace (bytes SLBA * LBA size on) to the DMA addresses
 *   (port.dmaWrite), the Write command's comes from them (port.dmaRead). The first DMA that
 *   fails visibly ends the command with Data Transfer Error; what earlier DMAs moved stays moved.
 * Throws when the command's PSDT and the shape of its data pointer disagree (a model bug: the
 * two are one field in a real command).
 */
export function nvmeExecuteCommand(
  ctrl: NvmeCtrl,
  cmd: NvmeCommand,
  port: NvmeDmaPort,
  data: NvmeNamespaceData,
): NvmeExecResult {
  if (cmd.opcode === NVME_CMD_FLUSH) return execResult(NVME_SC_SUCCESS);
  if (cmd.opcode !== NVME_CMD_READ && cmd.opcode !== NVME_CMD_WRITE) {
    return execResult(NVME_SC_INVALID_OPCODE, { detail: `opcode ${hex(cmd.opcode)}` });
  }
  const ns = ctrl.namespaces.find((n) => n.nsid === cmd.nsid);
  if (!ns) return execResult(NVME_SC_INVALID_NS, { detail: `no namespace ${cmd.nsid}` });
  if (cmd.slba + cmd.nlb > ns.nsze) {
    return execResult(NVME_SC_LBA_RANGE, {
      detail: `LBAs ${cmd.slba}..${cmd.slba + cmd.nlb - 1} beyond NSZE ${ns.nsze}`,
    });
  }
  const bytes = cmd.nlb * ns.lbaSize;
  const maxBytes = nvmeMdtsSectors(ctrl.mdts, nvmeCapMpsmin(ctrl.cap)) * 512;
  if (bytes > maxBytes) {
    return execResult(NVME_SC_INVALID_FIELD, {
      detail: `${bytes} bytes exceed MDTS (${maxBytes})`,
    });
  }
  const psdt = nvmePsdt(cmd.flags);
  if (psdt === 3) return execResult(NVME_SC_INVALID_FIELD, { detail: 'PSDT 11b is reserved' });
  if ((psdt !== 0) !== nvmeDptrIsSgl(cmd.dptr)) {
    throw new RangeError(`command PSDT ${psdt} does not match its data pointer`);
  }
  if (psdt && !ctrl.sglSupported) {
    return execResult(NVME_SC_INVALID_FIELD, { detail: 'SGL on a controller without SGLs' });
  }

  const walk = nvmeDptrIsSgl(cmd.dptr)
    ? nvmeWalkSgl(ctrl, cmd.dptr.sgl, bytes)
    : nvmeWalkPrps(ctrl, cmd.dptr.prp1, cmd.dptr.prp2, bytes);
  if (!walk.ok) {
    return execResult(walk.status, { descriptorBytesFetched: walk.fetched, detail: walk.detail });
  }

  const store = data.store(ctrl, ns.nsid);
  const write = cmd.opcode === NVME_CMD_WRITE;
  const r = execResult(NVME_SC_SUCCESS, {
    pieces: walk.pieces.length,
    descriptorBytesFetched: walk.fetched,
  });
  let nsOffset = cmd.slba * ns.lbaSize;
  for (const run of nvmeCoalescePieces(walk.pieces)) {
    const d = write
      ? port.dmaRead(ctrl.pci, run.addr, run.len, store, nsOffset)
      : port.dmaWrite(ctrl.pci, run.addr, run.len, store, nsOffset);
    r.dmas++;
    r.transfers.push({ addr: run.addr, len: run.len, nsOffset, ok: d.ok });
    r.bytes += d.bytes;
    r.transferNs += d.transferNs;
    if (d.error) r.errors.push(d.error);
    if (!d.ok && !d.error?.silent) {
      r.status = NVME_SC_DATA_XFER_ERROR;
      r.statusName = nvmeStatusName(r.status);
      r.detail = `${write ? 'read' : 'write'} of ${run.len} bytes at ${hex(run.addr)}: ${
        d.error ? `${d.error.code}: ${d.error.message}` : 'failed'
      }`;
      break;
    }
    nsOffset += run.len;
  }
  return r;
}

export interface NvmeQueueRqResult {
  /** What the request completes with. */
  blkStatus: BlkStatus;
  /** The completion's NVMe status; undefined when the command was never submitted. */
  nvmeStatus: number | undefined;
  /** The controller executed the command (nvme_prep_rq() succeeded). */
  executed: boolean;
  /** How nvme_map_data() built the data pointer. */
  path: NvmeDataPath;
  /** DMA segments mapped for the command (1 for the single-segment fast paths). */
  segments: number;
  /** Entries the driver wrote in descriptor lists: PRP entries or SGL descriptors, chain links included. */
  nvmeDescriptors: number;
  /** Descriptor blocks the command used, and their bytes (256 or 4096 each). */
  descriptorBlocks: number;
  descriptorBlockBytes: number;
  exec: NvmeExecResult | undefined;
  /** The driver state (unmapped once the request completed). */
  iod: NvmeIod;
}

/**
 * The entries the driver wrote in its descriptor lists for `iod` (before nvmeUnmapData()): for
 * PRPs, one per 4 KiB page after PRP1's and one chain pointer per extra list page; for SGLs,
 * one per mapped segment and one segment descriptor per extra list page. Nothing for a data
 * pointer that lives in the command only.
 */
export function nvmeIodDescriptorCount(iod: NvmeIod, payload: number): number {
  const lists = iod.descriptors.length;
  if (!lists) return 0;
  if (iod.path === 'sgl') return (iod.mapping?.segments.length ?? 0) + lists - 1;
  if (nvmeDptrIsSgl(iod.cmd.dptr)) return 0;
  const afterPrp1 = payload - (NVME_CTRL_PAGE_SIZE - (iod.cmd.dptr.prp1 % NVME_CTRL_PAGE_SIZE));
  return Math.ceil(afterPrp1 / NVME_CTRL_PAGE_SIZE) + lists - 1;
}

/**
 * nvme_queue_rq(hctx, bd) (drivers/nvme/host/pci.c, v6.1-v6.16) through completion:
 * nvme_prep_rq() builds the command and maps the data (a failure there, e.g. BLK_STS_TARGET
 * when the DMA API refuses P2P memory (§6.3), BLK_STS_RESOURCE, BLK_STS_IOERR, is returned and
 * nothing reaches the controller); the controller executes the command (nvmeExecuteCommand());
 * then nvme_pci_complete_rq(): nvme_unmap_data() and nvme_complete_rq(), whose block status is
 * nvme_error_status() of the NVMe status.
 *
 * Not modelled: blk-mq requeueing a BLK_STS_RESOURCE request, and nvme_complete_rq()'s retries of
 * a failed command without DNR (up to nvme_max_retries = 5): the model is deterministic, so a
 * retry would fail the same way.
 */
export function nvmeQueueRq(
  ctrl: NvmeCtrl,
  rq: Request,
  port: NvmeDmaPort,
  data: NvmeNamespaceData,
  opts: NvmePrepRqOptions = {},
): NvmeQueueRqResult {
  const { status, iod } = nvmePrepRq(ctrl, rq, opts);
  if (status !== BLK_STS_OK) {
    return {
      blkStatus: status,
      nvmeStatus: undefined,
      executed: false,
      path: iod.path,
      segments: 0,
      nvmeDescriptors: 0,
      descriptorBlocks: 0,
      descriptorBlockBytes: 0,
      exec: undefined,
      iod,
    };
  }
  const path = iod.path;
  const segments = iod.dmaLen ? 1 : (iod.mapping?.segments.length ?? 0);
  const nvmeDescriptors = nvmeIodDescriptorCount(iod, blkRqBytes(rq));
  const descriptorBlocks = iod.descriptors.length;
  const descriptorBlockBytes = iod.descriptors.reduce((n, b) => n + b.size, 0);
  const exec = nvmeExecuteCommand(ctrl, iod.cmd, port, data);
  // nvme_pci_complete_rq(): unmap first, then complete with the translated status.
  if (blkRqNrPhysSegments(rq)) nvmeUnmapData(ctrl, rq, iod, opts);
  return {
    blkStatus: nvmeErrorStatus(exec.status),
    nvmeStatus: exec.status,
    executed: true,
    path,
    segments,
    nvmeDescriptors,
    descriptorBlocks,
    descriptorBlockBytes,
    exec,
    iod,
  };
}
