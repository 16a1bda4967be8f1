/**
 * Single mappings (§11 map_phys / unmap_phys, v6.18; map_page before): dma_map_phys() returns a
 * DMA address every byte of which reaches the mapped CPU byte, and dma_unmap_phys() releases it
 * (§8: the driver checks dma_mapping_error() first, as the checker demands).
 */
import fc from 'fast-check';
import type { DmaDevice } from '../dma/device';
import { DmaDataDirection } from '../dma/direction';
import { dmaMapPhys, dmaMappingError, dmaUnmapPhys } from '../dma/mapping';
import { PAGE_SIZE } from '../mm/page';
import { checkNothingLive, checkNotTranslated } from './conformance-checks';
import { fail, hex } from './conformance-failure';
import type { ConformanceKernel } from './conformance-kernel';
import {
  checkProperty,
  newKernel,
  propertyTag,
  type ConformanceGroup,
  type SuiteContext,
} from './conformance-suite';
import { entry } from './recipes';
import type { PlacedEntry } from './scatterlist-recipe';

/** Probes of a mapped range: both ends, the middle and every page start. */
export function rangeProbes(phys: number, size: number): number[] {
  const out = new Set<number>([0, size - 1, Math.floor(size / 2)]);
  for (let k = (PAGE_SIZE - (phys % PAGE_SIZE)) % PAGE_SIZE; k < size; k += PAGE_SIZE) out.add(k);
  return [...out];
}

/**
 * Checks a single mapping of [phys, phys + size) at `addr`: not the error cookie, below the
 * device's DMA limit, every probe reaching its CPU byte. Returns the probed DMA addresses.
 */
export function checkSingleMapping(
  k: ConformanceKernel,
  dev: DmaDevice,
  what: string,
  phys: number,
  size: number,
  addr: number,
): number[] {
  if (dmaMappingError(dev, addr)) {
    fail(`§11: ${what} of ${size} bytes at CPU physical ${hex(phys)} returned DMA_MAPPING_ERROR`);
  }
  if (addr < 0 || addr + size - 1 > dev.dmaLimit) {
    fail(
      `§3.2: ${what} returned DMA address ${hex(addr)} (+${size}), beyond the device's DMA mask ${hex(dev.dmaLimit)}`,
    );
  }
  const probed: number[] = [];
  for (const off of rangeProbes(phys, size)) {
    const got = k.ops.dmaToPhys(dev, addr + off);
    if (got !== phys + off) {
      fail(
        `§11: ${what} of CPU physical ${hex(phys)} (${size} bytes) at DMA ${hex(addr)}: DMA address ` +
          `${hex(addr + off)} reaches ${hex(got)} (dmaToPhys), expected ${hex(phys + off)}`,
      );
    }
    probed.push(addr + off);
  }
  return probed;
}

/** Maps, checks, unmaps and checks the given RAM ranges, all live at once, unmapped in `order`. */
function roundTrip(
  k: ConformanceKernel,
  dev: DmaDevice,
  ranges: readonly PlacedEntry[],
  dir: DmaDataDirection,
  order: readonly number[],
): void {
  const live = ranges.map((r) => {
    const addr = dmaMapPhys(dev, r.phys, r.length, dir);
    return { r, addr, probed: checkSingleMapping(k, dev, 'dma_map_phys', r.phys, r.length, addr) };
  });
  for (const i of order) {
    const m = live[i]!;
    dmaUnmapPhys(dev, m.addr, m.r.length, dir);
    checkNotTranslated(k, dev, m.probed, 'after dma_unmap_phys');
  }
  checkNothingLive(k, dev, 'after every dma_unmap_phys');
}

export function mapPhysGroup(ctx: SuiteContext): ConformanceGroup {
  return {
    name: 'map_phys / unmap_phys (§11)',
    cases: [
      {
        name: '§11 dma_map_phys of 1 byte, a page, 3 pages at offset 100 and 256 KiB: every byte reaches its CPU byte; dma_unmap_phys releases them',
        run() {
          const k = newKernel(ctx);
          const dev = k.client();
          const placed = k.place([
            entry('ram', 1, 7),
            entry('ram', PAGE_SIZE),
            entry('ram', 3 * PAGE_SIZE, 100),
            entry('ram', 256 * 1024),
          ]);
          roundTrip(k, dev, placed, DmaDataDirection.DMA_BIDIRECTIONAL, [3, 0, 2, 1]);
        },
      },
      {
        name: `§11 random single mappings, live together, unmapped in any order ${propertyTag(ctx)}`,
        run() {
          const arb = fc
            .array(
              fc.record({
                offset: fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
                length: fc.integer({ min: 1, max: 128 * 1024 }),
                gapPages: fc.integer({ min: 0, max: 4 }),
              }),
              { minLength: 1, maxLength: 6 },
            )
            .chain((rs) =>
              fc.record({
                ranges: fc.constant(rs),
                order: fc.shuffledSubarray(
                  rs.map((_, i) => i),
                  { minLength: rs.length },
                ),
                dir: fc.constantFrom(
                  DmaDataDirection.DMA_BIDIRECTIONAL,
                  DmaDataDirection.DMA_TO_DEVICE,
                  DmaDataDirection.DMA_FROM_DEVICE,
                ),
              }),
            );
          checkProperty(
            ctx,
            arb,
            ({ ranges, order, dir }) => {
              const k = newKernel(ctx);
              const dev = k.client();
              const placed = k.place(
                ranges.map((r) => entry('ram', r.length, r.offset, r.gapPages)),
              );
              roundTrip(k, dev, placed, dir, order);
            },
            (v) =>
              `${v.ranges.map((r, i) => `  [${i}] offset ${r.offset} length ${r.length} gap ${r.gapPages}`).join('\n')}\nunmap order ${v.order.join(', ')}, direction ${v.dir}`,
          );
        },
      },
    ],
  };
}
