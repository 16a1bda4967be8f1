/**
 * The bundled scenarios (examples/scenarios), each run under the three designs: the outcome of
 * every step per design, the metrics that tell the designs apart, and `dmasim run` printing the
 * table and valid JSON for each.
 *
 * Figures worked out by hand (reference and anchors sections cited per test):
 * - struct pages: 64 bytes per 4 KiB page (§9, anchors §3): a 256 MiB CMB costs
 *   256 MiB / 4 KiB x 64 = 65536 x 64 = 4 MiB = 4194304 bytes; 96 GiB of GPU BAR costs
 *   25165824 pages x 64 = 1.5 GiB = 1610612736 bytes; 1 GiB of GPU BAR costs 16 MiB.
 * - PRPs (§6.1): a page-aligned 128 KiB I/O is PRP1 plus a list of 31 entries (32 pages - 1); a
 *   256 KiB one, PRP1 plus 63 entries. 8 I/Os of 128 KiB: 8 x 31 = 248 descriptors; 4 reads and
 *   4 writes of 256 KiB: 8 x 63 = 504.
 */
import { join } from 'node:path';
import {
  loadScenarioFile,
  runScenario,
  type ScenarioRunResult,
  type StrategyRunResult,
} from '@dmasim/core';
import { builtInRegistry } from '../src/strategies';
import { REPO, run } from './helpers';

const SCENARIOS = join(REPO, 'examples', 'scenarios');
const MiB = 2 ** 20;
const KiB = 1024;
const CMB_STRUCT_PAGES = 4 * MiB;

const cache = new Map<string, ScenarioRunResult>();
function runExample(name: string): Record<string, StrategyRunResult> {
  let r = cache.get(name);
  if (!r) {
    r = runScenario(loadScenarioFile(join(SCENARIOS, `${name}.yaml`)), {
      registry: builtInRegistry(),
    });
    cache.set(name, r);
  }
  return Object.fromEntries(r.results.map((x) => [x.strategy, x]));
}

/** "ok", "skipped" or "<stage> <code>" per step. */
function outcomes(r: StrategyRunResult): Record<string, string> {
  return Object.fromEntries(
    r.steps.map((s) => [
      s.id,
      s.ok ? 'ok' : s.skipped ? 'skipped' : `${s.stage} ${s.error?.code ?? ''}`,
    ]),
  );
}

const DESIGNS = ['dma-direct', 'dma-iommu', 'dma-vec'] as const;

describe('copy-offload (§1.2 BUS_ADDR below a switch, §6.1 PRPs, §9)', () => {
  test('every design copies NIC -> CMB -> nvme0 without the root complex', () => {
    const r = runExample('copy-offload');
    for (const d of DESIGNS) {
      expect(outcomes(r[d]!)).toEqual({ cmb: 'ok', receive: 'ok', flush: 'ok', check: 'ok' });
      const m = r[d]!.metrics;
      // 1 MiB received into the CMB + 1 MiB read from it by nvme0, all peer-to-peer
      expect(m.bytesTransferred).toBe(2 * MiB);
      expect(m.p2pBytes).toBe(2 * MiB);
      expect(m.hostBridgeBytes).toBe(0);
      expect(m.iommuTranslatedBytes).toBe(0);
      // the NIC's one segment + one per 128 KiB request (contiguous CMB) = 1 + 8
      expect(m.dmaSegments).toBe(9);
      expect(m.nvmeDescriptors).toBe(248);
      expect(m.integrity).toBe('verified');
    }
    expect(r['dma-direct']!.metrics.structPageBytes).toBe(CMB_STRUCT_PAGES);
    expect(r['dma-iommu']!.metrics.structPageBytes).toBe(CMB_STRUCT_PAGES);
    expect(r['dma-vec']!.metrics.structPageBytes).toBe(0);
    // dma-direct cannot run on a translating IOMMU: the run says it used passthrough
    expect(r['dma-direct']!.notes!.join('\n')).toMatch(/iommu\.passthrough=1/);
  });
});

