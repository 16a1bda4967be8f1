/**
 * The machine's physical address map (System RAM around the PCI hole, NUMA nodes, BARs), the
 * memmap of ZONE_DEVICE page maps (reference §9) and the page values the scatterlist code reads
 * (§3.1, §10.1: pages, page maps, is_pci_p2pdma_page).
 *
 * Host bridge i without `windows` decodes [0xc0000000 + i * 128 MiB, +128 MiB) and
 * [(i + 1) TiB, +1 TiB) (docs/topology-format.md, Address assignment).
 */
import { EINVAL, ENOMEM } from '../src/errno';
import { InputError, SpecError } from '../src/input-error';
import { KernelLog } from '../src/kernel-log';
import { DEFAULT_RAM_SIZE, type RamRange } from '../src/mm/memory-map';
import { Memmap, pgmapStructPageBytes } from '../src/mm/memremap';
import {
  isPciP2pdmaPage,
  MEMORY_DEVICE_GENERIC,
  MEMORY_DEVICE_PCI_P2PDMA,
  Page,
  PAGE_SIZE,
  pagesFromPfns,
  type DevPagemap,
} from '../src/mm/page';
import { pciP2pdmaAddResource, pciP2pdmaStructPageBytes } from '../src/p2pdma/provider';
import { P2pdmaDevices } from '../src/p2pdma/state';
import { topologyFromObject, type PciTopology } from '../src/pci/topology';
import { parseTopologyText } from '../src/pci/topology-loader';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

const CPU = { vendor: 'AMD', family: 0x19 } as const;
const HB0_ONLY = [{ name: 'hb0', bus: 0, devices: [{ bdf: '00:00.0', kind: 'host-bridge' }] }];

/** One host bridge with default windows and only its 00.0; `memory` as given. */
function withMemory(memory?: unknown, hostBridges: unknown[] = HB0_ONLY): PciTopology {
  return topologyFromObject({
    platform: memory === undefined ? { cpu: CPU } : { cpu: CPU, memory },
    hostBridges,
  });
}

function ram(t: PciTopology): RamRange[] {
  return t.memoryMap.ram.map((r) => ({ start: r.start, end: r.end, node: r.node }));
}

