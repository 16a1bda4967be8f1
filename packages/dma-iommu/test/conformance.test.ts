/**
 * The DmaMapOps conformance suite (@dmasim/core/testing; reference §1.1, §3.2, §3.3, §4.2-§4.4,
 * §8, §11) on dma-iommu, three times:
 * - the fabric as the suite builds it, without an IOMMU: every device falls back to dma-direct
 *   (use_dma_iommu() is false), so this run checks the fallback;
 * - behind a strict and behind a lazy IOMMU (`platform.iommu` merged into the fabric), where
 *   every list goes through iommu_dma_map_sg(). These runs use the v6.0-v6.15 bus-entry lengths
 *   (headLengthQuirk off): with the v6.16+ quirk (§4.2 note) a BUS_ADDR entry's dma_length is
 *   the list head's, so the DMA entries no longer hold the input's bytes, which the suite
 *   rightly reports (the last test shows it).
 */
import { createKernelContainer, DmaDevices, Iommu } from '@dmasim/core';
import {
  conformanceFabric,
  conformanceGroups,
  describeDmaMapOpsConformance,
} from '@dmasim/core/testing';
import { createDmaIommuModule, dmaIommuStrategy, IommuDmaOps } from '@dmasim/dma-iommu';

const SEED = Number(process.env.FC_SEED ?? 20261121);

describeDmaMapOpsConformance('dma-iommu', () => dmaIommuStrategy);

describe('the conformance fabric with and without `platform.iommu`', () => {
  it.each([
    ['no IOMMU: dma-direct', undefined, false],
    ['strict: a DMA domain with a cookie', { mode: 'strict' as const }, true],
    ['lazy: a DMA-FQ domain with a cookie and a flush queue', { mode: 'lazy' as const }, true],
  ])('%s', (_what, iommu, translated) => {
    const topology = conformanceFabric(iommu ? { iommu } : {});
    const c = createKernelContainer({ topology, strategy: dmaIommuStrategy });
    expect(c.get(Iommu).enabled).toBe(translated);
    const cookie = c.get(IommuDmaOps).iommuDmaCookie(c.get(DmaDevices).get('client'));
    expect(cookie !== undefined).toBe(translated);
    expect(cookie?.fq != null).toBe(iommu?.mode === 'lazy');
  });
});

describeDmaMapOpsConformance(
  'dma-iommu behind a strict IOMMU (bus entries with their own length)',
  () => createDmaIommuModule({ headLengthQuirk: false }),
  { platform: { iommu: { mode: 'strict' } } },
);

describeDmaMapOpsConformance(
  'dma-iommu behind a lazy IOMMU (bus entries with their own length)',
  () => createDmaIommuModule({ headLengthQuirk: false }),
  { platform: { iommu: { mode: 'lazy' } } },
);

describe(`§4.2 note: the suite reports the v6.16+ head-length quirk (fast-check seed ${SEED})`, () => {
  it('BUS_ADDR entries given the list head’s length hold more bytes than the input', () => {
    const groups = conformanceGroups(() => dmaIommuStrategy, {
      seed: SEED,
      numRuns: 8,
      platform: { iommu: { mode: 'strict' } },
    });
    const c = groups
      .flatMap((g) => g.cases)
      .find((x) => x.name.includes('BUS_ADDR pages: DMA address = CPU physical + bus offset'))!;
    // The list: nvme0 8192 bytes (the head), nvme1 4096, nvme0 4096, nvme0 100: all BUS_ADDR, so
    // all four keep their own slots, each with dma_length = the head's 8192: 4 x 8192 = 32768
    // bytes for an input of 8192 + 4096 + 4096 + 100 = 16484.
    expect(() => c.run()).toThrow('the 4 output entries hold 32768 bytes, the input 16484');
  });
});
