/**
 * The IOMMU hardware model (core/iommu): domains per group and mode, the I/O page table's map and
 * unmap rules, faults, reserved IOVA regions and the IOTLB with strict and lazy invalidation
 * (reference §4.1, §4.4, §4.5, §4.6). Expected values are worked out by hand in the comments.
 */
import { ContainerModule } from 'inversify';
import { createKernelContainer } from '../src/di/kernel';
import { DmaDataDirection } from '../src/dma/direction';
import { EBUSY, EEXIST, EFAULT, EINVAL } from '../src/errno';
import {
  apertureEndFor,
  IOMMU_DOMAIN_BLOCKED,
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_DMA_FQ,
  IOMMU_DOMAIN_IDENTITY,
  superpageSizeFor,
} from '../src/iommu/domain';
import { IommuIotlbGather } from '../src/iommu/iotlb';
import { Iommu } from '../src/iommu/iommu';
import { IoPageTable } from '../src/iommu/page-table';
import { IOMMU_READ, IOMMU_WRITE } from '../src/iommu/prot';
import { IommuResvType } from '../src/iommu/resv-region';
import { InputError } from '../src/input-error';
import { KernelLog } from '../src/kernel-log';
import { parseTopologyText } from '../src/pci/topology-loader';
import { topologyFromObject, type PciTopology } from '../src/pci/topology';

const { DMA_TO_DEVICE, DMA_FROM_DEVICE, DMA_BIDIRECTIONAL } = DmaDataDirection;
const KiB = 1024;
const MiB = 1024 * KiB;
const TiB = 1024 ** 4;
const RW = IOMMU_READ | IOMMU_WRITE;

type Vendor = 'Intel' | 'AMD' | 'ARM' | 'other';

/**
 * hb0 (bus 00): 00:00.0 host bridge; root port 00:01.0 -> switch 01:00.0 -> DSPs 02:00.0 and
 * 02:01.0 -> nvme0 03:00.0 and nvme1 04:00.0; root port 00:02.0 -> gpu0 05:00.0. No ACS.
 */
function fabric(iommu: Record<string, unknown> | undefined, vendor: Vendor = 'Intel'): PciTopology {
  return topologyFromObject({
    platform: { cpu: { vendor, family: vendor === 'AMD' ? 0x19 : 6 }, ...(iommu ? { iommu } : {}) },
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
                kind: 'switch-upstream',
                children: [
                  {
                    bdf: '02:00.0',
                    kind: 'switch-downstream',
                    children: [{ bdf: '03:00.0', kind: 'endpoint', name: 'nvme0' }],
                  },
                  {
                    bdf: '02:01.0',
                    kind: 'switch-downstream',
                    children: [{ bdf: '04:00.0', kind: 'endpoint', name: 'nvme1' }],
                  },
                ],
              },
            ],
          },
          {
            bdf: '00:02.0',
            kind: 'root-port',
            children: [{ bdf: '05:00.0', kind: 'endpoint', name: 'gpu0' }],
          },
        ],
      },
    ],
  } as never);
}

function iommuOf(iommu: Record<string, unknown> | undefined, vendor: Vendor = 'Intel') {
  const log = new KernelLog();
  return { iommu: new Iommu(fabric(iommu, vendor), log), log };
}

/** The error message parsing `text` gives. */
function errorOf(text: string): string {
  try {
    parseTopologyText(text, 'topo.yaml');
  } catch (e) {
    if (e instanceof InputError) return e.format();
    throw e;
  }
  throw new Error('expected an InputError');
}

