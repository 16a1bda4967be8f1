/**
 * Return conventions of map_sg and of the generic entry points (§3.3, §11), and the rule that a
 * failed map leaves nothing mapped (§3.2 unwind).
 */
import fc from 'fast-check';
import { DmaDataDirection } from '../dma/direction';
import { dmaMapSgAttrs, dmaMapSgtable, dmaUnmapSgAttrs, dmaUnmapSgtable } from '../dma/mapping';
import { PAGE_SIZE } from '../mm/page';
import { checkMapSgReturn, MAP_SG_ERRORS } from './conformance-checks';
import { fail, retName } from './conformance-failure';
import type { ConformanceKernel } from './conformance-kernel';
import {
  checkProperty,
  newKernel,
  propertyTag,
  type ConformanceGroup,
  type SuiteContext,
} from './conformance-suite';
import { mapExpectingFailure } from './map-sg-steps';
import { entry, limitsOf, RAM_MIX } from './recipes';
import { ALL_REGIONS, describeRecipe, listArb, type EntryRecipe } from './scatterlist-recipe';

const BIDI = DmaDataDirection.DMA_BIDIRECTIONAL;

/** RAM around one NOT_SUPPORTED page: every design must refuse it with -EREMOTEIO (§1.1). */
const WITH_REMOTE: readonly EntryRecipe[] = [
  entry('ram', 2 * PAGE_SIZE),
  entry('ram', PAGE_SIZE, 256),
  entry('remote', PAGE_SIZE),
  entry('ram', PAGE_SIZE),
];

/** The generic layer's WARN for a map_sg result outside the convention (mapping.ts). */
function checkNoGenericWarn(k: ConformanceKernel): void {
  const warn = k.log.messages().find((m) => m.msg.includes('__dma_map_sg_attrs'));
  if (warn) {
    fail(
      `§3.3: the generic layer WARNed about ${k.ops.name}'s map_sg result: "${warn.msg}"; an ` +
        'error must be one of -EINVAL, -ENOMEM, -EIO, -EREMOTEIO',
    );
  }
}

