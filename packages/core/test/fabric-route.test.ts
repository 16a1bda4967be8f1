/**
 * The fabric's routing (core/fabric/route.ts, fabric.ts): peer requests turning at a switch,
 * ACS Request Redirect sending them to the root complex (reference §1.2), IOMMU translation there
 * (§4.6), root complexes that do not forward peer reads (anchors §5), Unsupported Requests, and
 * agreement with the kernel's calc_map_type_and_dist() where the kernel is right.
 */
import { DmaDataDirection } from '../src/dma/direction';
import { Fabric } from '../src/fabric/fabric';
import { ExtentStore } from '../src/fabric/extent-store';
import { Iommu } from '../src/iommu/iommu';
import { IOMMU_READ, IOMMU_WRITE } from '../src/iommu/prot';
import { KernelLog } from '../src/kernel-log';
import { PCI_ACS_RR } from '../src/pci/acs';
import type { PciDev } from '../src/pci/device';
import type { PciTopology } from '../src/pci/topology';
import { calcMapTypeAndDist } from '../src/p2pdma/distance';
import { PciP2pdmaMapType } from '../src/p2pdma/map-type';
import { P2pdmaDevices } from '../src/p2pdma/state';
import {
  CONFORMANCE_P2P_BAR,
  conformanceDevices,
  conformanceFabric,
} from '../src/testing/conformance-fabric';
import { barFabric, TiB, type BarFabricOptions } from './helpers/bar-fabric';

const KiB = 1024;
const MiB = 1024 * KiB;
const RW = IOMMU_READ | IOMMU_WRITE;

function setup(o: BarFabricOptions = {}) {
  const topo = barFabric(o);
  const log = new KernelLog();
  const iommu = new Iommu(topo, log);
  const fabric = new Fabric(topo, iommu);
  const d = (n: string) => topo.get(n);
  const src = new ExtentStore('device buffer', 64 * MiB);
  src.fill(0, 64 * MiB, { pattern: 'random', seed: 7 });
  return { topo, iommu, fabric, log, d, src };
}

const hopText = (hops: readonly { dev: PciDev; dir: string }[]) =>
  hops.map((h) => `${h.dev.bdf} ${h.dir}`);
const bdfs = (devs: readonly PciDev[]) => devs.map((x) => x.bdf);

function mapType(topo: PciTopology, provider: string, client: string): PciP2pdmaMapType {
  return calcMapTypeAndDist(new P2pdmaDevices(topo), topo.get(provider), topo.get(client)).mapType;
}

/** True when every byte of [phys, +len) of the fabric's memory is zero (nothing was written). */
function untouched(fabric: Fabric, phys: number, len: number): boolean {
  return fabric.memory.read(phys, len).every((b) => b === 0);
}