describe('platform.iommu in the topology file', () => {
  it('absent: no IOMMU, so existing topologies keep DMA untranslated', () => {
    const { iommu } = iommuOf(undefined);
    expect(iommu.enabled).toBe(false);
    expect(iommu.groups).toHaveLength(0);
    expect(iommu.iommuGroupGet('nvme0')).toBeUndefined();
    expect(iommu.iommuGetResvRegions('nvme0')).toEqual([]);
    // The DMA address goes to memory as it is.
    expect(iommu.dmaAccess('nvme0', 0x1234_5000, 4096, DMA_TO_DEVICE)).toEqual({
      ok: true,
      translated: false,
      paddr: 0x1234_5000,
      segments: [{ iova: 0x1234_5000, paddr: 0x1234_5000, size: 4096 }],
    });
  });

  it('an empty mapping turns it on with the x86 server defaults (lazy, 4 KiB, 48-bit, 64 entries)', () => {
    const topo = fabric({});
    expect(topo.platform.iommu).toEqual({
      enabled: true,
      granule: 4096,
      mode: 'lazy',
      addressWidth: 48,
      iotlbEntries: 64,
      superpages: true,
    });
    expect(fabric({ enabled: false }).platform.iommu?.enabled).toBe(false);
    expect(new Iommu(fabric({ enabled: false }), new KernelLog()).enabled).toBe(false);
    // sizes are accepted with units
    expect(fabric({ granule: '16KiB' }).platform.iommu?.granule).toBe(16384);
  });

  it('a bad granule is reported at its file:line:col', () => {
    // line 4 is `    granule: 8192`; the value starts at column 14 (4 spaces, "granule: ").
    const text = `platform:
  cpu: { vendor: Intel }
  iommu:
    granule: 8192
hostBridges:
  - name: hb0
    bus: 0
    devices: []
`;
    expect(errorOf(text)).toBe(
      'topo.yaml:4:14: granule must be 4096, 16384 or 65536 bytes (4KiB, 16KiB or 64KiB)',
    );
  });

  it('a bad mode and address width are reported at their values', () => {
    // line 3 `  iommu: { mode: fast }`: "fast" starts at column 18.
    expect(
      errorOf(`platform:
  cpu: { vendor: Intel }
  iommu: { mode: fast }
hostBridges:
  - { name: hb0, bus: 0, devices: [] }
`),
    ).toBe('topo.yaml:3:18: unknown mode "fast": expected one of strict, lazy, passthrough');
    // `  iommu: { addressWidth: 40 }`: "40" starts at column 26.
    expect(
      errorOf(`platform:
  cpu: { vendor: Intel }
  iommu: { addressWidth: 40 }
hostBridges:
  - { name: hb0, bus: 0, devices: [] }
`),
    ).toBe('topo.yaml:3:26: addressWidth: expected one of 39, 48, 57, got number 40');
  });
});

describe('domains and groups (§4.1)', () => {
  // Groups without ACS (pci_device_group): 00:00.0 alone (group 0); everything below root port
  // 00:01.0 joins the root port's group (1), because no bridge on the way up isolates; gpu0
  // joins root port 00:02.0 (group 2). Domains are allocated per group in that order: ids 1, 2, 3.
  it('strict mode: a DMA domain per group; the functions of a group share it', () => {
    const { iommu, log } = iommuOf({ mode: 'strict' });
    expect(iommu.groups.map((g) => g.devices.map((d) => d.bdf))).toEqual([
      ['0000:00:00.0'],
      [
        '0000:00:01.0',
        '0000:01:00.0',
        '0000:02:00.0',
        '0000:02:01.0',
        '0000:03:00.0',
        '0000:04:00.0',
      ],
      ['0000:00:02.0', '0000:05:00.0'],
    ]);
    const nvme0 = iommu.iommuGetDomainForDev('nvme0')!;
    expect(nvme0.type).toBe(IOMMU_DOMAIN_DMA);
    expect(nvme0.typeName).toBe('DMA');
    expect(nvme0.id).toBe(2);
    expect(iommu.iommuGetDomainForDev('nvme1')).toBe(nvme0);
    expect(iommu.iommuGetDomainForDev('gpu0')!.id).toBe(3);
    expect(iommu.iommuGroupGet('gpu0')!.id).toBe(2);
    // iommu_subsys_init() and iommu_group_add_device() messages
    const msgs = log.messages();
    expect(msgs[0]).toEqual({ level: 'info', msg: 'iommu: Default domain type: Translated' });
    expect(msgs[1]).toEqual({
      level: 'info',
      msg: 'iommu: DMA domain TLB invalidation policy: strict mode',
    });
    expect(msgs).toContainEqual({
      level: 'info',
      dev: '0000:03:00.0',
      msg: 'Adding to iommu group 1',
    });
  });

  it('lazy mode: DMA_FQ domains (flush queues)', () => {
    const { iommu } = iommuOf({ mode: 'lazy' });
    const d = iommu.iommuGetDomainForDev('nvme0')!;
    expect(d.type).toBe(IOMMU_DOMAIN_DMA_FQ);
    expect(d.typeName).toBe('DMA-FQ');
    expect(d.usesFlushQueue).toBe(true);
  });

  it('passthrough: one identity domain for every group; DMA addresses are physical', () => {
    const { iommu, log } = iommuOf({ mode: 'passthrough' });
    const d = iommu.iommuGetDomainForDev('nvme0')!;
    expect(d.type).toBe(IOMMU_DOMAIN_IDENTITY);
    expect(iommu.iommuGetDomainForDev('gpu0')).toBe(d);
    expect(d.pageTable).toBeUndefined();
    expect(iommu.dmaAccess('gpu0', 0x8000_1000, 64, DMA_FROM_DEVICE)).toEqual({
      ok: true,
      translated: false,
      paddr: 0x8000_1000,
      segments: [{ iova: 0x8000_1000, paddr: 0x8000_1000, size: 64 }],
    });
    expect(iommu.iommuIovaToPhys(d, 0x1234_5000)).toBe(0x1234_5000);
    // no IOTLB traffic, no TLB policy message
    expect(iommu.iotlbStats().hits + iommu.iotlbStats().misses).toBe(0);
    expect(log.messages()[1]?.msg).toBe('Adding to iommu group 0');
  });

  it('geometry: granule + superpage in pgsize_bitmap, aperture from the address width', () => {
    const { iommu } = iommuOf({ addressWidth: 39 });
    const d = iommu.iommuGetDomainForDev('nvme0')!;
    // 4 KiB granule: a table page holds 512 PTEs, so the level above maps 512 * 4 KiB = 2 MiB
    expect(d.pgsizeBitmap).toBe(4096 + 2 * MiB);
    expect(d.granule).toBe(4096);
    expect(d.geometry).toEqual({ apertureStart: 0, apertureEnd: 2 ** 39 - 1, forceAperture: true });
    // 16 KiB: 2048 PTEs of 16 KiB = 32 MiB; 64 KiB: 8192 x 64 KiB = 512 MiB
    expect(superpageSizeFor(16 * KiB)).toBe(32 * MiB);
    expect(superpageSizeFor(64 * KiB)).toBe(512 * MiB);
    // 2^57 - 1 is not a safe integer: saturated like a 64-bit DMA mask
    expect(apertureEndFor(57)).toBe(Number.MAX_SAFE_INTEGER);
    expect(apertureEndFor(48)).toBe(2 ** 48 - 1);
    const noSp = iommuOf({ superpages: false }).iommu.iommuGetDomainForDev('nvme0')!;
    expect(noSp.pgsizeBitmap).toBe(4096);
  });

  it('the kernel container binds the IOMMU, disabled when the topology has none', () => {
    const strategy = new ContainerModule(() => undefined);
    const on = createKernelContainer({ topology: fabric({ mode: 'strict' }), strategy });
    expect(on.get(Iommu).enabled).toBe(true);
    expect(on.get(Iommu)).toBe(on.get(Iommu));
    const off = createKernelContainer({ topology: fabric(undefined), strategy });
    expect(off.get(Iommu).enabled).toBe(false);
  });
});

