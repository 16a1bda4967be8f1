/**
 * `dmasim run`'s report, from hand-built results (the runner has tests of its own): the table
 * (designs as columns, steps then metrics), the "Why" section, the modelled-figures sentence,
 * human units; and the usage errors the command reports before it reads the scenario.
 *
 * The results below are one 1 GiB NVMe read into another drive's CMB: one design maps it to a
 * PCI bus address (reference §3.2 BUS_ADDR: "bus address, marked, never unmapped"; §1.1), the
 * other fails dma_map_sgtable() with -EREMOTEIO, the code for "the device cannot access the
 * P2PDMA memory in the table" (§3.3), and skips the steps that need the read. Which design
 * fails on which machine is the runner's business; the pairing here only exercises the layout.
 */
import pc from 'picocolors';
import type { RunMetrics, ScenarioRunResult, StrategyRunResult } from '@dmasim/core';
import { runJson, runNdjsonLine } from '../src/commands/run';
import { MODELLED_SENTENCE, renderRunReport, renderRunTable, wrapText } from '../src/render/run';
import { formatBytes, formatCount, formatGBps, formatNs } from '../src/render/units';
import { ANSI_RE, run, stripAnsi } from './helpers';

const plain = pc.createColors(false);
const coloured = pc.createColors(true);

const GiB = 1024 * 1024 * 1024;

const zeroMetrics: RunMetrics = {
  bytesTransferred: 0,
  p2pBytes: 0,
  hostBridgeBytes: 0,
  iommuTranslatedBytes: 0,
  bounceBytes: 0,
  dmaSegments: 0,
  nvmeDescriptors: 0,
  iovaBytesPeak: 0,
  iotlbMisses: 0,
  iommuFaults: 0,
  structPageBytes: 0,
  mappingMetadataBytes: 0,
  cpuNs: 0,
  transferNs: 0,
  effectiveGBps: 0,
  integrity: 'not-checked',
};

// §9: one 64-byte struct page per 4 KiB page, so a 256 MiB CMB costs 256 MiB / 64 = 4 MiB.
const CMB_STRUCT_PAGES = (256 * 1024 * 1024 * 64) / 4096;

const okResult: StrategyRunResult = {
  strategy: 'dma-iommu',
  ok: true,
  steps: [
    { id: 'alloc-cmb', ok: true, skipped: false, stage: null, error: null },
    {
      id: 'read-into-cmb',
      ok: true,
      skipped: false,
      stage: null,
      error: null,
      detail: '8192 I/Os of 128 KiB, PRPs',
    },
    { id: 'write-from-cmb', ok: true, skipped: false, stage: null, error: null },
    { id: 'verify', ok: true, skipped: false, stage: null, error: null },
  ],
  metrics: {
    ...zeroMetrics,
    bytesTransferred: GiB,
    p2pBytes: GiB,
    // 1 GiB / 128 KiB = 8192 I/Os of one bus-address segment each.
    dmaSegments: 8192,
    // 128 KiB = 32 pages: PRP1 in the command and a PRP list of 31 entries per I/O,
    // 31 * 8192 = 253952.
    nvmeDescriptors: 253952,
    structPageBytes: CMB_STRUCT_PAGES,
    cpuNs: 1754,
    transferNs: 43_000_000,
    // 1073741824 B / 43e6 ns = 24.9707 B/ns = 24.97 GB/s.
    effectiveGBps: GiB / 43_000_000,
    integrity: 'verified',
  },
  notes: ['the CMB is below the same switch as the reader: BUS_ADDR, no IOVA'],
};

const failedResult: StrategyRunResult = {
  strategy: 'dma-direct',
  ok: false,
  steps: [
    { id: 'alloc-cmb', ok: true, skipped: false, stage: null, error: null },
    {
      id: 'read-into-cmb',
      ok: false,
      skipped: false,
      stage: 'map',
      error: {
        code: '-EREMOTEIO',
        message: 'nvme0 cannot reach the CMB of nvme1: ACS redirect is set between them',
      },
    },
    {
      id: 'write-from-cmb',
      ok: false,
      skipped: true,
      stage: 'dependency',
      error: { code: 'skipped', message: 'needs read-into-cmb, which failed' },
    },
    { id: 'verify', ok: false, skipped: true, stage: 'dependency', error: null },
  ],
  metrics: { ...zeroMetrics, structPageBytes: CMB_STRUCT_PAGES },
  notes: ['dma_map_sgtable() returned -EREMOTEIO for the first request; no byte moved'],
};

const result: ScenarioRunResult = {
  schemaVersion: 1,
  scenario: 'copy-offload',
  results: [okResult, failedResult],
};

