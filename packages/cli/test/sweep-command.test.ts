/**
 * `dmasim sweep` end to end, in-process (from the sources the points run in this thread; the
 * worker threads are tested on the compiled CLI in sweep-parallel.test.ts): rows, the outputs
 * (table, JSON, CSV, report), progress, exit statuses.
 *
 * copy-offload.yaml: the NIC writes 1 MiB into nvme1's CMB (one segment: the CMB is contiguous),
 * then nvme0 writes the buffer to its namespace in I/Os of ioSize, each one segment of the CMB
 * below the same switch (BUS_ADDR, §1.2), and the namespace is verified.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { CliContext } from '../src/context';
import { Output, type CliIo } from '../src/io';
import { createProgram, reportError } from '../src/main';
import { csvField, METRIC_KEYS, sweepCsv } from '../src/sweep/csv';
import type { SweepJson } from '../src/sweep/types';
import { lines, REPO, type RunResult } from './helpers';

const COPY = join(REPO, 'examples', 'scenarios', 'copy-offload.yaml');
const REFUSED = join(REPO, 'examples', 'scenarios', 'copy-offload-acs-refused.yaml');
const dir = mkdtempSync(join(tmpdir(), 'dmasim-sweep-'));

/** `dmasim sweep ...args` in-process with captured streams (stderr a terminal with `tty`). */
async function sweep(args: string[], opts: { tty?: boolean } = {}): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s), isTTY: false },
    stderr: { write: (s: string) => (stderr += s), isTTY: opts.tty ?? false, columns: 100 },
    env: {},
  };
  const ctx: CliContext = { out: new Output(io), version: '0.0.0' };
  let code = 0;
  try {
    const program = createProgram(ctx);
    await program.parseAsync(['node', 'dmasim', 'sweep', ...args], { from: 'node' });
  } catch (e) {
    code = reportError(e, ctx);
  }
  return { code, stdout, stderr };
}

