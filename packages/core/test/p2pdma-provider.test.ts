/**
 * The P2PDMA provider side: reference/kernel-dma.md §2.2 (pci_p2pdma_add_resource), §2.3
 * (allocation API, enable store/show), §2.4 (sysfs size/available/published), §9 (struct page
 * cost), and the genalloc pool behind them.
 */
import {
  DIRECT_MAP_BASE,
  EINVAL,
  ENODEV,
  ENOMEM,
  errnoName,
  GenPool,
  KernelLog,
  kstrtobool,
  MEMORY_DEVICE_PCI_P2PDMA,
  P2pdmaDevices,
  p2pmemSysfs,
  pciAllocP2pmem,
  pciFreeP2pmem,
  pciP2pdmaAddResource,
  pciP2pdmaEnableShow,
  pciP2pdmaEnableStore,
  pciP2pdmaStructPageBytes,
  pciP2pmemPublish,
  pciP2pmemVirtToBus,
  printkHex,
  topologyFromObject,
  type PciTopology,
} from '@dmasim/core';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/**
 * hb0 (bus 0, bus offset 0): an NVMe at 01:00.0 with BAR2 = 256 MiB at 1 TiB (0x100_0000_0000)
 * and BAR4 = 1 MiB at 0x100_1010_0000 (1 MiB aligned, not 2 MiB aligned).
 * hb1 (bus 0x80, bus offset 64 GiB = 0x10_0000_0000): a GPU at 81:00.0 with BAR0 = 64 MiB at
 * 2 TiB (0x200_0000_0000), so its bus address is 0x210_0000_0000.
 */
function fabric(): PciTopology {
  return topologyFromObject({
    platform: { cpu: { vendor: 'AMD', family: 0x19 } },
    hostBridges: [
      {
        name: 'hb0',
        bus: 0,
        devices: [
          { bdf: '00:00.0', kind: 'host-bridge' },
          {
            bdf: '00:01.1',
            kind: 'root-port',
            children: [
              {
                bdf: '01:00.0',
                kind: 'endpoint',
                class: 'nvme',
                name: 'nvme0',
                bars: [
                  { bar: 0, size: '16KiB' },
                  { bar: 2, size: '256MiB', prefetchable: true, address: 0x100_0000_0000 },
                  { bar: 4, size: '1MiB', prefetchable: true, address: 0x100_1010_0000 },
                ],
              },
            ],
          },
        ],
      },
      {
        name: 'hb1',
        bus: 0x80,
        busOffset: 0x10_0000_0000,
        devices: [
          { bdf: '80:00.0', kind: 'host-bridge' },
          {
            bdf: '80:01.1',
            kind: 'root-port',
            children: [
              {
                bdf: '81:00.0',
                kind: 'endpoint',
                class: 'gpu',
                name: 'gpu0',
                bars: [{ bar: 0, size: '64MiB', prefetchable: true, address: 0x200_0000_0000 }],
              },
            ],
          },
        ],
      },
    ],
  });
}

function setup() {
  const topo = fabric();
  const p2p = new P2pdmaDevices(topo);
  const log = new KernelLog();
  return { topo, p2p, log, nvme: topo.get('01:00.0'), gpu: topo.get('81:00.0') };
}

describe('errno values and kernel formatting', () => {
  it('names negated error codes as kernel code writes them', () => {
    expect(errnoName(-121)).toBe('-EREMOTEIO');
    expect(errnoName(-EINVAL)).toBe('-EINVAL');
    expect(errnoName(ENODEV)).toBe('ENODEV');
    expect(errnoName(0)).toBe('0');
    expect(errnoName(-9999)).toBe('-9999');
  });

  it('prints %#llx with 0x even for zero, as lib/vsprintf.c does', () => {
    expect(printkHex(0)).toBe('0x0');
    expect(printkHex(0x100_0fff_ffff)).toBe('0x1000fffffff');
  });
});

