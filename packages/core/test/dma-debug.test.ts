/**
 * The DMA-API debug checker (reference §8, kernel/dma/debug.c): one test per misuse class the
 * model has an API for, with the kernel's message text worked out from debug.c's formats, and the
 * DI wiring through createKernelContainer().
 *
 * Every test maps for nvme0 (0000:03:00.0 in switchFabric(), driver "nvme") through the identity
 * fake ops, so a DMA address equals the CPU physical address. WARN texts read
 * "DMA-API: <dev_driver_string> <dev_name>: <message>"; %016llx pads to 16 hex digits.
 */
import { ContainerModule } from 'inversify';
import {
  ACTIVE_CACHELINE_MAX_OVERLAP,
  DmaApiDebug,
  DmaApiDebugOps,
  type DmaApiDebugOptions,
} from '../src/dma/debug';
import {
  DMA_ATTR_DEBUGGING_IGNORE_CACHELINES,
  DMA_ATTR_REQUIRE_COHERENT,
  DMA_ATTR_SKIP_CPU_SYNC,
} from '../src/dma/attrs';
import { DmaDevice } from '../src/dma/device';
import { DmaDataDirection } from '../src/dma/direction';
import { DMA_MAPPING_ERROR, DmaMapOps } from '../src/dma/map-ops';
import {
  deviceReleaseDriver,
  dmaMapPhys,
  dmaMapResource,
  dmaMapSgtable,
  dmaMappingError,
  dmaSyncSgForCpu,
  dmaSyncSingleForCpu,
  dmaSyncSingleForDevice,
  dmaUnmapPhys,
  dmaUnmapResource,
  dmaUnmapSgAttrs,
  dmaUnmapSgtable,
} from '../src/dma/mapping';
import { createKernelContainer, DmaDevices } from '../src/di/kernel';
import { KernelLog } from '../src/kernel-log';
import {
  MEMORY_DEVICE_PCI_P2PDMA,
  PAGE_SIZE,
  pagesFromPfns,
  type DevPagemap,
} from '../src/mm/page';
import {
  SgTable,
  sgAllocTableFromPages,
  sgAllocTableFromPagesSegment,
  sgDmaIsBusAddress,
  sgEntries,
} from '../src/scatterlist/scatterlist';
import { FakeDmaOps, type FakeDmaOpsOptions } from './helpers/fake-ops';
import { switchFabric } from './helpers/fabrics';

const { DMA_BIDIRECTIONAL, DMA_TO_DEVICE, DMA_FROM_DEVICE } = DmaDataDirection;
const topo = switchFabric();
const NVME = 'DMA-API: nvme 0000:03:00.0: ';

/** A kernel with the checker around identity fake ops; every error printed unless told. */
function setup(
  fakeOpts: FakeDmaOpsOptions = {},
  dbgOpts: DmaApiDebugOptions = { allErrors: true },
) {
  const log = new KernelLog();
  const debug = new DmaApiDebug(log, dbgOpts);
  const fake = new FakeDmaOps(fakeOpts);
  const ops = new DmaApiDebugOps(fake, debug);
  const pci = topo.get('nvme0');
  const nvme = new DmaDevice(pci.bdf, pci, ops, log);
  nvme.driver = 'nvme';
  const warns = () =>
    log
      .messages()
      .filter((m) => m.level === 'warn')
      .map((m) => m.msg);
  const messages = () => debug.errors().map((r) => r.message);
  return { log, debug, fake, ops, nvme, warns, messages };
}

/** A mapped single buffer whose map error the driver checked, as a correct driver does. */
function mapChecked(
  dev: DmaDevice,
  phys: number,
  size: number,
  dir: DmaDataDirection,
  attrs = 0,
): number {
  const addr = dmaMapPhys(dev, phys, size, dir, attrs);
  expect(dmaMappingError(dev, addr)).toBe(false);
  return addr;
}

/** An sg table of one entry per page (max_segment = PAGE_SIZE keeps them apart). */
function pageTable(pfns: number[]): SgTable {
  const sgt = new SgTable();
  expect(
    sgAllocTableFromPagesSegment(sgt, pagesFromPfns(pfns), 0, pfns.length * PAGE_SIZE, PAGE_SIZE),
  ).toBe(0);
  return sgt;
}