describe('fabric routing below a switch (§1.2 BUS_ADDR)', () => {
  test('a peer write at a bus address turns at the switch: up from nvme0, DSP 02:00.0 to DSP 02:01.0, down to nvme1; the root complex never sees it', () => {
    const { topo, fabric, d, src } = setup();
    // The kernel agrees: no ACS on the path, common upstream switch -> BUS_ADDR (§1.2).
    expect(mapType(topo, 'nvme1', 'nvme0')).toBe(PciP2pdmaMapType.BUS_ADDR);
    const bar = d('nvme1').bar(2)!;
    // bus address = CPU address + 16 TiB (the host bridge's busOffset)
    expect(bar.busAddress).toBe(bar.cpuAddress + 16 * TiB);
    const r = fabric.dmaWrite(d('nvme0'), bar.busAddress + 4 * KiB, 4 * KiB, src, 0);
    expect(r.ok).toBe(true);
    expect(r.route.viaRootComplex).toBe(false);
    expect(r.route.translated).toBe(false);
    expect(hopText(r.route.hops)).toEqual(['0000:03:00.0 up', '0000:04:00.0 down']);
    expect(bdfs(r.route.ports)).toEqual(['0000:02:00.0', '0000:02:01.0']);
    expect(r.route.targets).toEqual([
      { kind: 'bar', dev: d('nvme1'), bar: 2, phys: bar.cpuAddress + 4 * KiB, size: 4 * KiB },
    ]);
    expect(fabric.stats.hostBridgeBytes).toBe(0);
    expect(fabric.stats.p2pBytes).toBe(4 * KiB);
    // The data is at the BAR's CPU address: that is where the CPU (and the memory) sees it.
    expect(fabric.memory.read(bar.cpuAddress + 4 * KiB, 4 * KiB)).toEqual(src.read(0, 4 * KiB));
  });

  test('a function writing its own BAR (an NVMe controller and its CMB) stays inside the function: no link, no root complex (§1.2: distance 0, BUS_ADDR)', () => {
    const { topo, fabric, d, src } = setup();
    expect(mapType(topo, 'nvme0', 'nvme0')).toBe(PciP2pdmaMapType.BUS_ADDR);
    const bar = d('nvme0').bar(2)!;
    const r = fabric.dmaWrite(d('nvme0'), bar.busAddress, 8 * KiB, src, 0);
    expect(r.ok).toBe(true);
    expect(r.route.hops).toEqual([]);
    expect(r.route.viaRootComplex).toBe(false);
    expect(fabric.stats.links.size).toBe(0);
    expect(fabric.stats.p2pBytes).toBe(8 * KiB);
  });

  test('two functions of one device reach each other inside the device; ACS RR on the initiating function sends the request to the root complex (§1.2: the provider endpoint counts)', () => {
    const plain = setup();
    const nic1Bar = plain.d('nic1').bar(0)!;
    const r = plain.fabric.dmaWrite(plain.d('nic0'), nic1Bar.busAddress, 4 * KiB, plain.src, 0);
    expect(r.ok).toBe(true);
    expect(r.route.hops).toEqual([]);
    expect(r.route.viaRootComplex).toBe(false);

    // busOffset 0: the bus address is also the CPU address, so the root complex can send it back.
    const acs = setup({ nicAcs: ['RR'], busOffset: 0 });
    expect(mapType(acs.topo, 'nic1', 'nic0')).toBe(PciP2pdmaMapType.THRU_HOST_BRIDGE);
    const bar = acs.d('nic1').bar(0)!;
    const r2 = acs.fabric.dmaWrite(acs.d('nic0'), bar.busAddress, 4 * KiB, acs.src, 0);
    expect(r2.ok).toBe(true);
    expect(r2.route.redirectedBy).toBe(acs.d('nic0'));
    expect(r2.route.viaRootComplex).toBe(true);
    // Both functions share the link of 05:00.0 (the device's lowest function), crossed both ways.
    expect(hopText(r2.route.hops)).toEqual([
      '0000:05:00.0 up',
      '0000:01:00.0 up',
      '0000:01:00.0 down',
      '0000:05:00.0 down',
    ]);
  });
});