describe('System RAM laid out around the PCI hole (platform.memory)', () => {
  test('default: 64 GiB on node 0, [0, 3 GiB) and [4 GiB, 65 GiB)', () => {
    // The hole starts at the lowest host bridge window below 4 GiB: the default 32-bit window at
    // 0xc0000000 = 3 GiB. 3 GiB below it, the other 64 - 3 = 61 GiB from 4 GiB to
    // 4 + 61 = 65 GiB = 65 * 2^30 = 0x10_4000_0000 (below the 64-bit window at 1 TiB).
    const t = withMemory();
    expect(DEFAULT_RAM_SIZE).toBe(64 * GiB);
    expect(ram(t)).toEqual([
      { start: 0, end: 0xc000_0000, node: 0 },
      { start: 0x1_0000_0000, end: 0x10_4000_0000, node: 0 },
    ]);
    expect(t.memoryMap.ramSize).toBe(64 * GiB);
    expect(t.memoryMap.nodes).toEqual([0]);
    expect(t.memoryMap.lowRamEnd).toBe(3 * GiB);
    expect(t.hostBridges[0]!.windows.map((w) => [w.base, w.size])).toEqual([
      [0xc000_0000, 128 * MiB],
      [TiB, TiB],
    ]);
  });

  test('the size shorthand: `memory: 16GiB` is 3 GiB low and 13 GiB from 4 GiB', () => {
    // 16 - 3 = 13 GiB: [4 GiB, 17 GiB) = [0x1_0000_0000, 0x4_4000_0000)
    expect(ram(withMemory('16GiB'))).toEqual([
      { start: 0, end: 3 * GiB, node: 0 },
      { start: 4 * GiB, end: 0x4_4000_0000, node: 0 },
    ]);
  });

  test('less RAM than the hole: one range from 0', () => {
    expect(ram(withMemory({ size: '2GiB' }))).toEqual([{ start: 0, end: 2 * GiB, node: 0 }]);
    expect(withMemory('2GiB').memoryMap.lowRamEnd).toBe(2 * GiB);
  });

  test('NUMA nodes take the RAM in order; a node may straddle the hole', () => {
    // nodes 16 + 48 = 64 GiB. Node 0: all 3 GiB below the hole and 13 GiB from 4 GiB, to 17 GiB.
    // Node 1: 48 GiB from 17 GiB, to 65 GiB.
    expect(ram(withMemory({ nodes: ['16GiB', '48GiB'] }))).toEqual([
      { start: 0, end: 3 * GiB, node: 0 },
      { start: 4 * GiB, end: 17 * GiB, node: 0 },
      { start: 17 * GiB, end: 65 * GiB, node: 1 },
    ]);
  });

  test('a node that ends exactly at the hole; the next starts at 4 GiB', () => {
    // 3 + 1 + 60 = 64 GiB: node 0 [0, 3 GiB); node 1 [4, 5 GiB); node 2 [5, 65 GiB).
    const t = withMemory({ size: '64GiB', nodes: ['3GiB', '1GiB', '60GiB'] });
    expect(ram(t)).toEqual([
      { start: 0, end: 3 * GiB, node: 0 },
      { start: 4 * GiB, end: 5 * GiB, node: 1 },
      { start: 5 * GiB, end: 65 * GiB, node: 2 },
    ]);
    expect(t.memoryMap.nodes).toEqual([0, 1, 2]);
  });

  test('a host bridge window lower than 3 GiB lowers the hole', () => {
    // A 32-bit window at 2 GiB: 2 GiB below, 64 - 2 = 62 GiB from 4 GiB, to 66 GiB.
    const t = withMemory(undefined, [
      {
        name: 'hb0',
        bus: 0,
        windows: [
          { base: 0x8000_0000, size: '256MiB' },
          { base: TiB, size: '1TiB', prefetchable: true },
        ],
        devices: [{ bdf: '00:00.0', kind: 'host-bridge' }],
      },
    ]);
    expect(ram(t)).toEqual([
      { start: 0, end: 2 * GiB, node: 0 },
      { start: 4 * GiB, end: 66 * GiB, node: 0 },
    ]);
  });

  test('node sizes that do not add up to size: SpecError at platform.memory.size', () => {
    // 16 + 32 = 48 GiB = 51539607552 bytes; size 64 GiB = 68719476736 bytes.
    const err = catchError(() => withMemory({ size: '64GiB', nodes: ['16GiB', '32GiB'] }));
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).message).toBe(
      "memory size 68719476736 differs from the sum of the nodes' sizes 51539607552",
    );
    expect((err as SpecError).path).toEqual(['platform', 'memory', 'size']);
  });

  test('RAM that runs into a host bridge window: SpecError at platform.memory', () => {
    // 2 TiB: [0, 3 GiB) and [4 GiB, 4 GiB + 2 TiB - 3 GiB) = [0x1_0000_0000, 2 TiB + 1 GiB), whose
    // last byte 0x200_0000_0000 + 0x4000_0000 - 1 = 0x2003fffffff lies past the start of the
    // window [1 TiB, 2 TiB) = [0x10000000000-0x1ffffffffff].
    const err = catchError(() => withMemory('2TiB'));
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).message).toBe(
      'System RAM [0x100000000-0x2003fffffff] overlaps window [0x10000000000-0x1ffffffffff] ' +
        'of host bridge hb0; use less memory or move the window',
    );
    expect((err as SpecError).path).toEqual(['platform', 'memory']);
  });

  test('the topology loader reports both errors at file:line:column of platform.memory', () => {
    const yaml = (memoryLine: string) =>
      [
        'platform:',
        '  cpu: { vendor: AMD, family: 0x19 }',
        memoryLine,
        'hostBridges:',
        '  - name: hb0',
        '    bus: 0',
        '    devices:',
        "      - { bdf: '00:00.0', kind: host-bridge }",
        '',
      ].join('\n');
    // line 3; "  memory: { size: " is 18 characters, so the size value starts at column 19
    const mismatch = catchError(() =>
      parseTopologyText(yaml('  memory: { size: 64GiB, nodes: [16GiB, 32GiB] }'), 'topo.yaml'),
    );
    expect(mismatch).toBeInstanceOf(InputError);
    expect((mismatch as InputError).format()).toBe(
      "topo.yaml:3:19: memory size 68719476736 differs from the sum of the nodes' sizes 51539607552",
    );
    // "  memory: " is 10 characters: the value starts at column 11
    const overlap = catchError(() => parseTopologyText(yaml('  memory: 2TiB'), 'topo.yaml'));
    expect(overlap).toBeInstanceOf(InputError);
    expect((overlap as InputError).format()).toMatch(
      /^topo\.yaml:3:11: System RAM \[0x100000000-0x2003fffffff\] overlaps window /,
    );
    // and a good file loads with its memory
    const ok = parseTopologyText(yaml('  memory: { nodes: [8GiB, 8GiB] }'), 'topo.yaml');
    expect(ok.memoryMap.ramSize).toBe(16 * GiB);
    expect(ok.memoryMap.nodes).toEqual([0, 1]);
  });
});