describe('DMA-API debug bookkeeping (§8)', () => {
  test('§8 init: 65536 preallocated entries, 16384-bucket hash, kernel-config banner', () => {
    const { log, debug } = setup();
    // dma_debug_init(): DIV_ROUND_UP(65536, 32) = 2048 pages of 32 entries = 65536.
    expect(log.messages()).toEqual([
      { level: 'info', msg: 'DMA-API: preallocated 65536 debug entries' },
      { level: 'info', msg: 'DMA-API: debugging enabled by kernel config' },
    ]);
    expect([debug.numFreeEntries, debug.minFreeEntries, debug.nrTotalEntries]).toEqual([
      65536, 65536, 65536,
    ]);
    expect(debug.disabled).toBe(false);
  });

  test('§8 a clean map/unmap/sync cycle produces no report and returns every entry', () => {
    const { debug, fake, nvme, warns } = setup();
    const addr = mapChecked(nvme, 0x10000, 4096, DMA_FROM_DEVICE);
    dmaSyncSingleForCpu(nvme, addr + 0x800, 0x800, DMA_FROM_DEVICE);
    dmaUnmapPhys(nvme, addr, 4096, DMA_FROM_DEVICE);
    // 3 separate pages -> 3 sg entries, unmapped with orig_nents as dma_unmap_sgtable() does.
    const sgt = pageTable([0x20, 0x30, 0x40]);
    expect(dmaMapSgtable(nvme, sgt, DMA_BIDIRECTIONAL)).toBe(0);
    expect(sgt.nents).toBe(3);
    dmaSyncSgForCpu(nvme, sgt.sgl!, sgt.origNents, DMA_BIDIRECTIONAL);
    dmaUnmapSgtable(nvme, sgt, DMA_BIDIRECTIONAL);
    expect(debug.errors()).toEqual([]);
    expect(warns()).toEqual([]);
    expect(debug.errorCount).toBe(0);
    // At most 3 entries were live at once (the sg list): 65536 - 3 = 65533.
    expect([debug.numFreeEntries, debug.minFreeEntries]).toEqual([65536, 65533]);
    expect(debug.entries()).toEqual([]);
    // The wrapped ops saw every call, unchanged.
    expect(fake.calls.map((c) => c.op)).toEqual([
      'mapPhys',
      'syncSingleForCpu',
      'unmapPhys',
      'mapSg',
      'syncSgForCpu',
      'unmapSg',
    ]);
    expect(fake.callsOf('mapPhys')[0]!.args).toEqual([0x10000, 4096, DMA_FROM_DEVICE, 0]);
  });

  test('§8 entries record type, addresses, sg counts and the map-error state', () => {
    const { debug, nvme } = setup({ merge: true });
    dmaMapPhys(nvme, 0x10000, 4096, DMA_FROM_DEVICE);
    // pfns 0x20, 0x21 are DMA-contiguous: merged into one 8 KiB segment; 2 CPU entries.
    const sgt = pageTable([0x20, 0x21]);
    dmaMapSgtable(nvme, sgt, DMA_TO_DEVICE);
    const [phy, sg] = debug.entries(nvme);
    expect(phy).toMatchObject({
      type: 'phy',
      devAddr: 0x10000,
      size: 4096,
      paddr: 0x10000,
      mapErrType: 'not-checked',
    });
    expect(sg).toMatchObject({
      type: 'sg',
      devAddr: 0x20000,
      size: 8192,
      paddr: 0x20000,
      sgCallEnts: 2,
      sgMappedEnts: 1,
      mapErrType: 'none',
    });
    dmaMappingError(nvme, 0x10000);
    expect(debug.entries(nvme)[0]!.mapErrType).toBe('checked');
  });
});

