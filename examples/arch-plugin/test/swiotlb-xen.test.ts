/**
 * swiotlb-xen (drivers/xen/swiotlb-xen.c, reference §11 row 23) in a kernel container built from
 * the plugin's strategy, and through the scenario runner.
 *
 * The machine: default RAM (64 GiB: [0, 3 GiB) and [4 GiB, 65 GiB)), so core's swiotlb sets up
 * its 64 MiB pool at the top of low RAM, [0xbc00_0000, 0xc000_0000) (§3.5); nvme0 is the DMA
 * client; gpu0 below the same switch has a 64 MiB BAR at 0x100_0000_0000 registered as P2P
 * memory (its pages are BUS_ADDR for nvme0 under dma-direct, §1.1).
 */
import * as path from 'node:path';
import {
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_MAPPING_ERROR,
  DmaDataDirection,
  DmaDevices,
  DmaMapOps,
  EIO,
  EREMOTEIO,
  ExtentStore,
  KernelLog,
  P2pdmaDevices,
  PAGE_SIZE,
  Page,
  SgTable,
  Swiotlb,
  createKernelContainer,
  createStrategyRegistry,
  dmaMapPhys,
  dmaMapResource,
  dmaMaxMappingSize,
  dmaPciP2pdmaSupported,
  dmaSyncSingleForCpu,
  dmaUnmapPhys,
  loadScenarioFile,
  pciP2pdmaAddResource,
  runScenario,
  sgAllocTable,
  sgEntries,
  sgSetPage,
  topologyFromObject,
  type DmaDeviceParams,
  type KernelOptions,
  type TopologySpecInput,
} from '@dmasim/core';
import { XenSwiotlbDmaOps, xenSwiotlbStrategy } from '../src';

const { DMA_TO_DEVICE, DMA_FROM_DEVICE, DMA_BIDIRECTIONAL } = DmaDataDirection;
const KiB = 1024;
const GiB = 2 ** 30;
const POOL_START = 0xbc00_0000;
const POOL_END = 0xc000_0000;
const GPU_BAR = 0x100_0000_0000;
const SCENARIOS = path.resolve(__dirname, '../../scenarios');