/**
 * hb0 (bus 0, busOffset 0): nvme0 01:00.0, BAR 0 16 KiB (assigned: 0xc0000000, the first thing in
 * the 32-bit window), BAR 2 256 MiB at 1 TiB.
 * hb1 (bus 0x80, busOffset -1 TiB): gpu0 81:00.0, BAR 0 64 MiB at 2 TiB, so its bus address is
 * 2 TiB - 1 TiB = 1 TiB, the same bus address as nvme0's BAR 2 in the other PCI domain.
 * hb1's 32-bit window is the default [0xc8000000, +128 MiB): the hole still starts at 3 GiB.
 */
function twoDomains(memory?: unknown): PciTopology {
  const rp = (bus: number, child: unknown) => ({
    bdf: `${bus.toString(16).padStart(2, '0')}:01.0`,
    kind: 'root-port',
    children: [child],
  });
  return topologyFromObject({
    platform: memory === undefined ? { cpu: CPU } : { cpu: CPU, memory },
    hostBridges: [
      {
        name: 'hb0',
        bus: 0,
        devices: [
          { bdf: '00:00.0', kind: 'host-bridge' },
          rp(0, {
            bdf: '01:00.0',
            kind: 'endpoint',
            name: 'nvme0',
            bars: [
              { bar: 0, size: '16KiB' },
              { bar: 2, size: '256MiB', prefetchable: true, address: TiB },
            ],
          }),
        ],
      },
      {
        name: 'hb1',
        bus: 0x80,
        busOffset: -TiB,
        devices: [
          { bdf: '80:00.0', kind: 'host-bridge' },
          rp(0x80, {
            bdf: '81:00.0',
            kind: 'endpoint',
            name: 'gpu0',
            bars: [{ bar: 0, size: '64MiB', prefetchable: true, address: 2 * TiB }],
          }),
        ],
      },
    ],
  });
}