describe('DMA-API debug misuse classes (§8)', () => {
  test('§8 class 1: unmap of an address never mapped', () => {
    const { nvme, warns, debug } = setup();
    dmaUnmapPhys(nvme, 0x20000, 4096, DMA_FROM_DEVICE);
    const msg =
      NVME +
      'device driver tries to free DMA memory it has not allocated ' +
      '[device address=0x0000000000020000] [size=4096 bytes]';
    expect(warns()).toEqual([msg]);
    expect(debug.errors()).toEqual([
      { kind: 'free-not-allocated', device: '0000:03:00.0', message: msg, shown: true },
    ]);
    expect(debug.errorCount).toBe(1);
  });

  test('§8 class 1: unmap of the error cookie', () => {
    const { nvme, messages } = setup({ failMapPhys: true });
    const addr = dmaMapPhys(nvme, 0x10000, 4096, DMA_TO_DEVICE);
    expect(addr).toBe(DMA_MAPPING_ERROR);
    expect(dmaMappingError(nvme, addr)).toBe(true);
    dmaUnmapPhys(nvme, addr, 4096, DMA_TO_DEVICE);
    expect(messages()).toEqual([
      NVME + 'device driver tries to free an invalid DMA memory address',
    ]);
  });

  test('§8 class 1: a buffer mapped twice is unmapped by best fit; an ambiguous unmap is unknown', () => {
    // Identity mapping: both mappings of 0x10000 share the DMA address (and bucket 8).
    const { nvme, messages, debug } = setup();
    mapChecked(nvme, 0x10000, 4096, DMA_TO_DEVICE);
    mapChecked(nvme, 0x10000, 8192, DMA_FROM_DEVICE);
    // (2048, BIDIRECTIONAL) matches each entry on type and sg count only (level 2): two
    // imperfect matches are ambiguous, so the kernel finds nothing.
    dmaUnmapPhys(nvme, 0x10000, 2048, DMA_BIDIRECTIONAL);
    // Each of these fits one entry perfectly (size, type, direction, sg count).
    dmaUnmapPhys(nvme, 0x10000, 8192, DMA_FROM_DEVICE);
    dmaUnmapPhys(nvme, 0x10000, 4096, DMA_TO_DEVICE);
    expect(messages()).toEqual([
      NVME +
        'device driver tries to free DMA memory it has not allocated ' +
        '[device address=0x0000000000010000] [size=2048 bytes]',
    ]);
    expect(debug.entries()).toEqual([]);
  });

  test('§8 class 2: unmap with a different size', () => {
    const { nvme, messages, debug } = setup();
    const addr = mapChecked(nvme, 0x10000, 8192, DMA_TO_DEVICE);
    dmaUnmapPhys(nvme, addr, 4096, DMA_TO_DEVICE);
    expect(messages()).toEqual([
      NVME +
        'device driver frees DMA memory with different size ' +
        '[device address=0x0000000000010000] [map size=8192 bytes] [unmap size=4096 bytes]',
    ]);
    // The entry is released all the same.
    expect(debug.entries()).toEqual([]);
  });

  test('§8 class 3: unmap with the wrong function (phys vs resource vs sg)', () => {
    const { nvme, messages } = setup();
    const a = mapChecked(nvme, 0x10000, 4096, DMA_TO_DEVICE);
    dmaUnmapResource(nvme, a, 4096, DMA_TO_DEVICE);
    // One sg entry of 4096 bytes at 0x30000, unmapped as a single phys mapping.
    const sgt = pageTable([0x30]);
    dmaMapSgtable(nvme, sgt, DMA_TO_DEVICE);
    dmaUnmapPhys(nvme, 0x30000, 4096, DMA_TO_DEVICE);
    expect(messages()).toEqual([
      NVME +
        'device driver frees DMA memory with wrong function ' +
        '[device address=0x0000000000010000] [size=4096 bytes] [mapped as phy] [unmapped as resource]',
      NVME +
        'device driver frees DMA memory with wrong function ' +
        '[device address=0x0000000000030000] [size=4096 bytes] [mapped as scatter-gather] ' +
        '[unmapped as phy]',
    ]);
  });

  test('§8 class 5: dma_unmap_sg() with the count dma_map_sg() returned', () => {
    // 3 CPU entries at 0x10000, 0x11000, 0x12000 follow on in DMA space: the merging ops return
    // 1 segment (0x10000, 12288 bytes). The driver then passes that 1 to dma_unmap_sg().
    const { nvme, messages, debug } = setup({ merge: true });
    const sgt = pageTable([0x10, 0x11, 0x12]);
    expect(dmaMapSgtable(nvme, sgt, DMA_FROM_DEVICE)).toBe(0);
    expect([sgt.nents, sgt.origNents]).toEqual([1, 3]);
    dmaUnmapSgAttrs(nvme, sgt.sgl!, sgt.nents, DMA_FROM_DEVICE);
    expect(messages()).toEqual([
      NVME +
        'device driver frees DMA sg list with different entry count [map count=3] [unmap count=1]',
    ]);
    expect(debug.entries()).toEqual([]);
  });

  test('§8 class 6: unmap with a different direction', () => {
    const { nvme, messages } = setup();
    const addr = mapChecked(nvme, 0x10000, 4096, DMA_FROM_DEVICE);
    dmaUnmapPhys(nvme, addr, 4096, DMA_TO_DEVICE);
    expect(messages()).toEqual([
      NVME +
        'device driver frees DMA memory with different direction ' +
        '[device address=0x0000000000010000] [size=4096 bytes] [mapped with DMA_FROM_DEVICE] ' +
        '[unmapped with DMA_TO_DEVICE]',
    ]);
  });

  test('§8 class 6: sync with a different direction', () => {
    // TO_DEVICE mapping synced for the device as FROM_DEVICE: only the direction differs (the
    // write-only check needs a mapping that is not TO_DEVICE).
    const { nvme, messages } = setup();
    const addr = mapChecked(nvme, 0x10000, 4096, DMA_TO_DEVICE);
    dmaSyncSingleForDevice(nvme, addr, 4096, DMA_FROM_DEVICE);
    expect(messages()).toEqual([
      NVME +
        'device driver syncs DMA memory with different direction ' +
        '[device address=0x0000000000010000] [size=4096 bytes] [mapped with DMA_TO_DEVICE] ' +
        '[synced with DMA_FROM_DEVICE]',
    ]);
  });

  test('§8 class 7: a mapping whose dma_mapping_error() was never called', () => {
    const { nvme, messages } = setup();
    const a = dmaMapPhys(nvme, 0x10000, 4096, DMA_TO_DEVICE);
    dmaUnmapPhys(nvme, a, 4096, DMA_TO_DEVICE);
    const r = dmaMapResource(nvme, 0x2_4000_0000, 4096, DMA_BIDIRECTIONAL);
    dmaUnmapResource(nvme, r, 4096, DMA_BIDIRECTIONAL);
    // debug.c's format has no space between "error" and the bracket.
    expect(messages()).toEqual([
      NVME +
        'device driver failed to check map error[device address=0x0000000000010000] ' +
        '[size=4096 bytes] [mapped as phy]',
      NVME +
        'device driver failed to check map error[device address=0x0000000240000000] ' +
        '[size=4096 bytes] [mapped as resource]',
    ]);
  });

  test('§8 class 9: sync of memory never mapped, and past the end of a mapping', () => {
    const { nvme, messages } = setup();
    dmaSyncSingleForCpu(nvme, 0x50000, 64, DMA_FROM_DEVICE);
    const addr = mapChecked(nvme, 0x10000, 4096, DMA_FROM_DEVICE);
    // [0x10800, 0x11000) lies inside [0x10000, 0x11000): fine.
    dmaSyncSingleForCpu(nvme, addr + 0x800, 0x800, DMA_FROM_DEVICE);
    // [0x10800, 0x11800) runs past the end: no entry contains it, so the kernel reports memory
    // it has not allocated (its "outside allocated range" check can never fire).
    dmaSyncSingleForCpu(nvme, addr + 0x800, 4096, DMA_FROM_DEVICE);
    expect(messages()).toEqual([
      NVME +
        'device driver tries to sync DMA memory it has not allocated ' +
        '[device address=0x0000000000050000] [size=64 bytes]',
      NVME +
        'device driver tries to sync DMA memory it has not allocated ' +
        '[device address=0x0000000000010800] [size=4096 bytes]',
    ]);
  });

  test('§8 class 9: a sync inside a mapping that starts in an earlier hash bucket is found', () => {
    // 0x1e000 >> 13 = 15, 0x20000 >> 13 = 16: the lookup walks back from bucket 16 to 15.
    const { nvme, messages } = setup();
    mapChecked(nvme, 0x1e000, 0x4000, DMA_FROM_DEVICE);
    dmaSyncSingleForCpu(nvme, 0x20000, 0x1000, DMA_FROM_DEVICE);
    expect(messages()).toEqual([]);
  });

  test('§8 class 9: sync for the CPU of device-read-only (TO_DEVICE) memory', () => {
    // Mapped TO_DEVICE, synced for the CPU as BIDIRECTIONAL: the directions differ, and the
    // mapping is not FROM_DEVICE while the sync is not TO_DEVICE -> two reports.
    const { nvme, messages } = setup();
    const addr = mapChecked(nvme, 0x10000, 4096, DMA_TO_DEVICE);
    dmaSyncSingleForCpu(nvme, addr, 4096, DMA_BIDIRECTIONAL);
    const tail =
      '[device address=0x0000000000010000] [size=4096 bytes] [mapped with DMA_TO_DEVICE] ' +
      '[synced with DMA_BIDIRECTIONAL]';
    expect(messages()).toEqual([
      NVME + 'device driver syncs DMA memory with different direction ' + tail,
      NVME + 'device driver syncs device read-only DMA memory for cpu ' + tail,
    ]);
  });

  test('§8 class 9: sync for the device of device-write-only (FROM_DEVICE) memory', () => {
    const { nvme, messages } = setup();
    const addr = mapChecked(nvme, 0x10000, 4096, DMA_FROM_DEVICE);
    dmaSyncSingleForDevice(nvme, addr, 4096, DMA_TO_DEVICE);
    const tail =
      '[device address=0x0000000000010000] [size=4096 bytes] [mapped with DMA_FROM_DEVICE] ' +
      '[synced with DMA_TO_DEVICE]';
    expect(messages()).toEqual([
      NVME + 'device driver syncs DMA memory with different direction ' + tail,
      NVME + 'device driver syncs device write-only DMA memory to device ' + tail,
    ]);
  });

  test('§8 class 9: a BIDIRECTIONAL mapping may be synced either way', () => {
    const { nvme, messages } = setup();
    const addr = mapChecked(nvme, 0x10000, 4096, DMA_BIDIRECTIONAL);
    dmaSyncSingleForCpu(nvme, addr, 4096, DMA_TO_DEVICE);
    dmaSyncSingleForDevice(nvme, addr, 4096, DMA_FROM_DEVICE);
    expect(messages()).toEqual([]);
  });

  test('§8 class 9: sg sync with a different entry count; an unknown sg list is not checked', () => {
    // 3 entries mapped; synced with nents 2: both synced segments are found (map count 3).
    const { nvme, messages } = setup();
    const sgt = pageTable([0x10, 0x20, 0x30]);
    dmaMapSgtable(nvme, sgt, DMA_FROM_DEVICE);
    dmaSyncSgForCpu(nvme, sgt.sgl!, 2, DMA_FROM_DEVICE);
    // A list never mapped (dma addresses 0): the first segment is not found, so the loop stops
    // before checking anything.
    const other = pageTable([0x50]);
    dmaSyncSgForCpu(nvme, other.sgl!, 1, DMA_FROM_DEVICE);
    const msg =
      NVME +
      'device driver syncs DMA sg list with different entry count [map count=3] [sync count=2]';
    expect(messages()).toEqual([msg, msg]);
  });

  test('§8 class 10: an sg segment longer than dma_get_max_seg_size()', () => {
    // 32 contiguous pages from pfn 0x100 -> one 128 KiB entry at 0x100000; PCI default max 65536.
    const { nvme, messages } = setup();
    const sgt = new SgTable();
    const pfns = Array.from({ length: 32 }, (_, i) => 0x100 + i);
    expect(sgAllocTableFromPages(sgt, pagesFromPfns(pfns), 0, 32 * PAGE_SIZE)).toBe(0);
    expect(nvme.maxSegmentSize).toBe(65536);
    dmaMapSgtable(nvme, sgt, DMA_TO_DEVICE);
    expect(messages()).toEqual([
      NVME + 'mapping sg segment longer than device claims to support [len=131072] [max=65536]',
    ]);
  });

  test('§8 class 10: a P2P bus-address segment too long and across the 4 GiB boundary', () => {
    // 20 P2PDMA pages of a BAR at CPU 0x2_4000_0000 (pfns 0x240000..0x240013): one CPU entry of
    // 20 * 4096 = 81920 bytes. The host bridge puts the BAR at bus 0xffff8000 (bus offset
    // 0xffff8000 - 0x240000000 = -0x140008000), so the segment is [0xffff8000, 0x10000bfff]:
    // 81920 > 65536, and bit 32 differs between start and end while the boundary mask is
    // 0xffffffff. The CPU range [0x240000000, 0x240013fff] crosses nothing: the check is on bus
    // addresses.
    const { nvme, messages } = setup({ p2pBusOffset: 0xffff8000 - 0x2_4000_0000 });
    const pgmap: DevPagemap = {
      type: MEMORY_DEVICE_PCI_P2PDMA,
      range: { start: 0x2_4000_0000, end: 0x2_4000_0000 + 0x10_0000 - 1 },
    };
    const pfns = Array.from({ length: 20 }, (_, i) => 0x240000 + i);
    const sgt = new SgTable();
    expect(sgAllocTableFromPages(sgt, pagesFromPfns(pfns, pgmap), 0, 20 * PAGE_SIZE)).toBe(0);
    expect(sgt.origNents).toBe(1);
    dmaMapSgtable(nvme, sgt, DMA_FROM_DEVICE);
    expect(sgDmaIsBusAddress(sgEntries(sgt.sgl, 1)[0]!)).toBe(true);
    expect(messages()).toEqual([
      NVME + 'mapping sg segment longer than device claims to support [len=81920] [max=65536]',
      NVME +
        'mapping sg segment across boundary [start=0x00000000ffff8000] ' +
        '[end=0x000000010000bfff] [boundary=0x00000000ffffffff]',
    ]);
  });

  test('§8 class 11: two non-TO_DEVICE mappings of one cacheline', () => {
    // 0x10000 and 0x10020 share the 64-byte line 0x10000 >> 6 = 0x400.
    const { nvme, messages, debug } = setup();
    const a = mapChecked(nvme, 0x10000, 64, DMA_FROM_DEVICE);
    const b = mapChecked(nvme, 0x10020, 32, DMA_BIDIRECTIONAL);
    expect(messages()).toEqual([
      NVME + "cacheline tracking EEXIST, overlapping mappings aren't supported",
    ]);
    dmaUnmapPhys(nvme, a, 64, DMA_FROM_DEVICE);
    dmaUnmapPhys(nvme, b, 32, DMA_BIDIRECTIONAL);
    // Both released, the line idle again: a new mapping of it is no overlap.
    mapChecked(nvme, 0x10000, 64, DMA_FROM_DEVICE);
    expect(debug.errors()).toHaveLength(1);
  });

  test('§8 class 11: a cacheline stays active while any of its mappings remains', () => {
    // A claims line 0x400, B (SKIP_CPU_SYNC, not reported) overlaps it: overlap 1. Unmapping A
    // drops the overlap to 0 but B still holds the line, so C overlaps and is reported.
    const { nvme, messages } = setup();
    const a = mapChecked(nvme, 0x10000, 64, DMA_FROM_DEVICE);
    mapChecked(nvme, 0x10020, 32, DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    dmaUnmapPhys(nvme, a, 64, DMA_FROM_DEVICE);
    expect(messages()).toEqual([]);
    mapChecked(nvme, 0x10000, 64, DMA_FROM_DEVICE);
    expect(messages()).toEqual([
      NVME + "cacheline tracking EEXIST, overlapping mappings aren't supported",
    ]);
  });

  test('§8 class 11: TO_DEVICE, DMA_ATTR_SKIP_CPU_SYNC and cache-clean pairs are exempt', () => {
    const { nvme, messages } = setup();
    // TO_DEVICE mappings are not tracked at all.
    mapChecked(nvme, 0x10000, 64, DMA_TO_DEVICE);
    mapChecked(nvme, 0x10000, 64, DMA_TO_DEVICE);
    // The second of two FROM_DEVICE mappings skips the CPU sync: no report.
    mapChecked(nvme, 0x20000, 64, DMA_FROM_DEVICE);
    mapChecked(nvme, 0x20000, 64, DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    // 2026: both cache-clean (IGNORE_CACHELINES, REQUIRE_COHERENT) -> no report.
    mapChecked(nvme, 0x30000, 64, DMA_FROM_DEVICE, DMA_ATTR_DEBUGGING_IGNORE_CACHELINES);
    mapChecked(nvme, 0x30000, 64, DMA_FROM_DEVICE, DMA_ATTR_REQUIRE_COHERENT);
    expect(messages()).toEqual([]);
    // Only the newcomer cache-clean: the line's first mapping made no promise -> reported.
    mapChecked(nvme, 0x40000, 64, DMA_FROM_DEVICE);
    mapChecked(nvme, 0x40000, 64, DMA_FROM_DEVICE, DMA_ATTR_DEBUGGING_IGNORE_CACHELINES);
    expect(messages()).toEqual([
      NVME + "cacheline tracking EEXIST, overlapping mappings aren't supported",
    ]);
  });

  test('§8 class 11: more than 7 overlapping mappings of a cacheline (WARN_ONCE)', () => {
    // Line 0x10000 >> 6 = 0x400. Mapping 1 claims it, mappings 2..8 are overlaps 1..7, mapping
    // 9 would be overlap 8 > 7: warned once; mapping 10 is not warned again. SKIP_CPU_SYNC keeps
    // the EEXIST reports out of the way; the overlap count is kept regardless.
    const { nvme, debug, warns } = setup();
    for (let i = 0; i < 10; i++) {
      mapChecked(nvme, 0x10000, 64, DMA_FROM_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    }
    const msg = `DMA-API: exceeded ${ACTIVE_CACHELINE_MAX_OVERLAP} overlapping mappings of cacheline 0x0000000000000400`;
    expect(msg).toBe('DMA-API: exceeded 7 overlapping mappings of cacheline 0x0000000000000400');
    expect(warns()).toEqual([msg]);
    expect(debug.errors()).toEqual([
      { kind: 'cacheline-overlap-limit', device: undefined, message: msg, shown: true },
    ]);
    // A WARN_ONCE, not an err_printk: error_count does not move.
    expect(debug.errorCount).toBe(0);
  });

  test('§8 class 12: a driver unbound with mappings alive', () => {
    // Live: phy 0x10000 (bucket 8), sg 0x30000 (bucket 24), sg 0x40000 (bucket 32). The report
    // names the last one found walking the buckets in order: the sg entry at 0x40000. The
    // driver is already gone when the notifier runs, so dev_driver_string() is the bus, "pci".
    const { nvme, messages, debug } = setup();
    mapChecked(nvme, 0x10000, 4096, DMA_FROM_DEVICE);
    const sgt = pageTable([0x30, 0x40]);
    dmaMapSgtable(nvme, sgt, DMA_TO_DEVICE);
    deviceReleaseDriver(nvme);
    expect(nvme.driver).toBeUndefined();
    expect(messages()).toEqual([
      'DMA-API: pci 0000:03:00.0: device driver has pending DMA allocations while released ' +
        'from device [count=3]\nOne of leaked entries details: [device address=0x0000000000040000] ' +
        '[size=4096 bytes] [mapped with DMA_TO_DEVICE] [mapped as scatter-gather]',
    ]);
    expect(debug.errors()[0]!.kind).toBe('pending-at-unbind');
  });

  test('§8 class 12: a driver unbound with nothing mapped is not reported', () => {
    const { nvme, messages } = setup();
    const addr = mapChecked(nvme, 0x10000, 4096, DMA_FROM_DEVICE);
    dmaUnmapPhys(nvme, addr, 4096, DMA_FROM_DEVICE);
    deviceReleaseDriver(nvme);
    expect(messages()).toEqual([]);
  });
});

describe('DMA-API debug limits and settings (§8)', () => {
  test('§8 running out of entries disables the checker ("debugging out of memory")', () => {
    // dma_debug_entries=1 rounds up to one page: 32 entries. The 33rd mapping finds none.
    const { nvme, log, debug, messages } = setup({}, { entries: 1, allErrors: true });
    expect(log.messages()[0]!.msg).toBe('DMA-API: preallocated 32 debug entries');
    for (let i = 0; i < 33; i++) mapChecked(nvme, 0x100000 + i * 4096, 4096, DMA_FROM_DEVICE);
    expect(log.messages().filter((m) => m.level === 'err')).toEqual([
      { level: 'err', msg: 'DMA-API: debugging out of memory - disabling' },
    ]);
    expect(debug.disabled).toBe(true);
    expect([debug.numFreeEntries, debug.minFreeEntries]).toEqual([0, 0]);
    // Disabled: nothing is checked any more.
    dmaUnmapPhys(nvme, 0x900000, 4096, DMA_FROM_DEVICE);
    expect(messages()).toEqual([]);
  });

  test('§8 with pool growth (v4.20+) the 33rd entry adds a page of 32', () => {
    // nr_total 32 -> 64; 64 % 32 = 0 < 32: "pool grown to 64 (200%)"; free 64 - 33 = 31.
    const { nvme, log, debug } = setup({}, { entries: 32, poolGrowth: true });
    for (let i = 0; i < 33; i++) mapChecked(nvme, 0x100000 + i * 4096, 4096, DMA_FROM_DEVICE);
    expect(log.messages().map((m) => m.msg)).toContain(
      'DMA-API: dma_debug_entry pool grown to 64 (200%)',
    );
    expect([debug.disabled, debug.nrTotalEntries, debug.numFreeEntries]).toEqual([false, 64, 31]);
  });

  test('§8 only the first error is printed by default (num_errors = 1), all are counted', () => {
    const { nvme, warns, debug } = setup({}, {});
    dmaUnmapPhys(nvme, 0x20000, 4096, DMA_FROM_DEVICE);
    dmaUnmapPhys(nvme, 0x30000, 4096, DMA_FROM_DEVICE);
    expect(warns()).toHaveLength(1);
    expect(debug.errors().map((r) => r.shown)).toEqual([true, false]);
    expect(debug.errorCount).toBe(2);
  });

  test('§8 dma_debug=off checks nothing', () => {
    const { nvme, log, debug } = setup({}, { off: true });
    dmaUnmapPhys(nvme, 0x20000, 4096, DMA_FROM_DEVICE);
    expect(log.messages()).toEqual([
      { level: 'info', msg: 'DMA-API: debugging disabled on kernel command line' },
    ]);
    expect(debug.errors()).toEqual([]);
  });
});

describe('DMA-API debug through the kernel container (§8)', () => {
  const fakeStrategy = (fake: FakeDmaOps) =>
    new ContainerModule(({ bind }) => {
      bind(DmaMapOps).toConstantValue(fake);
    });

  test('§8 options.dmaApiDebug wraps the strategy ops with no change to them', () => {
    const fake = new FakeDmaOps();
    const c = createKernelContainer({
      topology: switchFabric(),
      strategy: fakeStrategy(fake),
      options: { dmaApiDebug: true },
    });
    const ops = c.get<DmaMapOps>(DmaMapOps);
    expect(ops).toBeInstanceOf(DmaApiDebugOps);
    expect((ops as DmaApiDebugOps).inner).toBe(fake);
    expect(ops.name).toBe(fake.name);
    expect(ops.capabilities).toBe(fake.capabilities);
    const dev = c.get(DmaDevices).get('nvme0');
    expect(dev.dmaOps).toBe(ops);
    // The driver DmaDevices binds is named after the class: "nvme".
    dmaUnmapPhys(dev, 0x20000, 4096, DMA_FROM_DEVICE);
    const msg =
      'DMA-API: nvme 0000:03:00.0: device driver tries to free DMA memory it has not allocated ' +
      '[device address=0x0000000000020000] [size=4096 bytes]';
    expect(
      c
        .get(DmaApiDebug)
        .errors()
        .map((r) => r.message),
    ).toEqual([msg]);
    expect(c.get(KernelLog).messages()).toContainEqual({ level: 'warn', msg });
    // Forwarded unchanged.
    expect(fake.callsOf('unmapPhys')).toEqual([
      { op: 'unmapPhys', dev: '0000:03:00.0', args: [0x20000, 4096, DMA_FROM_DEVICE, 0] },
    ]);
    // dmaToPhys forwards: identity for a live mapping, undefined otherwise.
    const addr = dmaMapPhys(dev, 0x50000, 4096, DMA_TO_DEVICE);
    expect(ops.dmaToPhys(dev, addr + 8)).toBe(0x50008);
    expect(ops.dmaToPhys(dev, 0x70000)).toBeUndefined();
  });

  test("§8 without dmaApiDebug the ops are the strategy's own; kernels share no checker", () => {
    const fake = new FakeDmaOps();
    const plain = createKernelContainer({ topology: topo, strategy: fakeStrategy(fake) });
    expect(plain.get(DmaMapOps)).toBe(fake);
    expect(plain.isBound(DmaApiDebug)).toBe(false);
    const k1 = createKernelContainer({
      topology: topo,
      strategy: fakeStrategy(new FakeDmaOps()),
      options: { dmaApiDebug: true },
    });
    const k2 = createKernelContainer({
      topology: topo,
      strategy: fakeStrategy(new FakeDmaOps()),
      options: { dmaApiDebug: true },
    });
    expect(k1.get(DmaApiDebug)).not.toBe(k2.get(DmaApiDebug));
    expect(k1.get(DmaApiDebug).log).toBe(k1.get(KernelLog));
    dmaUnmapPhys(k1.get(DmaDevices).get('nvme0'), 0x20000, 4096, DMA_FROM_DEVICE);
    expect(k1.get(DmaApiDebug).errorCount).toBe(1);
    expect(k2.get(DmaApiDebug).errorCount).toBe(0);
  });
});
