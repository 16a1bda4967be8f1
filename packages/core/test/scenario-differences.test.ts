/**
 * The sentences after the comparison table (issue 6: "then the notes that explain the
 * differences"), on hand-built results: a design failing where others succeed, struct page cost
 * (§9: 64 bytes per 4 KiB page, 256 MiB -> 4 MiB), traffic through the root complex.
 */
import { explainDifferences } from '../src/scenario/differences';
import type { RunMetrics, StrategyRunResult } from '../src/scenario/result';

const MiB = 2 ** 20;
const base: RunMetrics = {
  bytesTransferred: 2 * MiB,
  p2pBytes: 2 * MiB,
  hostBridgeBytes: 0,
  iommuTranslatedBytes: 0,
  bounceBytes: 0,
  dmaSegments: 9,
  nvmeDescriptors: 248,
  iovaBytesPeak: 0,
  iotlbMisses: 0,
  iommuFaults: 0,
  structPageBytes: 4 * MiB,
  mappingMetadataBytes: 2048,
  cpuNs: 5000,
  transferNs: 300000,
  effectiveGBps: 6.99,
  integrity: 'verified',
};
const ok = (strategy: string, m: Partial<RunMetrics> = {}): StrategyRunResult => ({
  strategy,
  ok: true,
  steps: [{ id: 'a', ok: true, skipped: false, stage: null, error: null }],
  metrics: { ...base, ...m },
});

test('one design: nothing to compare', () => {
  expect(explainDifferences([ok('dma-direct')])).toEqual([]);
});

test('identical results: no sentence', () => {
  expect(explainDifferences([ok('dma-direct'), ok('dma-iommu')])).toEqual([]);
});

test('a failure the others do not have, and the struct page cost per design (§9)', () => {
  const failed: StrategyRunResult = {
    strategy: 'dma-vec',
    ok: false,
    steps: [
      {
        id: 'buf',
        ok: false,
        skipped: false,
        stage: 'alloc',
        error: { code: '-ENODEV', message: 'x' },
      },
      {
        id: 'io',
        ok: false,
        skipped: true,
        stage: 'dependency',
        error: { code: 'SKIPPED', message: 'y' },
      },
    ],
    metrics: { ...base, bytesTransferred: 0, structPageBytes: 0, integrity: 'not-checked' },
  };
  const notes = explainDifferences([ok('dma-direct'), ok('dma-iommu'), failed]);
  expect(notes[0]).toBe(
    'dma-vec fails at step "buf" (alloc: -ENODEV) where dma-direct, dma-iommu succeed.',
  );
  // 256 MiB of CMB with struct pages: 65536 pages x 64 bytes = 4 MiB; none without them
  expect(notes[1]).toBe(
    'struct pages for the P2P providers (64 bytes per 4 KiB page of registered BAR): dma-direct, dma-iommu: 4 MiB; dma-vec: 0 bytes.',
  );
  // the failed design moved nothing, so traffic and CPU time are compared among the others only
  expect(notes).toHaveLength(2);
});

test('root complex traffic and lost data are named', () => {
  const notes = explainDifferences([
    ok('dma-direct', { hostBridgeBytes: 0 }),
    ok('dma-iommu', { hostBridgeBytes: 2 * MiB, integrity: 'mismatch' }),
  ]);
  expect(notes).toContain(
    'Data was lost or misplaced under dma-iommu: a verify step found different bytes.',
  );
  expect(notes).toContain('Bytes through a root complex: dma-direct: 0 bytes; dma-iommu: 2 MiB.');
});
