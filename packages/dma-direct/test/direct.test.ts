/**
 * dma-direct as a DmaMapOps: reference §3.2 (map_sg per entry, unwind, the v6.16-v7.0
 * regressions), §3.5 (swiotlb), §3.3 (generic layer return conventions), §1.1 (map types),
 * §2.1 (bus offset). The machine is described in fabric.ts; addresses below are worked out from
 * it: gpuA/gpuB BUS_ADDR under hb0 (bus offset 0x10_0000_0000), gpuC THRU_HOST_BRIDGE, gpuD
 * NOT_SUPPORTED, default swiotlb pool [0xbc00_0000, 0xc000_0000).
 */
import {
  DMA_ATTR_NO_WARN,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_MAPPING_ERROR,
  DmaDataDirection,
  DmaDevices,
  DmaMapOps,
  EIO,
  EREMOTEIO,
  P2pdmaDevices,
  PAGE_SIZE,
  SG_DMA_BUS_ADDRESS,
  SIZE_MAX_MODEL,
  createKernelContainer,
  dmaMapResource,
  dmaMapSgAttrs,
  dmaMapSgtable,
  dmaMaxMappingSize,
  dmaPciP2pdmaSupported,
  dmaSetMinAlignMask,
  dmaUnmapSgtable,
  type KernelLogEntry,
} from '@dmasim/core';
import { DmaDirectOps, createDmaDirectModule, dmaDirectStrategy } from '../src';
import {
  BAR,
  HB0_BUS_OFFSET,
  HIGH_PFN,
  POOL_START,
  addP2pMemory,
  entries,
  fabric,
  machine,
  ram,
  single,
  table,
} from './fabric';

const { DMA_TO_DEVICE, DMA_FROM_DEVICE, DMA_BIDIRECTIONAL } = DmaDataDirection;
const KiB = 1024;

function warnings(log: { messages(): KernelLogEntry[] }): string[] {
  return log.messages().map((m) => m.msg);
}

