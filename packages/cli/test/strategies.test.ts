/**
 * `dmasim strategies`: the three built-in designs (DESIGN.md; reference §3 dma-direct, §4
 * dma-iommu, §5.6 the dma_vec RFC) and how each gets its DMA ops (§11 dispatch: dma-direct when
 * the device has no ops, dma-iommu when the IOMMU translates; the RFC maps RAM with whichever
 * the platform has).
 */
import { lines, run } from './helpers';

interface StrategiesJson {
  schemaVersion: number;
  strategies: {
    id: string;
    title: string;
    origin: string;
    usesPlatformDmaOps: boolean;
    platformDmaOps: 'iommu' | 'direct' | null;
  }[];
}

test('the report lists dma-direct, dma-iommu and dma-vec with their DMA ops (§11)', async () => {
  const r = await run(['strategies']);
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  const out = lines(r.stdout);
  expect(out[0]).toBe('Strategies (3 registered)');
  const heads = out.filter((l) => /^dma-/.test(l)).map((l) => l.split('  ')[0]);
  expect(heads).toEqual(['dma-direct', 'dma-iommu', 'dma-vec']);
  const opsOf = (id: string): string => {
    const i = out.findIndex((l) => l.startsWith(`${id}  `));
    const l = out.slice(i + 1).find((x) => x.trim().startsWith('DMA ops'))!;
    return l.trim().replace(/^DMA ops\s+/, '');
  };
  // §11: get_dma_ops() == NULL -> dma-direct (no IOMMU); use_dma_iommu() -> dma-iommu.
  expect(opsOf('dma-direct')).toBe("its own; the platform's on one without an IOMMU");
  expect(opsOf('dma-iommu')).toBe("its own; the platform's on one with an enabled IOMMU");
  // §5.6: only the P2P side leaves the DMA API; RAM is mapped by the platform's ops.
  expect(opsOf('dma-vec')).toBe("the platform's (dma-iommu with an IOMMU, dma-direct without)");
  // The origin line of the RFC (§5.6 posting, 2019).
  expect(r.stdout).toContain('2019 RFC "Removing struct page from P2PDMA"');
});

test('--json parses: id, title, origin, usesPlatformDmaOps, platformDmaOps', async () => {
  const r = await run(['strategies', '--json']);
  expect(r.code).toBe(0);
  const j = JSON.parse(r.stdout) as StrategiesJson;
  expect(j.schemaVersion).toBe(1);
  expect(j.strategies.map((s) => [s.id, s.usesPlatformDmaOps, s.platformDmaOps])).toEqual([
    ['dma-direct', false, 'direct'],
    ['dma-iommu', false, 'iommu'],
    ['dma-vec', true, null],
  ]);
  for (const s of j.strategies) {
    expect(Object.keys(s)).toEqual([
      'id',
      'title',
      'origin',
      'usesPlatformDmaOps',
      'platformDmaOps',
    ]);
    expect(s.title).toMatch(new RegExp(`^${s.id}: `));
    expect(s.origin.length).toBeGreaterThan(0);
  }
});

test('dmasim --help lists run and strategies', async () => {
  const r = await run(['--help']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^ {2}run \[options\] <scenario>/m);
  expect(r.stdout).toMatch(/^ {2}strategies \[options\]/m);
});
