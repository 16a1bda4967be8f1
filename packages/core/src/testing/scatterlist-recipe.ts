/**
 * Scatterlists for the conformance suite: a recipe (what fast-check generates and shrinks, and
 * what a failure report prints) and its placement in one kernel's memory.
 *
 * Placement keeps one cursor per region (System RAM, each provider's P2P memory) for the whole
 * kernel, so lists mapped side by side never share a byte, and respects the device's DMA
 * parameters the way a kernel caller must (the block layer splits bios to dma_get_max_seg_size()
 * and dma_get_seg_boundary(), §5.1; dma-direct does not split, §3.2): an entry is never longer
 * than the max segment size and never crosses a boundary window in CPU physical addresses (the
 * fabric's bus offsets are multiples of 4 GiB, so it does not cross one in bus addresses either).
 *
 * Entries never share a cache line: dma-debug reports overlapping cache-line mappings of
 * non-TO_DEVICE mappings (§8 item 11), which would be a fault of the suite, not of the ops. An
 * entry asked to be contiguous with the previous one of its region starts at the next 64-byte
 * line, which is the very next byte whenever the previous entry ended on a line (the generator
 * favours such lengths), so mergers meet physically contiguous entries.
 */
import fc from 'fast-check';
import { DmaDataDirection, dmaDirectionName } from '../dma/direction';
import { DMA_ATTR_NO_WARN, DMA_ATTR_SKIP_CPU_SYNC, DMA_ATTR_WEAK_ORDERING } from '../dma/attrs';
import { PAGE_SIZE } from '../mm/page';
import { CONFORMANCE_PROVIDERS, type ConformanceRegion } from './conformance-fabric';

/** L1_CACHE_BYTES on x86-64 and arm64: dma-debug tracks mappings per cache line of this size. */
export const CACHELINE_BYTES = 64;

/** One entry of a recipe. */
export interface EntryRecipe {
  region: ConformanceRegion;
  /** Start right after the previous entry of the same region (rounded up to a cache line). */
  contiguous: boolean;
  /** Otherwise: whole pages skipped after the previous entry's last page, then... */
  gapPages: number;
  /** ...this byte offset into the page. */
  offset: number;
  /** Bytes (clamped by placement to the device's segment limits). */
  length: number;
}

export interface ListRecipe {
  entries: EntryRecipe[];
  dir: DmaDataDirection;
  attrs: number;
}

/** The DMA parameters placement respects (the device's dma_parms). */
export interface SegmentLimits {
  maxSegmentSize: number;
  segBoundaryMask: number;
}

/** An entry placed in memory: where its bytes are. */
export interface PlacedEntry {
  region: ConformanceRegion;
  phys: number;
  length: number;
}

/** A region of memory lists are carved from, with the placement cursor. */
export interface RegionCursor {
  readonly base: number;
  readonly end: number;
  /** First free byte; undefined before the first entry. */
  next: number | undefined;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/**
 * Places the entries of `recipe` with the kernel's cursors (see the file comment). Throws when a
 * region is exhausted (a recipe too large for the suite's memory: a suite bug).
 */
export function placeEntries(
  entries: readonly EntryRecipe[],
  cursors: Record<ConformanceRegion, RegionCursor>,
  limits: SegmentLimits,
): PlacedEntry[] {
  // segment_boundary_mask + 1, with 2^53 standing for the 2^64 of a ULONG_MAX mask.
  const window = Math.min(limits.segBoundaryMask + 1, 2 ** 53);
  return entries.map((e) => {
    const cur = cursors[e.region];
    let start: number;
    if (cur.next === undefined) start = cur.base + e.gapPages * PAGE_SIZE + e.offset;
    else if (e.contiguous) start = alignUp(cur.next, CACHELINE_BYTES);
    else start = alignUp(cur.next, PAGE_SIZE) + e.gapPages * PAGE_SIZE + e.offset;
    let length = Math.max(1, Math.min(e.length, limits.maxSegmentSize));
    const inWindow = start % window;
    if (inWindow + length > window) length = window - inWindow;
    if (start + length > cur.end) {
      throw new Error(
        `conformance suite: region ${e.region} exhausted (0x${start.toString(16)} + ${length} > ` +
          `0x${cur.end.toString(16)}); the recipe is too large (suite bug)`,
      );
    }
    cur.next = start + length;
    return { region: e.region, phys: start, length };
  });
}

/** The regions the generator may draw from. */
export type RegionSet = readonly ConformanceRegion[];

/** Every region: RAM and the four providers. */
export const ALL_REGIONS: RegionSet = ['ram', ...CONFORMANCE_PROVIDERS];

/** A length: whole pages, whole cache lines, or any byte count, up to 64 KiB + a page. */
export function lengthArb(maxBytes = 64 * 1024 + PAGE_SIZE): fc.Arbitrary<number> {
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .integer({ min: 1, max: Math.floor(maxBytes / PAGE_SIZE) })
        .map((p) => p * PAGE_SIZE),
    },
    {
      weight: 2,
      arbitrary: fc
        .integer({ min: 1, max: Math.floor(maxBytes / CACHELINE_BYTES) })
        .map((l) => l * CACHELINE_BYTES),
    },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: maxBytes }) },
  );
}