export function returnConventionsGroup(ctx: SuiteContext): ConformanceGroup {
  const name = ctx.opsName;
  return {
    name: 'return conventions (§3.3, §11)',
    cases: [
      {
        name: `§3.3/§11 map_sg returns 1..nents DMA entries or -EINVAL/-ENOMEM/-EIO/-EREMOTEIO, on random lists of RAM and P2P pages ${propertyTag(ctx)}`,
        run() {
          checkProperty(
            ctx,
            listArb(ALL_REGIONS),
            (r) => {
              const k = newKernel(ctx);
              const dev = k.client();
              const list = k.build(r.entries, limitsOf(dev));
              const nents = list.sgt.origNents;
              const ret = dev.dmaOps.mapSg(dev, list.sgt.sgl!, nents, r.dir, r.attrs);
              checkMapSgReturn(ret, nents, ctx.caps, name);
              if (ret > 0) dev.dmaOps.unmapSg(dev, list.sgt.sgl!, nents, r.dir, r.attrs);
            },
            describeRecipe,
          );
        },
      },
      {
        name: '§3.3/§11 a failing map_sg returns a negative errno of the four, never 0 (a list with a NOT_SUPPORTED page)',
        run() {
          const k = newKernel(ctx);
          const dev = k.client();
          const list = k.build(WITH_REMOTE, limitsOf(dev));
          const ret = dev.dmaOps.mapSg(dev, list.sgt.sgl!, list.sgt.origNents, BIDI, 0);
          checkMapSgReturn(ret, list.sgt.origNents, ctx.caps, name);
          if (ret > 0) {
            fail(
              `§1.1/§3.2: ${name} map_sg mapped a list holding a NOT_SUPPORTED P2P page (returned ${ret})`,
            );
          }
        },
      },
      {
        name: '§3.3 dma_map_sgtable returns 0 and sets sgt.nents to the DMA entry count (1..orig_nents)',
        run() {
          const k = newKernel(ctx);
          const dev = k.client();
          const list = k.build(RAM_MIX, limitsOf(dev));
          const orig = list.sgt.origNents;
          list.sgt.nents = 0;
          const ret = dmaMapSgtable(dev, list.sgt, BIDI);
          checkNoGenericWarn(k);
          if (ret !== 0)
            fail(
              `§3.3: dma_map_sgtable of ${orig} RAM entries returned ${retName(ret)}, expected 0`,
            );
          const n = list.sgt.nents;
          if (n < 1 || n > orig || (!ctx.caps.mergesSegments && n !== orig)) {
            fail(
              `§3.3: dma_map_sgtable set sgt.nents to ${n} for orig_nents ${orig} (expected ` +
                `${ctx.caps.mergesSegments ? `1..${orig}` : orig})`,
            );
          }
          dmaUnmapSgtable(dev, list.sgt, BIDI);
        },
      },
      {
        name: '§3.3 dma_map_sgtable returns the negative code on failure, leaves sgt.nents alone, and the generic layer has nothing to WARN about',
        run() {
          const k = newKernel(ctx);
          const dev = k.client();
          const list = k.build(WITH_REMOTE, limitsOf(dev));
          const ret = dmaMapSgtable(dev, list.sgt, BIDI);
          checkNoGenericWarn(k);
          if (!MAP_SG_ERRORS.includes(ret)) {
            fail(
              `§3.3: dma_map_sgtable of a list with a NOT_SUPPORTED page returned ${retName(ret)}`,
            );
          }
          if (list.sgt.nents !== list.sgt.origNents) {
            fail(`§3.3: a failed dma_map_sgtable changed sgt.nents to ${list.sgt.nents}`);
          }
        },
      },
      {
        name: '§3.3 dma_map_sg_attrs returns the DMA entry count on success and 0 on any error',
        run() {
          const k = newKernel(ctx);
          const dev = k.client();
          const ok = k.build(RAM_MIX, limitsOf(dev));
          const n = dmaMapSgAttrs(dev, ok.sgt.sgl!, ok.sgt.origNents, BIDI);
          if (n < 1 || n > ok.sgt.origNents) {
            fail(`§3.3: dma_map_sg_attrs of ${ok.sgt.origNents} RAM entries returned ${n}`);
          }
          dmaUnmapSgAttrs(dev, ok.sgt.sgl!, ok.sgt.origNents, BIDI);
          const bad = k.build(WITH_REMOTE, limitsOf(dev));
          const z = dmaMapSgAttrs(dev, bad.sgt.sgl!, bad.sgt.origNents, BIDI);
          if (z !== 0)
            fail(
              `§3.3: dma_map_sg_attrs of a list with a NOT_SUPPORTED page returned ${z}, expected 0`,
            );
          checkNoGenericWarn(k);
        },
      },
      {
        name: '§3.2 a failed map_sg leaves nothing mapped: the list as built, no DMA flag, no live mapping, no address translating',
        run() {
          const k = newKernel(ctx);
          const dev = k.client();
          // Mappable entries of every kind before the refused one, so the unwind has work to do.
          const list = k.build(
            [
              entry('ram', 2 * PAGE_SIZE),
              entry('nvme0', PAGE_SIZE, 512),
              entry('thru', 2 * PAGE_SIZE),
              entry('ram', 100, 64),
              entry('nvme1', PAGE_SIZE),
              entry('remote', PAGE_SIZE),
              entry('ram', PAGE_SIZE),
            ],
            limitsOf(dev),
          );
          mapExpectingFailure(ctx, k, dev, list, DmaDataDirection.DMA_FROM_DEVICE, 0, '§1.1/§3.3');
        },
      },
      {
        name: `§3.2 a failed map_sg leaves nothing mapped, on random lists with a NOT_SUPPORTED page anywhere ${propertyTag(ctx)}`,
        run() {
          const arb = fc
            .tuple(listArb(ALL_REGIONS), fc.nat(), fc.integer({ min: 1, max: 8 * 1024 }))
            .map(([r, at, length]) => {
              const entries = [...r.entries];
              entries.splice(at % (entries.length + 1), 0, entry('remote', length));
              return { ...r, entries };
            });
          checkProperty(
            ctx,
            arb,
            (r) => {
              const k = newKernel(ctx);
              const dev = k.client();
              const list = k.build(r.entries, limitsOf(dev));
              mapExpectingFailure(ctx, k, dev, list, r.dir, r.attrs, '§1.1/§3.3');
            },
            describeRecipe,
          );
        },
      },
    ],
  };
}
