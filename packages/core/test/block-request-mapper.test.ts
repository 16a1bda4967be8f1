/**
 * The RequestMapper extension point and its default, DmaMapSgRequestMapper (nvme_map_data()'s
 * general path, v6.0+; reference §3.3, §5.5, §6.1), in a real kernel container with dma-direct
 * on the conformance fabric: the client (05:00.0) maps RAM 1:1, nvme1's P2P memory (same
 * switch, BUS_ADDR) at its bus address, and "remote"'s (NOT_SUPPORTED: host bridge 8086:6f00 is
 * not allowlisted) not at all: dma_map_sgtable() fails with -EREMOTEIO, which the mapper turns
 * into BLK_STS_TARGET. Expected values are worked out by hand in the comments.
 */
import { ContainerModule } from 'inversify';
import { bioAddPage, bioAlloc, REQ_OP_WRITE, REQ_P2PDMA } from '../src/block/bio';
import {
  BLK_STS_OK,
  BLK_STS_RESOURCE,
  BLK_STS_TARGET,
  blkStatusName,
} from '../src/block/blk-status';
import { BLK_FEAT_PCI_P2PDMA, defaultQueueLimits } from '../src/block/queue-limits';
import { blkRqFromBio } from '../src/block/request';
import { DmaMapSgRequestMapper, RequestMapper } from '../src/block/request-mapper';
import { RequestQueue } from '../src/block/request-queue';
import { createKernelContainer, DmaDevices } from '../src/di/kernel';
import { DmaDirectOps } from '../src/dma/direct/direct';
import { DmaDataDirection } from '../src/dma/direction';
import { DmaMapOps } from '../src/dma/map-ops';
import { ENOMEM, EREMOTEIO } from '../src/errno';
import { KernelLog } from '../src/kernel-log';
import { Memmap } from '../src/mm/memremap';
import { PAGE_SIZE } from '../src/mm/page';
import { directMapPhys, pciAllocP2pmem, pciP2pdmaAddResource } from '../src/p2pdma/provider';
import { P2pdmaDevices } from '../src/p2pdma/state';
import { sgDmaIsBusAddress, sgEntries } from '../src/scatterlist/scatterlist';
import {
  CONFORMANCE_BUS_OFFSETS,
  CONFORMANCE_P2P_BAR,
  conformanceFabric,
} from '../src/testing/conformance-fabric';
import { FakeDmaOps } from './helpers/fake-ops';

const { DMA_TO_DEVICE } = DmaDataDirection;
const MiB = 2 ** 20;

/** A dma-direct kernel on the conformance fabric, with the default mapper bound. */
function kernel(opsModule?: ContainerModule) {
  const topology = conformanceFabric();
  const strategy =
    opsModule ??
    new ContainerModule(({ bind }) => {
      bind<DmaMapOps>(DmaMapOps).toDynamicValue((ctx) => ctx.get(DmaDirectOps));
    });
  const mapperModule = new ContainerModule(({ bind }) => {
    bind<RequestMapper>(RequestMapper).to(DmaMapSgRequestMapper);
  });
  const c = createKernelContainer({
    topology,
    strategy,
    modules: [mapperModule],
    options: { dmaApiDebug: true },
  });
  const p2p = c.get(P2pdmaDevices);
  const log = c.get(KernelLog);
  const memmap = c.get(Memmap);
  /** The first page of 2 MiB of a provider's P2P memory (pci_alloc_p2pmem()). */
  const p2pPage = (name: string) => {
    const dev = topology.get(name);
    expect(pciP2pdmaAddResource(p2p, dev, CONFORMANCE_P2P_BAR, 0, 0, log)).toBe(0);
    const phys = directMapPhys(pciAllocP2pmem(p2p, dev, 2 * MiB)!);
    return memmap.pfnToPage(phys / PAGE_SIZE);
  };
  const queue = new RequestQueue(
    'nvme0n1',
    defaultQueueLimits({
      features: BLK_FEAT_PCI_P2PDMA,
      virtBoundaryMask: 4095,
      maxHwSectors: 2048,
    }),
    log,
  );
  const request = (page: ReturnType<typeof memmap.pfnToPage>, len = 8192) => {
    const bio = bioAlloc(REQ_OP_WRITE, 4);
    expect(bioAddPage(bio, page, len, 0)).toBe(len);
    return blkRqFromBio(queue, bio);
  };
  return {
    c,
    log,
    memmap,
    p2pPage,
    request,
    client: c.get(DmaDevices).get('client'),
    mapper: c.get<RequestMapper>(RequestMapper),
  };
}