describe('§3.2 map_sg of a mixed list (RAM + BUS_ADDR + THRU_HOST_BRIDGE)', () => {
  it('maps one output entry per input entry by each page map type', () => {
    const m = machine();
    const dev = m.dev();
    const sgt = table([
      ram(HIGH_PFN),
      m.p2pPage('gpuA', 0),
      m.p2pPage('gpuC', 0),
      ram(HIGH_PFN + 2),
      m.p2pPage('gpuB', 1),
    ]);
    expect(m.ops.mapSg(dev, sgt.sgl!, 5, DMA_TO_DEVICE, 0)).toBe(5);
    const e = entries(sgt);
    expect(e.map((s) => s.dmaAddress)).toEqual([
      0x1_0000_0000, // RAM at 4 GiB: phys_to_dma() is the identity
      0x110_0000_0000, // gpuA page 0: 0x100_0000_0000 + bus offset 0x10_0000_0000
      0x100_0800_0000, // gpuC page 0: THRU_HOST_BRIDGE keeps the CPU physical address
      0x1_0000_2000, // RAM pfn 0x100002
      0x110_0400_1000, // gpuB page 1: 0x100_0400_1000 + 0x10_0000_0000
    ]);
    expect(e.map((s) => s.dmaLength)).toEqual([4096, 4096, 4096, 4096, 4096]);
    expect(e.map((s) => s.dmaFlags & SG_DMA_BUS_ADDRESS)).toEqual([0, 1, 0, 0, 1]);
    // 3 dma_direct_map_phys() (RAM, THRU, RAM), 2 bus-address entries; providers A, C, B: 3 lookups.
    expect(m.ops.stats).toMatchObject({
      mappings: 3,
      busAddrMappings: 2,
      bounced: 0,
      p2pLookups: 3,
    });
    expect(m.swiotlb.stats.mappings).toBe(0);

    m.ops.unmapSg(dev, sgt.sgl!, 5, DMA_TO_DEVICE, 0);
    // Bus-address entries only lose the mark; the other three are unmapped.
    expect(e.map((s) => s.dmaFlags)).toEqual([0, 0, 0, 0, 0]);
    expect(m.ops.stats.unmaps).toBe(3);
  });

  it('§1.1/§3.2 looks the map type up only when the provider changes', () => {
    const m = machine();
    const dev = m.dev();
    // A A B B A A: changes at entries 0, 2, 4 -> 3 lookups.
    const sgt = table([
      m.p2pPage('gpuA', 0),
      m.p2pPage('gpuA', 2),
      m.p2pPage('gpuB', 0),
      m.p2pPage('gpuB', 2),
      m.p2pPage('gpuA', 4),
      m.p2pPage('gpuA', 6),
    ]);
    expect(m.ops.mapSg(dev, sgt.sgl!, 6, DMA_TO_DEVICE, 0)).toBe(6);
    expect(m.ops.stats.p2pLookups).toBe(3);
    // A RAM A RAM A: RAM pages leave the cached state alone -> 1 lookup (4 in total).
    const mixed = table([
      m.p2pPage('gpuA', 8),
      ram(HIGH_PFN),
      m.p2pPage('gpuA', 10),
      ram(HIGH_PFN + 2),
      m.p2pPage('gpuA', 12),
    ]);
    expect(m.ops.mapSg(dev, mixed.sgl!, 5, DMA_TO_DEVICE, 0)).toBe(5);
    expect(m.ops.stats.p2pLookups).toBe(4);
  });

  it('§2.1 a BUS_ADDR entry is phys + the host bridge bus offset, offset within the page kept', () => {
    const m = machine();
    const dev = m.dev();
    // gpuA page 2 at 0x100_0000_2000, entry offset 0x100, 0x200 bytes.
    const sgt = single(m.p2pPage('gpuA', 2), 0x100, 0x200);
    expect(m.ops.mapSg(dev, sgt.sgl!, 1, DMA_FROM_DEVICE, 0)).toBe(1);
    const [e] = entries(sgt);
    // 0x100_0000_2100 + 0x10_0000_0000 = 0x110_0000_2100
    expect(e!.dmaAddress).toBe(0x110_0000_2100);
    expect(e!.dmaAddress - (BAR.gpuA + 0x2100)).toBe(HB0_BUS_OFFSET);
    expect(e!.dmaLength).toBe(0x200);
    // dmaToPhys() undoes the bus offset.
    expect(m.ops.dmaToPhys(dev, 0x110_0000_2100)).toBe(0x100_0000_2100);
  });
});

describe('§3.2 NOT_SUPPORTED and the unwind', () => {
  it('returns -EREMOTEIO and unmaps every entry mapped before it with SKIP_CPU_SYNC', () => {
    const m = machine();
    const dev = m.dev({ dmaMaskBits: 32 });
    const sgt = table([
      ram(HIGH_PFN), // above 4 GiB: bounced, 2 slots (4 KiB, page aligned)
      m.p2pPage('gpuA', 0), // BUS_ADDR: marked
      ram(0x1000), // 16 MiB: reachable, mapped directly
      m.p2pPage('gpuD', 0), // NOT_SUPPORTED
      ram(HIGH_PFN + 2), // never reached
    ]);
    const e = entries(sgt);
    expect(m.ops.mapSg(dev, sgt.sgl!, 5, DMA_FROM_DEVICE, 0)).toBe(-EREMOTEIO);
    // Entry 0 had slots 0-1 of the pool; the unwind released them without copying back.
    expect(m.swiotlb.stats).toMatchObject({
      mappings: 1,
      slotsUsed: 0,
      highWater: 2,
      bounces: 1, // the copy at map time only
      bytesFromDevice: 0,
    });
    expect(e[0]!.dmaAddress).toBe(POOL_START);
    expect(m.ops.dmaToPhys(dev, POOL_START)).toBeUndefined(); // slot free again
    expect(e.map((s) => s.dmaFlags)).toEqual([0, 0, 0, 0, 0]); // gpuA's mark cleared
    expect(e[4]!.dmaAddress).toBe(0);
    expect(e[4]!.dmaLength).toBe(0);
    expect(m.ops.stats.unmaps).toBe(2); // entries 0 and 2
    expect(m.ops.stats.p2pLookups).toBe(2); // gpuA, gpuD
    expect(warnings(m.log)).toEqual([
      'cannot be used for peer-to-peer DMA as the client and provider (0000:81:00.0) do not share an upstream bridge or whitelisted host bridge',
    ]);
  });
});