function topology() {
  const spec = {
    platform: { cpu: { vendor: 'AMD', family: 0x19 } },
    hostBridges: [
      {
        name: 'hb0',
        bus: 0,
        devices: [
          { bdf: '00:00.0', kind: 'host-bridge', vendor: 0x1022, device: 0x1480 },
          {
            bdf: '00:01.0',
            kind: 'root-port',
            children: [
              {
                bdf: '01:00.0',
                kind: 'switch-upstream',
                children: [
                  {
                    bdf: '02:00.0',
                    kind: 'switch-downstream',
                    children: [{ bdf: '03:00.0', kind: 'endpoint', name: 'nvme0', class: 'nvme' }],
                  },
                  {
                    bdf: '02:01.0',
                    kind: 'switch-downstream',
                    children: [
                      {
                        bdf: '04:00.0',
                        kind: 'endpoint',
                        name: 'gpu0',
                        class: 'gpu',
                        bars: [{ bar: 0, size: '64MiB', prefetchable: true, address: GPU_BAR }],
                      },
                    ],
                  },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
  return topologyFromObject(spec as TopologySpecInput);
}

/** A kernel running the plugin's strategy, gpu0's BAR registered as P2P memory. */
function kernel(options: KernelOptions = {}) {
  const topo = topology();
  const c = createKernelContainer({ topology: topo, strategy: xenSwiotlbStrategy, options });
  const p2p = c.get(P2pdmaDevices);
  const log = c.get(KernelLog);
  const err = pciP2pdmaAddResource(p2p, topo.get('gpu0'), 0, 0, 0, log);
  if (err) throw new Error(`pci_p2pdma_add_resource(gpu0) = ${err}`);
  const ops = c.get<DmaMapOps>(DmaMapOps) as XenSwiotlbDmaOps;
  return {
    ops,
    log,
    swiotlb: c.get(Swiotlb),
    dev: (params?: DmaDeviceParams) => c.get(DmaDevices).get('nvme0', params),
    p2pPage: (k: number) => p2p.memmap.pfnToPage(GPU_BAR / PAGE_SIZE + k),
  };
}

/** A table of entries given as [page, offset, length]. */
function table(entries: [Page, number, number][]): SgTable {
  const sgt = new SgTable();
  if (sgAllocTable(sgt, entries.length)) throw new Error('sg_alloc_table failed');
  sgEntries(sgt.sgl, entries.length).forEach((sg, i) => {
    const [page, offset, len] = entries[i]!;
    sgSetPage(sg, page, len, offset);
  });
  return sgt;
}

describe('swiotlb-xen map_phys / map_sg (§11 row 23, §3.2, §3.5)', () => {
  it('§11 the kernel container binds DmaMapOps to xen_swiotlb_dma_ops', () => {
    const k = kernel();
    expect(k.ops).toBeInstanceOf(XenSwiotlbDmaOps);
    expect(k.ops.name).toBe('xen_swiotlb_dma_ops');
  });

  it('§3.2 a RAM page the device reaches maps 1:1 (identity p2m): DMA address = CPU physical', () => {
    const k = kernel();
    const dev = k.dev();
    // pfn 0x40000 = 1 GiB; 100 bytes in: 0x4000_0000 + 100 = 0x4000_0064, inside a 64-bit mask.
    const sgt = table([[new Page(0x40000), 100, 2000]]);
    expect(k.ops.mapSg(dev, sgt.sgl!, 1, DMA_TO_DEVICE, 0)).toBe(1);
    const [sg] = sgEntries(sgt.sgl, 1);
    expect(sg!.dmaAddress).toBe(0x4000_0064);
    expect(sg!.dmaLength).toBe(2000);
    expect(k.ops.dmaToPhys(dev, 0x4000_0064 + 1999)).toBe(0x4000_0064 + 1999);
    expect(k.ops.stats.bounced).toBe(0);
    expect(k.swiotlb.used).toBe(0);
  });

  it('§3.5 a 32-bit device and a buffer above 4 GiB: bounced below 4 GiB; the data reaches the buffer after the sync', () => {
    const k = kernel();
    const mem = new ExtentStore('ram', 65 * GiB);
    k.swiotlb.attachMemory(mem);
    const dev = k.dev({ dmaMaskBits: 32 });
    // 8 GiB + 64: beyond the 32-bit mask (0xffff_ffff), so dma_capable() fails and the buffer
    // takes swiotlb_tbl_map_single(). The fresh pool's first fitting slot is slot 0, and with no
    // min_align_mask the buffer starts at the slot: DMA address = pool start = 0xbc00_0000.
    const phys = 8 * GiB + 64;
    const size = 2 * PAGE_SIZE;
    const addr = dmaMapPhys(dev, phys, size, DMA_FROM_DEVICE);
    expect(addr).toBe(POOL_START);
    expect(addr + size - 1).toBeLessThanOrEqual(0xffff_ffff);
    // dmaToPhys() follows the bounce slot back to the mapped buffer, byte for byte.
    expect(k.ops.dmaToPhys(dev, addr)).toBe(phys);
    expect(k.ops.dmaToPhys(dev, addr + size - 1)).toBe(phys + size - 1);
    // The device writes into the bounce buffer; dma_sync_single_for_cpu() copies it back.
    const data = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
    mem.write(addr, data);
    dmaSyncSingleForCpu(dev, addr, size, DMA_FROM_DEVICE);
    expect(mem.read(phys, size)).toEqual(data);
    // 8 KiB = 4 slots of 2 KiB; released by the unmap.
    expect(k.swiotlb.used).toBe(4);
    dmaUnmapPhys(dev, addr, size, DMA_FROM_DEVICE);
    expect(k.swiotlb.used).toBe(0);
    expect(k.ops.dmaToPhys(dev, addr)).toBeUndefined();
    expect(k.ops.stats.bounced).toBe(1);
  });

  it('§3.2 map_sg maps entry by entry and never merges: four contiguous pages give four DMA entries', () => {
    const k = kernel();
    const dev = k.dev();
    // pfns 0x40000..0x40003 are physically contiguous; dma-iommu could merge them (§4.3),
    // swiotlb-xen returns nelems = 4 with each entry at its own address.
    const pfns = [0x40000, 0x40001, 0x40002, 0x40003];
    const sgt = table(pfns.map((pfn) => [new Page(pfn), 0, PAGE_SIZE]));
    expect(k.ops.mapSg(dev, sgt.sgl!, 4, DMA_BIDIRECTIONAL, 0)).toBe(4);
    expect(sgEntries(sgt.sgl, 4).map((sg) => sg.dmaAddress)).toEqual(
      pfns.map((pfn) => pfn * PAGE_SIZE),
    );
    expect(k.ops.stats.mappings).toBe(4);
  });

  it('§3.3/§11 a failure midway: the entries mapped so far are unmapped (no copy back) and map_sg returns -EIO', () => {
    const k = kernel();
    const dev = k.dev({ dmaMaskBits: 32 });
    // entry 0: low RAM, mapped directly; entry 1: 4 KiB above 4 GiB, bounced (2 slots);
    // entry 2: 512 KiB above 4 GiB, more than one swiotlb segment (128 x 2 KiB = 256 KiB),
    // so swiotlb_tbl_map_single() fails and the list unwinds with DMA_ATTR_SKIP_CPU_SYNC.
    const sgt = table([
      [new Page(0x40000), 0, PAGE_SIZE],
      [new Page((5 * GiB) / PAGE_SIZE), 0, PAGE_SIZE],
      [new Page((6 * GiB) / PAGE_SIZE), 0, 512 * KiB],
    ]);
    expect(k.ops.mapSg(dev, sgt.sgl!, 3, DMA_FROM_DEVICE, 0)).toBe(-EIO);
    expect(k.swiotlb.used).toBe(0);
    // The bounce of entry 1 copied 4 KiB to the slot at map time (swiotlb always does), and
    // nothing came back: the unwind skipped the CPU sync.
    expect(k.swiotlb.stats.bytesToDevice).toBe(PAGE_SIZE);
    expect(k.swiotlb.stats.bytesFromDevice).toBe(0);
    // two mappings made, two unmapped; sg_dma_len(sgl) = 0 as the kernel leaves it.
    expect(k.ops.stats.mappings).toBe(2);
    expect(k.ops.stats.unmaps).toBe(2);
    expect(sgt.sgl!.dmaLength).toBe(0);
  });

  it('§11 a PCI P2PDMA page is refused with -EREMOTEIO and the RAM entry before it is unwound', () => {
    const k = kernel();
    const dev = k.dev();
    const sgt = table([
      [new Page(0x40000), 0, PAGE_SIZE],
      [k.p2pPage(0), 0, PAGE_SIZE],
    ]);
    expect(k.ops.mapSg(dev, sgt.sgl!, 2, DMA_TO_DEVICE, 0)).toBe(-EREMOTEIO);
    expect(k.ops.stats.p2pdmaRefused).toBe(1);
    expect(k.ops.stats.unmaps).toBe(1);
  });

  it('§3.3 dma_pci_p2pdma_supported() is false for a device with these ops', () => {
    expect(dmaPciP2pdmaSupported(kernel().dev())).toBe(false);
  });

  it('§3.5/§11 dma_map_resource of a BAR: its own address, never bounced; out of reach it is an error', () => {
    const k = kernel();
    const bar = GPU_BAR + PAGE_SIZE;
    expect(dmaMapResource(k.dev(), bar, PAGE_SIZE, DMA_BIDIRECTIONAL)).toBe(bar);
    // 0x100_0000_1000 is above a 32-bit mask: the MMIO arm refuses to bounce.
    const low = kernel();
    expect(dmaMapResource(low.dev({ dmaMaskBits: 32 }), bar, PAGE_SIZE, DMA_BIDIRECTIONAL)).toBe(
      DMA_MAPPING_ERROR,
    );
    expect(low.swiotlb.used).toBe(0);
    expect(low.log.messages().some((m) => m.msg.includes('overflow'))).toBe(true);
  });

  it('§3.5 swiotlb=force bounces even a buffer the device reaches', () => {
    const k = kernel({ swiotlb: { force: true } });
    const addr = dmaMapPhys(k.dev(), 0x4000_0000, PAGE_SIZE, DMA_TO_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    expect(addr).toBeGreaterThanOrEqual(POOL_START);
    expect(addr).toBeLessThan(POOL_END);
    expect(k.ops.dmaToPhys(k.dev(), addr)).toBe(0x4000_0000);
  });
});

describe('swiotlb-xen max_mapping_size and dma_supported (§3.5, §5.1)', () => {
  it('§3.5 max_mapping_size is swiotlb_max_mapping_size() for every device: 256 KiB, 252 KiB with NVMe min_align_mask', () => {
    const k = kernel();
    // IO_TLB_SIZE * IO_TLB_SEGSIZE = 2 KiB * 128 = 256 KiB, even for a 64-bit device.
    expect(dmaMaxMappingSize(k.dev())).toBe(256 * KiB);
    // roundup(4095, 2 KiB) = 4 KiB skipped: 256 - 4 = 252 KiB.
    expect(dmaMaxMappingSize(kernel().dev({ minAlignMask: 4095 }))).toBe(252 * KiB);
  });

  it('§3.5 dma_supported: the mask must reach the end of the pool (0xbfff_ffff)', () => {
    const { ops } = kernel();
    expect(ops.xenSwiotlbDmaSupported(0xffff_ffff)).toBe(true);
    expect(ops.xenSwiotlbDmaSupported(0xbfff_ffff)).toBe(true);
    // a 31-bit mask (0x7fff_ffff) stops below the pool's last byte
    expect(ops.xenSwiotlbDmaSupported(0x7fff_ffff)).toBe(false);
  });
});

describe('swiotlb-xen through the scenario runner (§5.3, §5.4)', () => {
  const registry = createStrategyRegistry([xenSwiotlbStrategy]);

  it('§5.4 userspace-odirect: nvme0n1 lacks PCI_P2PDMA, so pinning the p2pmem fails with -EREMOTEIO', () => {
    const s = loadScenarioFile(path.join(SCENARIOS, 'userspace-odirect.yaml'));
    const [r] = runScenario(s, { registry }).results;
    const step = (id: string) => r!.steps.find((x) => x.id === id)!;
    // The mmap of nvme1's p2pmem/allocate works (the pages exist); the O_DIRECT read into it is
    // refused at GUP time (§5.3 table: "GUP -EREMOTEIO if queue lacks capability"; §5.4); what
    // depends on it is skipped.
    expect(step('p2pbuf').ok).toBe(true);
    expect(step('read')).toMatchObject({ ok: false, stage: 'pin', error: { code: '-EREMOTEIO' } });
    expect(step('write')).toMatchObject({ skipped: true, stage: 'dependency' });
    expect(step('check')).toMatchObject({ skipped: true, stage: 'dependency' });
    expect(r!.metrics.bytesTransferred).toBe(0);
  });

  it('§11 copy-offload: nvmet uses no P2P memory for clients without P2PDMA, so the copy goes through RAM', () => {
    const s = loadScenarioFile(path.join(SCENARIOS, 'copy-offload.yaml'));
    const [r] = runScenario(s, { registry }).results;
    // dma_pci_p2pdma_supported() is false for mlx5_0 and nvme0 (§11 row 23), so nvmet sets no
    // p2p_client and falls back to RAM: the alloc succeeds with RAM, every step works, and both
    // legs of the 1 MiB copy cross the root complex: 2 x 1 MiB = 2097152 bytes, none peer-to-peer.
    expect(r!.ok).toBe(true);
    expect(r!.steps.find((x) => x.id === 'cmb')!.detail).toMatch(/RAM/);
    expect(r!.metrics).toMatchObject({
      p2pBytes: 0,
      hostBridgeBytes: 2 * 1024 * 1024,
      integrity: 'verified',
    });
    expect(r!.notes!.join('\n')).toMatch(/dma_pci_p2pdma_supported\(\) is false/);
  });
});
