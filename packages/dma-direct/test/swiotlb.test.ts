/**
 * The swiotlb model (core dma/swiotlb.ts, kernel/dma/swiotlb.c v6.x; reference §3.5): pool
 * placement and size, slot search (alignment, segments, next fit), release with free-run merging,
 * bounce accounting, swiotlb_max_mapping_size(). Tested here because dma-direct is its user.
 */
import fc from 'fast-check';
import {
  DMA_MAPPING_ERROR,
  DmaDataDirection,
  DmaDevice,
  IO_TLB_SEGSIZE,
  IO_TLB_SIZE,
  KernelLog,
  Swiotlb,
  dmaSetMinAlignMask,
  topologyFromObject,
  type DmaMapOps,
  type PhysMemoryMap,
  type TopologySpecInput,
} from '@dmasim/core';
import { POOL_START, fabric } from './fabric';

const { DMA_TO_DEVICE, DMA_FROM_DEVICE, DMA_BIDIRECTIONAL } = DmaDataDirection;
const KiB = 1024;
const MiB = 1024 * KiB;
const SEED = Number(process.env.FC_SEED ?? 20261121);

/**
 * Swiotlb only reads the device's DMA parameters, name and driver; the ops are never called.
 * Bound to the nvme driver, so dev_WARN prefixes read "nvme 0000:03:00.0: ".
 */
function device(log: KernelLog, bits = 64): DmaDevice {
  const dev = new DmaDevice('0000:03:00.0', undefined, {} as DmaMapOps, log, { dmaMaskBits: bits });
  dev.driver = 'nvme';
  return dev;
}

function memOf(memory?: string): PhysMemoryMap {
  const spec = {
    platform: { cpu: { vendor: 'AMD', family: 0x19 }, ...(memory ? { memory } : {}) },
    hostBridges: [{ name: 'hb0', bus: 0, devices: [{ bdf: '00:00.0', kind: 'host-bridge' }] }],
  };
  return topologyFromObject(spec as TopologySpecInput).memoryMap;
}

describe('§3.5 swiotlb pool set-up (swiotlb_init_remap, pci_swiotlb_detect)', () => {
  it('reserves 64 MiB of 2 KiB slots at the top of low RAM when RAM reaches above 4 GiB', () => {
    const log = new KernelLog();
    const sw = new Swiotlb(fabric().memoryMap, {}, log);
    // 64 MiB / 2 KiB = 32768 slots, ending where low RAM ends (3 GiB).
    expect(sw.nslabs).toBe(32768);
    expect(sw.start).toBe(0xbc00_0000);
    expect(sw.start).toBe(POOL_START);
    expect(sw.end).toBe(0xc000_0000);
    expect(sw.active).toBe(true);
    expect(sw.isForceBounce()).toBe(false);
    sw.printInfo();
    expect(log.messages()).toEqual([
      {
        level: 'info',
        msg: 'software IO TLB: mapped [mem 0x00000000bc000000-0x00000000c0000000] (64MB)',
      },
    ]);
  });

  it('sets up no pool when all RAM is below 4 GiB, unless forced; none with noforce', () => {
    const small = memOf('2GiB');
    expect(new Swiotlb(small, {}, new KernelLog()).active).toBe(false);
    expect(new Swiotlb(small, { force: true }, new KernelLog()).active).toBe(true);
    expect(new Swiotlb(fabric().memoryMap, { noforce: true }, new KernelLog()).active).toBe(false);

    const log = new KernelLog();
    const none = new Swiotlb(small, {}, log);
    expect(none.tblMapSingle(device(log, 32), 0x1000, 4096, 0, DMA_TO_DEVICE, 0)).toBe(
      DMA_MAPPING_ERROR,
    );
    expect(log.messages()[0]!.msg).toBe(
      "Can not allocate SWIOTLB buffer earlier and can't now provide you with the DMA bounce buffer",
    );
  });

  it('rounds the size to whole segments and halves it when low RAM is too small', () => {
    // swiotlb=<size>: 300 KiB = 150 slots -> ALIGN(150, 128) = 256 slots.
    expect(new Swiotlb(fabric().memoryMap, { size: 300 * KiB }, new KernelLog()).nslabs).toBe(256);
    // 48 MiB of RAM, forced: 64 MiB does not fit, 32 MiB (16384 slots) does.
    const log = new KernelLog();
    const sw = new Swiotlb(memOf('48MiB'), { force: true }, log);
    expect(sw.nslabs).toBe(16384);
    expect([sw.start, sw.end]).toEqual([16 * MiB, 48 * MiB]);
    expect(log.messages()[0]!.msg).toBe(
      'software IO TLB: SWIOTLB bounce buffer size adjusted 32768 -> 16384 slabs',
    );
    expect(() => new Swiotlb(fabric().memoryMap, { size: 100 }, log)).toThrow(RangeError);
  });
});