describe('§3.5 swiotlb', () => {
  it('bounces RAM a 32-bit device cannot reach to a buffer below 4 GiB', () => {
    const m = machine();
    const dev = m.dev({ dmaMaskBits: 32 });
    const sgt = table([ram(HIGH_PFN), ram(HIGH_PFN + 2), ram(0x1000)]);
    expect(m.ops.mapSg(dev, sgt.sgl!, 3, DMA_FROM_DEVICE, 0)).toBe(3);
    const e = entries(sgt);
    // 4 KiB mappings are page aligned and take 2 slots each; next fit from slot 0, then slot 2.
    expect(e.map((s) => s.dmaAddress)).toEqual([POOL_START, POOL_START + 0x1000, 0x100_0000]);
    expect(e[0]!.dmaAddress + 4095).toBeLessThan(2 ** 32);
    expect(m.ops.stats).toMatchObject({ mappings: 3, bounced: 2 });
    expect(m.swiotlb.stats).toMatchObject({ slotsUsed: 4, bounces: 2, bytesToDevice: 8192 });
    // dmaToPhys: bounce buffer byte -> the original's byte; RAM -> itself.
    expect(m.ops.dmaToPhys(dev, POOL_START + 0x10)).toBe(0x1_0000_0010);
    expect(m.ops.dmaToPhys(dev, POOL_START + 0x1005)).toBe(0x1_0000_2005);
    expect(m.ops.dmaToPhys(dev, 0x100_0000)).toBe(0x100_0000);

    m.ops.unmapSg(dev, sgt.sgl!, 3, DMA_FROM_DEVICE, 0);
    // DMA_FROM_DEVICE: both bounce buffers are copied back (2 x 4096), then released.
    expect(m.swiotlb.stats).toMatchObject({ slotsUsed: 0, bounces: 4, bytesFromDevice: 8192 });
    expect(m.ops.dmaToPhys(dev, POOL_START + 0x10)).toBeUndefined();
  });

  it('places a small buffer at a slot start unless the device has a min_align_mask', () => {
    // 0x200 bytes at 4 GiB + 0x100: below a page, so slot (2 KiB) aligned; no min_align_mask
    // means swiotlb_align_offset() is 0 and the offset is not kept.
    const m = machine();
    const dev = m.dev({ dmaMaskBits: 32 });
    const sgt = single(ram(HIGH_PFN), 0x100, 0x200);
    expect(m.ops.mapSg(dev, sgt.sgl!, 1, DMA_TO_DEVICE, 0)).toBe(1);
    expect(entries(sgt)[0]!.dmaAddress).toBe(POOL_START);
    expect(m.ops.dmaToPhys(dev, POOL_START)).toBe(0x1_0000_0100);

    // NVMe's min_align_mask 4095: the offset 0x100 is kept in the first slot.
    const m2 = machine();
    const nvme = m2.dev({ dmaMaskBits: 32 });
    dmaSetMinAlignMask(nvme, 4095);
    const sgt2 = single(ram(HIGH_PFN), 0x100, 0x200);
    expect(m2.ops.mapSg(nvme, sgt2.sgl!, 1, DMA_TO_DEVICE, 0)).toBe(1);
    expect(entries(sgt2)[0]!.dmaAddress).toBe(POOL_START + 0x100);
    expect(m2.ops.dmaToPhys(nvme, POOL_START + 0x100)).toBe(0x1_0000_0100);
  });

  it('bounces every RAM mapping with swiotlb=force, never a bus-address entry', () => {
    const m = machine({ swiotlb: { force: true } });
    const dev = m.dev(); // 64-bit: reaches everything, bounced anyway
    const sgt = table([ram(HIGH_PFN), m.p2pPage('gpuA', 0), ram(0x1000)]);
    expect(m.ops.mapSg(dev, sgt.sgl!, 3, DMA_TO_DEVICE, 0)).toBe(3);
    expect(entries(sgt).map((s) => s.dmaAddress)).toEqual([
      POOL_START, // slots 0-1
      0x110_0000_0000, // gpuA: bus address, no swiotlb
      POOL_START + 0x1000, // slots 2-3
    ]);
    expect(m.swiotlb.stats.mappings).toBe(2);
    // dma_direct_max_mapping_size() under force: one segment, 128 x 2 KiB = 256 KiB.
    expect(m.ops.maxMappingSize(dev)).toBe(256 * KiB);
  });

  it('fails a THRU_HOST_BRIDGE entry that would need bouncing (DMA_ATTR_MMIO, v6.18+)', () => {
    // swiotlb=force with DMA_ATTR_MMIO is the overflow error: -EIO, nothing bounced.
    const m = machine({ swiotlb: { force: true } });
    const dev = m.dev();
    const sgt = table([ram(HIGH_PFN), m.p2pPage('gpuC', 0)]);
    expect(m.ops.mapSg(dev, sgt.sgl!, 2, DMA_TO_DEVICE, 0)).toBe(-EIO);
    expect(m.swiotlb.stats).toMatchObject({ mappings: 1, slotsUsed: 0 }); // RAM entry unwound
    expect(warnings(m.log)).toEqual([
      'WARNING: at kernel/dma/direct.h dma_direct_map_phys: pci 0000:03:00.0: DMA addr ' +
        '0x0000010008000000+4096 overflow (mask ffffffffffffffff, bus limit 0).',
    ]);

    // A 32-bit device cannot reach gpuC's BAR at 0x100_0800_0000: not bounced either.
    const m2 = machine();
    const dev32 = m2.dev({ dmaMaskBits: 32 });
    const thru = table([m2.p2pPage('gpuC', 0)]);
    expect(m2.ops.mapSg(dev32, thru.sgl!, 1, DMA_TO_DEVICE, 0)).toBe(-EIO);
    expect(m2.swiotlb.stats.mappings).toBe(0);

    // v6.0-v6.17 (no DMA_ATTR_MMIO): the same entry took the RAM path and was bounced.
    const m3 = machine({ options: { thruHostBridgeMmio: false } });
    const old = table([m3.p2pPage('gpuC', 0)]);
    expect(m3.ops.mapSg(m3.dev({ dmaMaskBits: 32 }), old.sgl!, 1, DMA_TO_DEVICE, 0)).toBe(1);
    expect(entries(old)[0]!.dmaAddress).toBe(POOL_START);
    expect(m3.swiotlb.stats.mappings).toBe(1);
  });

  it('maps BUS_ADDR entries for a 32-bit device without a reachability check or bounce', () => {
    // The kernel computes the bus address and marks the entry; dma_capable() is not consulted.
    const m = machine();
    const sgt = table([m.p2pPage('gpuA', 0)]);
    expect(m.ops.mapSg(m.dev({ dmaMaskBits: 32 }), sgt.sgl!, 1, DMA_TO_DEVICE, 0)).toBe(1);
    expect(entries(sgt)[0]!.dmaAddress).toBe(0x110_0000_0000);
    expect(m.swiotlb.stats.mappings).toBe(0);
  });

  it('fails with -EIO and "swiotlb buffer is full" when the pool runs out, unwinding the rest', () => {
    // A 256 KiB pool (128 slots) ends at 3 GiB: [0xbffc_0000, 0xc000_0000). 64 pages of 4 KiB
    // take all 128 slots; the 65th finds none.
    const m = machine({ swiotlb: { size: 256 * KiB, force: true } });
    const dev = m.dev();
    const pages = Array.from({ length: 65 }, (_, k) => ram(HIGH_PFN + 2 * k));
    const sgt = table(pages);
    expect(m.ops.mapSg(dev, sgt.sgl!, 65, DMA_TO_DEVICE, 0)).toBe(-EIO);
    expect(entries(sgt)[0]!.dmaAddress).toBe(0xbffc_0000);
    expect(m.log.messages()).toEqual([
      {
        level: 'warn',
        dev: '0000:03:00.0',
        msg: 'swiotlb buffer is full (sz: 4096 bytes), total 128 (slots), used 128 (slots)',
      },
    ]);
    expect(m.swiotlb.stats).toMatchObject({ slotsUsed: 0, highWater: 128, failures: 1 });
    expect(m.ops.stats).toMatchObject({ bounced: 64, mapErrors: 1, unmaps: 64 });

    // DMA_ATTR_NO_WARN: the same failure, silently.
    m.log.clear();
    expect(m.ops.mapSg(dev, sgt.sgl!, 65, DMA_TO_DEVICE, DMA_ATTR_NO_WARN)).toBe(-EIO);
    expect(m.log.messages()).toEqual([]);
  });

  it('fails an unreachable buffer with the overflow WARN when there is no swiotlb', () => {
    const m = machine({ swiotlb: { noforce: true } });
    const dev = m.dev({ dmaMaskBits: 32 });
    const sgt = table([ram(HIGH_PFN)]);
    expect(m.ops.mapSg(dev, sgt.sgl!, 1, DMA_TO_DEVICE, 0)).toBe(-EIO);
    expect(m.ops.mapSg(dev, sgt.sgl!, 1, DMA_TO_DEVICE, 0)).toBe(-EIO);
    // dev_WARN_ONCE: one message for both failures.
    expect(warnings(m.log)).toEqual([
      'WARNING: at kernel/dma/direct.h dma_direct_map_phys: pci 0000:03:00.0: DMA addr ' +
        '0x0000000100000000+4096 overflow (mask ffffffff, bus limit 0).',
    ]);
    // No pool: SIZE_MAX even for a limited device.
    expect(m.ops.maxMappingSize(dev)).toBe(SIZE_MAX_MODEL);
  });

  it('limits the mapping size only when swiotlb may be used for the device', () => {
    const m = machine();
    // RAM ends at 65 GiB: last page 0x10_3fff_f000, 37 bits -> required mask 2^37 - 1.
    expect(m.ops.maxMappingSize(m.dev())).toBe(SIZE_MAX_MODEL);
    expect(m.ops.maxMappingSize(m.dev({ dmaMaskBits: 37 }))).toBe(SIZE_MAX_MODEL);
    expect(m.ops.maxMappingSize(m.dev({ dmaMaskBits: 36 }))).toBe(256 * KiB);
    const nvme = m.dev({ dmaMaskBits: 32 });
    dmaSetMinAlignMask(nvme, 4095);
    // 256 KiB - roundup(4095, 2 KiB) = 262144 - 4096
    expect(m.ops.maxMappingSize(nvme)).toBe(258048);
  });
});