async function sweepJson(args: string[]): Promise<SweepJson> {
  const r = await sweep([...args, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as SweepJson;
}

const IO_SIZES = ['4KiB', '8KiB', '16KiB', '128KiB'];

describe('dmasim sweep copy-offload over ioSize', () => {
  let j: SweepJson;
  beforeAll(async () => {
    j = await sweepJson([COPY, '--vary', `ioSize=${IO_SIZES.join(',')}`, '--jobs', '1']);
  });

  test('one row per point and strategy, points in grid order, strategies in run order', () => {
    expect(j.schemaVersion).toBe(1);
    expect(j.scenario).toBe('copy-offload');
    expect(j.modelled).toMatch(/modelled.*not measured/);
    expect(j.parameters).toEqual([
      { key: 'ioSize', values: IO_SIZES, numeric: [4096, 8192, 16384, 131072] },
    ]);
    // 4 points x 3 designs (the scenario names none: all of them).
    expect(j.rows.map((r) => `${String(r.point.ioSize)} ${r.strategy}`)).toEqual(
      IO_SIZES.flatMap((s) => [`${s} dma-direct`, `${s} dma-iommu`, `${s} dma-vec`]),
    );
    for (const r of j.rows) {
      expect(Object.keys(r)).toEqual(['point', 'strategy', 'ok', 'failedStep', 'error', 'metrics']);
      expect([r.ok, r.failedStep, r.error]).toEqual([true, null, null]);
      expect(Object.keys(r.metrics)).toEqual([...METRIC_KEYS]);
    }
  });

  test('segments and PRP list entries per I/O size (§6.1)', () => {
    const byDesign = (s: string, d: string) =>
      j.rows.find((r) => r.point.ioSize === s && r.strategy === d)!.metrics;
    for (const d of ['dma-direct', 'dma-iommu', 'dma-vec']) {
      // dmaSegments = 1 (the NIC's write) + 1 MiB / ioSize I/Os of one segment each:
      // 4 KiB: 1 + 256 = 257; 8 KiB: 1 + 128 = 129; 16 KiB: 1 + 64 = 65; 128 KiB: 1 + 8 = 9.
      expect(IO_SIZES.map((s) => byDesign(s, d).dmaSegments)).toEqual([257, 129, 65, 9]);
      // §6.1 PRPs of an I/O at offset 0: PRP1 covers the first 4 KiB; up to 4 KiB more is PRP2
      // (no list); beyond that, one list entry per further 4 KiB page:
      // 4 KiB and 8 KiB: 0; 16 KiB: 3 x 64 I/Os = 192; 128 KiB: 31 x 8 I/Os = 248.
      expect(IO_SIZES.map((s) => byDesign(s, d).nvmeDescriptors)).toEqual([0, 0, 192, 248]);
      // 1 MiB written by the NIC, 1 MiB read by nvme0, all below the switch.
      for (const s of IO_SIZES) {
        expect(byDesign(s, d).bytesTransferred).toBe(2 * 2 ** 20);
        expect(byDesign(s, d).hostBridgeBytes).toBe(0);
        expect(byDesign(s, d).integrity).toBe('verified');
      }
    }
  });

  test('the table: the point, the design, the outcome, the key metrics', async () => {
    const r = await sweep([COPY, '--vary', 'ioSize=4KiB,128KiB', '--strategy', 'dma-vec']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const out = lines(r.stdout);
    expect(out[0]).toBe('Sweep copy-offload: 2 grid points x 1 strategy');
    const at = out.findIndex((l) => l.startsWith('ioSize'));
    expect(out[at]!.split(/ +/)).toEqual([
      'ioSize',
      'strategy',
      'outcome',
      'effectiveGBps',
      'cpuNs',
      'hostBridgeBytes',
      'dmaSegments',
      'structPageBytes',
    ]);
    const cells = (l: string) => l.trim().split(/ {2,}/);
    // dma-vec: no struct pages for the CMB (§2.5); 257 and 9 segments as above.
    expect(cells(out[at + 1]!)).toEqual([
      '4KiB',
      'dma-vec',
      'ok',
      expect.stringMatching(/GB\/s$/),
      expect.any(String),
      '0 B',
      '257',
      '0 B',
    ]);
    expect(cells(out[at + 2]!).slice(0, 3)).toEqual(['128KiB', 'dma-vec', 'ok']);
    expect(cells(out[at + 2]!)[6]).toBe('9');
    expect(r.stdout).toMatch(/modelled/);
  });
});

describe('failures and ACS (§1.2)', () => {
  test('acs=on: NOT_SUPPORTED on a host bridge off the allowlist, the alloc fails; acs=off: BUS_ADDR', async () => {
    const j = await sweepJson([REFUSED, '--vary', 'acs=on,off', '--strategy', 'dma-direct']);
    const [on, off] = j.rows;
    // RR/CR on the downstream ports, Intel host bridge 8086:1234 not allowlisted -> NOT_SUPPORTED:
    // the p2pmem alloc for these clients is refused (-EINVAL); the skipped steps are not named.
    expect([on!.ok, on!.failedStep, on!.error]).toEqual([false, 'cmb', '-EINVAL']);
    expect(on!.metrics.bytesTransferred).toBe(0);
    expect(on!.metrics.integrity).toBe('not-checked');
    // RR, CR, EC cleared everywhere: below one switch, distance 4, BUS_ADDR; nothing reaches
    // the root complex.
    expect([off!.ok, off!.failedStep, off!.error]).toEqual([true, null, null]);
    expect(off!.metrics.hostBridgeBytes).toBe(0);
    expect(off!.metrics.bytesTransferred).toBe(2 * 2 ** 20);
  });

  test('a value that makes the scenario invalid: exit 1, the grid point and the loader message', async () => {
    const r = await sweep([COPY, '--vary', 'ioSize=4KiB,1000', '--vary', 'sgls=on,off']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    // Points: (4KiB,on) (4KiB,off) (1000,on) ...: the first invalid one is the third.
    expect(lines(r.stderr)).toEqual([
      `dmasim: ${relative(process.cwd(), COPY)} at grid point 3 of 4 (ioSize=1000 sgls=on): ` +
        'ioSize must be a positive multiple of 512 bytes',
    ]);
  });

  test('usage errors: exit 2, one line, no stack', async () => {
    for (const args of [
      [COPY],
      [COPY, '--vary', 'ioSize'],
      [COPY, '--vary', 'steps.nope.nvme.ioSize=4KiB'],
      [COPY, '--vary', 'ioSize=4KiB', '--jobs', '0'],
      [COPY, '--vary', 'ioSize=4KiB', '--json', '--csv', '-'],
      [COPY, '--vary', 'ioSize=4KiB', '--strategy', 'dma-nope'],
    ]) {
      const r = await sweep(args);
      expect([args, r.code]).toEqual([args, 2]);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(/^dmasim: /);
    }
  });

  test('an output file that cannot be written: exit 1 before the sweep runs', async () => {
    // A directory, and a file in a directory that does not exist: one line each, nothing run
    // (no table on stdout).
    for (const [args, message] of [
      [['--report', dir], `dmasim: --report ${dir}: is a directory: name a file`],
      [
        ['--csv', join(dir, 'none', 'x.csv')],
        `dmasim: --csv ${join(dir, 'none', 'x.csv')}: no directory ${join(dir, 'none')}`,
      ],
    ] as const) {
      const r = await sweep([COPY, '--vary', 'ioSize=4KiB', ...args]);
      expect([r.code, lines(r.stderr), r.stdout]).toEqual([1, [message], '']);
    }
  });

  test('a missing scenario file: exit 1', async () => {
    const r = await sweep([join(dir, 'missing.yaml'), '--vary', 'ioSize=4KiB']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing\.yaml/);
  });
});

describe('CSV', () => {
  test('fields are quoted when they hold a comma, a quote or a line break (RFC 4180)', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(null)).toBe('');
    expect(csvField(false)).toBe('false');
  });

  test('--csv FILE: the header, then one CRLF-terminated line per row', async () => {
    const file = join(dir, 'sweep.csv');
    const r = await sweep([
      REFUSED,
      '--vary',
      'acs=on,off',
      '--strategy',
      'dma-vec',
      '--csv',
      file,
      '--json',
    ]);
    expect(r.code).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\r\n')).toBe(true);
    const rows = text.slice(0, -2).split('\r\n');
    expect(rows[0]).toBe(
      'acs,strategy,ok,failedStep,error,bytesTransferred,p2pBytes,hostBridgeBytes,' +
        'iommuTranslatedBytes,bounceBytes,dmaSegments,nvmeDescriptors,iovaBytesPeak,iotlbMisses,' +
        'iommuFaults,structPageBytes,mappingMetadataBytes,cpuNs,transferNs,effectiveGBps,integrity',
    );
    expect(rows).toHaveLength(3);
    // acs=on: the alloc fails, nothing moves, nothing is checked.
    expect(rows[1]!.split(',').slice(0, 6)).toEqual([
      'on',
      'dma-vec',
      'false',
      'cmb',
      '-EINVAL',
      '0',
    ]);
    expect(rows[1]!.endsWith(',not-checked')).toBe(true);
    // acs=off: 2 MiB = 2097152 bytes moved, 9 segments, 248 PRP list entries (§6.1), verified.
    const off = rows[2]!.split(',');
    expect(off.slice(0, 6)).toEqual(['off', 'dma-vec', 'true', '', '', '2097152']);
    expect(off[10]).toBe('9');
    expect(off[11]).toBe('248');
    expect(off[20]).toBe('verified');
    // The same rows as the JSON printed beside it.
    expect(text).toBe(sweepCsv(JSON.parse(r.stdout) as SweepJson));
  });

  test('--csv -: the CSV on stdout instead of the table', async () => {
    const r = await sweep([
      COPY,
      '--vary',
      'ioSize=64KiB,128KiB',
      '--strategy',
      'dma-vec',
      '--csv',
      '-',
    ]);
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\r\n');
    // Header, 2 points x 1 strategy, and the empty string after the last CRLF.
    expect(rows).toHaveLength(4);
    expect(rows[0]!.startsWith('ioSize,strategy,ok,failedStep,error,bytesTransferred,')).toBe(true);
    // 64 KiB I/Os: 1 + 16 segments, 15 x 16 = 240 PRP list entries (§6.1).
    expect(rows[1]!.split(',').slice(0, 3)).toEqual(['64KiB', 'dma-vec', 'true']);
    expect(rows[1]!.split(',').slice(10, 12)).toEqual(['17', '240']);
  });
});

describe('progress', () => {
  test('no progress output when stderr is not a terminal', async () => {
    const r = await sweep([COPY, '--vary', 'ioSize=64KiB,128KiB', '--strategy', 'dma-vec']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
  });

  test('a bar counting runs (points x strategies) on a terminal, cleared at the end', async () => {
    const r = await sweep(
      [COPY, '--vary', 'ioSize=64KiB,128KiB', '--strategy', 'dma-vec,dma-direct', '--json'],
      { tty: true },
    );
    expect(r.code).toBe(0);
    // 2 points x 2 strategies = 4 runs.
    expect(r.stderr).toMatch(/sweep \[[=-]+\] 4\/4 runs/);
    expect(JSON.parse(r.stdout)).toMatchObject({ schemaVersion: 1 });
  });
});
