/**
 * How a conformance case fails: it throws a ConformanceFailure whose message says what the
 * contract requires (with the reference section), what the ops did, and on which input.
 */
import { errnoName } from '../errno';

export class ConformanceFailure extends Error {
  override readonly name = 'ConformanceFailure';
}

/** Throws a ConformanceFailure. */
export function fail(msg: string): never {
  throw new ConformanceFailure(msg);
}

/** 0x-prefixed lower-case hex of a non-negative address; other values as decimal. */
export function hex(n: number | undefined): string {
  if (n === undefined) return 'undefined';
  return Number.isSafeInteger(n) && n >= 0 ? `0x${n.toString(16)}` : String(n);
}

/** A map_sg / dma_map_sgtable result as the kernel would name it: a count or -E... */
export function retName(ret: number): string {
  return ret < 0 ? errnoName(ret) : String(ret);
}
