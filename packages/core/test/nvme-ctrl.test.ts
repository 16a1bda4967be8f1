/**
 * The NVMe controller model and nvme_probe(): registers (CAP with MPSMIN and CMBS, §6.4),
 * Identify data (MDTS, SGLS; §6, §6.1), the queue limits NVMe sets per release (§5.1), the
 * PCI_P2PDMA capability (§5.3, §6.3) and CMB discovery through the controller (§6.4). The DMA
 * device comes from a simulated kernel (createKernelContainer) whose ops are dma-direct, or
 * dma-direct seen through a wrapper that changes what a test needs (an IOMMU's
 * opt_mapping_size, ops without P2PDMA support).
 */
import { ContainerModule } from 'inversify';
import {
  blkQueueFlagSet,
  blkQueueFlagTest,
  blkQueuePciP2pdma,
  QUEUE_FLAG_PCI_P2PDMA,
} from '../src/block/request-queue';
import { BLK_FEAT_PCI_P2PDMA, UINT_MAX } from '../src/block/queue-limits';
import { DmaMapSgRequestMapper, RequestMapper } from '../src/block/request-mapper';
import { createKernelContainer, DmaDevices } from '../src/di/kernel';
import { DmaDirectOps } from '../src/dma/direct/direct';
import { DmaMapOps, type DmaMapOpsCapabilities } from '../src/dma/map-ops';
import { KernelLog } from '../src/kernel-log';
import { NVME_CMBMSC_CMSE, NVME_CMBMSC_CRE, NvmeCmbState } from '../src/p2pdma/cmb';
import { P2pdmaDevices } from '../src/p2pdma/state';
import { topologyFromObject } from '../src/pci/topology';
import {
  NVME_DESCRIPTOR_REGION_BASE,
  NVME_F_METADATA_SUPPORTED,
  NvmeCtrl,
  nvmeProbe,
  nvmeProbeCtrl,
  type NvmeCtrlOptions,
} from '../src/nvme/ctrl';
import { NvmeCtrlDefaults, NvmeCtrls } from '../src/nvme/ctrls';
import {
  NVME_CTRL_SGLS_BYTE_ALIGNED,
  NVME_CTRL_SGLS_DWORD_ALIGNED,
  NVME_CTRL_SGLS_KSDBDS,
  nvmeCtrlSglSupported,
  nvmeMdtsSectors,
} from '../src/nvme/identify';
import { nvmeCapCmbs, nvmeCapDecode, nvmeCapEncode, nvmeCapMpsmin } from '../src/nvme/registers';

const KiB = 1024;
const MiB = 1024 * KiB;

interface CmbSpec {
  bar: number;
  size: string;
  rds: boolean;
  wds: boolean;
  sqs?: boolean;
}

/**
 * nvme0 at 01:00.0 below root port 00:01.0 (BAR0 16 KiB, BAR2 256 MiB at 1 TiB, prefetchable),
 * nvme1 at 02:00.0 below root port 00:02.0 without a CMB.
 */
function topology(cmb?: CmbSpec) {
  return topologyFromObject({
    platform: { cpu: { vendor: 'AMD', family: 0x19 } },
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
                class: 'nvme',
                name: 'nvme0',
                bars: [
                  { bar: 0, size: '16KiB' },
                  { bar: 2, size: '256MiB', prefetchable: true, address: 0x100_0000_0000 },
                ],
                ...(cmb ? { cmb } : {}),
              },
            ],
          },
          {
            bdf: '00:02.0',
            kind: 'root-port',
            children: [{ bdf: '02:00.0', kind: 'endpoint', class: 'nvme', name: 'nvme1' }],
          },
        ],
      },
    ],
  });
}

