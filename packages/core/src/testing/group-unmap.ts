/**
 * unmap_sg releases everything map_sg set up (§3.2 dma_direct_unmap_sg, §3.3, §8): with the
 * nents given to map_sg, nothing translates any more, no mapping is live in the DMA-API debug
 * checker, no bus-address mark is left, and the driver-unbind leak check (§8 item 12) finds
 * nothing. Lists live side by side are independent: unmapping one leaves the others mapped.
 */
import fc from 'fast-check';
import { DmaDataDirection } from '../dma/direction';
import { deviceReleaseDriver } from '../dma/mapping';
import { PAGE_SIZE } from '../mm/page';
import { checkNothingLive } from './conformance-checks';
import { fail, hex } from './conformance-failure';
import type { BuiltList } from './conformance-kernel';
import {
  checkProperty,
  newKernel,
  propertyTag,
  type ConformanceGroup,
  type SuiteContext,
} from './conformance-suite';
import { mapExpectingSuccess, unmapAndCheck, type MappedList } from './map-sg-steps';
import { contiguous, entry, limitsOf } from './recipes';
import { describeRecipe, listArb, type EntryRecipe, type ListRecipe } from './scatterlist-recipe';
import { mappableRegions } from './group-translation';

/** RAM, and with pciP2pdma a page of each mappable P2P kind. */
function mixedList(ctx: SuiteContext): EntryRecipe[] {
  const p2p = ctx.caps.pciP2pdma
    ? [
        entry('nvme0', 2 * PAGE_SIZE, 1024),
        entry('thru', PAGE_SIZE),
        contiguous('thru', PAGE_SIZE),
        entry('nvme1', 512),
      ]
    : [];
  return [entry('ram', 3 * PAGE_SIZE), ...p2p, entry('ram', 700, 300)];
}

export function unmapGroup(ctx: SuiteContext): ConformanceGroup {
  return {
    name: 'unmap releases everything (§3.2, §3.3, §8)',
    cases: [
      {
        name: '§3.2/§8 dma_unmap_sg with the nents given to map_sg: nothing translates, nothing live, no mark left, no debug error',
        run() {
          const k = newKernel(ctx);
          const dev = k.client();
          const list = k.build(mixedList(ctx), limitsOf(dev));
          const dir = DmaDataDirection.DMA_FROM_DEVICE;
          const mapped = mapExpectingSuccess(ctx, k, dev, list, dir, 0);
          unmapAndCheck(ctx, k, dev, list, mapped, dir, 0);
          checkNothingLive(k, dev, 'after dma_unmap_sg');
        },
      },
      {
        name: '§8 (12) unbinding the driver after every list was unmapped reports no pending DMA mapping',
        run() {
          const k = newKernel(ctx);
          const dev = k.client();
          const dir = DmaDataDirection.DMA_BIDIRECTIONAL;
          for (let i = 0; i < 3; i++) {
            const list = k.build(mixedList(ctx), limitsOf(dev));
            const mapped = mapExpectingSuccess(ctx, k, dev, list, dir, 0);
            unmapAndCheck(ctx, k, dev, list, mapped, dir, 0);
          }
          deviceReleaseDriver(dev);
          checkNothingLive(k, dev, 'after the driver was unbound');
        },
      },
      {
        name: `§3.2/§8 several lists mapped at once and unmapped in any order: the others stay mapped, then nothing is left ${propertyTag(ctx)}`,
        run() {
          const arb = fc
            .array(listArb(mappableRegions(ctx), { maxEntries: 8 }), { minLength: 2, maxLength: 4 })
            .chain((lists) =>
              fc.tuple(
                fc.constant(lists),
                fc.shuffledSubarray(
                  lists.map((_, i) => i),
                  { minLength: lists.length },
                ),
              ),
            );
          checkProperty(
            ctx,
            arb,
            ([recipes, order]) => {
              const k = newKernel(ctx);
              const dev = k.client();
              const live = new Map<
                number,
                { r: ListRecipe; list: BuiltList; mapped: MappedList; pairs: [number, number][] }
              >();
              recipes.forEach((r, i) => {
                const list = k.build(r.entries, limitsOf(dev));
                const mapped = mapExpectingSuccess(ctx, k, dev, list, r.dir, r.attrs);
                // What each probed DMA address reached while mapped.
                const pairs = mapped.probed.map((a): [number, number] => [
                  a,
                  k.ops.dmaToPhys(dev, a)!,
                ]);
                live.set(i, { r, list, mapped, pairs });
              });
              for (const i of order) {
                const l = live.get(i)!;
                live.delete(i);
                unmapAndCheck(ctx, k, dev, l.list, l.mapped, l.r.dir, l.r.attrs);
                for (const [j, other] of live) {
                  for (const [a, phys] of other.pairs) {
                    const got = k.ops.dmaToPhys(dev, a);
                    if (got !== phys) {
                      fail(
                        `§3.2: unmapping list ${i} changed list ${j}, still mapped: DMA address ` +
                          `${hex(a)} reached ${hex(phys)} and now reaches ${hex(got)}`,
                      );
                    }
                  }
                }
              }
              deviceReleaseDriver(dev);
              checkNothingLive(k, dev, 'after every list was unmapped and the driver unbound');
            },
            ([recipes, order]) =>
              recipes.map((r, i) => `list ${i}: ${describeRecipe(r)}`).join('\n') +
              `\nunmap order: ${order.join(', ')}`,
          );
        },
      },
    ],
  };
}
