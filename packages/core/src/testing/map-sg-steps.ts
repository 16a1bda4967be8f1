/**
 * The map_sg / unmap_sg steps the groups share, each followed by the checks that apply to it.
 * The ops are called as the generic layer calls them (dev.dmaOps, i.e. through the DMA-API debug
 * checker's wrapper) so that their raw return value is seen; the generic entry points
 * (dma_map_sgtable(), dma_map_sg_attrs()) have their own cases in the return-conventions group.
 */
import type { DmaDevice } from '../dma/device';
import type { DmaDataDirection } from '../dma/direction';
import { EREMOTEIO } from '../errno';
import { mapTypeName, PciP2pdmaMapType } from '../p2pdma/map-type';
import { sgDmaIsBusAddress, sgEntries } from '../scatterlist/scatterlist';
import type { ConformanceRegion } from './conformance-fabric';
import {
  checkDebugClean,
  checkEntriesRestored,
  checkMapped,
  checkMapSgReturn,
  checkNothingLive,
  checkNotTranslated,
  snapshotEntries,
  writtenAddresses,
  type MappedCheckOptions,
} from './conformance-checks';
import { fail, retName } from './conformance-failure';
import type { BuiltList, ConformanceKernel } from './conformance-kernel';
import type { SuiteContext } from './conformance-suite';
import { describePlaced } from './scatterlist-recipe';

/**
 * Whether map_sg must refuse pages of `region` for the client: NOT_SUPPORTED pages always
 * (§1.1, §3.2), and every P2PDMA page when the ops do not claim pciP2pdma (map-ops.ts, §11).
 */
export function refuses(
  ctx: SuiteContext,
  k: ConformanceKernel,
  region: ConformanceRegion,
): boolean {
  const t = k.mapType(region);
  if (t === PciP2pdmaMapType.NONE) return false;
  return !ctx.caps.pciP2pdma || t === PciP2pdmaMapType.NOT_SUPPORTED;
}

export interface MappedList {
  count: number;
  /** DMA addresses that translated while mapped (unmap must release them). */
  probed: number[];
}

/** map_sg of a list the ops must map; checks the result byte for byte (checkMapped()). */
export function mapExpectingSuccess(
  ctx: SuiteContext,
  k: ConformanceKernel,
  dev: DmaDevice,
  list: BuiltList,
  dir: DmaDataDirection,
  attrs: number,
  opts: MappedCheckOptions = {},
): MappedList {
  const nents = list.sgt.origNents;
  const ret = dev.dmaOps.mapSg(dev, list.sgt.sgl!, nents, dir, attrs);
  checkMapSgReturn(ret, nents, ctx.caps, ctx.opsName);
  if (ret <= 0) {
    fail(
      `§3.2: ${ctx.opsName} map_sg returned ${retName(ret)} for a list it must map (System RAM` +
        `${ctx.caps.pciP2pdma ? ', BUS_ADDR and THRU_HOST_BRIDGE P2P pages' : ''} only, every ` +
        `byte below the device's DMA mask ${dev.dmaMaskBits} bits):\n${describePlaced(list.placed)}`,
    );
  }
  return checkMapSucceeded(k, dev, list, ret, opts);
}

/** The checks after a map_sg that returned `ret` > 0. */
export function checkMapSucceeded(
  k: ConformanceKernel,
  dev: DmaDevice,
  list: BuiltList,
  ret: number,
  opts: MappedCheckOptions = {},
): MappedList {
  list.sgt.nents = ret;
  const probed = checkMapped(k, dev, list, ret, opts);
  checkDebugClean(k, 'after a successful map_sg');
  return { count: ret, probed };
}

/**
 * unmap_sg with the nents given to map_sg (§3.3); afterwards no probed address is still
 * translated (checkNotTranslated()), no entry keeps SG_DMA_BUS_ADDRESS (§3.1: unmap_sg clears
 * the mark) and the debug checker reported nothing.
 */
export function unmapAndCheck(
  ctx: SuiteContext,
  k: ConformanceKernel,
  dev: DmaDevice,
  list: BuiltList,
  mapped: MappedList,
  dir: DmaDataDirection,
  attrs: number,
): void {
  dev.dmaOps.unmapSg(dev, list.sgt.sgl!, list.sgt.origNents, dir, attrs);
  sgEntries(list.sgt.sgl, list.sgt.origNents).forEach((s, i) => {
    if (sgDmaIsBusAddress(s)) {
      fail(
        `§3.1: after dma_unmap_sg, entry ${i} is still marked SG_DMA_BUS_ADDRESS; ${ctx.opsName} ` +
          'unmap_sg must clear the marks map_sg set',
      );
    }
  });
  checkNotTranslated(k, dev, mapped.probed, 'after dma_unmap_sg');
  checkDebugClean(k, 'after dma_unmap_sg');
}

/**
 * map_sg of a list the ops must refuse: `expected` (-EREMOTEIO for P2P pages, §3.3), the list as
 * it was (CPU side, no DMA flags), nothing live in the debug checker and no address still
 * translated (checkNotTranslated()): neither what the attempt wrote into dma_address nor the
 * pages' own physical and bus addresses.
 */
export function mapExpectingFailure(
  ctx: SuiteContext,
  k: ConformanceKernel,
  dev: DmaDevice,
  list: BuiltList,
  dir: DmaDataDirection,
  attrs: number,
  why: string,
  expected: number | readonly number[] = -EREMOTEIO,
): void {
  const nents = list.sgt.origNents;
  const before = snapshotEntries(list.entries);
  const ret = dev.dmaOps.mapSg(dev, list.sgt.sgl!, nents, dir, attrs);
  checkMapSgReturn(ret, nents, ctx.caps, ctx.opsName);
  checkMapFailed(ctx, k, dev, list, ret, before, why, expected);
}

/** The checks after a map_sg that had to fail with `expected` and returned `ret`. */
export function checkMapFailed(
  ctx: SuiteContext,
  k: ConformanceKernel,
  dev: DmaDevice,
  list: BuiltList,
  ret: number,
  before: ReturnType<typeof snapshotEntries>,
  why: string,
  expected: number | readonly number[],
): void {
  const types = list.placed
    .map((p, i) => `  [${i}] ${p.region} (${mapTypeName(k.mapType(p.region))}) length ${p.length}`)
    .join('\n');
  const allowed = typeof expected === 'number' ? [expected] : expected;
  if (!allowed.includes(ret)) {
    fail(
      `${why}: ${ctx.opsName} map_sg must return ${allowed.map(retName).join(' or ')}, it ` +
        `returned ${retName(ret)} for the list:\n${types}`,
    );
  }
  checkEntriesRestored(list.entries, before, ctx.opsName);
  checkNothingLive(k, dev, `after a failed map_sg (${retName(ret)})`);
  const wouldBe = list.placed.flatMap((p) => [p.phys, p.phys + k.busOffset(p.region)]);
  checkNotTranslated(
    k,
    dev,
    [...writtenAddresses(list.entries), ...wouldBe],
    `after a failed map_sg (${retName(ret)})`,
  );
}