describe('ACS Request Redirect on the ingress port (§1.2, §4.6)', () => {
  const acsIsolated = ['SV', 'RR', 'CR', 'UF'];

  test('a bus address from a buggy mapper: redirected to the root complex, the IOMMU has no mapping there, IO_PAGE_FAULT and no data written', () => {
    const { topo, iommu, fabric, d, src } = setup({
      dspAcs: acsIsolated,
      iommu: { mode: 'strict' },
    });
    // The kernel says THRU_HOST_BRIDGE (ACS on the path, allowlisted 8086:2020): a correct mapper
    // hands out an IOVA; this one hands out the BUS_ADDR address.
    expect(mapType(topo, 'nvme1', 'nvme0')).toBe(PciP2pdmaMapType.THRU_HOST_BRIDGE);
    const bar = d('nvme1').bar(2)!;
    const r = fabric.dmaWrite(d('nvme0'), bar.busAddress, 4 * KiB, src, 0);
    expect(r.ok).toBe(false);
    expect(r.bytes).toBe(0);
    expect(r.route.redirectedBy).toBe(d('02:00.0'));
    expect(r.route.viaRootComplex).toBe(true);
    // It crossed nvme0's link and the switch's upstream link before the IOMMU refused it.
    expect(hopText(r.route.hops)).toEqual(['0000:03:00.0 up', '0000:01:00.0 up']);
    expect(r.error).toMatchObject({ stage: 'iommu-fault', code: 'IO_PAGE_FAULT', silent: true });
    expect(r.error!.fault).toMatchObject({
      device: '0000:03:00.0',
      address: bar.busAddress,
      reason: 'unmapped',
      direction: DmaDataDirection.DMA_FROM_DEVICE,
    });
    expect(r.error!.message).toContain('ACS Request Redirect on 0000:02:00.0');
    expect(iommu.faults).toHaveLength(1);
    expect(fabric.stats.faults).toBe(1);
    expect(fabric.stats.payloadBytes).toBe(0);
    expect(untouched(fabric, bar.cpuAddress, 4 * KiB)).toBe(true);
  });

  test('an IOVA mapped to the peer BAR: through the IOMMU and back down the same switch; the switch upstream link carries it both ways', () => {
    const { iommu, fabric, d, src } = setup({ dspAcs: acsIsolated, iommu: { mode: 'strict' } });
    const bar = d('nvme1').bar(2)!;
    const iova = 0x8000_0000;
    const dom = iommu.iommuGetDomainForDev(d('nvme0'))!;
    expect(iommu.iommuMap(dom, iova, bar.cpuAddress, 2 * MiB, RW)).toBe(0);
    const r = fabric.dmaWrite(d('nvme0'), iova + 4 * KiB, 4 * KiB, src, 0);
    expect(r.ok).toBe(true);
    expect(r.route.translated).toBe(true);
    expect(r.route.viaRootComplex).toBe(true);
    expect(r.route.crossHostBridge).toBe(false);
    expect(hopText(r.route.hops)).toEqual([
      '0000:03:00.0 up',
      '0000:01:00.0 up',
      '0000:01:00.0 down',
      '0000:04:00.0 down',
    ]);
    expect(bdfs(r.route.ports)).toEqual([
      '0000:02:00.0',
      '0000:01:00.0',
      '0000:00:01.0',
      '0000:00:01.0',
      '0000:01:00.0',
      '0000:02:01.0',
    ]);
    expect(r.route.targets).toEqual([
      { kind: 'bar', dev: d('nvme1'), bar: 2, phys: bar.cpuAddress + 4 * KiB, size: 4 * KiB },
    ]);
    expect(fabric.stats).toMatchObject({
      hostBridgeBytes: 4 * KiB,
      p2pBytes: 4 * KiB,
      translatedBytes: 4 * KiB,
    });
    expect(fabric.memory.read(bar.cpuAddress + 4 * KiB, 4 * KiB)).toEqual(src.read(0, 4 * KiB));
  });

  test('without an IOMMU a redirected bus address is taken as a CPU address, finds nothing (16 TiB up) and is an Unsupported Request', () => {
    const { fabric, d, src } = setup({ dspAcs: ['RR'] });
    const bar = d('nvme1').bar(2)!;
    const r = fabric.dmaWrite(d('nvme0'), bar.busAddress, 4 * KiB, src, 0);
    expect(r.error).toMatchObject({ stage: 'route', code: 'UR', silent: true });
    expect(r.error!.message).toContain('taken as a CPU physical address');
    expect(fabric.stats.urs).toBe(1);
    expect(untouched(fabric, bar.cpuAddress, 4 * KiB)).toBe(true);
  });

  test('RR on the egress port only: the request turns at the switch (ACS acts at the ingress port); the kernel, which counts every port, says THRU_HOST_BRIDGE', () => {
    const { topo, fabric, d, src } = setup();
    topo.setAcsCtrl(d('02:01.0'), PCI_ACS_RR);
    expect(mapType(topo, 'nvme1', 'nvme0')).toBe(PciP2pdmaMapType.THRU_HOST_BRIDGE);
    const r = fabric.dmaWrite(d('nvme0'), d('nvme1').bar(2)!.busAddress, 4 * KiB, src, 0);
    expect(r.ok).toBe(true);
    expect(r.route.viaRootComplex).toBe(false);
  });

  test('a runtime ACS change (setpci) is seen by the next DMA', () => {
    const { topo, fabric, d } = setup();
    const addr = d('nvme1').bar(2)!.busAddress;
    expect(fabric.route(d('nvme0'), addr, 4 * KiB, 'write').viaRootComplex).toBe(false);
    topo.setAcsCtrl(d('02:00.0'), PCI_ACS_RR);
    const r = fabric.route(d('nvme0'), addr, 4 * KiB, 'write');
    expect(r.viaRootComplex).toBe(true);
    expect(r.redirectedBy).toBe(d('02:00.0'));
  });
});