describe('DmaMapSgRequestMapper (§5.5, §6.1)', () => {
  it('is injectable: the RequestMapper binding resolves to it', () => {
    expect(kernel().mapper).toBeInstanceOf(DmaMapSgRequestMapper);
  });

  it('maps RAM 1:1 through dma-direct and unmaps it', () => {
    const k = kernel();
    // 8 KiB of RAM at 1 GiB (pfn 0x40000, 0x40001): one bvec, one segment, one entry
    const rq = k.request(k.memmap.pfnToPage(0x4_0000));
    const m = k.mapper.mapRequest(k.client, rq, DMA_TO_DEVICE);
    expect([m.status, m.needsUnmap, m.errno]).toEqual([BLK_STS_OK, true, undefined]);
    expect(m.segments).toEqual([{ dmaAddress: 0x4000_0000, length: 8192 }]);
    k.mapper.unmapRequest(k.client, rq, DMA_TO_DEVICE, m);
    expect(m.needsUnmap).toBe(false);
    // the DMA-API debug checker saw a clean map/unmap pair
    expect(k.log.messages().filter((e) => e.level !== 'info')).toEqual([]);
  });

  it('maps a BUS_ADDR P2P page at its PCI bus address (phys + 16 TiB on hb0)', () => {
    const k = kernel();
    const page = k.p2pPage('nvme1');
    const rq = k.request(page);
    expect(rq.cmdFlags & REQ_P2PDMA).toBe(REQ_P2PDMA);
    const m = k.mapper.mapRequest(k.client, rq, DMA_TO_DEVICE);
    expect(m.status).toBe(BLK_STS_OK);
    expect(m.segments).toEqual([
      { dmaAddress: page.pfn * PAGE_SIZE + CONFORMANCE_BUS_OFFSETS.hb0, length: 8192 },
    ]);
    expect(sgDmaIsBusAddress(sgEntries(m.sgt!.sgl, 1)[0]!)).toBe(true);
    k.mapper.unmapRequest(k.client, rq, DMA_TO_DEVICE, m);
  });

  it('turns -EREMOTEIO (NOT_SUPPORTED provider) into BLK_STS_TARGET', () => {
    const k = kernel();
    const rq = k.request(k.p2pPage('remote'));
    const m = k.mapper.mapRequest(k.client, rq, DMA_TO_DEVICE);
    expect(m).toEqual({
      status: BLK_STS_TARGET,
      segments: [],
      needsUnmap: false,
      errno: -EREMOTEIO,
    });
    expect([BLK_STS_TARGET, blkStatusName(m.status)]).toEqual([5, 'BLK_STS_TARGET']);
    // nothing to unmap: unmapRequest is a no-op
    k.mapper.unmapRequest(k.client, rq, DMA_TO_DEVICE, m);
  });

  it('turns any other mapping error (-ENOMEM) into BLK_STS_RESOURCE', () => {
    const fake = new FakeDmaOps({ mapSgResult: -ENOMEM });
    const k = kernel(
      new ContainerModule(({ bind }) => {
        bind<DmaMapOps>(DmaMapOps).toConstantValue(fake);
      }),
    );
    const m = k.mapper.mapRequest(k.client, k.request(k.memmap.pfnToPage(0x4_0000)), DMA_TO_DEVICE);
    expect([m.status, m.errno, m.needsUnmap]).toEqual([BLK_STS_RESOURCE, -ENOMEM, false]);
    expect(BLK_STS_RESOURCE).toBe(9);
  });
});