describe('copy-offload with ACS redirect (§1.2 redirect -> THRU_HOST_BRIDGE, §4.6)', () => {
  test('allowlisted host bridge with an IOMMU: through the root complex, translated', () => {
    const r = runExample('copy-offload-acs-allowlisted');
    for (const d of DESIGNS) {
      expect(outcomes(r[d]!)).toEqual({ cmb: 'ok', receive: 'ok', flush: 'ok', check: 'ok' });
      // both legs go up to the root complex and down again
      expect(r[d]!.metrics.hostBridgeBytes).toBe(2 * MiB);
      expect(r[d]!.metrics.p2pBytes).toBe(2 * MiB);
      expect(r[d]!.metrics.integrity).toBe('verified');
    }
    // dma-iommu maps THRU_HOST_BRIDGE like RAM (IOVA), dma-vec through dma_map_resource():
    // every byte translated, 2 MiB / 4 KiB = 512 pages each missing the IOTLB once (strict,
    // fresh IOVAs); the largest mapping alive at once is the NIC's 1 MiB
    for (const d of ['dma-iommu', 'dma-vec']) {
      expect(r[d]!.metrics.iommuTranslatedBytes).toBe(2 * MiB);
      expect(r[d]!.metrics.iotlbMisses).toBe(512);
      expect(r[d]!.metrics.iovaBytesPeak).toBe(1 * MiB);
    }
    expect(r['dma-direct']!.metrics.iommuTranslatedBytes).toBe(0);
  });

  test('host bridge not on the allowlist: refused when the memory is set up (§1.2)', () => {
    const r = runExample('copy-offload-acs-refused');
    for (const d of DESIGNS) {
      expect(outcomes(r[d]!)).toEqual({
        cmb: 'alloc -EINVAL',
        receive: 'skipped',
        flush: 'skipped',
        check: 'skipped',
      });
      expect(r[d]!.steps[0]!.error!.message).toMatch(/not compatible/);
      expect(r[d]!.metrics.bytesTransferred).toBe(0);
      expect(r[d]!.metrics.integrity).toBe('not-checked');
    }
  });
});

describe('userspace O_DIRECT through p2pmem/allocate (§2.4, §5.4)', () => {
  test('page-backed designs pin the CMB pages; dma-vec cannot mmap memory without pages', () => {
    const r = runExample('userspace-odirect');
    for (const d of ['dma-direct', 'dma-iommu']) {
      expect(outcomes(r[d]!)).toEqual({
        fill1: 'ok',
        p2pbuf: 'ok',
        read: 'ok',
        write: 'ok',
        check: 'ok',
      });
      // 1 MiB drive -> CMB, 1 MiB CMB -> drive; 4 + 4 I/Os of 256 KiB, 63 PRP entries each
      expect(r[d]!.metrics.p2pBytes).toBe(2 * MiB);
      expect(r[d]!.metrics.nvmeDescriptors).toBe(504);
      expect(r[d]!.metrics.integrity).toBe('verified');
    }
    expect(outcomes(r['dma-vec']!)).toEqual({
      fill1: 'ok',
      p2pbuf: 'alloc -ENODEV',
      read: 'skipped',
      write: 'skipped',
      check: 'skipped',
    });
    expect(r['dma-vec']!.steps[1]!.error!.message).toMatch(/without struct pages/);
  });
});

describe('one I/O over RAM and two providers (§5.3 v6.16 pgmap rule, anchors §6.6)', () => {
  test('page-backed designs write it; dma-vec cannot describe it', () => {
    const r = runExample('mixed-io');
    for (const d of ['dma-direct', 'dma-iommu']) {
      expect(outcomes(r[d]!).write).toBe('ok');
      expect(r[d]!.metrics.integrity).toBe('verified');
      const m = r[d]!.metrics;
      // 64 KiB from RAM through the root complex, 2 x 64 KiB peer-to-peer
      expect(m.bytesTransferred).toBe(192 * KiB);
      expect(m.hostBridgeBytes).toBe(64 * KiB);
      expect(m.p2pBytes).toBe(128 * KiB);
      // one bio per page map, so three requests of one contiguous segment each
      expect(m.dmaSegments).toBe(3);
      // the CMB (4 MiB) and 1 GiB of GPU BAR (16 MiB) have struct pages
      expect(m.structPageBytes).toBe(CMB_STRUCT_PAGES + 16 * MiB);
    }
    expect(outcomes(r['dma-vec']!).write).toBe('bio -EINVAL');
    expect(outcomes(r['dma-vec']!).check).toBe('skipped');
  });
});