describe('I/O page table: map, unmap, translate', () => {
  it('picks 2 MiB superpages where IOVA, paddr and the remaining size allow (iommu_pgsize)', () => {
    const pt = new IoPageTable(4096, 2 * MiB, 2 ** 48 - 1);
    // [0x200000, +4 MiB + 8 KiB) -> 0x40200000: both 2 MiB aligned, so 2 MiB at 0x200000 and
    // 0x400000, then the 8 KiB left as two 4 KiB pages at 0x600000 and 0x601000.
    expect(pt.map(0x20_0000, 0x4020_0000, 4 * MiB + 8 * KiB, RW)).toBe(0);
    expect(pt.leaves().map((l) => [l.iova, l.size])).toEqual([
      [0x20_0000, 2 * MiB],
      [0x40_0000, 2 * MiB],
      [0x60_0000, 4096],
      [0x60_1000, 4096],
    ]);
    expect(pt.mappedBytes).toBe(4 * MiB + 8 * KiB);
    // four leaf PTEs written, not 1026
    expect(pt.ptesSet).toBe(4);
    // paddr only 4 KiB aligned: 2 MiB / 4 KiB = 512 small leaves
    const pt2 = new IoPageTable(4096, 2 * MiB, 2 ** 48 - 1);
    expect(pt2.map(0x20_0000, 0x4020_1000, 2 * MiB, RW)).toBe(0);
    expect(pt2.leafCount).toBe(512);
    // superpages off: small leaves only
    const pt3 = new IoPageTable(4096, 0, 2 ** 48 - 1);
    expect(pt3.map(0x20_0000, 0x4020_0000, 2 * MiB, RW)).toBe(0);
    expect(pt3.leafCount).toBe(512);
  });

  it('a table page emptied by unmap takes a superpage again; 64 KiB granules use 512 MiB slots', () => {
    const pt = new IoPageTable(4096, 2 * MiB, 2 ** 48 - 1);
    // two 4 KiB leaves in the slot [0x20_0000, 0x40_0000): a superpage there overlaps them
    expect(pt.map(0x20_0000, 0x4020_1000, 0x2000, RW)).toBe(0);
    expect(pt.map(0x20_0000, 0x4020_0000, 2 * MiB, RW)).toBe(-EEXIST);
    // once both are unmapped the slot is free: one 2 MiB leaf, leafCount 1
    expect(pt.unmap(0x20_0000, 0x2000)).toBe(0x2000);
    expect(pt.map(0x20_0000, 0x4020_0000, 2 * MiB, RW)).toBe(0);
    expect(pt.leafCount).toBe(1);
    expect(pt.ptesSet).toBe(3);
    expect(pt.ptesCleared).toBe(2);
    // and a small leaf inside that superpage overlaps it
    expect(pt.map(0x30_0000, 0x1000, 0x1000, RW)).toBe(-EEXIST);
    // 64 KiB granule: 8192 PTEs per table, superpage 64 KiB * 8192 = 512 MiB
    const big = new IoPageTable(64 * KiB, 512 * MiB, 2 ** 48 - 1);
    expect(big.map(512 * MiB, 1024 * MiB, 512 * MiB + 64 * KiB, RW)).toBe(0);
    expect(big.leaves().map((l) => [l.iova, l.size])).toEqual([
      [512 * MiB, 512 * MiB],
      [1024 * MiB, 64 * KiB],
    ]);
    // 512 MiB + 0x1_2345 - 512 MiB = 0x1_2345 into the superpage -> 1 GiB + 0x1_2345
    expect(big.iovaToPhys(512 * MiB + 0x1_2345)).toBe(1024 * MiB + 0x1_2345);
  });

  it('translate: paddr and prot of the leaf, offset kept; unmapped is undefined', () => {
    const pt = new IoPageTable(4096, 2 * MiB, 2 ** 48 - 1);
    pt.map(0x20_0000, 0x4020_0000, 2 * MiB, IOMMU_READ);
    // 0x20_0000 + 0x12345 -> 0x4020_0000 + 0x12345 inside the superpage
    expect(pt.iovaToPhys(0x21_2345)).toBe(0x4021_2345);
    expect(pt.leafAt(0x3f_ffff)).toMatchObject({
      iova: 0x20_0000,
      size: 2 * MiB,
      prot: IOMMU_READ,
    });
    expect(pt.iovaToPhys(0x40_0000)).toBeUndefined();
  });

  it('alignment, permission, aperture and overlap errors (§4.5 granule rules)', () => {
    const { iommu, log } = iommuOf({ mode: 'strict', addressWidth: 39 });
    const d = iommu.iommuGetDomainForDev('nvme0')!;
    expect(iommu.iommuMap(d, 0x1001, 0x2000, 0x1000, RW)).toBe(-EINVAL);
    expect(log.messages().at(-1)).toEqual({
      level: 'err',
      msg: 'iommu: unaligned: iova 0x1001 pa 0x0000000000002000 size 0x1000 min_pagesz 0x1000',
    });
    expect(iommu.iommuMap(d, 0x1000, 0x2000, 0x800, RW)).toBe(-EINVAL);
    expect(iommu.iommuMap(d, 0x1000, 0x2000, 0x1000, 0)).toBe(-EINVAL);
    // 39-bit aperture ends at 2^39 - 1; [2^39 - 4 KiB, 2^39 + 4 KiB) passes it
    expect(iommu.iommuMap(d, 2 ** 39 - 0x1000, 0x2000, 0x2000, RW)).toBe(-EFAULT);
    expect(log.messages().at(-1)?.msg).toBe(
      'DMAR: intel_iommu_map: iommu width (39) is not sufficient for the mapped address (8000001000)',
    );
    // Overlap: 0x10000 is mapped; mapping [0xe000, 0x12000) maps 0xe000 and 0xf000, hits
    // 0x10000 with -EEXIST and unmaps its own two pages again, leaving the first 4 KiB only.
    expect(iommu.iommuMap(d, 0x1_0000, 0x10_0000, 0x1000, RW)).toBe(0);
    expect(iommu.iommuMap(d, 0xe000, 0x20_0000, 0x4000, RW)).toBe(-EEXIST);
    expect(d.pageTable!.mappedBytes).toBe(0x1000);
    expect(iommu.iommuIovaToPhys(d, 0xe000)).toBe(0);
    // A superpage over a slot that holds a small page overlaps too: [0, 2 MiB) contains 0x10000.
    expect(iommu.iommuMap(d, 0, 0x4000_0000, 2 * MiB, RW)).toBe(-EEXIST);
    // Identity and blocked domains have no page table.
    const { iommu: pt } = iommuOf({ mode: 'passthrough' });
    expect(pt.iommuMap(pt.iommuGetDomainForDev('nvme0')!, 0, 0, 0x1000, RW)).toBe(-EINVAL);
  });

  it('unmap returns bytes unmapped; part of a superpage removes all of it', () => {
    const { iommu, log } = iommuOf({ mode: 'strict' });
    const d = iommu.iommuGetDomainForDev('nvme0')!;
    expect(iommu.iommuMap(d, 0x20_0000, 0x4020_0000, 2 * MiB, RW)).toBe(0);
    expect(iommu.iommuMap(d, 0x40_0000, 0x5000_0000, 0x2000, RW)).toBe(0);
    // 4 KiB in the middle of the superpage: the whole 2 MiB leaf goes, and 2 MiB is returned
    // (VT-d, AMD-Vi, and io-pgtable-arm since v6.13).
    expect(iommu.iommuUnmap(d, 0x20_1000, 0x1000)).toBe(2 * MiB);
    expect(iommu.iommuIovaToPhys(d, 0x20_0000)).toBe(0);
    // unaligned: nothing, with the core's message
    expect(iommu.iommuUnmap(d, 0x40_0800, 0x1000)).toBe(0);
    expect(log.messages().at(-1)?.msg).toBe(
      'iommu: unaligned: iova 0x400800 size 0x1000 min_pagesz 0x1000',
    );
    // [0x400000, +16 KiB): two pages mapped, then a hole; the walk stops at the hole -> 8 KiB
    expect(iommu.iommuUnmap(d, 0x40_0000, 0x4000)).toBe(0x2000);
    // nothing mapped at all
    expect(iommu.iommuUnmap(d, 0x40_0000, 0x1000)).toBe(0);
  });
});