describe('the root complex (§4.6 THRU_HOST_BRIDGE, anchors §5)', () => {
  test('RAM through a strict IOMMU: a mapped IOVA lands at its physical page, an unmapped one faults, a read-only one faults a write', () => {
    const { iommu, fabric, d, src } = setup({ iommu: { mode: 'strict' } });
    const nvme0 = d('nvme0');
    const dom = iommu.iommuGetDomainForDev(nvme0)!;
    const page = 0x2_0000_0000; // 8 GiB: RAM (16 GiB, 3 below the hole and 13 from 4 GiB)
    expect(iommu.iommuMap(dom, 0x10_0000, page, 8 * KiB, RW)).toBe(0);
    expect(iommu.iommuMap(dom, 0x40_0000, page + 64 * KiB, 4 * KiB, IOMMU_READ)).toBe(0);

    const ok = fabric.dmaWrite(nvme0, 0x10_0000, 8 * KiB, src, 0);
    expect(ok.ok).toBe(true);
    expect(ok.route.targets).toEqual([{ kind: 'ram', phys: page, size: 8 * KiB }]);
    expect(hopText(ok.route.hops)).toEqual(['0000:03:00.0 up', '0000:01:00.0 up']);
    expect(fabric.memory.read(page, 8 * KiB)).toEqual(src.read(0, 8 * KiB));

    const unmapped = fabric.dmaWrite(nvme0, 0x20_0000, 4 * KiB, src, 0);
    expect(unmapped.error).toMatchObject({ code: 'IO_PAGE_FAULT', silent: true });
    expect(unmapped.error!.message).toContain('no mapping for 0x200000');

    const readOnly = fabric.dmaWrite(nvme0, 0x40_0000, 4 * KiB, src, 0);
    expect(readOnly.error!.fault!.reason).toBe('permission');
    expect(untouched(fabric, page + 64 * KiB, 4 * KiB)).toBe(true);
    // ...while reading it is allowed
    const dst = new ExtentStore('dst', 4 * KiB);
    expect(fabric.dmaRead(nvme0, 0x40_0000, 4 * KiB, dst, 0).ok).toBe(true);
    expect(fabric.stats).toMatchObject({ dmas: 4, faults: 2, translatedBytes: 12 * KiB });
  });

  test('rootComplexP2p { write: true, read: false }: the kernel allows the peer path, the root complex forwards the write and refuses the read', () => {
    const { topo, fabric, d, src } = setup({ rootComplexP2p: { write: true, read: false } });
    // gpu0 and nvme1 sit under different root ports: THRU_HOST_BRIDGE (allowlisted host bridge).
    expect(mapType(topo, 'nvme1', 'gpu0')).toBe(PciP2pdmaMapType.THRU_HOST_BRIDGE);
    const bar = d('nvme1').bar(2)!;
    // dma-direct hands a THRU_HOST_BRIDGE peer the BAR's CPU address (§4.6).
    const w = fabric.dmaWrite(d('gpu0'), bar.cpuAddress, 4 * KiB, src, 0);
    expect(w.ok).toBe(true);
    expect(w.route.viaRootComplex).toBe(true);
    expect(w.route.crossHostBridge).toBe(false);
    expect(hopText(w.route.hops)).toEqual([
      '0000:06:00.0 up',
      '0000:01:00.0 down',
      '0000:04:00.0 down',
    ]);

    const dst = new ExtentStore('gpu buffer', 4 * KiB);
    const r = fabric.dmaRead(d('gpu0'), bar.cpuAddress, 4 * KiB, dst, 0);
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ stage: 'route', code: 'RC_P2P_READ_DROPPED', silent: false });
    expect(r.error!.message).toContain('does not forward peer-to-peer reads');
    expect(r.error!.message).toContain('0000:04:00.0 (nvme1)');
    expect(r.error!.message).toContain('receives an error completion');
    expect(dst.extentCount).toBe(0); // nothing read into the buffer
    expect(fabric.stats.rcP2pDrops).toBe(1);
  });

  test('a BAR under another host bridge: through both root complexes, crossHostBridge', () => {
    const { fabric, d, src } = setup();
    const bar = d('ep1').bar(2)!;
    const r = fabric.dmaWrite(d('nvme0'), bar.cpuAddress, 4 * KiB, src, 0);
    expect(r.ok).toBe(true);
    expect(r.route.crossHostBridge).toBe(true);
    expect(hopText(r.route.hops)).toEqual([
      '0000:03:00.0 up',
      '0000:01:00.0 up',
      '0000:81:00.0 down',
    ]);
    expect(fabric.memory.read(bar.cpuAddress, 4 * KiB)).toEqual(src.read(0, 4 * KiB));
  });

  test('an address that is neither RAM nor a BAR: Unsupported Request; a write is dropped silently, a read returns an error', () => {
    const { fabric, d, src } = setup();
    // 0xe0000000: above the hb0/hb1 32-bit windows (0xc0000000-0xcfffffff), below 4 GiB, not RAM
    const w = fabric.dmaWrite(d('nvme0'), 0xe000_0000, 4 * KiB, src, 0);
    expect(w.error).toMatchObject({ code: 'UR', stage: 'route', silent: true });
    expect(w.error!.message).toContain('not told');
    const r = fabric.dmaRead(d('nvme0'), 0xe000_0000, 4 * KiB, new ExtentStore('x', 4 * KiB), 0);
    expect(r.error).toMatchObject({ code: 'UR', silent: false });
    expect(fabric.stats.urs).toBe(2);
  });

  test('an address inside a bridge window that no BAR below it holds is an Unsupported Request at the switch', () => {
    const { fabric, d, src } = setup();
    const dsp = d('02:00.0');
    const w = dsp.windows.find((x) => !x.prefetchable)!; // 1 MiB, holds nvme0's 16 KiB BAR 0
    const cpu = w.base + w.size - 4 * KiB;
    const bar0 = d('nvme0').bar(0)!;
    expect(cpu >= bar0.cpuAddress + bar0.size).toBe(true);
    const r = fabric.dmaWrite(d('nvme1'), cpu + 16 * TiB, 4 * KiB, src, 0);
    expect(r.error).toMatchObject({ code: 'UR', silent: true });
    expect(r.route.viaRootComplex).toBe(false);
    expect(r.error!.message).toContain('0000:02:00.0');
  });

  test('route() moves nothing and records nothing: no IOMMU fault, no IOTLB use, no stats', () => {
    const { iommu, fabric, d } = setup({ iommu: { mode: 'strict' } });
    const r = fabric.route(d('nvme0'), 0x20_0000, 4 * KiB, 'read');
    expect(r.error).toMatchObject({ code: 'IO_PAGE_FAULT', silent: false });
    expect(r.error!.fault).toMatchObject({ reason: 'unmapped', address: 0x20_0000 });
    // The Intel driver's line is what a real DMA would log (iommu/fault.ts).
    expect(r.error!.fault!.message).toContain('DMAR: [DMA Read NO_PASID] Request device [03:00.0]');
    expect(iommu.faults).toHaveLength(0);
    expect(iommu.counters.dmaAccess).toBe(0);
    expect(fabric.stats.dmas).toBe(0);
  });
});

