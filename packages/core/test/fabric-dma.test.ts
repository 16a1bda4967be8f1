/**
 * Data delivery and link accounting of the fabric (core/fabric/fabric.ts): bytes land in and come
 * from the physical memory store; every link counts the TLPs and wire bytes of the pcie-model
 * formulas (anchors §1) with MPS the lowest on the path; wire time is set by the slowest link and
 * charged extra for peer traffic through a root complex (anchors §2). Figures are worked out by
 * hand in the comments.
 */
import { Fabric, type FabricOptions } from '../src/fabric/fabric';
import { ExtentStore, rangesEqual } from '../src/fabric/extent-store';
import { DEFAULT_LINK_PARAMS, effectiveBandwidth } from '../src/fabric/link-model';
import { Iommu } from '../src/iommu/iommu';
import { IOMMU_READ, IOMMU_WRITE } from '../src/iommu/prot';
import { KernelLog } from '../src/kernel-log';
import { barFabric, type BarFabricOptions } from './helpers/bar-fabric';

const KiB = 1024;
const MiB = 1024 * KiB;
const RW = IOMMU_READ | IOMMU_WRITE;

function setup(o: BarFabricOptions = {}, opts: FabricOptions = {}) {
  const topo = barFabric(o);
  const iommu = new Iommu(topo, new KernelLog());
  const fabric = new Fabric(topo, iommu, opts);
  const d = (n: string) => topo.get(n);
  const src = new ExtentStore('device buffer', 16 * MiB);
  src.fill(0, 16 * MiB, { pattern: 'random', seed: 11 });
  const link = (n: string) => {
    const c = fabric.stats.links.get(d(n));
    return c ? { up: { ...c.up }, down: { ...c.down } } : undefined;
  };
  return { topo, iommu, fabric, d, src, link };
}

const none = { bytes: 0, tlps: 0 };