describe('faults (§4.6: a DMA the IOMMU refuses moves no data)', () => {
  it('Intel: unmapped IOVA and missing permission are recorded and logged as VT-d does', () => {
    const { iommu, log } = iommuOf({ mode: 'strict' });
    const d = iommu.iommuGetDomainForDev('nvme0')!;
    // read-only page at IOVA 0x1000 -> 0x7000_0000
    expect(iommu.iommuMap(d, 0x1000, 0x7000_0000, 0x1000, IOMMU_READ)).toBe(0);
    expect(iommu.dmaAccess('nvme0', 0x1000, 512, DMA_TO_DEVICE)).toMatchObject({
      ok: true,
      translated: true,
      paddr: 0x7000_0000,
    });
    // nvme0 reads IOVA 0x5000, which nothing maps
    const r = iommu.dmaAccess('nvme0', 0x5000, 4096, DMA_TO_DEVICE);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.bytesMoved).toBe(0);
    const line =
      'DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x5000 [fault reason 0x06] PTE Read access is not set';
    expect(r.fault).toEqual({
      device: '0000:03:00.0',
      address: 0x5000,
      direction: DMA_TO_DEVICE,
      reason: 'unmapped',
      domainId: 2,
      beyondAperture: false,
      message: line,
    });
    expect(log.messages().at(-1)).toEqual({ level: 'err', msg: line });
    // nvme0 writes the read-only page: a permission fault, VT-d reason 0x05
    const w = iommu.dmaAccess('nvme0', 0x1800, 64, DMA_FROM_DEVICE);
    expect(w).toMatchObject({ ok: false, fault: { reason: 'permission', address: 0x1800 } });
    expect(log.messages().at(-1)?.msg).toBe(
      'DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x1800 [fault reason 0x05] PTE Write access is not set',
    );
    // bidirectional needs both: the write permission is missing
    expect(iommu.dmaAccess('nvme0', 0x1000, 64, DMA_BIDIRECTIONAL)).toMatchObject({
      ok: false,
      fault: { reason: 'permission', direction: DMA_FROM_DEVICE },
    });
    expect(iommu.faults.map((f) => f.reason)).toEqual(['unmapped', 'permission', 'permission']);
  });

  it('a DMA that runs from a mapped page into an unmapped one faults at the first unmapped byte', () => {
    const { iommu } = iommuOf({ mode: 'strict' });
    const d = iommu.iommuGetDomainForDev('nvme0')!;
    iommu.iommuMap(d, 0x1000, 0x7000_0000, 0x1000, RW);
    // [0x1f00, +0x200) crosses into 0x2000, unmapped -> fault at 0x2000, nothing moved
    expect(iommu.dmaAccess('nvme0', 0x1f00, 0x200, DMA_FROM_DEVICE)).toMatchObject({
      ok: false,
      bytesMoved: 0,
      fault: { address: 0x2000, reason: 'unmapped' },
    });
  });

  it('AMD: IO_PAGE_FAULT with the domain ID and the event flags', () => {
    const { iommu, log } = iommuOf({ mode: 'strict' }, 'AMD');
    const d = iommu.iommuGetDomainForDev('nvme0')!;
    iommu.iommuMap(d, 0x1000, 0x7000_0000, 0x1000, IOMMU_READ);
    iommu.dmaAccess('nvme0', 0x5000, 64, DMA_FROM_DEVICE);
    // unmapped write: RW = 0x20; named by pci_err() after the device
    expect(log.messages().at(-1)).toEqual({
      level: 'err',
      dev: '0000:03:00.0',
      msg: 'Event logged [IO_PAGE_FAULT domain=0x0002 address=0x5000 flags=0x0020]',
    });
    // write to a present read-only page: RW 0x20 | PR 0x10 | PE 0x40 = 0x70
    iommu.dmaAccess('nvme0', 0x1000, 64, DMA_FROM_DEVICE);
    expect(log.messages().at(-1)?.msg).toBe(
      'Event logged [IO_PAGE_FAULT domain=0x0002 address=0x1000 flags=0x0070]',
    );
    // unmapped read: no flag
    iommu.dmaAccess('gpu0', 0x9000, 64, DMA_TO_DEVICE);
    expect(log.messages().at(-1)).toEqual({
      level: 'err',
      dev: '0000:05:00.0',
      msg: 'Event logged [IO_PAGE_FAULT domain=0x0003 address=0x9000 flags=0x0000]',
    });
  });

  it('a DMA beyond the aperture faults as "Access beyond MGAW" on Intel', () => {
    const { iommu, log } = iommuOf({ mode: 'strict', addressWidth: 39 });
    const r = iommu.dmaAccess('nvme0', 2 ** 39, 64, DMA_TO_DEVICE);
    expect(r).toMatchObject({ ok: false, fault: { reason: 'unmapped', beyondAperture: true } });
    expect(log.messages().at(-1)?.msg).toBe(
      'DMAR: [DMA Read NO_PASID] Request device [03:00.0] fault addr 0x8000000000 [fault reason 0x04] Access beyond MGAW',
    );
  });

  it('blocked domain: every DMA of the group faults, with no page table consulted', () => {
    const { iommu, log } = iommuOf({ mode: 'strict' });
    const group = iommu.iommuGroupGet('nvme0')!;
    const own = iommu.iommuGetDomainForDev('nvme0')!;
    iommu.iommuMap(own, 0x1000, 0x7000_0000, 0x1000, RW);
    iommu.iommuGroupSetBlockingDomain(group);
    const blocked = iommu.iommuGetDomainForDev('nvme1')!;
    expect(blocked.type).toBe(IOMMU_DOMAIN_BLOCKED);
    expect(blocked.pageTable).toBeUndefined();
    // domains 1..3 are the groups' defaults; the blocked domain is the next one
    expect(blocked.id).toBe(4);
    const r = iommu.dmaAccess('nvme1', 0x1000, 64, DMA_TO_DEVICE);
    expect(r).toMatchObject({ ok: false, fault: { reason: 'blocked', device: '0000:04:00.0' } });
    expect(log.messages().at(-1)?.msg).toBe(
      'DMAR: [DMA Read NO_PASID] Request device [04:00.0] fault addr 0x1000 [fault reason 0x02] Present bit in context entry is clear',
    );
    expect(iommu.iommuIovaToPhys(blocked, 0x1000)).toBe(0);
    // gpu0 is in another group and unaffected (its domain simply maps nothing yet)
    expect(iommu.iommuGetDomainForDev('gpu0')!.type).toBe(IOMMU_DOMAIN_DMA);
    // detaching returns to the default domain, whose mapping is still there
    iommu.iommuDetachGroup(blocked, group);
    expect(iommu.dmaAccess('nvme1', 0x1000, 64, DMA_TO_DEVICE)).toMatchObject({
      ok: true,
      paddr: 0x7000_0000,
    });
  });

  it('an UNMANAGED domain attached to a group replaces its default domain', () => {
    const { iommu } = iommuOf({ mode: 'lazy' });
    const group = iommu.iommuGroupGet('gpu0')!;
    const vfio = iommu.iommuPagingDomainAlloc();
    expect(iommu.iommuAttachGroup(vfio, group)).toBe(0);
    // the group is owned now: a second attach is refused
    expect(iommu.iommuAttachGroup(iommu.iommuPagingDomainAlloc(), group)).toBe(-EBUSY);
    iommu.iommuMap(vfio, 0x10_0000, 0x9000_0000, 0x1000, RW);
    expect(iommu.dmaAccess('gpu0', 0x10_0010, 16, DMA_FROM_DEVICE)).toMatchObject({
      ok: true,
      paddr: 0x9000_0010,
    });
  });
});

