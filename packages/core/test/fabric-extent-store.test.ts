/**
 * The extent store holds the bytes of RAM, BARs and NVMe namespaces. It is the model's hardware,
 * with no kernel section to cite: the behaviour checked here is the one issue 6 (fabric) asks for.
 */
import fc from 'fast-check';
import {
  ExtentStore,
  generateBytes,
  rangesEqual,
  type DataSource,
  type Extent,
} from '../src/fabric/extent-store';

const SEED = Number(process.env.FC_SEED ?? 20261121);
const KiB = 1024;
const MiB = 1024 * KiB;
const TiB = 2 ** 40;

/** Index of the first byte where x and y differ, -1 if equal (toEqual is slow on MiB arrays). */
function firstDiff(x: Uint8Array, y: Uint8Array): number {
  if (x.length !== y.length) return Math.min(x.length, y.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** Extents in a shape toEqual can compare (the literal buffer left out). */
function shape(e: Extent): object {
  return e.kind === 'gen'
    ? {
        start: e.start,
        len: e.len,
        kind: e.kind,
        pattern: e.source.pattern,
        genOffset: e.genOffset,
      }
    : { start: e.start, len: e.len, kind: e.kind, byteOffset: e.byteOffset };
}

describe('generateBytes (issue 6: fabric)', () => {
  it('counter: byte p = (p + seed) & 0xff; byte: every byte = seed & 0xff; zero: 0', () => {
    // Positions 254..259 with seed 3: 257, 258, 259, 260, 261, 262 mod 256 = 1..6.
    expect([...generateBytes({ pattern: 'counter', seed: 3 }, 254, 6)]).toEqual([1, 2, 3, 4, 5, 6]);
    // 0x1ff & 0xff = 0xff.
    expect([...generateBytes({ pattern: 'byte', seed: 0x1ff }, 77, 3)]).toEqual([255, 255, 255]);
    expect([...generateBytes({ pattern: 'zero', seed: 9 }, 5, 3)]).toEqual([0, 0, 0]);
  });

  it('random is random-access: any window equals the same slice of a longer run', () => {
    const src: DataSource = { pattern: 'random', seed: 12345 };
    const long = generateBytes(src, 0, 64);
    expect(generateBytes(src, 5, 10)).toEqual(long.subarray(5, 15));
    // Far positions (word index above 2^32) and across the 2^32-word block boundary at byte 2^35.
    const far = 2 ** 50 + 3;
    expect(generateBytes(src, far + 4, 9)).toEqual(generateBytes(src, far, 13).subarray(4));
    const edge = 2 ** 35 - 5;
    const across = generateBytes(src, edge, 10);
    expect(across.subarray(0, 5)).toEqual(generateBytes(src, edge, 5));
    expect(across.subarray(5)).toEqual(generateBytes(src, 2 ** 35, 5));
  });

  it('random depends on the seed and looks uniform', () => {
    const a = generateBytes({ pattern: 'random', seed: 1 }, 0, MiB);
    const b = generateBytes({ pattern: 'random', seed: 2 }, 0, MiB);
    let same = 0;
    let sum = 0;
    for (let i = 0; i < MiB; i++) {
      if (a[i] === b[i]) same++;
      sum += a[i];
    }
    // Independent uniform bytes agree with probability 1/256: ~4096 of 1 MiB (sd ~64).
    expect(same).toBeGreaterThan(3500);
    expect(same).toBeLessThan(4700);
    // Mean of uniform bytes is 127.5 (sd of the mean ~0.07 over 1 MiB).
    expect(sum / MiB).toBeCloseTo(127.5, 0);
  });

  it('random generates 1 MiB in well under 50 ms (the brief asks for ~1 ms)', () => {
    const src: DataSource = { pattern: 'random', seed: 7 };
    generateBytes(src, 3, MiB); // warm-up
    const t = performance.now();
    for (let i = 0; i < 5; i++) generateBytes(src, i * MiB + 3, MiB);
    expect((performance.now() - t) / 5).toBeLessThan(50);
  });

  it('rejects bad sources and offsets (library misuse)', () => {
    expect(() => generateBytes({ pattern: 'noise' as 'zero', seed: 0 }, 0, 1)).toThrow(RangeError);
    expect(() => generateBytes({ pattern: 'random', seed: 0.5 }, 0, 1)).toThrow(RangeError);
    expect(() => generateBytes({ pattern: 'random', seed: 1 }, -1, 1)).toThrow(RangeError);
  });
});

describe('ExtentStore (issue 6: fabric)', () => {
  it('never-written bytes read as zero; fill stores a generator run', () => {
    const s = new ExtentStore('ram', 64);
    s.fill(8, 16, { pattern: 'counter', seed: 3 });
    const bytes = s.read(0, 64);
    // [0,8) zero; [8,24) = (p + 3) for stream positions p = 0..15 -> 3..18; [24,64) zero.
    const expected = new Uint8Array(64);
    for (let i = 0; i < 16; i++) expected[8 + i] = i + 3;
    expect(bytes).toEqual(expected);
    expect(s.extentCount).toBe(1);
    expect(s.literalBytes).toBe(0);
    // The gaps are reported as zero-pattern extents.
    expect(s.extents(0, 64).map(shape)).toEqual([
      { start: 0, len: 8, kind: 'gen', pattern: 'zero', genOffset: 0 },
      { start: 8, len: 16, kind: 'gen', pattern: 'counter', genOffset: 0 },
      { start: 24, len: 40, kind: 'gen', pattern: 'zero', genOffset: 0 },
    ]);
  });

  it('a write in the middle splits the generator run around a literal extent', () => {
    const src: DataSource = { pattern: 'random', seed: 9 };
    const s = new ExtentStore('bar', 4096);
    s.fill(0, 4096, src);
    s.write(1000, new Uint8Array([1, 2, 3, 4]));
    // gen [0,1000) from stream 0, bytes [1000,1004), gen [1004,4096) from stream position 1004.
    expect(s.extents(0, 4096).map(shape)).toEqual([
      { start: 0, len: 1000, kind: 'gen', pattern: 'random', genOffset: 0 },
      { start: 1000, len: 4, kind: 'bytes', byteOffset: 0 },
      { start: 1004, len: 3092, kind: 'gen', pattern: 'random', genOffset: 1004 },
    ]);
    const expected = generateBytes(src, 0, 4096);
    expected.set([1, 2, 3, 4], 1000);
    expect(firstDiff(s.read(0, 4096), expected)).toBe(-1);
    expect(s.literalBytes).toBe(4);
    // Clipped listing: [998, +8) = 2 gen bytes at stream 998, the 4 literal bytes, 2 gen at 1004.
    expect(s.extents(998, 8).map(shape)).toEqual([
      { start: 998, len: 2, kind: 'gen', pattern: 'random', genOffset: 998 },
      { start: 1000, len: 4, kind: 'bytes', byteOffset: 0 },
      { start: 1004, len: 2, kind: 'gen', pattern: 'random', genOffset: 1004 },
    ]);
    // Filling the hole again with the same stream heals the run into one extent.
    s.fill(1000, 4, src, 1000);
    expect(s.extentCount).toBe(1);
    expect(s.literalBytes).toBe(0);
  });

  it('write copies the caller bytes', () => {
    const s = new ExtentStore('ram', 16);
    const buf = new Uint8Array([7, 7]);
    s.write(3, buf);
    buf[0] = 9;
    expect([...s.read(3, 2)]).toEqual([7, 7]);
  });

  it('copyFrom copies by reference: few extents, literal buffers shared, not duplicated', () => {
    const a = new ExtentStore('a', MiB);
    a.fill(0, MiB, { pattern: 'random', seed: 5 });
    a.write(500, new Uint8Array(100).fill(0xab));
    // a: gen [0,500), bytes [500,600), gen [600, 1 MiB): 3 extents, 100 literal bytes.
    expect(a.extentCount).toBe(3);
    const b = new ExtentStore('b', 2 * MiB);
    b.copyFrom(a, 0, MiB, MiB);
    expect(b.extentCount).toBe(3);
    expect(b.literalBytes).toBe(100); // b shares a's 100-byte buffer
    expect(a.literalBytes).toBe(100);
    b.copyFrom(b, MiB, 0, MiB); // a second copy inside b shares the same buffer again
    expect(b.extentCount).toBe(6);
    expect(b.literalBytes).toBe(100);
    expect(firstDiff(b.read(0, MiB), a.read(0, MiB))).toBe(-1);
    expect(firstDiff(b.read(MiB, MiB), a.read(0, MiB))).toBe(-1);
    // Overwriting every reference frees the buffer from b's count.
    b.fill(0, 2 * MiB, { pattern: 'zero', seed: 0 });
    expect(b.extentCount).toBe(0);
    expect(b.literalBytes).toBe(0);
  });

  it('copying 1 TiB in 2 MiB pieces from a refilled staging buffer leaves one extent', () => {
    const piece = 2 * MiB;
    const staging = new ExtentStore('staging', piece);
    const ns = new ExtentStore('nvme0n1', TiB);
    const src: DataSource = { pattern: 'random', seed: 77 };
    // Each piece is the next 2 MiB of one stream, so consecutive copies continue each other:
    // 2^40 / 2^21 = 524288 copies merge into a single gen extent.
    for (let off = 0; off < TiB; off += piece) {
      staging.fill(0, piece, src, off);
      ns.copyFrom(staging, 0, off, piece);
    }
    expect(ns.extentCount).toBe(1);
    expect(ns.extents(0, TiB).map(shape)).toEqual([
      { start: 0, len: TiB, kind: 'gen', pattern: 'random', genOffset: 0 },
    ]);
  });

  it('copyFrom inside one store has memmove semantics for overlapping ranges', () => {
    const model = new Uint8Array(32);
    for (let i = 0; i < 16; i++) model[i] = i + 1;
    const fwd = new ExtentStore('fwd', 32);
    fwd.write(0, model.subarray(0, 16));
    fwd.copyFrom(fwd, 0, 4, 16); // destination after the source, overlapping by 12 bytes
    // memmove: [4,20) = the original 1..16, [0,4) keeps 1..4.
    expect([...fwd.read(0, 20)]).toEqual([
      1,
      2,
      3,
      4,
      ...Array.from({ length: 16 }, (_, i) => i + 1),
    ]);

    const back = new ExtentStore('back', 32);
    back.fill(0, 32, { pattern: 'counter', seed: 0 });
    back.copyFrom(back, 8, 2, 20); // destination before the source
    // [2,22) = original bytes 8..27, [0,2) = 0,1, [22,32) = 22..31.
    const expected = [0, 1, ...Array.from({ length: 20 }, (_, i) => i + 8)];
    for (let i = 22; i < 32; i++) expected.push(i);
    expect([...back.read(0, 32)]).toEqual(expected);
  });

  it('rejects out-of-range or negative offsets and lengths (library misuse)', () => {
    const s = new ExtentStore('ram', 100);
    expect(() => s.read(90, 11)).toThrow(RangeError);
    expect(() => s.read(-1, 1)).toThrow(RangeError);
    expect(() => s.fill(0, -1, { pattern: 'byte', seed: 1 })).toThrow(RangeError);
    expect(() => s.fill(0, 1, { pattern: 'byte', seed: 1 }, -8)).toThrow(RangeError);
    expect(() => s.write(99, new Uint8Array(2))).toThrow(RangeError);
    expect(() => s.copyFrom(new ExtentStore('small', 10), 5, 0, 6)).toThrow(RangeError);
    expect(() => s.extents(1.5, 1)).toThrow(RangeError);
    expect(() => new ExtentStore('huge', 2 ** 53 + 2)).toThrow(RangeError);
    expect(new ExtentStore('max', 2 ** 53).size).toBe(2 ** 53);
  });
});

describe('rangesEqual (issue 6: fabric)', () => {
  it('a 1 TiB copy of a random fill is equal by its extents alone (bytesCompared 0)', () => {
    const a = new ExtentStore('ram', TiB);
    a.fill(0, TiB, { pattern: 'random', seed: 42 });
    const b = new ExtentStore('nvme0n1', TiB);
    b.copyFrom(a, 0, 0, TiB);
    expect(rangesEqual(a, 0, b, 0, TiB)).toEqual({ equal: true, bytesCompared: 0 });

    // Change one byte at 2^39 + 7: only that literal byte needs comparing.
    const at = 2 ** 39 + 7;
    const old = a.read(at, 1)[0];
    b.write(at, new Uint8Array([old ^ 0xff]));
    expect(rangesEqual(a, 0, b, 0, TiB)).toEqual({
      equal: false,
      firstMismatch: at,
      bytesCompared: 1,
    });
    // Offsets are relative to the range starts: from 2^39 the mismatch is at 7.
    expect(rangesEqual(a, 2 ** 39, b, 2 ** 39, 2 ** 39).firstMismatch).toBe(7);
    // Writing the original byte back makes the ranges equal again (compared as 1 byte).
    b.write(at, new Uint8Array([old]));
    expect(rangesEqual(a, 0, b, 0, TiB)).toEqual({ equal: true, bytesCompared: 1 });
  });

  it('zero, gaps and equivalent generators decide without bytes', () => {
    const a = new ExtentStore('a', 4096);
    const b = new ExtentStore('b', 4096);
    b.fill(0, 4096, { pattern: 'byte', seed: 0x100 }); // 0x100 & 0xff = 0: zero
    expect(rangesEqual(a, 0, b, 0, 4096)).toEqual({ equal: true, bytesCompared: 0 });
    // Counter streams 256 positions apart are the same bytes.
    a.fill(0, 4096, { pattern: 'counter', seed: 0 }, 0);
    b.fill(0, 4096, { pattern: 'counter', seed: 0 }, 512);
    expect(rangesEqual(a, 0, b, 0, 4096)).toEqual({ equal: true, bytesCompared: 0 });
    // Two different constants differ at the first byte, still without generating any.
    a.fill(0, 4096, { pattern: 'byte', seed: 5 });
    b.fill(0, 4096, { pattern: 'zero', seed: 0 });
    expect(rangesEqual(a, 0, b, 0, 4096)).toEqual({
      equal: false,
      firstMismatch: 0,
      bytesCompared: 0,
    });
  });

  it('random runs at different stream positions are compared by bytes, stopping in the first chunk', () => {
    const src: DataSource = { pattern: 'random', seed: 1 };
    const a = new ExtentStore('a', MiB);
    const b = new ExtentStore('b', MiB);
    a.fill(0, MiB, src, 0);
    b.fill(0, MiB, src, 8);
    const x = generateBytes(src, 0, 64);
    const y = generateBytes(src, 8, 64);
    let first = 0;
    while (x[first] === y[first]) first++;
    const r = rangesEqual(a, 0, b, 0, MiB);
    expect(r.equal).toBe(false);
    expect(r.firstMismatch).toBe(first);
    // Bytes are generated in 64 KiB chunks: only the first one was needed.
    expect(r.bytesCompared).toBe(64 * KiB);
  });

  it('literal against generated bytes compares the bytes', () => {
    const src: DataSource = { pattern: 'random', seed: 3 };
    const a = new ExtentStore('a', 8192);
    const b = new ExtentStore('b', 8192);
    a.fill(0, 8192, src);
    b.write(0, generateBytes(src, 0, 8192)); // same bytes, held literally
    expect(rangesEqual(a, 0, b, 0, 8192)).toEqual({ equal: true, bytesCompared: 8192 });
  });
});

// A 64-byte store makes ops collide often (splits, merges of shared slices); 4 KiB adds long runs.
describe.each([64, 4 * KiB])(
  'ExtentStore of %i bytes against a plain byte array (issue 6: fabric, property)',
  (SIZE) => {
    const source = fc.record({
      pattern: fc.constantFrom('zero', 'random', 'counter', 'byte' as const),
      seed: fc.integer({ min: -3, max: 3 }),
    });
    const range = fc
      .tuple(fc.nat({ max: SIZE }), fc.nat({ max: SIZE }))
      .map(([x, y]) => ({ offset: Math.min(x, y), len: Math.abs(x - y) }));
    const op = fc.oneof(
      fc.record({
        op: fc.constant('fill' as const),
        store: fc.nat(1),
        range,
        source,
        gen: fc.nat(600),
      }),
      fc.record({
        op: fc.constant('write' as const),
        store: fc.nat(1),
        offset: fc.nat({ max: SIZE - 1 }),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 24 }),
      }),
      fc.record({
        op: fc.constant('copy' as const),
        from: fc.nat(1),
        to: fc.nat(1),
        src: fc.nat({ max: SIZE }),
        dst: fc.nat({ max: SIZE }),
        len: fc.nat({ max: SIZE }),
      }),
    );

    it(`fill/write/copyFrom on two stores match two Uint8Arrays (seed ${SEED})`, () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 30 }), range, range, (ops, ra, rb) => {
          const stores = [new ExtentStore('s0', SIZE), new ExtentStore('s1', SIZE)];
          const models = [new Uint8Array(SIZE), new Uint8Array(SIZE)];
          for (const o of ops) {
            if (o.op === 'fill') {
              const { offset, len } = o.range;
              stores[o.store].fill(offset, len, o.source, o.gen);
              models[o.store].set(generateBytes(o.source, o.gen, len), offset);
            } else if (o.op === 'write') {
              const bytes = o.bytes.subarray(0, SIZE - o.offset);
              stores[o.store].write(o.offset, bytes);
              models[o.store].set(bytes, o.offset);
            } else {
              const len = Math.min(o.len, SIZE - o.src, SIZE - o.dst);
              stores[o.to].copyFrom(stores[o.from], o.src, o.dst, len);
              // slice() first: memmove semantics when from === to.
              models[o.to].set(models[o.from].slice(o.src, o.src + len), o.dst);
            }
          }
          for (let k = 0; k < 2; k++) {
            expect(firstDiff(stores[k].read(0, SIZE), models[k])).toBe(-1);
            // extents() covers the range contiguously, in order, and agrees with read().
            const ex = stores[k].extents(ra.offset, ra.len);
            let pos = ra.offset;
            for (const e of ex) {
              expect(e.start).toBe(pos);
              expect(e.len).toBeGreaterThan(0);
              pos += e.len;
            }
            expect(pos).toBe(ra.offset + ra.len);
          }
          // rangesEqual agrees with a byte-by-byte comparison of the models.
          const len = Math.min(ra.len, SIZE - rb.offset);
          let first = -1;
          for (let i = 0; i < len; i++) {
            if (models[0][ra.offset + i] !== models[1][rb.offset + i]) {
              first = i;
              break;
            }
          }
          const r = rangesEqual(stores[0], ra.offset, stores[1], rb.offset, len);
          expect(r.equal).toBe(first < 0);
          expect(r.firstMismatch).toBe(first < 0 ? undefined : first);
          expect(r.bytesCompared).toBeLessThanOrEqual(len);
        }),
        { seed: SEED, numRuns: 300 },
      );
    });
  },
);
