/**
 * Segment limits (§4.1, §5.1, §8 item 10): with inputs that respect the device's
 * dma_get_max_seg_size() and dma_get_seg_boundary(), as kernel callers must provide them, no DMA
 * entry the ops produce is longer or crosses a boundary. Ops that merge must stop at both
 * limits; dma-direct never merges (§3.2), so it passes by construction.
 */
import { DmaDataDirection } from '../dma/direction';
import type { DmaDeviceParams } from '../dma/device';
import type { ConformanceRegion } from './conformance-fabric';
import {
  checkProperty,
  newKernel,
  propertyTag,
  type ConformanceCase,
  type ConformanceGroup,
  type SuiteContext,
} from './conformance-suite';
import { mapExpectingSuccess, unmapAndCheck } from './map-sg-steps';
import { contiguousRun, limitsOf } from './recipes';
import { describeRecipe, listArb, type EntryRecipe } from './scatterlist-recipe';
import { mappableRegions } from './group-translation';

const KiB = 1024;

/** The small limits: 64 KiB segments (the PCI default) that must not cross a 64 KiB boundary. */
export const SMALL_SEGMENT_LIMITS: DmaDeviceParams = {
  maxSegmentSize: 64 * KiB,
  segmentBoundaryMask: 0xffff,
};

function mapWithinLimits(
  ctx: SuiteContext,
  entries: readonly EntryRecipe[],
  dir: DmaDataDirection,
  attrs: number,
): void {
  const k = newKernel(ctx);
  const dev = k.client(SMALL_SEGMENT_LIMITS);
  const list = k.build(entries, limitsOf(dev));
  const mapped = mapExpectingSuccess(ctx, k, dev, list, dir, attrs, { segmentLimits: true });
  unmapAndCheck(ctx, k, dev, list, mapped, dir, attrs);
}

/** Contiguous runs in `region` that a merger could join beyond the limits; regions start 64 KiB aligned. */
function runCases(ctx: SuiteContext, region: ConformanceRegion, what: string): ConformanceCase[] {
  const bidi = DmaDataDirection.DMA_BIDIRECTIONAL;
  return [
    {
      name: `§8 (10) four physically contiguous 64 KiB entries of ${what} stay segments of at most 64 KiB`,
      // The first entry starts at the region's 64 KiB aligned base (no gap): 4 x 64 KiB back to back.
      run: () => mapWithinLimits(ctx, contiguousRun(region, 4, 64 * KiB), bidi, 0),
    },
    {
      name: `§8 (10) sixteen contiguous 4 KiB entries of ${what} from 32 KiB into a 64 KiB window are not merged across the boundary`,
      // base + 32 KiB .. base + 96 KiB: all of it merged is 64 KiB long but crosses base + 64 KiB.
      run: () => mapWithinLimits(ctx, contiguousRun(region, 16, 4 * KiB, 8), bidi, 0),
    },
    {
      name: `§8 (10) three contiguous 32 KiB entries of ${what}: at most two of them fit one segment`,
      run: () => mapWithinLimits(ctx, contiguousRun(region, 3, 32 * KiB), bidi, 0),
    },
  ];
}

export function segmentLimitsGroup(ctx: SuiteContext): ConformanceGroup {
  return {
    name: 'segment limits: max_segment_size 64 KiB, boundary 0xffff (§4.1, §8 item 10)',
    cases: [
      ...runCases(ctx, 'ram', 'System RAM'),
      ...(ctx.caps.pciP2pdma ? runCases(ctx, 'nvme0', 'BUS_ADDR P2P memory') : []),
      ...(ctx.caps.pciP2pdma ? runCases(ctx, 'thru', 'THRU_HOST_BRIDGE P2P memory') : []),
      {
        name: `§8 (10) random lists within the limits map into segments within the limits ${propertyTag(ctx)}`,
        run() {
          checkProperty(
            ctx,
            listArb(mappableRegions(ctx)),
            (r) => mapWithinLimits(ctx, r.entries, r.dir, r.attrs),
            describeRecipe,
          );
        },
      },
    ],
  };
}