describe('the conformance fabric (hb0 bus offset 16 TiB): the fabric delivers what the kernel decides', () => {
  test('BUS_ADDR provider at its bus address turns at the switch; THRU_HOST_BRIDGE provider at its CPU address goes through both root complexes', () => {
    const topo = conformanceFabric();
    const fabric = new Fabric(topo, new Iommu(topo, new KernelLog()));
    const { client, providers } = conformanceDevices(topo);
    const src = new ExtentStore('client', 64 * KiB);
    src.fill(0, 64 * KiB, { pattern: 'counter', seed: 3 });
    const nvme0 = providers.nvme0.bar(CONFORMANCE_P2P_BAR)!;
    const a = fabric.dmaWrite(client, nvme0.busAddress, 64 * KiB, src, 0);
    expect(a.ok && !a.route.viaRootComplex).toBe(true);
    const thru = providers.thru.bar(CONFORMANCE_P2P_BAR)!;
    const b = fabric.dmaWrite(client, thru.cpuAddress, 64 * KiB, src, 0);
    expect(b.ok && b.route.viaRootComplex && b.route.crossHostBridge).toBe(true);
    expect(fabric.stats).toMatchObject({ p2pBytes: 128 * KiB, hostBridgeBytes: 64 * KiB });
  });
});
