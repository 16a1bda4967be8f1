/**
 * The data store behind RAM, BARs and NVMe namespaces: bytes really move in dmasim, but a run that
 * came from a generator (pattern and seed) or from a copy is kept as a reference, not as bytes, so
 * moving a terabyte costs memory proportional to the number of extents. Literal bytes are kept only
 * where a user writes them. This is the model's hardware, not kernel code (issue 6: fabric).
 */

export type DataPattern = 'zero' | 'random' | 'counter' | 'byte';

/** A generator: the byte at stream position p is a pure function of (pattern, seed, p). */
export interface DataSource {
  readonly pattern: DataPattern;
  readonly seed: number;
}

export type Extent =
  | {
      readonly start: number;
      readonly len: number;
      readonly kind: 'gen';
      readonly source: DataSource;
      /** Stream position of the extent's first byte. */
      readonly genOffset: number;
    }
  | {
      readonly start: number;
      readonly len: number;
      readonly kind: 'bytes';
      /** Never mutated once stored, so stores and extents may share it. */
      readonly bytes: Uint8Array;
      /** Index in `bytes` of the extent's first byte. */
      readonly byteOffset: number;
    };

type GenExtent = Extent & { kind: 'gen' };

/*
 * Builtins used per operation or per word, bound once: under jest (code run in a vm context) every
 * lookup of a global such as `Math` goes through the context's interceptor and costs ~200 ns, which
 * made generating 1 MiB take 200 ms instead of ~1 ms.
 */
const { imul, floor, ceil, min, max } = Math;
const { isSafeInteger } = Number;
const { freeze } = Object;

const PATTERNS: readonly DataPattern[] = ['zero', 'random', 'counter', 'byte'];
const ZERO_SOURCE: DataSource = freeze({ pattern: 'zero', seed: 0 } as const);
/** Bytes generated per step when two ranges must be compared byte by byte (bounds memory). */
const COMPARE_CHUNK = 64 * 1024;
/** Above this many items Array.prototype.splice(...items) would overflow the call stack. */
const SPLICE_SPREAD_LIMIT = 8192;
const TWO_32 = 0x1_0000_0000;

function checkSource(source: DataSource): void {
  if (!PATTERNS.includes(source.pattern)) {
    throw new RangeError(`unknown data pattern ${JSON.stringify(source.pattern)}`);
  }
  if (!isSafeInteger(source.seed)) {
    throw new RangeError(`data source seed ${source.seed} is not a safe integer`);
  }
}