describe('§3.2 the v6.16-v7.0 regressions (DIR-616)', () => {
  function run(v616Regressions: boolean) {
    const m = machine({ options: { v616Regressions } });
    const sgt = table([m.p2pPage('gpuA', 0), m.p2pPage('gpuC', 0)]);
    for (const s of entries(sgt)) {
      s.dmaAddress = 0xdead_0000; // stale values from an earlier use of the table
      s.dmaLength = 7;
    }
    expect(m.ops.mapSg(m.dev(), sgt.sgl!, 2, DMA_TO_DEVICE, 0)).toBe(2);
    return entries(sgt).map((s) => [s.dmaAddress, s.dmaLength, s.dmaFlags]);
  }

  it('with the option on: BUS_ADDR gets no dma_length, THRU_HOST_BRIDGE gets no address', () => {
    expect(run(true)).toEqual([
      [0x110_0000_0000, 7, SG_DMA_BUS_ADDRESS], // address and mark right, length stale
      [0xdead_0000, 4096, 0], // address stale, length right
    ]);
  });

  it('with the option off (default): both entries complete', () => {
    expect(run(false)).toEqual([
      [0x110_0000_0000, 4096, SG_DMA_BUS_ADDRESS],
      [0x100_0800_0000, 4096, 0],
    ]);
  });
});