describe('§2.2 pci_p2pdma_add_resource', () => {
  it('registers a whole BAR when size is 0, logs the CPU physical range and records the page map', () => {
    const { p2p, log, nvme } = setup();
    expect(pciP2pdmaAddResource(p2p, nvme, 2, 0, 0, log)).toBe(0);
    // range = [0x100_0000_0000, 0x100_0000_0000 + 256 MiB - 1] = [0x10000000000, 0x1000fffffff]
    expect(log.messages()).toEqual([
      {
        level: 'info',
        dev: '0000:01:00.0',
        msg: 'added peer-to-peer DMA memory 0x10000000000-0x1000fffffff',
      },
    ]);
    const state = p2p.get(nvme)!;
    expect(state.pgmaps).toHaveLength(1);
    expect(state.pgmaps[0]).toMatchObject({
      type: MEMORY_DEVICE_PCI_P2PDMA,
      range: { start: 0x100_0000_0000, end: 0x100_0fff_ffff },
      provider: nvme,
      bar: 2,
      busOffset: 0,
      virt: DIRECT_MAP_BASE + 0x100_0000_0000,
      nrPages: 65536, // 256 MiB / 4 KiB
    });
    expect(MEMORY_DEVICE_PCI_P2PDMA).toBe(5);
    expect(state.pool!.size).toBe(256 * MiB);
    expect(state.pool!.available).toBe(256 * MiB);
    // Registering does not publish.
    expect(state.published).toBe(false);
    expect(p2p.hasP2pmem(nvme)).toBe(false);
  });

  it('refuses a BAR that does not exist (no IORESOURCE_MEM), before creating any state', () => {
    const { p2p, log, nvme } = setup();
    // BAR 1 is not implemented (it would be the upper half of a 64-bit BAR 0); BAR 3 neither.
    expect(pciP2pdmaAddResource(p2p, nvme, 1, 0, 0, log)).toBe(-EINVAL);
    expect(pciP2pdmaAddResource(p2p, nvme, 3, 2 * MiB, 0, log)).toBe(-EINVAL);
    expect(p2p.get(nvme)).toBeUndefined();
    expect(log.messages()).toEqual([]);
  });

  it('refuses offset >= BAR length', () => {
    const { p2p, nvme } = setup();
    expect(pciP2pdmaAddResource(p2p, nvme, 2, 0, 256 * MiB)).toBe(-EINVAL);
    expect(pciP2pdmaAddResource(p2p, nvme, 2, 2 * MiB, 300 * MiB)).toBe(-EINVAL);
    expect(p2p.get(nvme)).toBeUndefined();
  });

  it('refuses size + offset > BAR length', () => {
    const { p2p, nvme } = setup();
    // 256 MiB + 2 MiB > 256 MiB
    expect(pciP2pdmaAddResource(p2p, nvme, 2, 256 * MiB, 2 * MiB)).toBe(-EINVAL);
    // 254 MiB + 4 MiB = 258 MiB > 256 MiB
    expect(pciP2pdmaAddResource(p2p, nvme, 2, 4 * MiB, 254 * MiB)).toBe(-EINVAL);
    expect(p2p.get(nvme)).toBeUndefined();
    // exactly to the end is fine: 254 MiB + 2 MiB = 256 MiB
    expect(pciP2pdmaAddResource(p2p, nvme, 2, 2 * MiB, 254 * MiB)).toBe(0);
  });

  it('takes size 0 with an offset as "the rest of the BAR"', () => {
    const { p2p, log, nvme } = setup();
    expect(pciP2pdmaAddResource(p2p, nvme, 2, 0, 64 * MiB, log)).toBe(0);
    // size = 256 - 64 = 192 MiB; start = 0x100_0000_0000 + 0x400_0000 = 0x100_0400_0000
    expect(p2p.get(nvme)!.pool!.size).toBe(192 * MiB);
    expect(log.messages()[0].msg).toBe('added peer-to-peer DMA memory 0x10004000000-0x1000fffffff');
  });

  it('refuses a page map whose start is not 2 MiB sub-section aligned, with the memory-hotplug warning', () => {
    const { p2p, log, nvme } = setup();
    expect(pciP2pdmaAddResource(p2p, nvme, 2, 2 * MiB, 64 * KiB, log)).toBe(-EINVAL);
    // start = 0x100_0001_0000 -> pfn 0x1000_0010 (not a multiple of 512); nr_pages = 512;
    // end pfn = 0x1000_0010 + 511 = 0x1000_020f
    expect(log.messages()).toEqual([
      { level: 'warn', msg: 'Misaligned __add_pages start: 0x10000010 end: 0x1000020f' },
    ]);
    // pci_p2pdma_setup() ran before the page map failed: the state and an empty pool remain.
    const state = p2p.get(nvme)!;
    expect(state.pgmaps).toEqual([]);
    expect(p2pmemSysfs(p2p, nvme)).toEqual({ size: '0\n', available: '0\n', published: '0\n' });
  });

  it('refuses a page map whose size is not a multiple of 2 MiB', () => {
    const { p2p, log, nvme } = setup();
    expect(pciP2pdmaAddResource(p2p, nvme, 2, 1 * MiB, 0, log)).toBe(-EINVAL);
    // pfn 0x1000_0000 is aligned; nr_pages = 256 is not a multiple of 512; end pfn 0x1000_00ff
    expect(log.messages()).toEqual([
      { level: 'warn', msg: 'Misaligned __add_pages start: 0x10000000 end: 0x100000ff' },
    ]);
    // A whole BAR smaller than 2 MiB cannot be registered either: 1 MiB BAR4 at 0x100_1010_0000,
    // pfn 0x1001_0100 (0x100 = 256, not a multiple of 512), 256 pages, end pfn 0x1001_01ff.
    expect(pciP2pdmaAddResource(p2p, nvme, 4, 0, 0, log)).toBe(-EINVAL);
    expect(log.messages()[1].msg).toBe('Misaligned __add_pages start: 0x10010100 end: 0x100101ff');
  });

  it('refuses a range that shares a page with an existing page map (Conflicting mapping in same section)', () => {
    const { p2p, log, nvme } = setup();
    expect(pciP2pdmaAddResource(p2p, nvme, 2, 128 * MiB, 0)).toBe(0);
    expect(pciP2pdmaAddResource(p2p, nvme, 2, 2 * MiB, 126 * MiB, log)).toBe(-ENOMEM);
    expect(log.messages()).toEqual([{ level: 'warn', msg: 'Conflicting mapping in same section' }]);
    expect(p2p.get(nvme)!.pool!.size).toBe(128 * MiB);
  });

  it('adds to the pool at the BUS address while logging the CPU physical range', () => {
    const { p2p, log, gpu } = setup();
    expect(pciP2pdmaAddResource(p2p, gpu, 0, 0, 0, log)).toBe(0);
    // CPU range [0x200_0000_0000, 0x200_03ff_ffff]; bus = CPU + 0x10_0000_0000
    expect(log.messages()[0].msg).toBe('added peer-to-peer DMA memory 0x20000000000-0x20003ffffff');
    expect(p2p.get(gpu)!.pgmaps[0].busOffset).toBe(0x10_0000_0000);
    const va = pciAllocP2pmem(p2p, gpu, 4096)!;
    expect(va).toBe(DIRECT_MAP_BASE + 0x200_0000_0000);
    expect(pciP2pmemVirtToBus(p2p, gpu, va)).toBe(0x210_0000_0000);
    // 1 MiB into the chunk: bus 0x210_0010_0000
    expect(pciP2pmemVirtToBus(p2p, gpu, va + MiB)).toBe(0x210_0010_0000);
  });

  it('searches the most recently added chunk first (gen_pool_add_owner adds at the list head)', () => {
    const { p2p, nvme } = setup();
    expect(pciP2pdmaAddResource(p2p, nvme, 2, 128 * MiB, 0)).toBe(0);
    expect(pciP2pdmaAddResource(p2p, nvme, 2, 128 * MiB, 128 * MiB)).toBe(0);
    // newest chunk starts at 0x100_0000_0000 + 128 MiB = 0x100_0800_0000
    expect(pciAllocP2pmem(p2p, nvme, 4096)).toBe(DIRECT_MAP_BASE + 0x100_0800_0000);
    expect(p2pmemSysfs(p2p, nvme)!.size).toBe(`${256 * MiB}\n`);
  });
});

