/**
 * Translation (§3.2, §8): every byte a successful map_sg covers reaches, through the DMA address
 * the ops wrote, the CPU physical byte of the input it stands for; the DMA entries hold exactly
 * the input's bytes, one entry per input entry unless the ops merge.
 */
import { DmaDataDirection } from '../dma/direction';
import { PAGE_SIZE } from '../mm/page';
import type { ConformanceRegion } from './conformance-fabric';
import {
  checkProperty,
  newKernel,
  propertyTag,
  type ConformanceGroup,
  type SuiteContext,
} from './conformance-suite';
import { mapExpectingSuccess, unmapAndCheck } from './map-sg-steps';
import { entry, limitsOf, RAM_MIX } from './recipes';
import { describeRecipe, listArb, type EntryRecipe, type RegionSet } from './scatterlist-recipe';

/** Regions whose pages the ops must map: RAM, plus BUS_ADDR and THRU_HOST_BRIDGE pages with pciP2pdma. */
export function mappableRegions(ctx: SuiteContext): RegionSet {
  const p2p: ConformanceRegion[] = ctx.caps.pciP2pdma ? ['nvme0', 'nvme1', 'thru'] : [];
  return ['ram', ...p2p];
}

/** Maps `entries` for the client, checks, unmaps, checks. */
function mapCheckUnmap(
  ctx: SuiteContext,
  entries: readonly EntryRecipe[],
  dir: DmaDataDirection,
  attrs: number,
): void {
  const k = newKernel(ctx);
  const dev = k.client();
  const list = k.build(entries, limitsOf(dev));
  const mapped = mapExpectingSuccess(ctx, k, dev, list, dir, attrs);
  unmapAndCheck(ctx, k, dev, list, mapped, dir, attrs);
}

export function translationGroup(ctx: SuiteContext): ConformanceGroup {
  return {
    name: 'translation (§3.2, §8)',
    cases: [
      {
        name: '§3.2 every byte of a list of System RAM entries (odd offsets and lengths) translates back to its CPU physical byte',
        run() {
          mapCheckUnmap(ctx, RAM_MIX, DmaDataDirection.DMA_BIDIRECTIONAL, 0);
        },
      },
      {
        name: '§3.1/§3.2 a chained table of 300 entries (more than SG_MAX_SINGLE_ALLOC = 128 per chunk) maps every entry',
        run() {
          const entries = Array.from({ length: 300 }, (_, i) =>
            entry('ram', PAGE_SIZE - (i % 7) * 64, (i % 7) * 64),
          );
          mapCheckUnmap(ctx, entries, DmaDataDirection.DMA_TO_DEVICE, 0);
        },
      },
      {
        name: `§3.2 random lists of the pages the ops must map translate byte for byte ${propertyTag(ctx)}`,
        run() {
          checkProperty(
            ctx,
            listArb(mappableRegions(ctx)),
            (r) => mapCheckUnmap(ctx, r.entries, r.dir, r.attrs),
            describeRecipe,
          );
        },
      },
    ],
  };
}