describe('reserved IOVA regions (§4.5 reserved)', () => {
  it('Intel, one host bridge with the default windows: its windows and the MSI window', () => {
    const { iommu } = iommuOf({});
    expect(iommu.iommuGetResvRegions('nvme0')).toEqual([
      { start: 0xfee0_0000, length: 0x10_0000, prot: 0, type: IommuResvType.IOMMU_RESV_MSI },
    ]);
    // hb0 (index 0) default windows: 32-bit [0xc0000000, +128 MiB) and 64-bit prefetchable
    // [1 TiB, +1 TiB); busOffset 0, so the bus addresses are the same.
    expect(
      iommu.iovaReservedRanges('nvme0').map(({ start, end, source }) => ({ start, end, source })),
    ).toEqual([
      { start: 0xc000_0000, end: 0xc800_0000, source: 'pci-window' },
      { start: TiB, end: 2 * TiB, source: 'pci-window' },
      { start: 0xfee0_0000, end: 0xfef0_0000, source: 'msi' },
    ]);
  });

  it('AMD adds the HyperTransport range; Arm has a software MSI window dma-iommu does not reserve', () => {
    const amd = iommuOf({}, 'AMD').iommu;
    expect(amd.iovaReservedRanges('nvme0').map((r) => [r.start, r.end, r.source])).toEqual([
      [0xc000_0000, 0xc800_0000, 'pci-window'],
      [TiB, 2 * TiB, 'pci-window'],
      [0xfee0_0000, 0xfef0_0000, 'msi'],
      // 0xfd00000000..0xffffffffff inclusive = [0xfd00000000, 0x10000000000)
      [0xfd_0000_0000, 0x100_0000_0000, 'reserved'],
    ]);
    const arm = iommuOf({}, 'ARM').iommu;
    expect(arm.iommuGetResvRegions('nvme0')).toEqual([
      {
        start: 0x800_0000,
        length: 0x10_0000,
        prot: 2 | 8 | 16,
        type: IommuResvType.IOMMU_RESV_SW_MSI,
      },
    ]);
    expect(arm.iovaReservedRanges('nvme0').map((r) => r.source)).toEqual([
      'pci-window',
      'pci-window',
    ]);
  });

  it('windows are reserved as bus addresses, and only the device own host bridge', () => {
    // hb1 decodes CPU [256 GiB, +1 GiB) at bus address 0 (busOffset -256 GiB): a device below
    // hb1 gets [0, 1 GiB) reserved, and nothing of hb0's windows.
    const topo = topologyFromObject({
      platform: { cpu: { vendor: 'Intel' }, iommu: {} },
      hostBridges: [
        { name: 'hb0', bus: 0, devices: [{ bdf: '00:02.0', kind: 'endpoint', name: 'ep0' }] },
        {
          name: 'hb1',
          bus: 0x80,
          busOffset: -256 * 2 ** 30,
          windows: [{ base: 256 * 2 ** 30, size: '1GiB' }],
          devices: [{ bdf: '80:02.0', kind: 'endpoint', name: 'ep1' }],
        },
      ],
    } as never);
    const iommu = new Iommu(topo, new KernelLog());
    expect(iommu.iovaReservedRanges('ep1').map((r) => [r.start, r.end, r.source])).toEqual([
      [0, 2 ** 30, 'pci-window'],
      [0xfee0_0000, 0xfef0_0000, 'msi'],
    ]);
    expect(iommu.iommuUnitOf('ep1')!.hostBridge.name).toBe('hb1');
  });
});

