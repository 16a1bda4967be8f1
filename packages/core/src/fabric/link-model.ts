/**
 * The analytical PCIe link-efficiency model of pcie-bench/pcie-model (Neugebauer et al.,
 * "Understanding PCIe performance for end host networking", SIGCOMM 2018; files model/pcie.py and
 * model/mem_bw.py), restated so that it gives the same numbers for the same parameters
 * (anchors §1). It counts TLP headers, DLLPs and SKIP ordered sets; root-complex and cache effects
 * are outside it, which is why it is optimistic for small transfers.
 */
import { PCIE_DLLP_INTERVALS } from './pcie-dllp-intervals';

export interface LinkParams {
  /** PCIe generation 1..7. */
  gen: number;
  /** Lanes: 1, 2, 4, 8, 16 or 32. */
  width: number;
  /** Max Payload Size, 128..4096 (power of two). */
  mps: number;
  /** Max Read Request Size, 128..4096 (power of two). */
  mrrs: number;
  /** Read Completion Boundary: 64 or 128 (the model also takes 256 and 512). */
  rcb: number;
  addressBits: 32 | 64;
  ecrc: boolean;
  /** Completions in RCB chunks instead of MPS (seen on older chipsets); default false. */
  rcbCompletions?: boolean;
  /** Multiplies the ACK/UpdateFC DLLP overhead term; default 1 (anchors §1 caveat). */
  dllpFactor?: number;
}

/** The model's defaults: MPS 256, MRRS 512, RCB 64, 64-bit addresses, no ECRC. */
export const DEFAULT_LINK_PARAMS: Omit<LinkParams, 'gen' | 'width'> = Object.freeze({
  mps: 256,
  mrrs: 512,
  rcb: 64,
  addressBits: 64,
  ecrc: false,
});

export type LinkOp = 'write' | 'read';

/** Transfer rate in GT/s by generation. */
const GIGATRANSFERS: Readonly<Record<number, number>> = {
  1: 2.5,
  2: 5,
  3: 8,
  4: 16,
  5: 32,
  6: 64,
  7: 128,
};
const WIDTHS = [1, 2, 4, 8, 16, 32];
const PAYLOAD_SIZES = [128, 256, 512, 1024, 2048, 4096];
/** The read completion boundaries pcie-model accepts. */
const COMPLETION_BOUNDARIES = [64, 128, 256, 512];

/** 2 bytes of framing + 6 of data-link layer (sequence number, LCRC) around every TLP. */
const TLP_DLL_BYTES = 8;
/** The generic TLP header DW. */
const TLP_GENERIC_HEADER = 4;
/** ECRC digest trailer. */
const TLP_DIGEST = 4;

function checkGen(gen: number): void {
  if (!Number.isInteger(gen) || !(gen in GIGATRANSFERS)) {
    throw new RangeError(`PCIe generation ${gen} is not one of 1..7`);
  }
}

function checkWidth(width: number): void {
  if (!WIDTHS.includes(width)) {
    throw new RangeError(`link width x${width} is not one of x${WIDTHS.join(', x')}`);
  }
}

function checkOneOf(what: string, value: number, allowed: readonly number[]): void {
  if (!allowed.includes(value)) {
    throw new RangeError(`${what} ${value} is not one of ${allowed.join(', ')}`);
  }
}

/** Line encoding efficiency: 8b/10b for gen1-2, 128b/130b for gen3-5, 242/256 (FLIT) for gen6-7. */
function encoding(gen: number): number {
  if (gen <= 2) return 8.0 / 10.0;
  if (gen <= 5) return 128.0 / 130.0;
  return 242 / 256;
}

/** Raw Gb/s = GT/s x encoding x lanes. */
export function linkRawGbps(gen: number, width: number): number {
  checkGen(gen);
  checkWidth(width);
  // Same association as pcie-model (encoding x GT/s, then x lanes), so the doubles agree exactly.
  return encoding(gen) * GIGATRANSFERS[gen] * width;
}

/** TLP-layer bandwidth in Gb/s after ACK/UpdateFC DLLPs and SKIP ordered sets. */
export function tlpBandwidthGbps(
  p: Pick<LinkParams, 'gen' | 'width' | 'mps'> & { dllpFactor?: number },
): number {
  const raw = linkRawGbps(p.gen, p.width);
  checkOneOf('MPS', p.mps, PAYLOAD_SIZES);
  const factor = p.dllpFactor ?? 1;
  if (!Number.isFinite(factor) || factor < 0) {
    throw new RangeError(`DLLP overhead factor ${factor} is not a finite number >= 0`);
  }
  const genKey = `gen${p.gen}` as keyof typeof PCIE_DLLP_INTERVALS.ackLimit;
  const widthKey = `x${p.width}` as keyof (typeof PCIE_DLLP_INTERVALS.ackLimit)['gen1'];
  const mpsKey = String(p.mps) as keyof (typeof PCIE_DLLP_INTERVALS.ackLimit)['gen1']['x1'];
  const ackLimit = PCIE_DLLP_INTERVALS.ackLimit[genKey][widthKey][mpsKey];
  const fcInterval = PCIE_DLLP_INTERVALS.fcUpdateInterval[genKey][widthKey][mpsKey];
  const dllp = PCIE_DLLP_INTERVALS.dllpBytes;
  const skip = PCIE_DLLP_INTERVALS.skipOrderedSet;
  // One ACK per ackLimit and one UpdateFC per fcInterval symbol times, 8 bytes each, plus a SKIP
  // ordered set of 4 symbols every 1538; summed and subtracted in pcie-model's order.
  const ackOverhead = dllp / ackLimit;
  const fcOverhead = dllp / fcInterval;
  const skipOverhead = skip.lengthSymbols / skip.intervalSymbols;
  // (With factor 1 the product is exact, so this is pcie-model's sum to the last bit.)
  const overheads = factor * (ackOverhead + fcOverhead) + skipOverhead;
  return raw - raw * overheads;
}