describe('link accounting (anchors §1: MWr 24 bytes of overhead, MRd 24, CplD 20)', () => {
  test('a 4096-byte peer write with MPS 256: 16 TLPs and 16 x 24 + 4096 = 4480 wire bytes on each link it crosses', () => {
    const { fabric, d, src, link } = setup();
    expect(fabric.dmaWrite(d('nvme0'), d('nvme1').bar(2)!.busAddress, 4096, src, 0).ok).toBe(true);
    expect(link('nvme0')).toEqual({ up: { tlps: 16, bytes: 4480 }, down: none });
    expect(link('nvme1')).toEqual({ up: none, down: { tlps: 16, bytes: 4480 } });
    // the switch's upstream link is not crossed
    expect(link('01:00.0')).toBeUndefined();
    expect(fabric.stats.payloadBytes).toBe(4096);
  });

  test('MPS is the lowest on the path: DSP 02:01.0 at 128 makes nvme0 -> nvme1 32 TLPs (32 x 24 + 4096 = 4864 bytes), while nvme0 -> RAM keeps 256', () => {
    const { fabric, d, src, link } = setup({ props: { '02:01.0': { mps: 128 } } });
    fabric.dmaWrite(d('nvme0'), d('nvme1').bar(2)!.busAddress, 4096, src, 0);
    expect(link('nvme0')!.up).toEqual({ tlps: 32, bytes: 4864 });
    expect(link('nvme1')!.down).toEqual({ tlps: 32, bytes: 4864 });
    fabric.stats.reset();
    // RAM at 4 GiB, no IOMMU: the path is nvme0, 02:00.0, 01:00.0, 00:01.0 (no 02:01.0)
    fabric.dmaWrite(d('nvme0'), 0x1_0000_0000, 4096, src, 0);
    expect(link('nvme0')!.up).toEqual({ tlps: 16, bytes: 4480 });
    expect(link('01:00.0')!.up).toEqual({ tlps: 16, bytes: 4480 });
  });

  test('a 4096-byte peer read: 4096 / 512 (MRRS) = 8 requests x 24 = 192 bytes towards the target, 4096 / 256 = 16 completions x 20 + 4096 = 4416 bytes back', () => {
    const { fabric, d, link } = setup();
    const bar = d('nvme1').bar(2)!;
    fabric.memory.fill(bar.cpuAddress, 4096, { pattern: 'counter', seed: 5 });
    const dst = new ExtentStore('nvme0 buffer', 4096);
    const r = fabric.dmaRead(d('nvme0'), bar.busAddress, 4096, dst, 0);
    expect(r.ok).toBe(true);
    expect(link('nvme0')).toEqual({
      up: { tlps: 8, bytes: 192 },
      down: { tlps: 16, bytes: 4416 },
    });
    expect(link('nvme1')).toEqual({
      up: { tlps: 16, bytes: 4416 },
      down: { tlps: 8, bytes: 192 },
    });
    expect(rangesEqual(fabric.memory, bar.cpuAddress, dst, 0, 4096).equal).toBe(true);
  });

  test("the initiator's MRRS sets the read requests: mrrs 4096 makes one request of 24 bytes", () => {
    const { fabric, d, link } = setup({ props: { '03:00.0': { mrrs: 4096 } } });
    fabric.dmaRead(d('nvme0'), 0x1_0000_0000, 4096, new ExtentStore('b', 4096), 0);
    expect(link('nvme0')!.up).toEqual({ tlps: 1, bytes: 24 });
    expect(link('nvme0')!.down).toEqual({ tlps: 16, bytes: 4416 });
  });

  test('a refused write still crossed the links up to the refusal; stats.reset() zeroes everything and snapshot() lists the links that carried traffic', () => {
    const { fabric, d, src, link } = setup();
    // 0xe0000000 is neither RAM nor a BAR: UR at the root complex after nvme0's and the switch's links
    fabric.dmaWrite(d('nvme0'), 0xe000_0000, 4096, src, 0);
    expect(link('nvme0')!.up).toEqual({ tlps: 16, bytes: 4480 });
    expect(link('01:00.0')!.up).toEqual({ tlps: 16, bytes: 4480 });
    const snap = fabric.stats.snapshot();
    expect(snap.links.map((l) => l.dev)).toEqual(['0000:01:00.0', '0000:03:00.0']);
    expect(snap).toMatchObject({ dmas: 1, urs: 1, payloadBytes: 0 });
    fabric.stats.reset();
    expect(fabric.stats.snapshot()).toMatchObject({ dmas: 0, urs: 0, links: [] });
  });
});

describe('wire time', () => {
  const params = { ...DEFAULT_LINK_PARAMS };

  test('the slowest link sets it: nvme1 on gen 3 x4 (the rest default gen 3 x16) makes nvme0 -> nvme1 take 4096 x 8 / effectiveBandwidth(gen 3 x4)', () => {
    const { fabric, d, src } = setup({ props: { '04:00.0': { link: { gen: 3, width: 4 } } } });
    const r = fabric.dmaWrite(d('nvme0'), d('nvme1').bar(2)!.busAddress, 4096, src, 0);
    const x4 = effectiveBandwidth({ ...params, gen: 3, width: 4 }, 'write', 4096);
    const x16 = effectiveBandwidth({ ...params, gen: 3, width: 16 }, 'write', 4096);
    expect(r.transferNs).toBeCloseTo((4096 * 8) / x4, 9);
    // about four times the x16 time (the DLLP overhead differs a little by width)
    expect(r.transferNs / ((4096 * 8) / x16)).toBeGreaterThan(3.8);
    expect(fabric.stats.transferNs).toBe(r.transferNs);
  });

  test('a link trains to the lower end: gen 4 x16 endpoint under a gen 3 x8 port runs at gen 3 x8', () => {
    const { fabric, d, src } = setup({
      props: {
        '03:00.0': { link: { gen: 4, width: 16 } },
        '02:00.0': { link: { gen: 3, width: 8 } },
      },
    });
    const r = fabric.dmaWrite(d('nvme0'), 0x1_0000_0000, 64 * KiB, src, 0);
    const x8 = effectiveBandwidth({ ...params, gen: 3, width: 8 }, 'write', 64 * KiB);
    expect(r.transferNs).toBeCloseTo((64 * KiB * 8) / x8, 9);
  });

  test('peer traffic through a root complex is charged peerThroughRootComplexFactor (NCCL 1.2x on Intel, anchors §2); RAM traffic and switch-local peers are not', () => {
    const plain = setup();
    const slow = setup({}, { peerThroughRootComplexFactor: 1.2 });
    const t = (s: ReturnType<typeof setup>, to: number) =>
      s.fabric.dmaWrite(s.d('gpu0'), to, 64 * KiB, s.src, 0).transferNs;
    const peer = plain.d('nvme1').bar(2)!.cpuAddress;
    expect(t(slow, peer) / t(plain, peer)).toBeCloseTo(1.2, 12);
    expect(t(slow, 0x1_0000_0000)).toBe(t(plain, 0x1_0000_0000));
    const local = plain.d('nvme1').bar(2)!.busAddress;
    const n = (s: ReturnType<typeof setup>) =>
      s.fabric.dmaWrite(s.d('nvme0'), local, 64 * KiB, s.src, 0).transferNs;
    expect(n(slow)).toBe(n(plain));
  });
});