/** The table row whose first cell is `label`, split into cells (columns are 2+ spaces apart). */
function row(table: string[], label: string): string[] {
  const l = table.map(stripAnsi).find((x) => x.trim().split(/ {2,}/)[0] === label);
  if (!l) throw new Error(`no row ${label} in\n${table.join('\n')}`);
  return l.trim().split(/ {2,}/);
}

describe('units', () => {
  test('sizes in binary units, two decimals from 1 KiB (§9 sizes: 256 MiB CMB -> 4 MiB of pages)', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.00 KiB');
    // 1536 / 1024 = 1.5
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(CMB_STRUCT_PAGES)).toBe('4.00 MiB');
    expect(formatBytes(1073741824)).toBe('1.00 GiB');
    // 1048575 B = 1023.999 KiB, which rounds to 1024.00 KiB: printed as 1.00 MiB instead.
    expect(formatBytes(1048575)).toBe('1.00 MiB');
    // 16 GiB BAR -> 256 MiB of struct pages (§9)
    expect(formatBytes(((16 * GiB) / 4096) * 64)).toBe('256.00 MiB');
  });

  test('times in ns, µs, ms, s', () => {
    expect(formatNs(850)).toBe('850 ns');
    // 1754 ns = 1.754 µs
    expect(formatNs(1754)).toBe('1.75 µs');
    // 999999 ns = 999.999 µs, rounding to 1000.00: printed as 1.00 ms
    expect(formatNs(999_999)).toBe('1.00 ms');
    expect(formatNs(43_000_000)).toBe('43.00 ms');
    expect(formatNs(3_000_000_000)).toBe('3.00 s');
  });

  test('rates in GB/s, counts grouped by thousands', () => {
    expect(formatGBps(GiB / 43_000_000)).toBe('24.97 GB/s');
    expect(formatGBps(0)).toBe('0.00 GB/s');
    expect(formatCount(253952)).toBe('253,952');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(1000000)).toBe('1,000,000');
  });
});

describe('dmasim run report (§3.2 BUS_ADDR vs §3.3 -EREMOTEIO)', () => {
  const table = renderRunTable(result, plain);

  test('the designs are the columns, in the order they ran', () => {
    expect(table[0].trim().split(/ {2,}/)).toEqual(['dma-iommu', 'dma-direct']);
  });

  test('one row per step: ok, FAILED <stage>: <code>, skipped', () => {
    expect(row(table, 'alloc-cmb')).toEqual(['alloc-cmb', 'ok', 'ok']);
    expect(row(table, 'read-into-cmb')).toEqual(['read-into-cmb', 'ok', 'FAILED map: -EREMOTEIO']);
    expect(row(table, 'write-from-cmb')).toEqual(['write-from-cmb', 'ok', 'skipped']);
    expect(row(table, 'verify')).toEqual(['verify', 'ok', 'skipped']);
  });

  test('the metrics rows in human units (values worked out above)', () => {
    expect(row(table, 'bytesTransferred')).toEqual(['bytesTransferred', '1.00 GiB', '0 B']);
    expect(row(table, 'p2pBytes')).toEqual(['p2pBytes', '1.00 GiB', '0 B']);
    expect(row(table, 'dmaSegments')).toEqual(['dmaSegments', '8,192', '0']);
    expect(row(table, 'nvmeDescriptors')).toEqual(['nvmeDescriptors', '253,952', '0']);
    // §9: both designs registered the CMB with struct pages
    expect(row(table, 'structPageBytes')).toEqual(['structPageBytes', '4.00 MiB', '4.00 MiB']);
    expect(row(table, 'cpuNs')).toEqual(['cpuNs', '1.75 µs', '0 ns']);
    expect(row(table, 'transferNs')).toEqual(['transferNs', '43.00 ms', '0 ns']);
    expect(row(table, 'effectiveGBps')).toEqual(['effectiveGBps', '24.97 GB/s', '0.00 GB/s']);
    expect(row(table, 'integrity')).toEqual(['integrity', 'verified', 'not-checked']);
  });

  test('every metric of RunMetrics has a row, in order', () => {
    const labels = table.map((l) => l.trim().split(/ {2,}/)[0]);
    const from = labels.indexOf('metrics');
    expect(labels.slice(from + 1)).toEqual(Object.keys(zeroMetrics));
  });

  test('"Why" gives the failure with its message, the skips, details and notes per design', () => {
    const titles = {
      'dma-direct': 'dma-direct: page-backed scatterlists, bus-address segments marked',
      'dma-iommu': 'dma-iommu: page-backed scatterlists through an IOVA allocator',
    };
    const text = renderRunReport(result, plain, { source: 'x.yaml', titles });
    expect(text[0]).toBe('Scenario copy-offload (x.yaml)');
    const why = text.slice(text.indexOf('Why'));
    const direct = why.indexOf(titles['dma-direct']);
    const iommu = why.indexOf(titles['dma-iommu']);
    expect(iommu).toBeGreaterThan(0);
    expect(why.slice(iommu + 1, iommu + 4)).toEqual([
      '  every step succeeded',
      '  read-into-cmb: 8192 I/Os of 128 KiB, PRPs',
      '  - the CMB is below the same switch as the reader: BUS_ADDR, no IOVA',
    ]);
    expect(direct).toBeGreaterThan(iommu);
    expect(why.slice(direct + 1, direct + 6)).toEqual([
      '  read-into-cmb: FAILED map: -EREMOTEIO',
      '    nvme0 cannot reach the CMB of nvme1: ACS redirect is set between them',
      '  write-from-cmb: skipped: needs read-into-cmb, which failed',
      '  verify: skipped: a step it needs failed',
      '  - dma_map_sgtable() returned -EREMOTEIO for the first request; no byte moved',
    ]);
  });

  test('ends with the sentence that the figures are modelled, not measured', () => {
    /** The paragraph after the last blank line, unwrapped. */
    const lastParagraph = (text: string[]): string =>
      text.slice(text.lastIndexOf('') + 1).join(' ');
    expect(lastParagraph(renderRunReport(result, plain))).toBe(MODELLED_SENTENCE);
    expect(MODELLED_SENTENCE).toMatch(/modelled.*not measured/);
    const runnerSays = 'Figures are modelled, not measured.';
    expect(lastParagraph(renderRunReport(result, plain, { modelledNote: runnerSays }))).toBe(
      runnerSays,
    );
    const own = { ...result, modelled: 'modelled (cost model), not measured' };
    expect(lastParagraph(renderRunReport(own, plain, { modelledNote: runnerSays }))).toBe(
      own.modelled,
    );
  });

  test('long messages are wrapped at the width, under their indent', () => {
    // 'aaaa bbbb cccc' at width 13 with a 4-space indent: '    aaaa bbbb' is 13 characters,
    // adding ' cccc' would make 18, so cccc starts the next line.
    expect(wrapText('aaaa bbbb cccc', '    ', 13)).toEqual(['    aaaa bbbb', '    cccc']);
    // A word longer than the width still gets a line of its own rather than being cut.
    expect(wrapText('x yyyyyyyyyyyy', '', 5)).toEqual(['x', 'yyyyyyyyyyyy']);
  });

  test('colours paint outcomes without moving the columns', () => {
    const painted = renderRunTable(result, coloured);
    expect(painted.join('\n')).toMatch(ANSI_RE);
    expect(painted.map(stripAnsi)).toEqual(table);
    const failed = painted.find((l) => l.includes('FAILED'))!;
    expect(failed).toContain(coloured.red('FAILED map: -EREMOTEIO'));
  });
});