describe('address map lookups', () => {
  const t = twoDomains();
  const mm = t.memoryMap;
  const nvme = t.get('nvme0');
  const gpu = t.get('gpu0');

  test('ramAt: the range holding an address; the hole and the end are not RAM', () => {
    expect(mm.ramAt(0)).toMatchObject({ start: 0, end: 3 * GiB });
    expect(mm.ramAt(3 * GiB - 1)).toMatchObject({ start: 0, end: 3 * GiB });
    expect(mm.ramAt(3 * GiB)).toBeUndefined();
    expect(mm.ramAt(4 * GiB)).toMatchObject({ start: 4 * GiB, end: 65 * GiB });
    expect(mm.ramAt(65 * GiB)).toBeUndefined();
  });

  test('barAt: by CPU physical address, end exclusive', () => {
    expect(mm.barAt(0xc000_0000)).toMatchObject({ dev: nvme, bar: { bar: 0 } });
    // 16 KiB = 0x4000: last byte 0xc0003fff, 0xc0004000 is past it
    expect(mm.barAt(0xc000_3fff)).toMatchObject({ dev: nvme, bar: { bar: 0 } });
    expect(mm.barAt(0xc000_4000)).toBeUndefined();
    expect(mm.barAt(TiB + 256 * MiB - 1)).toMatchObject({ dev: nvme, bar: { bar: 2 } });
    expect(mm.barAt(TiB + 256 * MiB)).toBeUndefined();
    const g = mm.barAt(2 * TiB + 5);
    expect(g).toMatchObject({ dev: gpu, start: 2 * TiB, end: 2 * TiB + 64 * MiB, busStart: TiB });
  });

  test('barAtBus: the host bridge picks the PCI domain when bus addresses coincide', () => {
    // bus 1 TiB + 4 KiB is in nvme0 BAR 2 (bus = CPU on hb0) and in gpu0 BAR 0 (2 TiB - 1 TiB)
    expect(mm.barAtBus(TiB + 4096, nvme.hostBridge)).toMatchObject({ dev: nvme, bar: { bar: 2 } });
    expect(mm.barAtBus(TiB + 4096, gpu.hostBridge)).toMatchObject({ dev: gpu, bar: { bar: 0 } });
    // 1 TiB + 64 MiB: past gpu0's 64 MiB, still inside nvme0's 256 MiB
    expect(mm.barAtBus(TiB + 64 * MiB, gpu.hostBridge)).toBeUndefined();
    expect(mm.barAtBus(TiB + 64 * MiB, nvme.hostBridge)).toMatchObject({ dev: nvme });
    // without a host bridge: one of the two
    expect([nvme, gpu]).toContain(mm.barAtBus(TiB + 4096)!.dev);
    // hb0's BAR 0 at bus 0xc0000000 (busOffset 0)
    expect(mm.barAtBus(0xc000_0000)).toMatchObject({ dev: nvme, bar: { bar: 0 } });
  });

  test('regionAt: RAM, a BAR, or a hole', () => {
    expect(mm.regionAt(0x1000)).toMatchObject({ kind: 'ram', range: { node: 0 } });
    expect(mm.regionAt(0xc000_0000)).toMatchObject({ kind: 'bar', range: { dev: nvme } });
    expect(mm.regionAt(0xd000_0000)).toBeUndefined();
    expect(mm.regionAt(65 * GiB - 1)).toMatchObject({ kind: 'ram' });
    expect(mm.regionAt(2 * TiB)).toMatchObject({ kind: 'bar', range: { dev: gpu } });
  });

  test('isRam: across adjacent ranges, not across the hole', () => {
    expect(mm.isRam(3 * GiB - PAGE_SIZE, PAGE_SIZE)).toBe(true);
    expect(mm.isRam(3 * GiB - PAGE_SIZE, 2 * PAGE_SIZE)).toBe(false);
    // nodes 1 + 63 GiB: [0, 1 GiB) node 0 and [1, 3 GiB) node 1 touch at 1 GiB
    const split = twoDomains({ nodes: ['1GiB', '63GiB'] }).memoryMap;
    expect(split.ramAt(GiB - 1)!.node).toBe(0);
    expect(split.ramAt(GiB)!.node).toBe(1);
    expect(split.isRam(GiB - PAGE_SIZE, 2 * PAGE_SIZE)).toBe(true);
  });
});

/** hb0 with gpu0 01:00.0: BAR 0 16 GiB, prefetchable, assigned at 1 TiB (pfn 2^40 / 2^12 = 2^28). */
function gpu16g(): PciTopology {
  return topologyFromObject({
    platform: { cpu: CPU },
    hostBridges: [
      {
        name: 'hb0',
        bus: 0,
        devices: [
          { bdf: '00:00.0', kind: 'host-bridge' },
          {
            bdf: '00:01.0',
            kind: 'root-port',
            children: [
              {
                bdf: '01:00.0',
                kind: 'endpoint',
                name: 'gpu0',
                bars: [{ bar: 0, size: '16GiB', prefetchable: true }],
              },
            ],
          },
        ],
      },
    ],
  });
}
const BAR_PFN = 0x1000_0000;