describe('data delivery', () => {
  test('an IOVA range the IOMMU maps to two scattered pages: two targets, each page gets its half', () => {
    const { iommu, fabric, d, src } = setup({ iommu: { mode: 'strict' } });
    const dom = iommu.iommuGetDomainForDev(d('nvme0'))!;
    const a = 0x1_2345_6000;
    const b = 0x0_4000_0000;
    expect(iommu.iommuMap(dom, 0x30_0000, a, 4 * KiB, RW)).toBe(0);
    expect(iommu.iommuMap(dom, 0x30_1000, b, 4 * KiB, RW)).toBe(0);
    // from src offset 100: IOVA 0x300000 + 0x800 .. + 6 KiB -> 2 KiB at a + 0x800, 4 KiB at b
    const r = fabric.dmaWrite(d('nvme0'), 0x30_0800, 6 * KiB, src, 100);
    expect(r.ok).toBe(true);
    expect(r.route.targets).toEqual([
      { kind: 'ram', phys: a + 0x800, size: 2 * KiB },
      { kind: 'ram', phys: b, size: 4 * KiB },
    ]);
    expect(rangesEqual(src, 100, fabric.memory, a + 0x800, 2 * KiB).equal).toBe(true);
    expect(rangesEqual(src, 100 + 2 * KiB, fabric.memory, b, 4 * KiB).equal).toBe(true);
    // and a read through the same IOVAs gives the bytes back in order
    const dst = new ExtentStore('back', 6 * KiB);
    expect(fabric.dmaRead(d('nvme0'), 0x30_0800, 6 * KiB, dst, 0).ok).toBe(true);
    expect(rangesEqual(src, 100, dst, 0, 6 * KiB).equal).toBe(true);
    expect(fabric.stats.translatedBytes).toBe(12 * KiB);
  });

  test('a 2 MiB peer copy is kept by reference (one extent), and reads back equal', () => {
    const { fabric, d, src } = setup();
    const bar = d('gpu0').bar(2)!;
    for (let i = 0; i < 8; i++) {
      fabric.dmaWrite(d('nvme0'), bar.cpuAddress + i * 256 * KiB, 256 * KiB, src, i * 256 * KiB);
    }
    expect(fabric.memory.extentCount).toBe(1);
    expect(rangesEqual(src, 0, fabric.memory, bar.cpuAddress, 2 * MiB).equal).toBe(true);
    expect(fabric.stats).toMatchObject({ dmas: 8, payloadBytes: 2 * MiB, p2pBytes: 2 * MiB });
  });
});