describe('GPU BAR as a provider (§9, anchors §3)', () => {
  test('same data, 1.5 GiB of struct pages for the page-backed designs and none for dma-vec', () => {
    const r = runExample('gpu-bar-provider');
    for (const d of DESIGNS) {
      expect(outcomes(r[d]!)).toEqual({ gpubuf: 'ok', receive: 'ok', check: 'ok' });
      expect(r[d]!.metrics.p2pBytes).toBe(4 * MiB);
      expect(r[d]!.metrics.hostBridgeBytes).toBe(0);
    }
    expect(r['dma-direct']!.metrics.structPageBytes).toBe(1610612736);
    expect(r['dma-iommu']!.metrics.structPageBytes).toBe(1610612736);
    expect(r['dma-vec']!.metrics.structPageBytes).toBe(0);
  });
});

describe('no usable provider across sockets (§1.2 allowlist, §2.3 nvmet fall-back)', () => {
  test('nvmet falls back to RAM: every byte crosses host memory twice', () => {
    const r = runExample('no-provider-fallback');
    for (const d of DESIGNS) {
      expect(outcomes(r[d]!)).toEqual({ staging: 'ok', receive: 'ok', flush: 'ok', check: 'ok' });
      expect(r[d]!.metrics.p2pBytes).toBe(0);
      // NIC -> RAM, then RAM -> nvme0
      expect(r[d]!.metrics.hostBridgeBytes).toBe(2 * MiB);
      expect(r[d]!.metrics.integrity).toBe('verified');
      expect(r[d]!.notes!.join('\n')).toMatch(/falls back to RAM/);
    }
  });
});

describe('a buggy mapper behind ACS redirect (§1.2, §4.6: bus addresses bypass the IOMMU only below a switch)', () => {
  test('the IOMMU faults, nothing is written, and the verify says so', () => {
    const r = runExample('buggy-mapper');
    for (const d of ['dma-iommu', 'dma-vec']) {
      expect(outcomes(r[d]!)).toEqual({
        cmb: 'ok',
        receive: 'iommu-fault IO_PAGE_FAULT',
        check: 'verify mismatch',
      });
      expect(r[d]!.metrics.iommuFaults).toBe(1);
      expect(r[d]!.metrics.bytesTransferred).toBe(0);
      expect(r[d]!.metrics.integrity).toBe('mismatch');
      expect(r[d]!.steps[1]!.error!.message).toMatch(/ACS Request Redirect/);
    }
    // passthrough, bus offset 0: the bus address is the CPU address, so the bug goes unseen
    expect(outcomes(r['dma-direct']!)).toEqual({ cmb: 'ok', receive: 'ok', check: 'ok' });
  });
});

describe('dmasim run on every example', () => {
  const names = [
    'copy-offload',
    'copy-offload-acs-allowlisted',
    'copy-offload-acs-refused',
    'userspace-odirect',
    'mixed-io',
    'gpu-bar-provider',
    'no-provider-fallback',
    'buggy-mapper',
  ];
  test.each(names)('%s: the table, and JSON with every metric', async (name) => {
    const file = join(SCENARIOS, `${name}.yaml`);
    const text = await run(['run', file]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/dma-direct\s+dma-iommu\s+dma-vec/);
    expect(text.stdout).toMatch(/modelled/);
    const json = await run(['run', file, '--json']);
    expect(json.code).toBe(0);
    const r = JSON.parse(json.stdout) as ScenarioRunResult;
    expect(r.schemaVersion).toBe(1);
    expect(r.results.map((x) => x.strategy)).toEqual([...DESIGNS]);
    for (const x of r.results) {
      expect(Object.keys(x.metrics).sort()).toEqual(
        [
          'bytesTransferred',
          'p2pBytes',
          'hostBridgeBytes',
          'iommuTranslatedBytes',
          'bounceBytes',
          'dmaSegments',
          'nvmeDescriptors',
          'iovaBytesPeak',
          'iotlbMisses',
          'iommuFaults',
          'structPageBytes',
          'mappingMetadataBytes',
          'cpuNs',
          'transferNs',
          'effectiveGBps',
          'integrity',
        ].sort(),
      );
      // integrity is verified wherever the design succeeded
      if (x.ok) expect(x.metrics.integrity).toBe('verified');
    }
  });
});