describe('§9 memmap: page maps and struct pages made on demand', () => {
  test('a 16 GiB BAR page map is one object; struct pages cost 16 GiB / 4096 * 64 = 256 MiB', () => {
    const t = gpu16g();
    const gpu = t.get('gpu0');
    expect(gpu.bar(0)!.cpuAddress).toBe(TiB);
    const p2p = new P2pdmaDevices(t);
    expect(pciP2pdmaAddResource(p2p, gpu, 0, 0, 0)).toBe(0);
    const memmap = p2p.memmap;
    expect(memmap.pagemaps).toHaveLength(1);
    const pgmap = memmap.pagemaps[0]!;
    // 16 GiB / 4 KiB = 4194304 pages * 64 bytes = 268435456 = 256 MiB
    expect(memmap.structPageBytes()).toBe(256 * MiB);
    expect(pgmapStructPageBytes(pgmap)).toBe(256 * MiB);
    expect(pciP2pdmaStructPageBytes(p2p)).toBe(256 * MiB);
    // first and last pfn: 0x10000000 and 0x10000000 + 0x400000 - 1 = 0x103fffff
    const first = memmap.pfnToPage(BAR_PFN);
    const last = memmap.pfnToPage(0x103f_ffff);
    expect(first).toEqual(new Page(BAR_PFN, pgmap));
    expect(last.pgmap).toBe(pgmap);
    // made on demand: equal values, not one stored object per page
    expect(memmap.pfnToPage(BAR_PFN)).not.toBe(first);
    expect(memmap.pfnToPage(BAR_PFN)).toEqual(first);
    expect(memmap.pagemaps).toHaveLength(1);
    expect(isPciP2pdmaPage(first)).toBe(true);
  });

  test('a BAR pfn outside every page map has no struct page: pfnToPage throws', () => {
    // Only the first 8 GiB of the BAR become P2P memory; pfn 0x10000000 + 8 GiB / 4 KiB =
    // 0x10000000 + 0x200000 = 0x10200000 is in the BAR, outside the page map.
    const t = gpu16g();
    const p2p = new P2pdmaDevices(t);
    expect(pciP2pdmaAddResource(p2p, t.get('gpu0'), 0, 8 * GiB, 0)).toBe(0);
    expect(p2p.memmap.structPageBytes()).toBe(128 * MiB);
    expect(p2p.memmap.pfnToPage(0x101f_ffff).pgmap).toBeDefined();
    expect(t.memoryMap.barAt(0x1020_0000 * PAGE_SIZE)).toBeDefined();
    expect(p2p.memmap.pfnValid(0x1020_0000)).toBe(false);
    expect(() => p2p.memmap.pfnToPage(0x1020_0000)).toThrow(/pfn 0x10200000 has no struct page/);
  });

  test('RAM pfns have pages without a page map; a hole has none', () => {
    const memmap = new Memmap(gpu16g().memoryMap);
    const p = memmap.pfnToPage(0x1000);
    expect(p).toEqual(new Page(0x1000));
    expect(p.pgmap).toBeUndefined();
    expect(isPciP2pdmaPage(p)).toBe(false);
    // 3 GiB / 4 KiB = pfn 0xc0000: the start of the hole
    expect(memmap.pfnValid(0xbffff)).toBe(true);
    expect(memmap.pfnValid(0xc0000)).toBe(false);
    expect(() => memmap.pfnToPage(0xc0000)).toThrow(/has no struct page/);
    // without an address map every pfn outside a page map is taken for RAM
    expect(new Memmap().pfnToPage(0xc0000)).toEqual(new Page(0xc0000));
  });

  test('memremap_pages: a range not 2 MiB aligned is refused, WARN text and -EINVAL', () => {
    const memmap = new Memmap(gpu16g().memoryMap);
    const log = new KernelLog();
    // start 1 TiB + 1 MiB: pfn 2^28 + 2^8 = 0x10000100, not a multiple of 512; 2 MiB is 512
    // pages, last pfn 0x10000100 + 0x1ff = 0x100002ff
    const startMisaligned: DevPagemap = {
      type: MEMORY_DEVICE_GENERIC,
      range: { start: TiB + MiB, end: TiB + 3 * MiB - 1 },
    };
    expect(memmap.memremapPages(startMisaligned, log)).toBe(-EINVAL);
    // start 1 TiB (pfn 0x10000000, aligned) but 1 MiB = 256 pages: last pfn 0x100000ff
    const sizeMisaligned: DevPagemap = {
      type: MEMORY_DEVICE_GENERIC,
      range: { start: TiB, end: TiB + MiB - 1 },
    };
    expect(memmap.memremapPages(sizeMisaligned, log)).toBe(-EINVAL);
    expect(log.messages()).toEqual([
      { level: 'warn', msg: 'Misaligned __add_pages start: 0x10000100 end: 0x100002ff' },
      { level: 'warn', msg: 'Misaligned __add_pages start: 0x10000000 end: 0x100000ff' },
    ]);
    expect(memmap.pagemaps).toEqual([]);
    expect(memmap.structPageBytes()).toBe(0);
  });

  test('memremap_pages: a range starting or ending in a live page map is -ENOMEM', () => {
    const memmap = new Memmap(gpu16g().memoryMap);
    const log = new KernelLog();
    const map = (start: number, size: number): DevPagemap => ({
      type: MEMORY_DEVICE_PCI_P2PDMA,
      range: { start, end: start + size - 1 },
    });
    const a = map(TiB + 2 * MiB, 2 * MiB);
    expect(memmap.memremapPages(a, log)).toBe(0);
    // starts in a
    expect(memmap.memremapPages(map(TiB + 2 * MiB, 4 * MiB), log)).toBe(-ENOMEM);
    // ends in a
    expect(memmap.memremapPages(map(TiB, 4 * MiB), log)).toBe(-ENOMEM);
    expect(log.messages()).toEqual([
      { level: 'warn', msg: 'Conflicting mapping in same section' },
      { level: 'warn', msg: 'Conflicting mapping in same section' },
    ]);
    // the neighbours on both sides are fine, and kept in address order
    const below = map(TiB, 2 * MiB);
    const above = map(TiB + 4 * MiB, 2 * MiB);
    expect(memmap.memremapPages(above)).toBe(0);
    expect(memmap.memremapPages(below)).toBe(0);
    expect(memmap.pagemaps).toEqual([below, a, above]);
    // 3 * 2 MiB = 1536 pages * 64 = 98304 bytes
    expect(memmap.structPageBytes()).toBe(98304);
    // pfns of `a`: 0x10000200..0x100003ff
    expect(memmap.pgmapOfPfn(0x1000_0200)).toBe(a);
    expect(memmap.pgmapOfPfn(0x1000_03ff)).toBe(a);
    expect(memmap.pgmapOfPfn(0x1000_0400)).toBe(above);
    memmap.memunmapPages(a);
    expect(memmap.pgmapOfPfn(0x1000_0200)).toBeUndefined();
    expect(() => memmap.pfnToPage(0x1000_0200)).toThrow(/has no struct page/);
  });
});