describe('§9 struct page cost of P2P memory', () => {
  it('is 64 bytes per 4 KiB page: a 256 MiB BAR costs 4 MiB of memmap', () => {
    const { p2p, nvme, gpu } = setup();
    pciP2pdmaAddResource(p2p, nvme, 2, 0, 0);
    // 256 MiB / 4 KiB = 65536 pages * 64 B = 4 MiB
    expect(p2p.get(nvme)!.pgmaps[0].structPageBytes).toBe(4 * MiB);
    expect(pciP2pdmaStructPageBytes(p2p, nvme)).toBe(4 * MiB);
    pciP2pdmaAddResource(p2p, gpu, 0, 0, 0);
    // + 64 MiB / 4 KiB * 64 B = 1 MiB; kernel total 5 MiB
    expect(pciP2pdmaStructPageBytes(p2p)).toBe(5 * MiB);
  });

  it('handles a 64 GiB BAR (16M pages) without per-page objects', () => {
    const topo = topologyFromObject({
      platform: { cpu: { vendor: 'AMD', family: 0x19 } },
      hostBridges: [
        {
          name: 'hb0',
          bus: 0,
          devices: [
            { bdf: '00:00.0', kind: 'host-bridge' },
            {
              bdf: '00:01.1',
              kind: 'root-port',
              children: [
                {
                  bdf: '01:00.0',
                  kind: 'endpoint',
                  class: 'gpu',
                  bars: [{ bar: 0, size: '64GiB', prefetchable: true, address: 0x100_0000_0000 }],
                },
              ],
            },
          ],
        },
      ],
    });
    const p2p = new P2pdmaDevices(topo);
    const dev = topo.get('01:00.0');
    expect(pciP2pdmaAddResource(p2p, dev, 0, 0, 0)).toBe(0);
    // 64 GiB / 4 KiB = 16777216 pages; * 64 B = 1 GiB of memmap
    expect(p2p.get(dev)!.pgmaps[0].nrPages).toBe(16 * 1024 * 1024);
    expect(pciP2pdmaStructPageBytes(p2p, dev)).toBe(1 * GiB);
    const a = pciAllocP2pmem(p2p, dev, 32 * GiB)!;
    const b = pciAllocP2pmem(p2p, dev, 32 * GiB)!;
    expect(b - a).toBe(32 * GiB);
    expect(pciAllocP2pmem(p2p, dev, 1)).toBeUndefined();
    // Free every other 4 KiB page of the first 64 MiB one by one (8192 frees), as page frees do.
    for (let off = 0; off < 64 * MiB; off += 8192) pciFreeP2pmem(p2p, dev, a + off, 4096);
    expect(p2pmemSysfs(p2p, dev)!.available).toBe(`${32 * MiB}\n`);
    // An 8 KiB request cannot use the single-page holes: nothing fits.
    expect(pciAllocP2pmem(p2p, dev, 8192)).toBeUndefined();
    expect(pciAllocP2pmem(p2p, dev, 4096)).toBe(a);
  });
});