describe('IOTLB (anchors §4: reach, strict versus lazy invalidation)', () => {
  it('LRU with 2 entries: hits, misses and evictions of a scripted access sequence', () => {
    const { iommu } = iommuOf({ mode: 'strict', iotlbEntries: 2 });
    const d = iommu.iommuGetDomainForDev('nvme0')!;
    const [A, B, C] = [0x1000, 0x2000, 0x3000];
    // three separate pages with non-adjacent physical pages
    iommu.iommuMap(d, A, 0x7000_0000, 0x1000, RW);
    iommu.iommuMap(d, B, 0x7100_0000, 0x1000, RW);
    iommu.iommuMap(d, C, 0x7200_0000, 0x1000, RW);
    for (const a of [A, B, A, C, B, A]) iommu.dmaAccess('nvme0', a, 64, DMA_TO_DEVICE);
    // A miss [A]; B miss [A B]; A hit [B A]; C miss, evicts B [A C]; B miss, evicts A [C B];
    // A miss, evicts C [B A]: 1 hit, 5 misses, 3 evictions.
    expect(iommu.iotlbStats()).toMatchObject({ hits: 1, misses: 5, evictions: 3 });
    expect(
      iommu
        .iommuUnitOf('nvme0')!
        .iotlb.entries()
        .map((e) => e.iova),
    ).toEqual([B, A]);
  });

  it('one superpage entry covers 2 MiB; a DMA spanning two pages looks up both', () => {
    const { iommu } = iommuOf({ mode: 'strict' });
    const d = iommu.iommuGetDomainForDev('nvme0')!;
    iommu.iommuMap(d, 0x20_0000, 0x4020_0000, 2 * MiB, RW);
    iommu.dmaAccess('nvme0', 0x20_0000, 64, DMA_TO_DEVICE); // miss, fills the 2 MiB entry
    iommu.dmaAccess('nvme0', 0x3f_f000, 64, DMA_TO_DEVICE); // same entry: hit
    expect(iommu.iotlbStats()).toMatchObject({ hits: 1, misses: 1 });
    // two 4 KiB pages, physically apart: [0x1800, +4 KiB) touches both -> 2 misses, 2 segments
    iommu.iommuMap(d, 0x1000, 0x7000_0000, 0x1000, RW);
    iommu.iommuMap(d, 0x2000, 0x7100_0000, 0x1000, RW);
    const r = iommu.dmaAccess('nvme0', 0x1800, 0x1000, DMA_TO_DEVICE);
    expect(r).toMatchObject({
      ok: true,
      segments: [
        { iova: 0x1800, paddr: 0x7000_0800, size: 0x800 },
        { iova: 0x2000, paddr: 0x7100_0000, size: 0x800 },
      ],
    });
    expect(iommu.iotlbStats()).toMatchObject({ hits: 1, misses: 3 });
  });

  /**
   * The script, per mode: map 4 pages at IOVA 0x10000..0x13fff, the device reads each (4 misses,
   * 4 entries), the driver unmaps each page as dma-iommu's __iommu_dma_unmap() does
   * (gather.queued = the domain has a flush queue; sync unless queued), then the device reads
   * the first page again.
   */
  function script(mode: 'strict' | 'lazy') {
    const { iommu } = iommuOf({ mode });
    const d = iommu.iommuGetDomainForDev('nvme0')!;
    for (let i = 0; i < 4; i++)
      iommu.iommuMap(d, 0x1_0000 + i * 0x1000, 0x7000_0000 + i * 0x10_0000, 0x1000, RW);
    for (let i = 0; i < 4; i++) iommu.dmaAccess('nvme0', 0x1_0000 + i * 0x1000, 64, DMA_TO_DEVICE);
    for (let i = 0; i < 4; i++) {
      const gather = new IommuIotlbGather();
      gather.queued = d.usesFlushQueue;
      expect(iommu.iommuUnmapFast(d, 0x1_0000 + i * 0x1000, 0x1000, gather)).toBe(0x1000);
      if (!gather.queued) iommu.iommuIotlbSync(d, gather);
    }
    const after = iommu.dmaAccess('nvme0', 0x1_0000, 64, DMA_TO_DEVICE);
    return { iommu, d, after };
  }

  it('strict: one range invalidation per unmap; the unmapped page faults at once', () => {
    const { iommu, after } = script('strict');
    expect(iommu.iotlbStats()).toMatchObject({
      rangeInvalidations: 4,
      globalInvalidations: 0,
      entriesInvalidated: 4,
    });
    expect(iommu.counters).toMatchObject({ iommuUnmap: 4, iotlbSync: 4, flushIotlbAll: 0 });
    // the entry is gone: a miss, the walk finds nothing
    expect(after).toMatchObject({ ok: false, fault: { reason: 'unmapped' } });
    expect(iommu.iotlbStats()).toMatchObject({ hits: 0, misses: 5 });
  });

  it('lazy: no invalidation until the flush queue flushes; stale entries still translate', () => {
    const { iommu, d, after } = script('lazy');
    expect(iommu.iotlbStats()).toMatchObject({ rangeInvalidations: 0, globalInvalidations: 0 });
    // the stale IOTLB entry still points at the old page (the window strict mode closes)
    expect(after).toMatchObject({ ok: true, paddr: 0x7000_0000 });
    expect(iommu.iotlbStats()).toMatchObject({ hits: 1, misses: 4 });
    // the flush queue's flush: one domain-wide invalidation drops all four entries
    expect(iommu.counters).toMatchObject({ iommuUnmap: 4, iotlbSync: 0 });
    iommu.iommuFlushIotlbAll(d);
    expect(iommu.iotlbStats()).toMatchObject({ globalInvalidations: 1, entriesInvalidated: 4 });
    expect(iommu.dmaAccess('nvme0', 0x1_0000, 64, DMA_TO_DEVICE)).toMatchObject({ ok: false });
  });

  it('iommu_unmap gathers contiguous pages into one invalidation, and syncs on a page-size change', () => {
    const { iommu } = iommuOf({ mode: 'strict' });
    const d = iommu.iommuGetDomainForDev('nvme0')!;
    // 4 small pages [0x1000, 0x5000): one gathered range -> 1 invalidation
    iommu.iommuMap(d, 0x1000, 0x7000_0000, 0x4000, RW);
    expect(iommu.iommuUnmap(d, 0x1000, 0x4000)).toBe(0x4000);
    expect(iommu.iotlbStats().rangeInvalidations).toBe(1);
    // a 4 KiB page at 0x1ff000 then a 2 MiB page at 0x200000: the gather holds 4 KiB pages,
    // so adding the 2 MiB one syncs first (iommu_iotlb_gather_add_page) -> 2 more invalidations
    iommu.iommuMap(d, 0x1f_f000, 0x7000_0000, 0x1000, RW);
    iommu.iommuMap(d, 0x20_0000, 0x4020_0000, 2 * MiB, RW);
    expect(iommu.iommuUnmap(d, 0x1f_f000, 0x1000 + 2 * MiB)).toBe(0x1000 + 2 * MiB);
    expect(iommu.iotlbStats().rangeInvalidations).toBe(3);
  });
});