describe('pages (§3.1, §10.1)', () => {
  test('is_pci_p2pdma_page: pages of the pgmap pci_p2pdma_add_resource() made, and only those', () => {
    const t = gpu16g();
    const p2p = new P2pdmaDevices(t);
    expect(pciP2pdmaAddResource(p2p, t.get('gpu0'), 0, 2 * MiB, 0)).toBe(0);
    const pgmap = p2p.get(t.get('gpu0'))!.pgmaps[0]!;
    expect(pgmap.type).toBe(MEMORY_DEVICE_PCI_P2PDMA);
    expect(p2p.memmap.pagemaps).toEqual([pgmap]);
    // 2 MiB = 512 pages: pfns 0x10000000..0x100001ff
    expect(isPciP2pdmaPage(p2p.memmap.pfnToPage(0x1000_01ff))).toBe(true);
    expect(pagesFromPfns([0x1000_0000, 0x1000_0001], pgmap).every(isPciP2pdmaPage)).toBe(true);
    expect(isPciP2pdmaPage(new Page(0x1000))).toBe(false);
    const generic: DevPagemap = {
      type: MEMORY_DEVICE_GENERIC,
      range: { start: 0, end: 2 * MiB - 1 },
    };
    expect(isPciP2pdmaPage(new Page(0, generic))).toBe(false);
  });

  test('pagesFromPfns: one Page per pfn, in order, with the page map when given', () => {
    const pages = pagesFromPfns([3, 1, 2]);
    expect(pages.map((p) => p.pfn)).toEqual([3, 1, 2]);
    expect(pages.every((p) => p.pgmap === undefined)).toBe(true);
    const pg: DevPagemap = {
      type: MEMORY_DEVICE_PCI_P2PDMA,
      range: { start: 0x100 * PAGE_SIZE, end: 0x300 * PAGE_SIZE - 1 },
    };
    expect(pagesFromPfns([0x100, 0x2ff], pg).map((p) => p.pgmap)).toEqual([pg, pg]);
    // 0x300 * 4096 is one past the range's inclusive end
    expect(() => pagesFromPfns([0x300], pg)).toThrow(/outside the page map/);
    expect(() => pagesFromPfns([0xff], pg)).toThrow(/outside the page map/);
    expect(() => pagesFromPfns([-1])).toThrow(RangeError);
    expect(() => pagesFromPfns([1.5])).toThrow(RangeError);
  });
});

function catchError(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}