/** dma-direct's ops with some properties replaced (an IOMMU-like opt size, no P2PDMA). */
function wrapOps(
  inner: DmaMapOps,
  o: { optMappingSize?: number; capabilities?: Partial<DmaMapOpsCapabilities> },
): DmaMapOps {
  const capabilities = { ...inner.capabilities, ...o.capabilities };
  return new Proxy(inner, {
    get(t, p) {
      if (p === 'capabilities') return capabilities;
      if (p === 'optMappingSize' && o.optMappingSize !== undefined) return () => o.optMappingSize;
      const v: unknown = Reflect.get(t, p);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

function kernel(
  opts: {
    cmb?: CmbSpec;
    optMappingSize?: number;
    capabilities?: Partial<DmaMapOpsCapabilities>;
    defaults?: NvmeCtrlOptions;
  } = {},
) {
  const strategy = new ContainerModule(({ bind }) => {
    bind(DmaMapOps).toDynamicValue((ctx) => wrapOps(ctx.get(DmaDirectOps), opts));
    bind(RequestMapper).to(DmaMapSgRequestMapper);
    if (opts.defaults) bind(NvmeCtrlDefaults).toConstantValue(opts.defaults);
  });
  const c = createKernelContainer({ topology: topology(opts.cmb), strategy });
  const dev = c.get(DmaDevices).get('01:00.0');
  const p2p = c.get(P2pdmaDevices);
  const mapper = c.get<RequestMapper>(RequestMapper);
  const probe = (o: NvmeCtrlOptions = {}) => nvmeProbe(dev, p2p, mapper, o);
  return { c, dev, p2p, mapper, probe, log: c.get(KernelLog) };
}

describe('§6.4 CAP register', () => {
  it('encodes MQES, CQR, TO, CSS and CMBS (bit 57) as the 64-bit value', () => {
    // 1023 | 1 << 16 | 30 << 24 | 1 << 37 (CSS NVM) | 1 << 57 (CMBS) = 0x0200_0020_1e01_03ff
    const cap = nvmeCapEncode();
    expect(cap).toBe(0x0200_0020_1e01_03ffn);
    expect(nvmeCapCmbs(cap)).toBe(true);
    expect(nvmeCapCmbs(nvmeCapEncode({ cmbs: false }))).toBe(false);
  });

  it('reads MPSMIN from bits 51:48 and round-trips every field', () => {
    const cap = nvmeCapEncode({ mpsmin: 2, mpsmax: 4, dstrd: 1, cmbs: false });
    // MPSMIN 2 -> bits 49; MPSMAX 4 -> bit 54; DSTRD 1 -> bit 32
    expect((cap >> 48n) & 0xfn).toBe(2n);
    expect(nvmeCapMpsmin(cap)).toBe(2);
    expect(nvmeCapDecode(cap)).toMatchObject({ mpsmin: 2, mpsmax: 4, dstrd: 1, cmbs: false });
    expect(() => nvmeCapEncode({ mpsmin: 16 })).toThrow(/MPSMIN/);
  });
});

describe('§6 Identify Controller: SGLS and MDTS', () => {
  it('SGLs are supported with byte- or dword-aligned SGLS bits 1:0 only', () => {
    expect(nvmeCtrlSglSupported(NVME_CTRL_SGLS_BYTE_ALIGNED)).toBe(true);
    expect(nvmeCtrlSglSupported(NVME_CTRL_SGLS_DWORD_ALIGNED)).toBe(true);
    expect(nvmeCtrlSglSupported(0)).toBe(false);
    expect(nvmeCtrlSglSupported(NVME_CTRL_SGLS_KSDBDS)).toBe(false);
  });

  it('MDTS is 2^MDTS pages of 2^(12 + MPSMIN) bytes, in sectors', () => {
    // MDTS 5, 4 KiB pages: 2^(5 + 12 - 9) = 256 sectors = 128 KiB
    expect(nvmeMdtsSectors(5, 0)).toBe(256);
    // MPSMIN 1 (8 KiB pages): 512 sectors
    expect(nvmeMdtsSectors(5, 1)).toBe(512);
    // 0 = no limit; a shift of 33 bits overflows u32 -> UINT_MAX
    expect(nvmeMdtsSectors(0, 0)).toBe(UINT_MAX);
    expect(nvmeMdtsSectors(30, 0)).toBe(UINT_MAX);
  });
});

describe('§5.1 queue limits NVMe sets, per release', () => {
  it('v5.x without an IOMMU: 4 MiB, 127 segments, virt boundary 4095, dword alignment', () => {
    const { probe } = kernel();
    const ctrl = probe();
    // NVME_MAX_KB_SZ << 1 = 8192 sectors; dma-direct has no opt size (SIZE_MAX)
    expect(ctrl.maxHwSectors).toBe(8192);
    const lim = ctrl.queues.get(1)!.limits;
    expect(lim).toMatchObject({
      maxHwSectors: 8192,
      // min(8192 / 8 + 1 = 1025, NVME_MAX_SEGS 127)
      maxSegments: 127,
      maxSegmentSize: UINT_MAX,
      virtBoundaryMask: 4095,
      dmaAlignment: 3,
      logicalBlockSize: 512,
      physicalBlockSize: 512,
      // blk_validate_limits: min(8192, BLK_DEF_MAX_SECTORS_CAP 2560)
      maxSectors: 2560,
    });
    expect(ctrl.queues.get(1)!.name).toBe('nvme0n1');
  });

  it('2026: 8 MiB, 256 segments; virt boundary only when the controller has no SGLs', () => {
    const a = kernel().probe({ release: '2026' });
    // NVME_MAX_BYTES >> 9 = 16384; min(16384 / 8 + 1 = 2049, 256)
    expect(a.queues.get(1)!.limits).toMatchObject({
      maxHwSectors: 16384,
      maxSegments: 256,
      virtBoundaryMask: 4095,
    });
    const b = kernel().probe({ release: '2026', sgls: NVME_CTRL_SGLS_DWORD_ALIGNED });
    expect(b.queues.get(1)!.limits.virtBoundaryMask).toBe(0);
    // v5.x keeps the virt boundary even with SGLs
    const c = kernel().probe({ sgls: NVME_CTRL_SGLS_DWORD_ALIGNED });
    expect(c.queues.get(1)!.limits.virtBoundaryMask).toBe(4095);
  });

  it('behind an IOMMU: dma_opt_mapping_size 128 KiB caps max_hw_sectors at 256 (33 segments)', () => {
    for (const release of ['v5.x', '2026'] as const) {
      const ctrl = kernel({ optMappingSize: 128 * KiB }).probe({ release });
      // 131072 >> 9 = 256 sectors; segments min(256 / 8 + 1 = 33, NVME_MAX_SEGS)
      expect(ctrl.queues.get(1)!.limits).toMatchObject({
        maxHwSectors: 256,
        maxSectors: 256,
        maxSegments: 33,
      });
    }
  });

  it('MDTS lowers max_hw_sectors further (min_not_zero with the driver cap)', () => {
    // MDTS 5 with 4 KiB pages: 256 sectors; segments 256 / 8 + 1 = 33
    expect(kernel().probe({ mdts: 5 }).queues.get(1)!.limits).toMatchObject({
      maxHwSectors: 256,
      maxSegments: 33,
    });
    // MDTS 5 with MPSMIN 1: 512 sectors (256 KiB), 65 segments
    expect(
      kernel()
        .probe({ mdts: 5, cap: { mpsmin: 1 } })
        .queues.get(1)!.limits,
    ).toMatchObject({
      maxHwSectors: 512,
      maxSegments: 65,
    });
    // MDTS 11: 2^(11 + 3) = 16384 sectors, above the v5.x cap of 8192
    expect(kernel().probe({ mdts: 11 }).maxHwSectors).toBe(8192);
  });

  it('a 4096-byte LBA namespace gives 4 KiB logical and physical blocks', () => {
    const ctrl = kernel().probe({
      namespaces: [{ lbaSize: 512 }, { nsid: 7, lbaSize: 4096, capacity: 64 * MiB }],
    });
    expect(ctrl.queues.get(7)!.limits).toMatchObject({
      logicalBlockSize: 4096,
      physicalBlockSize: 4096,
    });
    expect(ctrl.queues.get(7)!.name).toBe('nvme0n7');
    expect(ctrl.namespaces[1]).toMatchObject({ lbaShift: 12, nsze: 16384 });
  });

  it('probe sets the DMA parameters: min_align_mask 4095, max segment size 0xffffffff', () => {
    const { dev, probe } = kernel();
    expect([dev.minAlignMask, dev.maxSegmentSize]).toEqual([0, 65536]);
    probe();
    expect([dev.minAlignMask, dev.maxSegmentSize]).toEqual([4095, 0xffff_ffff]);
  });
});

describe('§6.3 PCI_P2PDMA capability', () => {
  it('is advertised when dma_pci_p2pdma_supported() (dma-direct ops)', () => {
    const q = kernel().probe().queues.get(1)!;
    expect(q.limits.features & BLK_FEAT_PCI_P2PDMA).toBe(BLK_FEAT_PCI_P2PDMA);
    // v6.11+ reads the feature, older block layers QUEUE_FLAG_PCI_P2PDMA (bit 25)
    expect(blkQueuePciP2pdma(q)).toBe(true);
    expect(blkQueuePciP2pdma(q, { release: 'v6.2' })).toBe(true);
    expect(blkQueueFlagTest(QUEUE_FLAG_PCI_P2PDMA, q)).toBe(true);
  });

  it('is not advertised when the device ops lack P2PDMA support', () => {
    const ctrl = kernel({ capabilities: { pciP2pdma: false } }).probe();
    const q = ctrl.queues.get(1)!;
    expect(ctrl.ops.supportsPciP2pdma(ctrl)).toBe(false);
    expect(q.limits.features & BLK_FEAT_PCI_P2PDMA).toBe(0);
    expect(blkQueuePciP2pdma(q)).toBe(false);
    expect(blkQueuePciP2pdma(q, { release: 'v6.2' })).toBe(false);
  });
});

describe('§6.4 CMB discovery through the controller', () => {
  it('registers and publishes a CMB with RDS and WDS; SQs go in it with SQS', () => {
    const { p2p, probe, dev } = kernel({
      cmb: { bar: 2, size: '256MiB', rds: true, wds: true, sqs: true },
    });
    const ctrl = probe();
    expect(ctrl.cmbResult).toMatchObject({ registered: true, published: true, size: 256 * MiB });
    expect(ctrl.cmb.cmbUseSqes).toBe(true);
    expect(ctrl.cmb.cmbSize).toBe(256 * MiB);
    // CAP.CMBS: CMBMSC = CRE | CMSE | bus address of BAR2 (1 TiB, no bus offset)
    expect(ctrl.cmb.cmbmsc).toBe(0x100_0000_0000 + NVME_CMBMSC_CRE + NVME_CMBMSC_CMSE);
    expect(p2p.hasP2pmem(dev.pci!)).toBe(true);
  });

  it('registers but does not publish without RDS; no SQs without SQS or use_cmb_sqes', () => {
    const a = kernel({ cmb: { bar: 2, size: '256MiB', rds: false, wds: true } });
    const ctrl = a.probe();
    expect(ctrl.cmbResult).toMatchObject({ registered: true, published: false });
    expect(ctrl.cmb.cmbUseSqes).toBe(false);
    expect(a.p2p.hasP2pmem(a.dev.pci!)).toBe(false);
    const b = kernel({ cmb: { bar: 2, size: '256MiB', rds: true, wds: true, sqs: true } });
    expect(b.probe({ useCmbSqes: false }).cmb.cmbUseSqes).toBe(false);
  });

  it('without CAP.CMBS nothing is written to CMBMSC; no CMB -> "no-cmb"', () => {
    const a = kernel({ cmb: { bar: 2, size: '256MiB', rds: true, wds: true } });
    const ctrl = a.probe({ cap: { cmbs: false } });
    expect(ctrl.cmbResult!.registered).toBe(true);
    expect(ctrl.cmb.cmbmsc).toBe(0);
    expect(kernel().probe().cmbResult!.reason).toBe('no-cmb');
  });

  it('passes nvme_map_cmb() options through (memremap_compat_align 16 MiB skips 8 MiB)', () => {
    const { probe } = kernel({ cmb: { bar: 2, size: '8MiB', rds: true, wds: true } });
    const ctrl = probe({ cmb: { compatAlign: 16 * MiB } });
    expect(ctrl.cmbResult).toMatchObject({ registered: false, reason: 'misaligned' });
    expect(ctrl.cmb).toBeInstanceOf(NvmeCmbState);
  });
});

describe('NvmeCtrl construction and the per-kernel registry', () => {
  it("adds a design's ops flags to NVME_F_METADATA_SUPPORTED and runs its allocNs hook", () => {
    // the dma_vec RFC: NVME_F_DMA_DIRECT (1 << 3) -> QUEUE_FLAG_DMA_DIRECT (26) on each queue
    const ctrl = kernel().probe({
      opsFlags: 1 << 3,
      namespaces: [{}, {}],
      allocNs: (c, _ns, q) => {
        if (c.ops.flags & (1 << 3)) blkQueueFlagSet(26, q);
      },
    });
    expect(ctrl.ops.flags).toBe(NVME_F_METADATA_SUPPORTED | (1 << 3));
    expect(ctrl.ops.name).toBe('pcie');
    expect([1, 2].map((nsid) => blkQueueFlagTest(26, ctrl.queues.get(nsid)!))).toEqual([
      true,
      true,
    ]);
    expect(blkQueueFlagTest(26, kernel().probe().queues.get(1)!)).toBe(false);
  });

  it('refuses non-NVMe functions and a second probe', () => {
    const { c, p2p, mapper } = kernel();
    const rp = c.get(DmaDevices).get('00:01.0');
    expect(() => new NvmeCtrl(rp, p2p, mapper)).toThrow(/not an NVMe controller/);
    const ctrl = kernel().probe();
    expect(() => nvmeProbeCtrl(ctrl)).toThrow(/already probed/);
  });

  it("takes the descriptor pools from the function's default coherent region", () => {
    const ctrl = kernel().probe();
    // enumeration order: bus 0 (00:00.0, 00:01.0, 00:02.0), then 01:00.0 = index 3:
    // 2 GiB + 3 * 32 MiB; the page pool takes 15/16 of the 32 MiB
    expect(ctrl.pci.index).toBe(3);
    expect(ctrl.pools.page.region).toEqual({
      base: NVME_DESCRIPTOR_REGION_BASE + 96 * MiB,
      size: 30 * MiB,
    });
    // the small pool gets 32 MiB / 16 = 2 MiB after it
    expect(ctrl.pools.small.region).toEqual({
      base: NVME_DESCRIPTOR_REGION_BASE + 126 * MiB,
      size: 2 * MiB,
    });
  });

  it('NvmeCtrls probes each function once, numbers them, and applies the bound defaults', () => {
    const { c } = kernel({ defaults: { release: '2026' } });
    const ctrls = c.get(NvmeCtrls);
    const n1 = ctrls.get('02:00.0');
    const n0 = ctrls.get('01:00.0', { mdts: 5 });
    expect(ctrls.get('02:00.0')).toBe(n1);
    expect([n1.name, n0.name]).toEqual(['nvme0', 'nvme1']);
    expect(n1.release).toBe('2026');
    expect(n0.maxHwSectors).toBe(256);
    // the controller uses the kernel's struct device and the design's mapper
    expect(n0.dev).toBe(c.get(DmaDevices).get('01:00.0'));
    expect(n0.mapper).toBeInstanceOf(DmaMapSgRequestMapper);
    expect(ctrls.all()).toHaveLength(2);
  });

  it('probeAll() probes every class-nvme endpoint in enumeration order', () => {
    const { c } = kernel();
    // 01:00.0 (index 3) before 02:00.0 (index 4)
    expect(
      c
        .get(NvmeCtrls)
        .probeAll()
        .map((x) => [x.pci.bdf, x.name]),
    ).toEqual([
      ['0000:01:00.0', 'nvme0'],
      ['0000:02:00.0', 'nvme1'],
    ]);
  });
});