function checkCount(what: string, value: number): void {
  if (!isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} ${value} is not a non-negative integer`);
  }
}

/** The byte value of a constant pattern ('zero', 'byte'), undefined for the others. */
function constantByte(source: DataSource): number | undefined {
  if (source.pattern === 'zero') return 0;
  if (source.pattern === 'byte') return source.seed & 0xff;
  return undefined;
}

/**
 * Whether stream position `posA` of `a` starts the same byte sequence as position `posB` of `b`,
 * decided from the generators alone (false means "not known equal", not "different").
 */
function sameStream(a: DataSource, posA: number, b: DataSource, posB: number): boolean {
  const ca = constantByte(a);
  if (ca !== undefined) return ca === constantByte(b);
  if (a.pattern !== b.pattern) return false;
  if (a.pattern === 'counter') {
    // Byte p is (p + seed) mod 256, so the sequences agree when the phases agree.
    return mod256(posA + mod256(a.seed)) === mod256(posB + mod256(b.seed));
  }
  return a.seed === b.seed && posA === posB; // 'random'
}

function mod256(x: number): number {
  return ((x % 256) + 256) % 256;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/*
 * The 'random' stream. Word w (stream positions 8w..8w+7, little-endian) is two 32-bit hashes of
 * (seed, w) built from murmur3's finalizer, so any position is generated without the ones before
 * it. All arithmetic is int32 although positions go up to 2^53: the word index is split into its
 * low 32 bits (hashed per word) and the rest (hashed into the key once per 2^32 words).
 */

/** murmur3's 32-bit finalizer: a bijection on 32-bit words that avalanches every input bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** Keys of the 'random' stream for one seed and one block of 2^32 words. */
function randomKeys(seed: number, wordHi: number): [number, number] {
  const seedKey = fmix32((seed | 0) ^ fmix32((floor(seed / TWO_32) | 0) ^ 0x9e3779b9));
  const key = fmix32(seedKey ^ fmix32((wordHi | 0) + 0x7f4a7c15));
  return [key, fmix32(key ^ 0x165667b1)];
}

/** Writes `count` words starting at word lo of one 2^32-word block into w32[0..2*count). */
function randomWords(w32: Int32Array, key: number, key2: number, lo: number, count: number): void {
  for (let k = 0, o = 0; k < count; k++, lo = (lo + 1) | 0, o += 2) {
    const w0 = fmix32(lo ^ key);
    w32[o] = w0;
    w32[o + 1] = fmix32(w0 ^ key2 ^ imul(lo, 0x9e3779b1));
  }
}

/** Writes `len` bytes of the 'random' stream from position `pos` into out[at..]. */
function generateRandom(out: Uint8Array, at: number, seed: number, pos: number, len: number): void {
  let word = floor(pos / 8);
  const skip = pos - word * 8;
  // Whole words go to an aligned scratch buffer, then the wanted bytes are copied out natively.
  const totalWords = ceil((skip + len) / 8);
  const scratch = new Int32Array(totalWords * 2);
  let done = 0;
  while (done < totalWords) {
    const hi = floor(word / TWO_32);
    const lo = word - hi * TWO_32;
    const count = min(TWO_32 - lo, totalWords - done);
    const [key, key2] = randomKeys(seed, hi);
    randomWords(scratch.subarray(done * 2), key, key2, lo | 0, count);
    done += count;
    word += count;
  }
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < scratch.length; i++) {
      const v = scratch[i];
      scratch[i] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
    }
  }
  out.set(new Uint8Array(scratch.buffer, skip, len), at);
}

/** Writes `len` bytes of the stream of `source` from position `pos` into out[at..]. */
function generateInto(
  out: Uint8Array,
  at: number,
  source: DataSource,
  pos: number,
  len: number,
): void {
  switch (source.pattern) {
    case 'zero':
      out.fill(0, at, at + len);
      return;
    case 'byte':
      out.fill(source.seed & 0xff, at, at + len);
      return;
    case 'counter': {
      const first = mod256(mod256(pos) + mod256(source.seed));
      const period = min(len, 256);
      for (let i = 0; i < period; i++) out[at + i] = (first + i) & 0xff;
      // The stream repeats every 256 bytes: double the written prefix natively.
      for (let n = period; n < len; n *= 2) out.copyWithin(at + n, at, at + min(n, len - n));
      return;
    }
    case 'random':
      generateRandom(out, at, source.seed, pos, len);
      return;
  }
}

/** The bytes of a generator stream. */
export function generateBytes(source: DataSource, genOffset: number, len: number): Uint8Array {
  checkSource(source);
  checkCount('generator offset', genOffset);
  checkCount('length', len);
  const out = new Uint8Array(len);
  generateInto(out, 0, source, genOffset, len);
  return out;
}

/** [from, from + len) of extent e (which must contain it), as an extent. */
function subExtent(e: Extent, from: number, len: number): Extent {
  const delta = from - e.start;
  if (delta === 0 && len === e.len) return e;
  return e.kind === 'gen'
    ? { start: from, len, kind: 'gen', source: e.source, genOffset: e.genOffset + delta }
    : { start: from, len, kind: 'bytes', bytes: e.bytes, byteOffset: e.byteOffset + delta };
}

/** e moved to start at `start`. */
function moveExtent(e: Extent, start: number): Extent {
  return { ...e, start };
}

/** a followed by b as one extent, when b continues a (adjacent, same data continued). */
function mergeExtents(a: Extent, b: Extent): Extent | undefined {
  if (a.start + a.len !== b.start) return undefined;
  if (a.kind === 'gen' && b.kind === 'gen') {
    if (!sameStream(a.source, a.genOffset + a.len, b.source, b.genOffset)) return undefined;
    return {
      start: a.start,
      len: a.len + b.len,
      kind: 'gen',
      source: a.source,
      genOffset: a.genOffset,
    };
  }
  if (a.kind === 'bytes' && b.kind === 'bytes') {
    if (a.bytes !== b.bytes || a.byteOffset + a.len !== b.byteOffset) return undefined;
    return {
      start: a.start,
      len: a.len + b.len,
      kind: 'bytes',
      bytes: a.bytes,
      byteOffset: a.byteOffset,
    };
  }
  return undefined;
}

/** The bytes of [from, from + len) of extent e: a view for literal data, generated otherwise. */
function extentBytes(e: Extent, from: number, len: number): Uint8Array {
  const delta = from - e.start;
  if (e.kind === 'bytes') return e.bytes.subarray(e.byteOffset + delta, e.byteOffset + delta + len);
  const out = new Uint8Array(len);
  generateInto(out, 0, e.source, e.genOffset + delta, len);
  return out;
}

/**
 * A byte-addressed store of `size` bytes held as a sorted array of non-overlapping extents; bytes
 * outside every extent read as zero. Adjacent extents that continue each other are merged, so
 * sequential copies of one source leave a single extent.
 */
export class ExtentStore {
  /** Sorted by start, non-overlapping; no zero-filled runs (gaps are zero). */
  private exts: Extent[] = [];
  /** Extents referencing each literal buffer, so literalBytes counts a shared buffer once. */
  private readonly bufferRefs = new Map<Uint8Array, number>();
  private literal = 0;

  constructor(
    readonly name: string,
    /** Offsets are valid in [0, size); size may be up to 2^53. */
    readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 0 || size > 2 ** 53) {
      throw new RangeError(`store ${name}: size ${size} is not an integer in [0, 2^53]`);
    }
  }

  /** Number of stored extents (memory is proportional to it). */
  get extentCount(): number {
    return this.exts.length;
  }

  /** Bytes of literal data held: the sizes of the distinct buffers this store's extents share. */
  get literalBytes(): number {
    return this.literal;
  }

  /**
   * Fills [offset, +len) with the stream of `source` starting at stream position `genOffset`.
   * Zero runs are stored as gaps (never-written bytes read as zero).
   */
  fill(offset: number, len: number, source: DataSource, genOffset = 0): void {
    this.checkRange(offset, len);
    checkSource(source);
    checkCount('generator offset', genOffset);
    if (!isSafeInteger(genOffset + len)) {
      throw new RangeError(`generator offset ${genOffset} + length ${len} exceeds 2^53`);
    }
    if (len === 0) return;
    if (constantByte(source) === 0) {
      this.replaceRange(offset, len, []);
      return;
    }
    // A private copy: the caller's object might not really be immutable.
    const src: DataSource = freeze({ pattern: source.pattern, seed: source.seed });
    this.replaceRange(offset, len, [{ start: offset, len, kind: 'gen', source: src, genOffset }]);
  }

  /** Stores a copy of `bytes` at `offset` (a literal extent). */
  write(offset: number, bytes: Uint8Array): void {
    this.checkRange(offset, bytes.length);
    if (bytes.length === 0) return;
    const copy = bytes.slice();
    this.replaceRange(offset, copy.length, [
      { start: offset, len: copy.length, kind: 'bytes', bytes: copy, byteOffset: 0 },
    ]);
  }

  /** Materializes [offset, +len) (for tests and small ranges). */
  read(offset: number, len: number): Uint8Array {
    this.checkRange(offset, len);
    const out = new Uint8Array(len);
    for (const e of this.stored(offset, len)) {
      const at = e.start - offset;
      if (e.kind === 'bytes') out.set(e.bytes.subarray(e.byteOffset, e.byteOffset + e.len), at);
      else generateInto(out, at, e.source, e.genOffset, e.len);
    }
    return out;
  }

  /**
   * Copies [srcOffset, +len) of src (may be this store, ranges may overlap: memmove semantics) to
   * dstOffset of this store, by reference: gen extents stay gen (genOffset shifted), literal
   * extents share the (immutable) Uint8Array.
   */
  copyFrom(src: ExtentStore, srcOffset: number, dstOffset: number, len: number): void {
    src.checkRange(srcOffset, len);
    this.checkRange(dstOffset, len);
    if (len === 0 || (src === this && srcOffset === dstOffset)) return;
    // The source pieces are collected before this store changes, which gives memmove semantics.
    const shift = dstOffset - srcOffset;
    const pieces = src.stored(srcOffset, len).map((e) => moveExtent(e, e.start + shift));
    this.replaceRange(dstOffset, len, pieces);
  }

  /** The extents covering [offset, +len), clipped to the range, gaps as zero-pattern gen extents; ordered, contiguous. */
  extents(offset: number, len: number): Extent[] {
    this.checkRange(offset, len);
    const out: Extent[] = [];
    let pos = offset;
    for (const e of this.stored(offset, len)) {
      if (e.start > pos) out.push(zeroGap(pos, e.start - pos));
      out.push(e);
      pos = e.start + e.len;
    }
    if (pos < offset + len) out.push(zeroGap(pos, offset + len - pos));
    return out;
  }

  private checkRange(offset: number, len: number): void {
    checkCount(`store ${this.name}: offset`, offset);
    checkCount(`store ${this.name}: length`, len);
    if (offset + len > this.size) {
      throw new RangeError(
        `store ${this.name}: range [${offset}, +${len}) exceeds its size ${this.size}`,
      );
    }
  }

  /** Index of the first extent that ends after `offset`. */
  private firstEndingAfter(offset: number): number {
    let lo = 0;
    let hi = this.exts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = this.exts[mid];
      if (e.start + e.len > offset) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** The stored extents overlapping [offset, +len), clipped to it (no gaps). */
  private stored(offset: number, len: number): Extent[] {
    const end = offset + len;
    const out: Extent[] = [];
    for (let i = this.firstEndingAfter(offset); i < this.exts.length; i++) {
      const e = this.exts[i];
      if (e.start >= end) break;
      const from = max(e.start, offset);
      out.push(subExtent(e, from, min(e.start + e.len, end) - from));
    }
    return out;
  }

  /**
   * Replaces [offset, +len) with `pieces` (sorted, inside the range; uncovered parts become zero),
   * trimming or splitting the extents it overlaps and merging at the seams.
   */
  private replaceRange(offset: number, len: number, pieces: Extent[]): void {
    const end = offset + len;
    const exts = this.exts;
    const i = this.firstEndingAfter(offset);
    let j = i;
    while (j < exts.length && exts[j].start < end) j++;
    // The untouched neighbours take part in merging, so sequential writes coalesce.
    const from = i > 0 ? i - 1 : i;
    const to = j < exts.length ? j + 1 : j;
    const seq: Extent[] = [];
    if (from < i) seq.push(exts[from]);
    if (i < j && exts[i].start < offset)
      seq.push(subExtent(exts[i], exts[i].start, offset - exts[i].start));
    for (const p of pieces) seq.push(p);
    if (i < j) {
      const last = exts[j - 1];
      const lastEnd = last.start + last.len;
      if (lastEnd > end) seq.push(subExtent(last, end, lastEnd - end));
    }
    if (to > j) seq.push(exts[j]);

    const merged: Extent[] = [];
    for (const e of seq) {
      const prev = merged[merged.length - 1];
      const m = prev && mergeExtents(prev, e);
      if (m) merged[merged.length - 1] = m;
      else merged.push(e);
    }

    for (let k = from; k < to; k++) this.release(exts[k]);
    for (const e of merged) this.retain(e);
    if (merged.length <= SPLICE_SPREAD_LIMIT) {
      exts.splice(from, to - from, ...merged);
    } else {
      this.exts = exts.slice(0, from).concat(merged, exts.slice(to));
    }
  }

  private retain(e: Extent): void {
    if (e.kind !== 'bytes') return;
    const n = this.bufferRefs.get(e.bytes) ?? 0;
    if (n === 0) this.literal += e.bytes.length;
    this.bufferRefs.set(e.bytes, n + 1);
  }

  private release(e: Extent): void {
    if (e.kind !== 'bytes') return;
    const n = this.bufferRefs.get(e.bytes) ?? 0;
    if (n <= 1) {
      this.bufferRefs.delete(e.bytes);
      this.literal -= e.bytes.length;
    } else {
      this.bufferRefs.set(e.bytes, n - 1);
    }
  }
}

function zeroGap(start: number, len: number): GenExtent {
  return { start, len, kind: 'gen', source: ZERO_SOURCE, genOffset: 0 };
}

/**
 * Whether [aOff,+len) of a and [bOff,+len) of b hold the same bytes: extents compared first (same
 * source and aligned genOffset -> equal without generating bytes; zero vs zero etc.), bytes
 * generated and compared only for the parts where that does not decide.
 * `bytesCompared` counts the range positions whose bytes had to be materialized.
 */
export function rangesEqual(
  a: ExtentStore,
  aOff: number,
  b: ExtentStore,
  bOff: number,
  len: number,
): { equal: boolean; firstMismatch?: number; bytesCompared: number } {
  const ea = a.extents(aOff, len);
  const eb = b.extents(bOff, len);
  let bytesCompared = 0;
  let ia = 0;
  let ib = 0;
  let r = 0; // position relative to the range starts
  while (r < len) {
    const xa = ea[ia];
    const xb = eb[ib];
    const endA = xa.start + xa.len - aOff;
    const endB = xb.start + xb.len - bOff;
    const n = min(endA, endB) - r;
    const posA = aOff + r;
    const posB = bOff + r;
    const deltaA = posA - xa.start;
    const deltaB = posB - xb.start;
    let decided = false;
    if (xa.kind === 'gen' && xb.kind === 'gen') {
      if (sameStream(xa.source, xa.genOffset + deltaA, xb.source, xb.genOffset + deltaB)) {
        decided = true;
      } else {
        const ca = constantByte(xa.source);
        const cb = constantByte(xb.source);
        // Two different constants differ at the first byte.
        if (ca !== undefined && cb !== undefined)
          return { equal: false, firstMismatch: r, bytesCompared };
      }
    } else if (
      xa.kind === 'bytes' &&
      xb.kind === 'bytes' &&
      xa.bytes === xb.bytes &&
      xa.byteOffset + deltaA === xb.byteOffset + deltaB
    ) {
      decided = true; // the same literal bytes, shared by a copy
    }
    if (!decided) {
      for (let k = 0; k < n; k += COMPARE_CHUNK) {
        const m = min(COMPARE_CHUNK, n - k);
        const ba = extentBytes(xa, posA + k, m);
        const bb = extentBytes(xb, posB + k, m);
        bytesCompared += m;
        for (let q = 0; q < m; q++) {
          if (ba[q] !== bb[q]) return { equal: false, firstMismatch: r + k + q, bytesCompared };
        }
      }
    }
    r += n;
    if (r === endA) ia++;
    if (r === endB) ib++;
  }
  return { equal: true, bytesCompared };
}