describe('§2.3 pci_alloc_p2pmem / pci_free_p2pmem / pci_p2pmem_virt_to_bus / publish', () => {
  function registered() {
    const s = setup();
    expect(pciP2pdmaAddResource(s.p2p, s.nvme, 2, 2 * MiB, 0)).toBe(0);
    const base = DIRECT_MAP_BASE + 0x100_0000_0000;
    return { ...s, base };
  }

  it('returns NULL (undefined) without p2pdma state and for size 0', () => {
    const { p2p, nvme, gpu, base } = registered();
    expect(pciAllocP2pmem(p2p, gpu, 4096)).toBeUndefined();
    expect(pciAllocP2pmem(p2p, nvme, 0)).toBeUndefined();
    expect(pciAllocP2pmem(p2p, nvme, 1)).toBe(base);
  });

  it('allocates whole pages: 1 byte takes 4096, 4097 bytes take 8192', () => {
    const { p2p, nvme, base } = registered();
    expect(pciAllocP2pmem(p2p, nvme, 1)).toBe(base);
    expect(p2pmemSysfs(p2p, nvme)!.available).toBe(`${2 * MiB - 4096}\n`);
    expect(pciAllocP2pmem(p2p, nvme, 4097)).toBe(base + 4096);
    // 2 MiB - 4096 - 8192 = 2084864
    expect(p2pmemSysfs(p2p, nvme)!.available).toBe('2084864\n');
    expect(pciAllocP2pmem(p2p, nvme, 10)).toBe(base + 3 * 4096);
  });

  it('is first-fit: the lowest free run that fits', () => {
    const { p2p, nvme, base } = registered();
    const a = pciAllocP2pmem(p2p, nvme, 4096)!; // page 0
    const b = pciAllocP2pmem(p2p, nvme, 8192)!; // pages 1-2
    const c = pciAllocP2pmem(p2p, nvme, 4096)!; // page 3
    expect([a, b, c]).toEqual([base, base + 4096, base + 3 * 4096]);
    pciFreeP2pmem(p2p, nvme, b, 8192); // pages 1-2 free
    expect(pciAllocP2pmem(p2p, nvme, 4096)).toBe(base + 4096); // page 1
    // only page 2 is free below page 4: an 8 KiB request goes to pages 4-5
    expect(pciAllocP2pmem(p2p, nvme, 8192)).toBe(base + 4 * 4096);
    expect(pciAllocP2pmem(p2p, nvme, 4096)).toBe(base + 2 * 4096);
  });

  it('returns NULL when the pool is exhausted and works again after a free', () => {
    const { p2p, nvme, base } = registered();
    expect(pciAllocP2pmem(p2p, nvme, 2 * MiB)).toBe(base);
    expect(pciAllocP2pmem(p2p, nvme, 1)).toBeUndefined();
    expect(p2pmemSysfs(p2p, nvme)!.available).toBe('0\n');
    pciFreeP2pmem(p2p, nvme, base, 2 * MiB);
    expect(p2pmemSysfs(p2p, nvme)!.available).toBe(`${2 * MiB}\n`);
    expect(pciAllocP2pmem(p2p, nvme, 2 * MiB)).toBe(base);
  });

  it('lets an allocation be freed page by page, as the page free callback does', () => {
    const { p2p, nvme, base } = registered();
    const a = pciAllocP2pmem(p2p, nvme, 4 * 4096)!;
    for (let i = 3; i >= 0; i--) pciFreeP2pmem(p2p, nvme, a + i * 4096, 4096);
    expect(p2pmemSysfs(p2p, nvme)!.available).toBe(`${2 * MiB}\n`);
    expect(pciAllocP2pmem(p2p, nvme, 2 * MiB)).toBe(base);
  });

  it('treats a double free, a free outside the pool and a free without state as bugs (exceptions)', () => {
    const { p2p, nvme, gpu, base } = registered();
    const a = pciAllocP2pmem(p2p, nvme, 4096)!;
    pciFreeP2pmem(p2p, nvme, a, 4096);
    expect(() => pciFreeP2pmem(p2p, nvme, a, 4096)).toThrow(/not allocated/);
    expect(() => pciFreeP2pmem(p2p, nvme, base + 4 * MiB, 4096)).toThrow(/outside every chunk/);
    expect(() => pciFreeP2pmem(p2p, nvme, base + 2 * MiB - 4096, 8192)).toThrow(
      /past the chunk end/,
    );
    expect(() => pciFreeP2pmem(p2p, gpu, base, 4096)).toThrow(/no p2pdma memory/);
  });

  it('translates pool addresses to bus addresses (0 for NULL or no state, -1 outside the pool)', () => {
    const { p2p, nvme, gpu, base } = registered();
    const a = pciAllocP2pmem(p2p, nvme, 4096)!;
    // bus offset 0 on hb0: bus = CPU = 0x100_0000_0000
    expect(pciP2pmemVirtToBus(p2p, nvme, a)).toBe(0x100_0000_0000);
    expect(pciP2pmemVirtToBus(p2p, nvme, a + 123)).toBe(0x100_0000_0000 + 123);
    expect(pciP2pmemVirtToBus(p2p, nvme, 0)).toBe(0);
    expect(pciP2pmemVirtToBus(p2p, gpu, base)).toBe(0);
    expect(pciP2pmemVirtToBus(p2p, nvme, base + 2 * MiB)).toBe(-1);
  });

  it('publishes and unpublishes; only published memory counts for pci_has_p2pmem', () => {
    const { p2p, nvme, gpu } = registered();
    expect(p2p.hasP2pmem(nvme)).toBe(false);
    pciP2pmemPublish(p2p, nvme, true);
    expect(p2p.hasP2pmem(nvme)).toBe(true);
    expect(p2pmemSysfs(p2p, nvme)!.published).toBe('1\n');
    pciP2pmemPublish(p2p, nvme, false);
    expect(p2p.hasP2pmem(nvme)).toBe(false);
    // no state: nothing happens
    pciP2pmemPublish(p2p, gpu, true);
    expect(p2p.get(gpu)).toBeUndefined();
  });
});