describe('§3.2 cache maintenance on a non-coherent device', () => {
  it('counts one arch sync per RAM entry and direction, none with SKIP_CPU_SYNC or for MMIO', () => {
    const m = machine();
    const dev = m.dev({ coherent: false });
    const sgt = table([ram(HIGH_PFN), ram(HIGH_PFN + 2), ram(HIGH_PFN + 4)]);
    const sgl = sgt.sgl!;
    expect(m.ops.mapSg(dev, sgl, 3, DMA_BIDIRECTIONAL, 0)).toBe(3);
    expect(m.ops.stats.cacheSyncsForDevice).toBe(3); // map: 3 entries
    m.ops.syncSgForCpu(dev, sgl, 3, DMA_BIDIRECTIONAL);
    expect(m.ops.stats.cacheSyncsForCpu).toBe(3);
    m.ops.syncSgForDevice(dev, sgl, 3, DMA_BIDIRECTIONAL);
    expect(m.ops.stats.cacheSyncsForDevice).toBe(6); // 3 + 3
    m.ops.unmapSg(dev, sgl, 3, DMA_BIDIRECTIONAL, 0);
    expect(m.ops.stats.cacheSyncsForCpu).toBe(6); // 3 + 3 at unmap

    // DMA_ATTR_SKIP_CPU_SYNC on map and unmap: none.
    m.ops.stats.reset();
    expect(m.ops.mapSg(dev, sgl, 3, DMA_TO_DEVICE, DMA_ATTR_SKIP_CPU_SYNC)).toBe(3);
    m.ops.unmapSg(dev, sgl, 3, DMA_TO_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    expect(m.ops.stats).toMatchObject({ cacheSyncsForDevice: 0, cacheSyncsForCpu: 0 });

    // THRU_HOST_BRIDGE (DMA_ATTR_MMIO) and BUS_ADDR entries: none at map or unmap.
    const p2p = table([m.p2pPage('gpuC', 0), m.p2pPage('gpuA', 0)]);
    expect(m.ops.mapSg(dev, p2p.sgl!, 2, DMA_TO_DEVICE, 0)).toBe(2);
    m.ops.unmapSg(dev, p2p.sgl!, 2, DMA_TO_DEVICE, 0);
    expect(m.ops.stats).toMatchObject({ cacheSyncsForDevice: 0, cacheSyncsForCpu: 0 });

    // A coherent device never needs them.
    const c = machine();
    const coherent = c.dev();
    const sgt2 = table([ram(HIGH_PFN)]);
    c.ops.mapSg(coherent, sgt2.sgl!, 1, DMA_TO_DEVICE, 0);
    c.ops.syncSgForCpu(coherent, sgt2.sgl!, 1, DMA_TO_DEVICE);
    expect(c.ops.stats).toMatchObject({ cacheSyncsForDevice: 0, cacheSyncsForCpu: 0 });
  });
});

describe('dmaToPhys, map_phys and map_resource', () => {
  it('resolves each kind of DMA address back to the CPU physical byte', () => {
    const m = machine();
    const dev = m.dev();
    expect(m.ops.dmaToPhys(dev, 0x1_0000_1234)).toBe(0x1_0000_1234); // RAM
    expect(m.ops.dmaToPhys(dev, 0x110_0400_0010)).toBe(0x100_0400_0010); // gpuB bus address
    expect(m.ops.dmaToPhys(dev, 0x100_0800_0010)).toBe(0x100_0800_0010); // gpuC by CPU address
    expect(m.ops.dmaToPhys(dev, 0xf_0000_0000_0000)).toBeUndefined(); // nothing there
    expect(m.ops.dmaToPhys(dev, DMA_MAPPING_ERROR)).toBeUndefined();
  });

  it('map_phys bounces and unmap_phys releases; map_resource is the physical address, never bounced', () => {
    const m = machine();
    const dev32 = m.dev({ dmaMaskBits: 32 });
    const addr = m.ops.mapPhys(dev32, 0x1_0000_0000, 8192, DMA_TO_DEVICE, 0);
    expect(addr).toBe(POOL_START); // 8 KiB = 4 slots, page aligned
    expect(m.swiotlb.stats.slotsUsed).toBe(4);
    m.ops.unmapPhys(dev32, addr, 8192, DMA_TO_DEVICE, 0);
    expect(m.swiotlb.stats.slotsUsed).toBe(0);

    const dev = m.dev();
    expect(dmaMapResource(dev, BAR.gpuC, 4096, DMA_TO_DEVICE)).toBe(BAR.gpuC);
    expect(dmaMapResource(dev32, BAR.gpuC, 4096, DMA_TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
    expect(m.swiotlb.stats.mappings).toBe(1); // only the map_phys above
  });
});

describe('§3.3 through the generic layer in a kernel container', () => {
  it('dma_map_sgtable() returns 0 with nents = orig_nents, and -EREMOTEIO for NOT_SUPPORTED', () => {
    const topology = fabric();
    const c = createKernelContainer({ topology, strategy: dmaDirectStrategy });
    const ops = c.get<DmaMapOps>(DmaMapOps);
    expect(ops).toBeInstanceOf(DmaDirectOps);
    const p2p = c.get(P2pdmaDevices);
    addP2pMemory(topology, p2p, (ops as DmaDirectOps).log);
    const dev = c.get(DmaDevices).get('nvme0');
    expect(dmaPciP2pdmaSupported(dev)).toBe(true);
    const page = (name: 'gpuA' | 'gpuC' | 'gpuD', k: number) =>
      p2p.memmap.pfnToPage(BAR[name] / PAGE_SIZE + k);

    const sgt = table([ram(HIGH_PFN), page('gpuA', 0), page('gpuC', 0)]);
    expect(dmaMapSgtable(dev, sgt, DMA_TO_DEVICE)).toBe(0);
    expect(sgt.nents).toBe(3); // dma-direct never merges
    expect(entries(sgt).map((s) => s.dmaAddress)).toEqual([
      0x1_0000_0000, 0x110_0000_0000, 0x100_0800_0000,
    ]);
    dmaUnmapSgtable(dev, sgt, DMA_TO_DEVICE);
    expect(entries(sgt)[1]!.dmaFlags).toBe(0);

    const bad = table([ram(HIGH_PFN), page('gpuD', 0)]);
    expect(dmaMapSgtable(dev, bad, DMA_TO_DEVICE)).toBe(-EREMOTEIO);
    // dma_map_sg() flattens every error to 0.
    expect(dmaMapSgAttrs(dev, bad.sgl!, 2, DMA_TO_DEVICE)).toBe(0);
    expect(dmaMaxMappingSize(dev)).toBe(SIZE_MAX_MODEL);
  });

  it('takes swiotlb=force from the kernel options and the release choices from the module', () => {
    const topology = fabric();
    const c = createKernelContainer({
      topology,
      strategy: createDmaDirectModule({ v616Regressions: true }),
      options: { swiotlb: { force: true } },
    });
    const ops = c.get<DmaMapOps>(DmaMapOps) as DmaDirectOps;
    expect(ops.options.v616Regressions).toBe(true);
    addP2pMemory(topology, c.get(P2pdmaDevices), ops.log);
    const dev = c.get(DmaDevices).get('nvme0');
    const sgt = table([ram(HIGH_PFN), c.get(P2pdmaDevices).memmap.pfnToPage(BAR.gpuA / PAGE_SIZE)]);
    expect(dmaMapSgtable(dev, sgt, DMA_TO_DEVICE)).toBe(0);
    // RAM bounced (force), BUS_ADDR with the regression's missing length.
    expect(entries(sgt).map((s) => [s.dmaAddress, s.dmaLength])).toEqual([
      [POOL_START, 4096],
      [0x110_0000_0000, 0],
    ]);
    expect(dmaMaxMappingSize(dev)).toBe(256 * KiB);
  });
});