describe('§3.5 swiotlb_tbl_map_single / release', () => {
  function pool512k() {
    const log = new KernelLog();
    // 512 KiB = 256 slots = 2 segments, at [0xbff8_0000, 0xc000_0000).
    const sw = new Swiotlb(fabric().memoryMap, { size: 512 * KiB, force: true }, log);
    return { log, sw, dev: device(log) };
  }

  it('never lets a mapping cross a 128-slot segment, and merges free runs on release', () => {
    const { sw, dev } = pool512k();
    const base = 0xbff8_0000;
    expect(sw.start).toBe(base);
    // A: 200 KiB = 100 slots at slot 0 (page aligned: >= PAGE_SIZE).
    const a = sw.map(dev, 0x1_0000_0000, 200 * KiB, DMA_TO_DEVICE, 0);
    expect(a).toBe(base);
    // B: 64 KiB = 32 slots. Slots 100-127 are only 28 long, so B goes to slot 128 (segment 2).
    const b = sw.map(dev, 0x2_0000_0000, 64 * KiB, DMA_TO_DEVICE, 0);
    expect(b).toBe(base + 128 * IO_TLB_SIZE);
    expect(sw.stats.slotsUsed).toBe(132);
    // Releasing A makes slots 0-127 one free run again (A's 100 + the 28 after it), so a whole
    // segment (256 KiB) fits there, searching on from slot 160 and wrapping to 0.
    sw.tblUnmapSingle(dev, a, 200 * KiB, DMA_TO_DEVICE, 0);
    const c = sw.map(dev, 0x3_0000_0000, 256 * KiB, DMA_TO_DEVICE, 0);
    expect(c).toBe(base);
    expect(sw.stats).toMatchObject({ slotsUsed: 160, highWater: 160 });
    // One byte more than a segment never fits.
    expect(sw.map(dev, 0x4_0000_0000, 256 * KiB + 1, DMA_TO_DEVICE, 0)).toBe(DMA_MAPPING_ERROR);
  });

  it('reports a full pool with the kernel message and counts', () => {
    const { sw, dev, log } = pool512k();
    sw.map(dev, 0x1_0000_0000, 256 * KiB, DMA_TO_DEVICE, 0);
    sw.map(dev, 0x2_0000_0000, 64 * KiB, DMA_TO_DEVICE, 0);
    // 128 + 32 used; 256 KiB + 1 needs 129 slots (size is not rounded: alloc_align_mask 0).
    expect(sw.map(dev, 0x3_0000_0000, 256 * KiB + 1, DMA_TO_DEVICE, 0)).toBe(DMA_MAPPING_ERROR);
    expect(log.messages().map((m) => m.msg)).toEqual([
      'swiotlb buffer is full (sz: 262145 bytes), total 256 (slots), used 160 (slots)',
    ]);
  });

  it('counts the copies: always at map, back at unmap and at syncs by direction', () => {
    const { sw, dev } = pool512k();
    const t = sw.map(dev, 0x1_0000_0000, 3000, DMA_BIDIRECTIONAL, 0);
    expect(sw.stats).toMatchObject({ bounces: 1, bytesToDevice: 3000, bytesFromDevice: 0 });
    sw.syncSingleForCpu(dev, t, 3000, DMA_BIDIRECTIONAL);
    sw.syncSingleForDevice(dev, t, 1000, DMA_BIDIRECTIONAL);
    sw.syncSingleForCpu(dev, t, 1000, DMA_TO_DEVICE); // nothing to copy back for TO_DEVICE
    sw.syncSingleForDevice(dev, t, 1000, DMA_FROM_DEVICE); // nothing to copy out for FROM_DEVICE
    expect(sw.stats).toMatchObject({ bounces: 3, bytesToDevice: 4000, bytesFromDevice: 3000 });
    sw.tblUnmapSingle(dev, t, 3000, DMA_FROM_DEVICE, 0);
    // 3000 + 3000 back at unmap; 1 + 1 + 1 + 1 copies.
    expect(sw.stats).toMatchObject({ bounces: 4, bytesBounced: 10000, slotsUsed: 0 });
  });

  it('cuts a sync beyond the allocation with the "Buffer overflow detected" WARN', () => {
    const { sw, dev, log } = pool512k();
    // 3000 bytes: 2 slots, alloc_size 3000.
    const t = sw.map(dev, 0x1_0000_0000, 3000, DMA_TO_DEVICE, 0);
    sw.syncSingleForDevice(dev, t, 5000, DMA_TO_DEVICE);
    expect(sw.stats.bytesToDevice).toBe(6000); // 3000 at map + 3000 (cut from 5000)
    expect(log.messages().map((m) => m.msg)).toEqual([
      'WARNING: at kernel/dma/swiotlb.c swiotlb_bounce: nvme 0000:03:00.0: ' +
        'Buffer overflow detected. Allocation size: 3000. Mapping size: 5000.',
    ]);
  });

  it('keeps the min_align_mask bits of the original, padding with whole slots', () => {
    const { sw, dev } = pool512k();
    dmaSetMinAlignMask(dev, 4095);
    // orig 0x1_0000_0900: offset = 0x900 & 4095 & 2047 = 0x100 within the slot; bit 11 of the
    // original is 1, so the buffer starts in an odd slot: slot 1 -> base + 0x800 + 0x100.
    const t = sw.map(dev, 0x1_0000_0900, 0x200, DMA_TO_DEVICE, 0);
    expect(t).toBe(0xbff8_0000 + 0x900);
    expect(t % 4096).toBe(0x900);
    expect(sw.origAddrOf(dev, t + 0x10)).toBe(0x1_0000_0910);
    expect(sw.maxMappingSize(dev)).toBe(IO_TLB_SIZE * IO_TLB_SEGSIZE - 4096);
    sw.tblUnmapSingle(dev, t, 0x200, DMA_TO_DEVICE, 0);
    expect(sw.stats.slotsUsed).toBe(0);
  });

  it('refuses a bounce buffer the device cannot reach ("swiotlb addr ... overflow")', () => {
    const log = new KernelLog();
    const sw = new Swiotlb(fabric().memoryMap, { force: true }, log);
    // A 30-bit device reaches [0, 1 GiB); the pool is at 0xbc00_0000.
    const dev = device(log, 30);
    expect(sw.map(dev, 0x1000, 4096, DMA_TO_DEVICE, 0)).toBe(DMA_MAPPING_ERROR);
    expect(sw.stats.slotsUsed).toBe(0);
    expect(log.messages().map((m) => m.msg)).toEqual([
      'WARNING: at kernel/dma/swiotlb.c swiotlb_map: nvme 0000:03:00.0: swiotlb addr ' +
        '0x00000000bc000000+4096 overflow (mask 3fffffff, bus limit 0).',
    ]);
  });

  it(`returns every slot: after any map/unmap sequence, each segment takes a 256 KiB mapping (seed ${SEED})`, () => {
    const sizes = fc.integer({ min: 1, max: 64 * KiB });
    const op = fc.record({ size: sizes, unmapIndex: fc.nat(), unmap: fc.boolean() });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const { sw, dev } = pool512k();
        const live: [number, number][] = [];
        let orig = 0x1_0000_0000;
        for (const o of ops) {
          if (o.unmap && live.length) {
            const [t, size] = live.splice(o.unmapIndex % live.length, 1)[0]!;
            sw.tblUnmapSingle(dev, t, size, DMA_FROM_DEVICE, 0);
          } else {
            const t = sw.map(dev, orig, o.size, DMA_TO_DEVICE, 0);
            if (t !== DMA_MAPPING_ERROR) {
              live.push([t, o.size]);
              // The buffer lies within one segment of the pool.
              const first = Math.floor((t - sw.start) / IO_TLB_SIZE);
              const last = Math.floor((t + o.size - 1 - sw.start) / IO_TLB_SIZE);
              expect(Math.floor(first / IO_TLB_SEGSIZE)).toBe(Math.floor(last / IO_TLB_SEGSIZE));
            }
            orig += 0x10_0000;
          }
        }
        for (const [t, size] of live) sw.tblUnmapSingle(dev, t, size, DMA_FROM_DEVICE, 0);
        expect(sw.stats.slotsUsed).toBe(0);
        const a = sw.map(dev, 0x9_0000_0000, 256 * KiB, DMA_TO_DEVICE, 0);
        const b = sw.map(dev, 0xa_0000_0000, 256 * KiB, DMA_TO_DEVICE, 0);
        expect([a, b].sort()).toEqual([sw.start, sw.start + 256 * KiB]);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});