describe('§2.4 p2pmem sysfs attributes', () => {
  it('print size, available and published in decimal with a newline; no group without p2pdma state', () => {
    const { p2p, nvme, gpu } = setup();
    expect(p2pmemSysfs(p2p, nvme)).toBeUndefined();
    pciP2pdmaAddResource(p2p, nvme, 2, 0, 0);
    pciAllocP2pmem(p2p, nvme, 3 * MiB);
    pciP2pmemPublish(p2p, nvme, true);
    // size 256 MiB = 268435456; available 256 - 3 = 253 MiB = 265289728
    expect(p2pmemSysfs(p2p, nvme)).toEqual({
      size: '268435456\n',
      available: '265289728\n',
      published: '1\n',
    });
    expect(p2pmemSysfs(p2p, gpu)).toBeUndefined();
  });
});

describe('§2.3 pci_p2pdma_enable_store / pci_p2pdma_enable_show', () => {
  function withPublished() {
    const s = setup();
    pciP2pdmaAddResource(s.p2p, s.nvme, 2, 0, 0);
    return s;
  }

  it('selects a provider by its full PCI name when it has published p2pmem (trailing newline allowed)', () => {
    const { p2p, log, nvme } = withPublished();
    pciP2pmemPublish(p2p, nvme, true);
    const r = pciP2pdmaEnableStore(p2p, '0000:01:00.0\n', log);
    expect(r).toEqual({ ret: 0, useP2pdma: true, p2pDev: nvme });
    expect(pciP2pdmaEnableShow(r.p2pDev, r.useP2pdma)).toBe('0000:01:00.0\n');
    expect(pciP2pdmaEnableStore(p2p, '0000:01:00.0', log).ret).toBe(0);
    expect(log.messages()).toEqual([]);
  });

  it('refuses a device without published p2pmem: "PCI device has no peer-to-peer memory", -ENODEV', () => {
    const { p2p, log } = withPublished(); // registered but not published
    expect(pciP2pdmaEnableStore(p2p, '0000:01:00.0', log).ret).toBe(-ENODEV);
    expect(pciP2pdmaEnableStore(p2p, '0000:81:00.0', log).ret).toBe(-ENODEV); // no p2pdma at all
    expect(log.messages()).toEqual([
      {
        level: 'err',
        dev: '0000:01:00.0',
        msg: 'PCI device has no peer-to-peer memory: 0000:01:00.0',
      },
      {
        level: 'err',
        dev: '0000:81:00.0',
        msg: 'PCI device has no peer-to-peer memory: 0000:81:00.0',
      },
    ]);
  });

  it('takes a single "0" or "1" (optionally followed by a control character) as disable/enable', () => {
    const { p2p, log } = setup();
    expect(pciP2pdmaEnableStore(p2p, '0', log)).toEqual({
      ret: 0,
      useP2pdma: false,
      p2pDev: undefined,
    });
    expect(pciP2pdmaEnableStore(p2p, '1', log)).toEqual({
      ret: 0,
      useP2pdma: true,
      p2pDev: undefined,
    });
    expect(pciP2pdmaEnableStore(p2p, '1\n', log).useP2pdma).toBe(true);
    expect(pciP2pdmaEnableStore(p2p, '0\n', log).useP2pdma).toBe(false);
    expect(log.messages()).toEqual([]);
    expect(pciP2pdmaEnableShow(undefined, false)).toBe('0\n');
    expect(pciP2pdmaEnableShow(undefined, true)).toBe('1\n');
  });

  it('rejects "0"/"1" followed by a printable character, so a missing device is not read as a boolean', () => {
    const { p2p, log } = setup();
    // "0000:02:00.0" does not exist; '0' followed by '0' is not a boolean either
    expect(pciP2pdmaEnableStore(p2p, '0000:02:00.0\n', log).ret).toBe(-ENODEV);
    // the short form "01:00.0" is not a device name (bus_find_device_by_name wants pci_name())
    expect(pciP2pdmaEnableStore(p2p, '01:00.0', log).ret).toBe(-ENODEV);
    expect(pciP2pdmaEnableStore(p2p, '10', log).ret).toBe(-ENODEV);
    expect(pciP2pdmaEnableStore(p2p, '1 ', log).ret).toBe(-ENODEV);
    // the message stops at the first newline (%.*s with strcspn(page, "\n"))
    expect(log.messages().map((m) => m.msg)).toEqual([
      'pci-p2pdma: No such PCI device: 0000:02:00.0',
      'pci-p2pdma: No such PCI device: 01:00.0',
      'pci-p2pdma: No such PCI device: 10',
      'pci-p2pdma: No such PCI device: 1 ',
    ]);
    expect(log.messages().every((m) => m.level === 'err' && m.dev === undefined)).toBe(true);
  });

  it('accepts any kstrtobool() string: y/Y/t/T/1, n/N/f/F/0, on/off', () => {
    const { p2p, log } = setup();
    for (const t of ['y', 'yes', 'Y\n', 'true', 'T', 'on', 'ON\n', 'yellow']) {
      expect(pciP2pdmaEnableStore(p2p, t, log)).toEqual({
        ret: 0,
        useP2pdma: true,
        p2pDev: undefined,
      });
    }
    for (const f of ['n', 'no', 'N\n', 'false', 'F', 'off', 'Of']) {
      expect(pciP2pdmaEnableStore(p2p, f, log)).toEqual({
        ret: 0,
        useP2pdma: false,
        p2pDev: undefined,
      });
    }
    expect(kstrtobool('o')).toBeUndefined();
    expect(pciP2pdmaEnableStore(p2p, 'maybe\nmore', log).ret).toBe(-ENODEV);
    expect(pciP2pdmaEnableStore(p2p, '', log).ret).toBe(-ENODEV);
    expect(log.messages().map((m) => m.msg)).toEqual([
      'pci-p2pdma: No such PCI device: maybe',
      'pci-p2pdma: No such PCI device: ',
    ]);
  });
});

