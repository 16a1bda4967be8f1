/**
 * Hand-written scatterlist recipes for the example-based cases (the properties generate theirs).
 */
import type { DmaDevice } from '../dma/device';
import { PAGE_SIZE } from '../mm/page';
import type { ConformanceRegion } from './conformance-fabric';
import type { EntryRecipe, SegmentLimits } from './scatterlist-recipe';

/** An entry `length` bytes long, a page after the previous one of its region, at `offset` in its page. */
export function entry(
  region: ConformanceRegion,
  length: number,
  offset = 0,
  gapPages = 1,
): EntryRecipe {
  return { region, contiguous: false, gapPages, offset, length };
}

/** An entry that starts at the byte after the previous entry of its region. */
export function contiguous(region: ConformanceRegion, length: number): EntryRecipe {
  return { region, contiguous: true, gapPages: 0, offset: 0, length };
}

/**
 * `n` entries of `length` bytes each, physically back to back, the first `gapPages` pages after
 * the previous entry of the region (0 in a fresh kernel: at the region's base, which is 64 KiB
 * aligned).
 */
export function contiguousRun(
  region: ConformanceRegion,
  n: number,
  length: number,
  gapPages = 0,
): EntryRecipe[] {
  return [
    entry(region, length, 0, gapPages),
    ...Array.from({ length: n - 1 }, () => contiguous(region, length)),
  ];
}

/** A mix of RAM entries with odd offsets and lengths, some sharing no page boundary. */
export const RAM_MIX: readonly EntryRecipe[] = [
  entry('ram', 8 * PAGE_SIZE),
  entry('ram', 1, 100),
  entry('ram', 3000, 1096),
  contiguous('ram', 4096),
  entry('ram', 12288 + 17, 4000),
  entry('ram', 64, 4032),
  entry('ram', 16 * PAGE_SIZE - 512, 512),
  contiguous('ram', 512),
];

/** The device's dma_parms, as placement must respect them. */
export function limitsOf(dev: DmaDevice): SegmentLimits {
  return { maxSegmentSize: dev.maxSegmentSize, segBoundaryMask: dev.segBoundaryMask };
}