/**
 * How often each region is drawn: RAM most, a NOT_SUPPORTED provider least, so that a fair share
 * of lists from every region holds no refused page and is mapped (P(none in 12 entries) ~ 1/3).
 */
const REGION_WEIGHTS: Readonly<Record<ConformanceRegion, number>> = {
  ram: 4,
  nvme0: 2,
  nvme1: 2,
  thru: 2,
  remote: 1,
};

export function entryArb(regions: RegionSet, maxBytes?: number): fc.Arbitrary<EntryRecipe> {
  return fc.record({
    region: fc.oneof(
      ...regions.map((r) => ({ weight: REGION_WEIGHTS[r], arbitrary: fc.constant(r) })),
    ),
    contiguous: fc.boolean(),
    gapPages: fc.integer({ min: 0, max: 3 }),
    offset: fc.oneof(
      fc.constant(0),
      fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
      fc.integer({ min: 0, max: PAGE_SIZE / CACHELINE_BYTES - 1 }).map((l) => l * CACHELINE_BYTES),
    ),
    length: lengthArb(maxBytes),
  });
}

/** Attributes a driver may pass to dma_map_sg_attrs() that change nothing about addresses (§3.4). */
const HARMLESS_ATTRS = [0, DMA_ATTR_SKIP_CPU_SYNC, DMA_ATTR_NO_WARN, DMA_ATTR_WEAK_ORDERING];

/** A random list of 1..maxEntries entries from `regions`, any direction, harmless attributes. */
export function listArb(
  regions: RegionSet,
  opts: { maxEntries?: number; maxBytes?: number } = {},
): fc.Arbitrary<ListRecipe> {
  return fc.record({
    entries: fc.array(entryArb(regions, opts.maxBytes), {
      minLength: 1,
      maxLength: opts.maxEntries ?? 24,
    }),
    dir: fc.constantFrom(
      DmaDataDirection.DMA_BIDIRECTIONAL,
      DmaDataDirection.DMA_TO_DEVICE,
      DmaDataDirection.DMA_FROM_DEVICE,
    ),
    attrs: fc.constantFrom(...HARMLESS_ATTRS),
  });
}

/** A recipe as one line per entry, for failure reports. */
export function describeRecipe(r: ListRecipe): string {
  const lines = r.entries.map(
    (e, i) =>
      `  [${i}] ${e.region} ${e.contiguous ? 'contiguous' : `gap ${e.gapPages} pages + ${e.offset}`} ` +
      `length ${e.length}`,
  );
  return `${dmaDirectionName(r.dir)}, attrs 0x${r.attrs.toString(16)}, ${r.entries.length} entries:\n${lines.join('\n')}`;
}

/** Placed entries as one line each, for failure reports. */
export function describePlaced(entries: readonly PlacedEntry[]): string {
  return entries
    .map((e, i) => `  [${i}] ${e.region} phys 0x${e.phys.toString(16)} length ${e.length}`)
    .join('\n');
}
