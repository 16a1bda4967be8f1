/**
 * Addressing limits (§3.2 per-segment mapping, §3.5; capabilities.bounce): a device with a 32-bit
 * DMA mask and buffers above 4 GiB. Whatever the ops do, a DMA address they hand out is below the
 * mask. Ops that claim `bounce` must map such buffers (through a bounce buffer, which dmaToPhys
 * follows back to the mapped buffer); others may refuse them (dma-direct without swiotlb:
 * DMA_MAPPING_ERROR, map_sg -EIO) or reach them by translation (an IOMMU), but a refusal leaves
 * nothing mapped.
 */
import type { DmaDevice } from '../dma/device';
import { DmaDataDirection } from '../dma/direction';
import { DMA_MAPPING_ERROR } from '../dma/map-ops';
import { dmaMapPhys, dmaMappingError, dmaUnmapPhys } from '../dma/mapping';
import { PAGE_SIZE } from '../mm/page';
import { sgEntries } from '../scatterlist/scatterlist';
import {
  checkMapSgReturn,
  checkNothingLive,
  checkNotTranslated,
  MAP_SG_ERRORS,
  snapshotEntries,
} from './conformance-checks';
import { fail, hex, retName } from './conformance-failure';
import { CONFORMANCE_HIGH_RAM, CONFORMANCE_RAM, type BuiltList } from './conformance-kernel';
import { newKernel, type ConformanceGroup, type SuiteContext } from './conformance-suite';
import { checkSingleMapping } from './group-map-phys';
import { checkMapFailed, checkMapSucceeded, unmapAndCheck } from './map-sg-steps';

const MASK_BITS = 32;

/** Every output entry lies below the device's DMA limit. */
function checkBelowMask(dev: DmaDevice, list: BuiltList, count: number, opsName: string): void {
  sgEntries(list.sgt.sgl, count).forEach((o, j) => {
    if (o.dmaAddress + o.dmaLength - 1 > dev.dmaLimit) {
      fail(
        `§3.2: ${opsName} mapped output entry ${j} at DMA ${hex(o.dmaAddress)} (+${o.dmaLength}), ` +
          `beyond the ${MASK_BITS}-bit DMA mask of ${dev.name} (dma_capable() fails there)`,
      );
    }
  });
}

export function addressingGroup(ctx: SuiteContext): ConformanceGroup {
  const bounce = ctx.caps.bounce;
  return {
    name: `addressing limits: ${MASK_BITS}-bit DMA mask, buffers above 4 GiB (§3.2, §3.5; bounce ${bounce ? 'claimed' : 'not claimed'})`,
    cases: [
      {
        name: bounce
          ? '§3.5 map_sg bounces buffers above 4 GiB: mapped below the mask, each byte reaching the mapped buffer; unmap releases it'
          : '§3.2 map_sg of buffers above 4 GiB: either refused with one of the four errors and nothing mapped, or mapped below the mask byte for byte',
        run() {
          const k = newKernel(ctx);
          const dev = k.client({ dmaMaskBits: MASK_BITS });
          const list = k.buildPlaced([
            { region: 'ram', phys: CONFORMANCE_RAM.start + 0x1_0000, length: PAGE_SIZE },
            { region: 'ram', phys: CONFORMANCE_HIGH_RAM + PAGE_SIZE, length: 2 * PAGE_SIZE },
            { region: 'ram', phys: CONFORMANCE_HIGH_RAM + 0x10_0000 + 100, length: 3000 },
          ]);
          const dir = DmaDataDirection.DMA_TO_DEVICE;
          const before = snapshotEntries(list.entries);
          const nents = list.sgt.origNents;
          const ret = dev.dmaOps.mapSg(dev, list.sgt.sgl!, nents, dir, 0);
          checkMapSgReturn(ret, nents, ctx.caps, ctx.opsName);
          if (ret <= 0) {
            if (bounce) {
              fail(
                `§3.5: ${ctx.opsName} claims bounce but map_sg of RAM above 4 GiB for a ${MASK_BITS}-bit device returned ${retName(ret)}`,
              );
            }
            checkMapFailed(ctx, k, dev, list, ret, before, '§3.2', MAP_SG_ERRORS);
            return;
          }
          const mapped = checkMapSucceeded(k, dev, list, ret);
          checkBelowMask(dev, list, ret, ctx.opsName);
          unmapAndCheck(ctx, k, dev, list, mapped, dir, 0);
          checkNothingLive(k, dev, 'after dma_unmap_sg');
        },
      },
      {
        name: bounce
          ? '§3.5 dma_map_phys bounces a buffer above 4 GiB below the mask; dma_unmap_phys releases it'
          : '§3.2 dma_map_phys of a buffer above 4 GiB: DMA_MAPPING_ERROR, or mapped below the mask',
        run() {
          const k = newKernel(ctx);
          const dev = k.client({ dmaMaskBits: MASK_BITS });
          const phys = CONFORMANCE_HIGH_RAM + 3 * PAGE_SIZE + 64;
          const size = 2 * PAGE_SIZE;
          const dir = DmaDataDirection.DMA_FROM_DEVICE;
          const addr = dmaMapPhys(dev, phys, size, dir);
          if (addr === DMA_MAPPING_ERROR) {
            dmaMappingError(dev, addr);
            if (bounce)
              fail(
                `§3.5: ${ctx.opsName} claims bounce but dma_map_phys above 4 GiB for a ${MASK_BITS}-bit device failed`,
              );
            checkNothingLive(k, dev, 'after a failed dma_map_phys');
            checkNotTranslated(k, dev, [phys], 'after a failed dma_map_phys');
            return;
          }
          const probed = checkSingleMapping(k, dev, 'dma_map_phys', phys, size, addr);
          dmaUnmapPhys(dev, addr, size, dir);
          checkNotTranslated(k, dev, probed, 'after dma_unmap_phys');
          checkNothingLive(k, dev, 'after dma_unmap_phys');
        },
      },
    ],
  };
}