describe('dmasim run JSON forms', () => {
  test('--json: schemaVersion 1, the scenario, the results', () => {
    const j = JSON.parse(JSON.stringify(runJson(result))) as ScenarioRunResult;
    expect(Object.keys(j)).toEqual(['schemaVersion', 'scenario', 'results']);
    expect(j.results.map((r) => r.strategy)).toEqual(['dma-iommu', 'dma-direct']);
    expect(j.results[1].steps[1].error?.code).toBe('-EREMOTEIO');
  });

  test('--ndjson: one line per design with the scenario name', () => {
    const line = runNdjsonLine('copy-offload', failedResult);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({
      schemaVersion: 1,
      scenario: 'copy-offload',
      result: failedResult,
    });
  });
});

describe('dmasim run usage errors (exit status 2, before the scenario is read)', () => {
  test('an unknown strategy lists the known ids', async () => {
    const r = await run(['run', 'no-such.yaml', '--strategy', 'dma-bogus']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'dmasim: unknown strategy "dma-bogus": expected one of dma-direct, dma-iommu, dma-vec, all\n',
    );
  });

  test('an unknown strategy in a comma list is caught too', async () => {
    const r = await run(['run', 'no-such.yaml', '--strategy', 'dma-direct,nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown strategy "nope"/);
  });

  test('--json and --ndjson together', async () => {
    const r = await run(['run', 'no-such.yaml', '--json', '--ndjson']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--ndjson.*cannot be used with.*--json/);
  });

  test('no scenario', async () => {
    const r = await run(['run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing required argument 'scenario'/);
  });

  test('--help shows the example and the NDJSON line format', async () => {
    const r = await run(['run', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('dmasim run examples/scenarios/copy-offload.yaml');
    expect(r.stdout).toContain('{ "schemaVersion": 1, "scenario": NAME, "result":');
    expect(r.stdout).toMatch(/modelled.*not measured/);
  });
});
