/**
 * map_resource / unmap_resource (§11), for ops that claim them: another device's MMIO range
 * (here the register BARs of two providers, as a DMA engine maps a peer's doorbell) mapped by CPU
 * physical address, every byte reaching its CPU byte, and released by unmap_resource.
 */
import { DmaDataDirection } from '../dma/direction';
import { dmaMapResource, dmaUnmapResource } from '../dma/mapping';
import { PAGE_SIZE } from '../mm/page';
import { checkNothingLive, checkNotTranslated } from './conformance-checks';
import { newKernel, type ConformanceGroup, type SuiteContext } from './conformance-suite';
import { checkSingleMapping } from './group-map-phys';

export function mapResourceGroup(ctx: SuiteContext): ConformanceGroup {
  const group: ConformanceGroup = {
    name: 'map_resource / unmap_resource (§11)',
    cases: [
      {
        name: "§11 dma_map_resource of a page of two peers' register BARs (one under another host bridge): every byte reaches its MMIO address; dma_unmap_resource releases it",
        run() {
          const k = newKernel(ctx);
          const dev = k.client();
          // dma_map_resource() refuses System RAM (pfn_valid()); these are BARs.
          const isRam = (phys: number) => ctx.topology.memoryMap.isRam(phys, 1);
          const dir = DmaDataDirection.DMA_BIDIRECTIONAL;
          const maps = (['nvme1', 'thru'] as const).map((p) => {
            const phys = k.pci.providers[p].bar(0)!.cpuAddress + PAGE_SIZE;
            const addr = dmaMapResource(dev, phys, PAGE_SIZE, dir, 0, isRam);
            return {
              addr,
              probed: checkSingleMapping(k, dev, 'dma_map_resource', phys, PAGE_SIZE, addr),
            };
          });
          for (const m of maps) {
            dmaUnmapResource(dev, m.addr, PAGE_SIZE, dir);
            checkNotTranslated(k, dev, m.probed, 'after dma_unmap_resource');
          }
          checkNothingLive(k, dev, 'after dma_unmap_resource');
        },
      },
    ],
  };
  if (!ctx.caps.mapResource) group.skip = 'capabilities.mapResource is false';
  return group;
}