/** TLP header+framing bytes: MWr/MRd 24 (64-bit) or 20 (32-bit), CplD 20, +4 with ECRC. */
export function tlpOverheadBytes(
  kind: 'MWr' | 'MRd' | 'CplD',
  p: Pick<LinkParams, 'addressBits' | 'ecrc'>,
): number {
  if (p.addressBits !== 32 && p.addressBits !== 64) {
    throw new RangeError(`address size ${String(p.addressBits)} is not 32 or 64 bits`);
  }
  // MWr/MRd: a DW of length/attributes plus a 4- or 8-byte address; CplD: two DWs of completer
  // ID, byte count and tag.
  let kindHeader: number;
  switch (kind) {
    case 'MWr':
    case 'MRd':
      kindHeader = p.addressBits === 64 ? 12 : 8;
      break;
    case 'CplD':
      kindHeader = 8;
      break;
    default:
      throw new RangeError(`unknown TLP kind ${JSON.stringify(kind)}`);
  }
  return TLP_DLL_BYTES + TLP_GENERIC_HEADER + kindHeader + (p.ecrc ? TLP_DIGEST : 0);
}

function checkLinkParams(p: LinkParams): void {
  checkGen(p.gen);
  checkWidth(p.width);
  checkOneOf('MPS', p.mps, PAYLOAD_SIZES);
  checkOneOf('MRRS', p.mrrs, PAYLOAD_SIZES);
  checkOneOf('RCB', p.rcb, COMPLETION_BOUNDARIES);
}

function checkSize(size: number, min: number): void {
  if (!Number.isSafeInteger(size) || size < min) {
    throw new RangeError(`transfer size ${size} is not an integer >= ${min}`);
  }
}

/**
 * What `size` bytes of op cost on the wire, per direction: TLP counts and bytes. For 'write': down
 * (from the requester) = MWr TLPs; for 'read': requests MRd out, CplD back. Transfers are taken as
 * aligned, as pcie-model does.
 */
export function tlpTraffic(
  p: LinkParams,
  op: LinkOp,
  size: number,
): { requestTlps: number; requestBytes: number; completionTlps: number; completionBytes: number } {
  checkLinkParams(p);
  checkSize(size, 0);
  if (op === 'write') {
    const requestTlps = Math.ceil(size / p.mps);
    return {
      requestTlps,
      requestBytes: requestTlps * tlpOverheadBytes('MWr', p) + size,
      completionTlps: 0,
      completionBytes: 0,
    };
  }
  if (op !== 'read') throw new RangeError(`unknown link operation ${JSON.stringify(op)}`);
  const requestTlps = Math.ceil(size / p.mrrs);
  const completionTlps = Math.ceil(size / (p.rcbCompletions ? p.rcb : p.mps));
  return {
    requestTlps,
    requestBytes: requestTlps * tlpOverheadBytes('MRd', p),
    completionTlps,
    completionBytes: completionTlps * tlpOverheadBytes('CplD', p) + size,
  };
}

/**
 * Effective payload bandwidth in Gb/s of a device doing op of `size` bytes over the link, both
 * directions having the TLP-layer bandwidth (reads: the direction that saturates first). Accepts a
 * partial LinkParams: gen and width required, the rest DEFAULT_LINK_PARAMS.
 */
export function effectiveBandwidth(
  p: Partial<LinkParams> & Pick<LinkParams, 'gen' | 'width'>,
  op: LinkOp,
  size: number,
): number {
  const params: LinkParams = {
    ...DEFAULT_LINK_PARAMS,
    ...withoutUndefined(p),
    gen: p.gen,
    width: p.width,
  };
  checkLinkParams(params);
  checkSize(size, 1);
  const tlpBw = tlpBandwidthGbps(params);
  const t = tlpTraffic(params, op, size);
  if (op === 'write') return (size * tlpBw) / t.requestBytes;
  // Reads need both directions: as many reads as the completion direction carries, unless their
  // requests would need more than the request direction has. Same steps as pcie-model's read(),
  // in bits and b/s, so the doubles agree exactly.
  const requestBits = t.requestBytes * 8;
  const completionBits = t.completionBytes * 8;
  const available = tlpBw * 10 ** 9;
  let reads = available / completionBits;
  let completionBps = available;
  if (reads * requestBits > available) {
    reads = available / requestBits;
    completionBps = reads * completionBits;
  }
  return (size * (completionBps / 10 ** 9)) / t.completionBytes;
}

/** p without keys set to undefined, so they do not hide the defaults. */
function withoutUndefined<T extends object>(p: T): Partial<T> {
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as Partial<T>;
}