describe('genalloc pool (gen_pool_create(PAGE_SHIFT), first fit)', () => {
  it('counts a trailing partial unit in size and avail but never hands it out', () => {
    const pool = new GenPool(12);
    pool.addOwner(0x1000_0000, 0x9000_0000, 3 * 4096 + 100, 'owner');
    expect(pool.size).toBe(12388);
    expect(pool.available).toBe(12388);
    expect(pool.allocOwner(3 * 4096)).toEqual({ addr: 0x1000_0000, owner: 'owner' });
    // 100 bytes remain "available" but no unit is free
    expect(pool.available).toBe(100);
    expect(pool.alloc(100)).toBeUndefined();
  });

  it('frees the units containing addr, rounding size up, and returns the owner', () => {
    const pool = new GenPool(12);
    pool.addOwner(0x1000_0000, 0x9000_0000, 8 * 4096, 'ref');
    const a = pool.alloc(8 * 4096)!;
    // addr a + 5000 lies in unit 1; size 5000 rounds up to 2 units: units 1-2
    expect(pool.freeOwner(a + 5000, 5000)).toBe('ref');
    expect(pool.available).toBe(2 * 4096);
    expect(pool.alloc(8192)).toBe(a + 4096);
    expect(pool.virtToPhys(a + 4096 + 7)).toBe(0x9000_1007);
    expect(pool.hasAddr(a, 8 * 4096)).toBe(true);
    expect(pool.hasAddr(a, 8 * 4096 + 1)).toBe(false);
  });

  it('merges neighbouring free runs so a freed region can be allocated whole again', () => {
    const pool = new GenPool(12);
    pool.addOwner(0, 0, 16 * 4096);
    const pages = Array.from({ length: 16 }, () => pool.alloc(4096)!);
    expect(pages[15]).toBe(15 * 4096);
    for (const i of [1, 3, 2, 5, 4]) pool.free(pages[i], 4096);
    expect(pool.chunks[0].freeExtents).toBe(1); // pages 1-5
    expect(pool.alloc(5 * 4096)).toBe(4096);
    expect(pool.alloc(1)).toBeUndefined();
  });
});
