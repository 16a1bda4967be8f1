/**
 * The NVMe controller executing the commands nvme_map_data() builds (issue 6): reference §6.1
 * (the PRPs and SGLs of the v5.x driver), §6.2 (release '2026' limits), §6.3 (P2P addresses in
 * the data pointer); NVMe 1.4 §4.3 (PRP entries and lists), §4.4 (SGL descriptors and segments),
 * §4.6.1.2.1 (generic status codes); nvme_error_status() of drivers/nvme/host/core.c (v6.16).
 *
 * Machine: an Intel CPU whose host bridge (8086:1234) is not in the P2PDMA allowlist; nvme0
 * (01:00.0, under root port 00:01.0) with a 256 MiB CMB in BAR2 at 1 TiB, nvme1 (02:00.0, under
 * root port 00:02.0) with a 256 MiB CMB in BAR2 at 1 TiB + 256 MiB. dma-direct, no IOMMU, no bus
 * offset: a RAM page's DMA address is pfn * 4096, a CMB page's is its BAR address.
 *
 * Most tests use a fake DMA port: one flat ExtentStore is the whole address space (DMA address =
 * offset in it), every DMA takes len / 8 ns (8 bytes per ns), and failures can be injected.
 */
import fc from 'fast-check';
import { ContainerModule } from 'inversify';
import { bioAddPage, bioAlloc, REQ_OP_READ, REQ_OP_WRITE } from '../src/block/bio';
import {
  BLK_STS_IOERR,
  BLK_STS_MEDIUM,
  BLK_STS_NOTSUPP,
  BLK_STS_OK,
  BLK_STS_TARGET,
} from '../src/block/blk-status';
import { blkRqFromBio, type Request } from '../src/block/request';
import { DmaMapSgRequestMapper, RequestMapper } from '../src/block/request-mapper';
import { createKernelContainer, DmaDevices } from '../src/di/kernel';
import { DmaApiDebug } from '../src/dma/debug';
import { DmaDirectOps } from '../src/dma/direct/direct';
import { DmaMapOps } from '../src/dma/map-ops';
import { Iommu } from '../src/iommu/iommu';
import { ExtentStore, rangesEqual } from '../src/fabric/extent-store';
import { Fabric } from '../src/fabric/fabric';
import type { FabricError } from '../src/fabric/route';
import { Page } from '../src/mm/page';
import { P2pdmaDevices } from '../src/p2pdma/state';
import type { PciDev } from '../src/pci/device';
import { topologyFromObject } from '../src/pci/topology';
import {
  NVME_CMD_FLUSH,
  NVME_CMD_READ,
  NVME_CMD_SGL_METABUF,
  NvmeCommand,
} from '../src/nvme/command';
import { nvmeProbe, type NvmeCtrl, type NvmeCtrlOptions } from '../src/nvme/ctrl';
import {
  NVME_SC_DATA_XFER_ERROR,
  NVME_SC_INVALID_FIELD,
  NVME_SC_INVALID_NS,
  NVME_SC_INVALID_OPCODE,
  NVME_SC_LBA_RANGE,
  NVME_SC_PRP_INVALID_OFFSET,
  NVME_SC_READ_ERROR,
  NVME_SC_SGL_INVALID_DATA,
  NVME_SC_SUCCESS,
  nvmeErrorStatus,
  nvmeExecuteCommand,
  nvmeQueueRq,
  nvmeStatusName,
  type NvmeDmaPort,
  type NvmeDmaResult,
} from '../src/nvme/execute';
import { NVME_CTRL_SGLS_DWORD_ALIGNED } from '../src/nvme/identify';
import { NvmeNamespaceData } from '../src/nvme/namespace-data';
import { nvmePciSetupSgls, nvmeSglDescWrite } from '../src/nvme/sgl';

const SEED = Number(process.env.FC_SEED ?? 20261121);
const KiB = 1024;
const MiB = 1024 * KiB;
const SGL = NVME_CTRL_SGLS_DWORD_ALIGNED;
/** BAR2 of nvme0 (its CMB) at 1 TiB; nvme1's right after it. */
const CMB0 = 0x100_0000_0000;
const CMB1 = CMB0 + 256 * MiB;

type Platform = {
  cpu: { vendor: 'Intel' | 'AMD'; family: number };
  rootComplexP2p?: { write: boolean; read: boolean };
};
const INTEL_UNLISTED: Platform = { cpu: { vendor: 'Intel', family: 6 } };

function topology(platform: Platform) {
  const nvme = (bdf: string, name: string, address: number) => ({
    bdf,
    kind: 'endpoint',
    class: 'nvme',
    name,
    bars: [
      { bar: 0, size: '16KiB' },
      { bar: 2, size: '256MiB', prefetchable: true, address },
    ],
    cmb: { bar: 2, size: '256MiB', rds: true, wds: true },
  });
  return topologyFromObject({
    platform,
    hostBridges: [
      {
        name: 'hb0',
        bus: 0,
        devices: [
          { bdf: '00:00.0', kind: 'host-bridge', vendor: 0x8086, device: 0x1234 },
          { bdf: '00:01.0', kind: 'root-port', children: [nvme('01:00.0', 'nvme0', CMB0)] },
          { bdf: '00:02.0', kind: 'root-port', children: [nvme('02:00.0', 'nvme1', CMB1)] },
        ],
      },
    ],
  });
}

/** A DMA the fake port saw. */
interface Seen {
  dir: 'write' | 'read';
  initiator: PciDev;
  addr: number;
  len: number;
}

/** The whole address space as one store; `fail` injects an error for a DMA. */
class FakePort implements NvmeDmaPort {
  readonly memory = new ExtentStore('bus', 2 ** 42);
  readonly seen: Seen[] = [];
  fail: ((addr: number) => FabricError | undefined) | undefined;

  dmaWrite(initiator: PciDev, addr: number, len: number, src: ExtentStore, srcOff: number) {
    this.seen.push({ dir: 'write', initiator, addr, len });
    const error = this.fail?.(addr);
    if (error) return { ok: false, bytes: 0, transferNs: 0, error };
    this.memory.copyFrom(src, srcOff, addr, len);
    return { ok: true, bytes: len, transferNs: len / 8 };
  }

  dmaRead(initiator: PciDev, addr: number, len: number, dst: ExtentStore, dstOff: number) {
    this.seen.push({ dir: 'read', initiator, addr, len });
    const error = this.fail?.(addr);
    if (error) return { ok: false, bytes: 0, transferNs: 0, error };
    dst.copyFrom(this.memory, addr, dstOff, len);
    return { ok: true, bytes: len, transferNs: len / 8 };
  }
}

/** A port the test must never reach. */
const untouchable: NvmeDmaPort = {
  dmaWrite: (): NvmeDmaResult => {
    throw new Error('no DMA expected');
  },
  dmaRead: (): NvmeDmaResult => {
    throw new Error('no DMA expected');
  },
};

function setup(opts: NvmeCtrlOptions = {}, platform = INTEL_UNLISTED) {
  const strategy = new ContainerModule(({ bind }) => {
    bind(DmaMapOps).toDynamicValue((ctx) => ctx.get(DmaDirectOps));
    bind(RequestMapper).to(DmaMapSgRequestMapper);
  });
  const topo = topology(platform);
  const c = createKernelContainer({
    topology: topo,
    strategy,
    options: { dmaApiDebug: true },
  });
  const devices = c.get(DmaDevices);
  const p2p = c.get(P2pdmaDevices);
  const mapper = c.get<RequestMapper>(RequestMapper);
  const ctrl = nvmeProbe(devices.get('01:00.0'), p2p, mapper, opts);
  // nvme1 is probed only so that its CMB is registered as P2P memory.
  nvmeProbe(devices.get('02:00.0'), p2p, mapper, { instance: 1 });
  const debug = c.get(DmaApiDebug);
  const data = new NvmeNamespaceData();
  return {
    ctrl,
    data,
    port: new FakePort(),
    ns: () => data.store(ctrl, 1),
    live: () => debug.entries(devices.get('01:00.0')).length,
    inUse: () => ctrl.pools.page.stats.inUse + ctrl.pools.small.stats.inUse,
    page: (addr: number): Page => p2p.memmap.pfnToPage(addr / 4096),
    /** The machine's real fabric (no IOMMU here: DMA addresses are CPU physical addresses). */
    fabric: () => new Fabric(topo, c.get(Iommu)),
  };
}

type Piece = [page: Page, len: number];

/** A request on nvme0n1 at `sector`: one bio, the pieces added with bio_add_page() at offset 0. */
function request(ctrl: NvmeCtrl, op: number, pieces: Piece[], sector = 0): Request {
  const q = ctrl.queues.get(1)!;
  const bio = bioAlloc(op, pieces.length, q);
  bio.sector = sector;
  for (const [page, len] of pieces) expect(bioAddPage(bio, page, len, 0)).toBe(len);
  return blkRqFromBio(q, bio);
}

const ram = (pfn: number) => new Page(pfn);
const RANDOM = (seed: number) => ({ pattern: 'random' as const, seed });

describe('§6.1 PRPs: a 128 KiB read (NVMe 1.4 §4.3)', () => {
  it('into 32 scattered RAM pages: 32 pieces, 32 DMAs, the bytes land where PRPs say', () => {
    const { ctrl, data, port, ns, live, inUse } = setup();
    // pages two pfns apart: 32 physical segments; no SGL support, so PRPs
    const pfn = (i: number) => 0x10_0000 + 2 * i;
    const sector = 2048; // namespace byte offset 2048 * 512 = 1 MiB
    ns().fill(1 * MiB, 128 * KiB, RANDOM(7));
    const rq = request(
      ctrl,
      REQ_OP_READ,
      Array.from({ length: 32 }, (_, i): Piece => [ram(pfn(i)), 4096]),
      sector,
    );
    const r = nvmeQueueRq(ctrl, rq, port, data);
    expect(r).toMatchObject({
      blkStatus: BLK_STS_OK,
      nvmeStatus: NVME_SC_SUCCESS,
      executed: true,
      path: 'prp',
      segments: 32,
      // PRP1 covers page 0; 124 KiB / 4 KiB = 31 list entries in one 256-byte small block
      nvmeDescriptors: 31,
      descriptorBlocks: 1,
      descriptorBlockBytes: 256,
    });
    expect(r.exec).toMatchObject({
      statusName: 'Successful Completion',
      pieces: 32,
      dmas: 32,
      bytes: 131072,
      descriptorBytesFetched: 31 * 8, // 248
      transferNs: 131072 / 8, // 16384
      errors: [],
    });
    // page 5 holds namespace bytes 1 MiB + 5 * 4096 (a Read: the controller writes memory)
    expect(r.exec!.transfers[5]).toEqual({
      addr: pfn(5) * 4096,
      len: 4096,
      nsOffset: 1 * MiB + 5 * 4096,
      ok: true,
    });
    expect(port.seen.every((s) => s.dir === 'write' && s.initiator === ctrl.pci)).toBe(true);
    for (let i = 0; i < 32; i++) {
      expect(rangesEqual(port.memory, pfn(i) * 4096, ns(), 1 * MiB + i * 4096, 4096).equal).toBe(
        true,
      );
    }
    // nvme_pci_complete_rq() unmapped the scatterlist and freed the list
    expect(live()).toBe(0);
    expect(inUse()).toBe(0);
  });

  it('pages in contiguous pairs: still 32 PRP pieces, but 16 DMAs of 8 KiB', () => {
    const { ctrl, data, port } = setup();
    // pfns 0x10_0000, 0x10_0001, 0x10_0004, 0x10_0005, ...: 16 runs of 2 pages
    const pfn = (i: number) => 0x10_0000 + 4 * (i >> 1) + (i & 1);
    const rq = request(
      ctrl,
      REQ_OP_READ,
      Array.from({ length: 32 }, (_, i): Piece => [ram(pfn(i)), 4096]),
    );
    const r = nvmeQueueRq(ctrl, rq, port, data);
    expect(r.segments).toBe(16);
    expect(r.exec).toMatchObject({ pieces: 32, dmas: 16, bytes: 131072 });
    expect(port.seen.map((s) => s.len)).toEqual(Array(16).fill(8192));
    expect(port.seen[1]!.addr).toBe(0x10_0004 * 4096);
  });

  it('§6.3 into one contiguous P2P range (nvme0 own CMB, BUS_ADDR): one DMA at the bus address', () => {
    const { ctrl, data, port, ns, page } = setup();
    ns().fill(0, 128 * KiB, RANDOM(3));
    const rq = request(
      ctrl,
      REQ_OP_READ,
      Array.from({ length: 32 }, (_, i): Piece => [page(CMB0 + i * 4096), 4096]),
    );
    const r = nvmeQueueRq(ctrl, rq, port, data);
    expect(r.blkStatus).toBe(BLK_STS_OK);
    // PRP1 = 1 TiB, 31 list entries 1 TiB + 4 KiB ... : the addresses continue -> one DMA
    expect(r.exec).toMatchObject({ pieces: 32, dmas: 1, descriptorBytesFetched: 248 });
    expect(r.exec!.transfers).toEqual([{ addr: CMB0, len: 131072, nsOffset: 0, ok: true }]);
    expect(rangesEqual(port.memory, CMB0, ns(), 0, 128 * KiB).equal).toBe(true);
  });

  it('2 MiB + 8 KiB contiguous: two chained list pages fetched (4112 bytes), one DMA', () => {
    const { ctrl, data, port } = setup();
    // 514 pages from pfn 0x40000 in one bvec; PRP1 = page 0, 513 entries left: list page 0
    // holds 511 of them + the chain pointer (512 * 8 = 4096 bytes), list page 1 the last 2 (16)
    const rq = request(ctrl, REQ_OP_READ, [[ram(0x4_0000), 514 * 4096]]);
    const r = nvmeQueueRq(ctrl, rq, port, data);
    expect(r).toMatchObject({
      nvmeDescriptors: 514,
      descriptorBlocks: 2,
      descriptorBlockBytes: 8192,
    });
    expect(r.exec).toMatchObject({
      status: NVME_SC_SUCCESS,
      pieces: 514,
      dmas: 1,
      descriptorBytesFetched: 4112,
      bytes: 514 * 4096,
    });
  });
});

describe(`§6.1 PRPs, any page layout (fast-check seed ${SEED})`, () => {
  it('one piece per 4 KiB page, one DMA per physically contiguous run, the bytes land', () => {
    const k = setup();
    // n pages at increasing pfns; each step is contiguous (0) or skips 1..3 pfns
    const layout = fc
      .integer({ min: 1, max: 64 })
      .chain((n) =>
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n - 1, maxLength: n - 1 }),
      );
    let run = 0;
    const prop = fc.property(layout, (gaps) => {
      const pfns = [0x20_0000];
      for (const g of gaps) pfns.push(pfns[pfns.length - 1]! + 1 + g);
      const n = pfns.length;
      const runs = 1 + gaps.filter((g) => g > 0).length;
      const seed = ++run;
      k.ns().fill(0, n * 4096, RANDOM(seed));
      const rq = request(
        k.ctrl,
        REQ_OP_READ,
        pfns.map((p): Piece => [ram(p), 4096]),
      );
      const r = nvmeQueueRq(k.ctrl, rq, k.port, k.data);
      // PRP1 is page 0; 2 pages: PRP2 is page 1; more: a list of n - 1 entries
      const listed = n > 2 ? n - 1 : 0;
      expect(r).toMatchObject({ blkStatus: BLK_STS_OK, segments: runs, nvmeDescriptors: listed });
      expect(r.exec).toMatchObject({
        pieces: n,
        dmas: runs,
        bytes: n * 4096,
        descriptorBytesFetched: 8 * listed,
      });
      pfns.forEach((p, i) => {
        expect(rangesEqual(k.port.memory, p * 4096, k.ns(), i * 4096, 4096).equal).toBe(true);
      });
      expect(k.inUse()).toBe(0);
    });
    fc.assert(prop, { seed: SEED, numRuns: 40 });
  });
});

describe('§6.1 SGLs (NVMe 1.4 §4.4)', () => {
  it('two 32 KiB segments: a LAST_SEGMENT of 2 descriptors fetched (32 bytes), 2 DMAs', () => {
    const { ctrl, data, port, ns } = setup({ sgls: SGL });
    ns().fill(0, 64 * KiB, RANDOM(5));
    // avg = 64 KiB / 2 = 32768 >= sgl_threshold 32768: SGL
    const rq = request(ctrl, REQ_OP_READ, [
      [ram(0x1000), 32 * KiB],
      [ram(0x2000), 32 * KiB],
    ]);
    const r = nvmeQueueRq(ctrl, rq, port, data);
    expect(r).toMatchObject({ path: 'sgl', nvmeDescriptors: 2, descriptorBlockBytes: 256 });
    expect(r.exec).toMatchObject({ pieces: 2, dmas: 2, descriptorBytesFetched: 32 });
    expect(rangesEqual(port.memory, 0x200_0000, ns(), 32 * KiB, 32 * KiB).equal).toBe(true);
  });

  it('the fast path: one 64 KiB data block descriptor in the command, nothing fetched', () => {
    const { ctrl, data, port, live } = setup({ sgls: SGL });
    const rq = request(ctrl, REQ_OP_READ, [[ram(0x1000), 64 * KiB]]);
    const r = nvmeQueueRq(ctrl, rq, port, data);
    expect(r).toMatchObject({ path: 'sgl-simple', segments: 1, nvmeDescriptors: 0 });
    expect(r.exec).toMatchObject({ pieces: 1, dmas: 1, descriptorBytesFetched: 0 });
    expect(live()).toBe(0);
  });

  it('a SEGMENT chaining to a LAST_SEGMENT: 3 data blocks, 64 bytes fetched, 2 DMAs', () => {
    const { ctrl, data, port } = setup({ sgls: SGL });
    const [l0, l1] = [ctrl.pools.small.alloc()!, ctrl.pools.small.alloc()!];
    // A and B continue each other (one DMA of 8 KiB), C is elsewhere
    const [A, B, C] = [0x300_0000, 0x300_1000, 0x500_0000];
    nvmeSglDescWrite(l0, 0, { addr: A, length: 4096, type: 0x00 });
    nvmeSglDescWrite(l0, 1, { addr: l1.dma, length: 32, type: 0x30 });
    nvmeSglDescWrite(l1, 0, { addr: B, length: 4096, type: 0x00 });
    nvmeSglDescWrite(l1, 1, { addr: C, length: 4096, type: 0x00 });
    // 12 KiB = 24 LBAs of 512 bytes: NLB 0's based 23
    const cmd = new NvmeCommand(NVME_CMD_READ, 1, 0, 23);
    cmd.flags = NVME_CMD_SGL_METABUF;
    cmd.dptr = { sgl: { addr: l0.dma, length: 32, type: 0x20 } };
    const r = nvmeExecuteCommand(ctrl, cmd, port, data);
    expect(r).toMatchObject({ status: 0, pieces: 3, dmas: 2, descriptorBytesFetched: 64 });
    expect(r.transfers.map((t) => [t.addr, t.len, t.nsOffset])).toEqual([
      [A, 8192, 0],
      [C, 4096, 8192],
    ]);
  });

  it('§6.2 release 2026: 256 segments in one LAST_SEGMENT list of 4096 bytes', () => {
    const { ctrl, data, port, inUse } = setup({ release: '2026', sgls: SGL });
    // 256 (= NVME_MAX_SEGS of 2026) segments of 32 KiB at pfns 16 apart: 8 MiB, avg 32 KiB >=
    // sgl_threshold. The 2026 driver writes one list of 256 data blocks (one level only) and
    // announces it with a LAST_SEGMENT of 256 * 16 = 4096 bytes.
    const segs = (n: number) =>
      Array.from({ length: n }, (_, i): Piece => [ram(0x10_0000 + 16 * i), 32 * KiB]);
    const r = nvmeQueueRq(ctrl, request(ctrl, REQ_OP_READ, segs(256)), port, data);
    expect(r).toMatchObject({ path: 'sgl', segments: 256, nvmeDescriptors: 256 });
    expect(r.exec).toMatchObject({ status: 0, descriptorBytesFetched: 4096, dmas: 256 });
    expect(r.blkStatus).toBe(BLK_STS_OK);
    expect(inUse()).toBe(0);
    // 255 segments: a LAST_SEGMENT of 255 * 16 = 4080 bytes
    const ok = nvmeQueueRq(ctrl, request(ctrl, REQ_OP_READ, segs(255)), port, data);
    expect(ok.exec).toMatchObject({ status: 0, descriptorBytesFetched: 4080, dmas: 255 });
  });

  it('[DERIVED] 300 descriptors: the chained last segment is one descriptor short -> Data SGL Length Invalid', () => {
    const { ctrl, data, port } = setup({ sgls: SGL });
    const segs = Array.from({ length: 300 }, (_, i) => ({
      dmaAddress: 0x1000_0000 + i * 0x2000,
      length: 4096,
    }));
    const built = nvmePciSetupSgls(segs, ctrl.pools);
    // page 0: 255 data blocks + a LAST_SEGMENT for 44 entries (704 bytes); page 1 holds 45
    const cmd = new NvmeCommand(NVME_CMD_READ, 1, 0, (300 * 4096) / 512 - 1);
    cmd.flags = NVME_CMD_SGL_METABUF;
    cmd.dptr = { sgl: built.sgl! };
    const r = nvmeExecuteCommand(ctrl, cmd, port, data);
    expect(r).toMatchObject({
      status: NVME_SC_SGL_INVALID_DATA,
      descriptorBytesFetched: 4096 + 704,
      detail: `the SGL describes ${299 * 4096} of ${300 * 4096} bytes`,
    });
  });

  it('an SGL to a controller without SGL support: Invalid Field in Command (BLK_STS_NOTSUPP)', () => {
    const { ctrl, data } = setup();
    const cmd = new NvmeCommand(NVME_CMD_READ, 1, 0, 7);
    cmd.flags = NVME_CMD_SGL_METABUF;
    cmd.dptr = { sgl: { addr: 0x100_0000, length: 4096, type: 0 } };
    const r = nvmeExecuteCommand(ctrl, cmd, untouchable, data);
    expect(r.status).toBe(NVME_SC_INVALID_FIELD);
    expect(nvmeErrorStatus(r.status)).toBe(BLK_STS_NOTSUPP);
  });
});

describe('§6.1 a Write command', () => {
  it('moves 16 KiB from 4 scattered pages into the namespace at sector 64', () => {
    const { ctrl, data, port, ns } = setup();
    const pfn = (i: number) => 0x2_0000 + 3 * i;
    for (let i = 0; i < 4; i++) port.memory.fill(pfn(i) * 4096, 4096, RANDOM(11), i * 4096);
    const rq = request(
      ctrl,
      REQ_OP_WRITE,
      Array.from({ length: 4 }, (_, i): Piece => [ram(pfn(i)), 4096]),
      64,
    );
    const r = nvmeQueueRq(ctrl, rq, port, data);
    // PRP1 + a small list of 3 entries (24 bytes); the controller reads memory (dmaRead)
    expect(r.exec).toMatchObject({ status: 0, dmas: 4, bytes: 16384, descriptorBytesFetched: 24 });
    expect(port.seen.map((s) => s.dir)).toEqual(['read', 'read', 'read', 'read']);
    // namespace bytes 64 * 512 = 32768 on hold the random stream 0..16383 of seed 11
    const expected = new ExtentStore('expected', 16384);
    expected.fill(0, 16384, RANDOM(11));
    expect(rangesEqual(ns(), 32768, expected, 0, 16384).equal).toBe(true);
  });
});

describe('completion statuses (NVMe 1.4 §4.6.1.2.1; nvme_error_status())', () => {
  it('LBA Out of Range: NSZE 2048, LBAs 2040..2055 -> 0x80, BLK_STS_TARGET, nothing moved', () => {
    const { ctrl, data, port, live } = setup({ namespaces: [{ capacity: 1 * MiB }] });
    // 1 MiB of 512-byte LBAs: NSZE = 2048; 8 KiB = 16 LBAs
    const at = (sector: number) =>
      nvmeQueueRq(ctrl, request(ctrl, REQ_OP_READ, [[ram(0x1000), 8192]], sector), port, data);
    const r = at(2040);
    expect(r).toMatchObject({
      executed: true,
      nvmeStatus: NVME_SC_LBA_RANGE,
      blkStatus: BLK_STS_TARGET,
    });
    expect(r.exec).toMatchObject({ statusName: 'LBA Out of Range', dmas: 0 });
    expect(port.seen).toHaveLength(0);
    expect(live()).toBe(0);
    // 2032 + 16 = 2048: the last 16 LBAs exactly
    expect(at(2032).nvmeStatus).toBe(NVME_SC_SUCCESS);
  });

  it('beyond MDTS: 256 KiB on a controller with MDTS 5 (128 KiB) -> Invalid Field in Command', () => {
    const { ctrl, data, port } = setup({ mdts: 5 });
    // 2^5 pages of 4 KiB = 128 KiB; the request is built past max_hw_sectors on purpose
    const r = nvmeQueueRq(ctrl, request(ctrl, REQ_OP_READ, [[ram(0x1000), 256 * KiB]]), port, data);
    expect(r).toMatchObject({ nvmeStatus: NVME_SC_INVALID_FIELD, blkStatus: BLK_STS_NOTSUPP });
    expect(port.seen).toHaveLength(0);
  });

  it('a DMA read failing visibly (UR) -> Data Transfer Error, the command stops there', () => {
    const { ctrl, data, port, ns } = setup();
    const pfn = (i: number) => 0x2_0000 + 3 * i;
    for (let i = 0; i < 4; i++) port.memory.fill(pfn(i) * 4096, 4096, RANDOM(13), i * 4096);
    const ur: FabricError = {
      stage: 'route',
      code: 'UR',
      message: 'Unsupported Request',
      silent: false,
    };
    port.fail = (addr) => (addr === pfn(2) * 4096 ? ur : undefined);
    const rq = request(
      ctrl,
      REQ_OP_WRITE,
      Array.from({ length: 4 }, (_, i): Piece => [ram(pfn(i)), 4096]),
    );
    const r = nvmeQueueRq(ctrl, rq, port, data);
    // DMAs 0, 1 moved 8 KiB; DMA 2 failed; DMA 3 was never issued
    expect(r.exec).toMatchObject({
      status: NVME_SC_DATA_XFER_ERROR,
      statusName: 'Data Transfer Error',
      dmas: 3,
      bytes: 8192,
      errors: [ur],
    });
    expect(r.blkStatus).toBe(BLK_STS_IOERR);
    // namespace bytes 0..8191 hold pages 0 and 1; 8192.. (pages 2, 3) were never written
    for (const i of [0, 1]) {
      expect(rangesEqual(ns(), i * 4096, port.memory, pfn(i) * 4096, 4096).equal).toBe(true);
    }
    expect(
      ns()
        .read(2 * 4096, 8192)
        .every((b) => b === 0),
    ).toBe(true);
  });

  it('a posted write dropped silently -> Successful Completion, the error kept', () => {
    const { ctrl, data, port, ns } = setup();
    ns().fill(0, 16384, RANDOM(17));
    const pfn = (i: number) => 0x2_0000 + 3 * i;
    const dropped: FabricError = {
      stage: 'route',
      code: 'RC_P2P_WRITE_DROPPED',
      message: 'the root complex drops the write',
      silent: true,
    };
    port.fail = (addr) => (addr === pfn(1) * 4096 ? dropped : undefined);
    const rq = request(
      ctrl,
      REQ_OP_READ,
      Array.from({ length: 4 }, (_, i): Piece => [ram(pfn(i)), 4096]),
    );
    const r = nvmeQueueRq(ctrl, rq, port, data);
    expect(r).toMatchObject({ blkStatus: BLK_STS_OK, nvmeStatus: NVME_SC_SUCCESS });
    // all 4 DMAs issued, 3 delivered
    expect(r.exec).toMatchObject({ dmas: 4, bytes: 3 * 4096, errors: [dropped] });
    expect(rangesEqual(port.memory, pfn(1) * 4096, ns(), 4096, 4096).equal).toBe(false);
    expect(rangesEqual(port.memory, pfn(2) * 4096, ns(), 8192, 4096).equal).toBe(true);
  });

  it('PRP Offset Invalid: a PRP2 data pointer with an offset', () => {
    const { ctrl, data } = setup();
    // 8 KiB from 0x100_0000: PRP1 covers 4 KiB, PRP2 must be the next page at offset 0
    const cmd = new NvmeCommand(NVME_CMD_READ, 1, 0, 15);
    cmd.dptr = { prp1: 0x100_0000, prp2: 0x100_1800 };
    const r = nvmeExecuteCommand(ctrl, cmd, untouchable, data);
    expect(r.status).toBe(NVME_SC_PRP_INVALID_OFFSET);
    expect(nvmeErrorStatus(r.status)).toBe(BLK_STS_IOERR);
  });

  it('a PRP list the driver never allocated cannot be fetched: Data Transfer Error', () => {
    const { ctrl, data } = setup();
    // 16 KiB: PRP1 + a list of 3 entries, but PRP2 points at plain RAM
    const cmd = new NvmeCommand(NVME_CMD_READ, 1, 0, 31);
    cmd.dptr = { prp1: 0x100_0000, prp2: 0x1234_0000 };
    const r = nvmeExecuteCommand(ctrl, cmd, untouchable, data);
    expect(r).toMatchObject({ status: NVME_SC_DATA_XFER_ERROR, descriptorBytesFetched: 0 });
  });

  it('Flush moves nothing; an unknown opcode or nsid is refused', () => {
    const { ctrl, data } = setup();
    const exec = (c: NvmeCommand) => nvmeExecuteCommand(ctrl, c, untouchable, data).status;
    expect(exec(new NvmeCommand(NVME_CMD_FLUSH, 1, 0, 0))).toBe(NVME_SC_SUCCESS);
    expect(exec(new NvmeCommand(0x7f, 1, 0, 0))).toBe(NVME_SC_INVALID_OPCODE);
    expect(exec(new NvmeCommand(NVME_CMD_READ, 9, 0, 0))).toBe(NVME_SC_INVALID_NS);
    expect(data.peek(ctrl, 1)).toBeUndefined();
  });

  it('nvme_error_status(): status & 0x7ff, so DNR (bit 14) does not change the answer', () => {
    expect(nvmeErrorStatus(NVME_SC_SUCCESS)).toBe(BLK_STS_OK);
    expect(nvmeErrorStatus(NVME_SC_DATA_XFER_ERROR)).toBe(BLK_STS_IOERR);
    expect(nvmeErrorStatus(0x4000 | NVME_SC_LBA_RANGE)).toBe(BLK_STS_TARGET);
    expect(nvmeErrorStatus(NVME_SC_INVALID_NS)).toBe(BLK_STS_NOTSUPP);
    expect(nvmeErrorStatus(NVME_SC_READ_ERROR)).toBe(BLK_STS_MEDIUM);
    expect(nvmeStatusName(0x4000 | NVME_SC_LBA_RANGE)).toBe('LBA Out of Range');
  });
});

describe('§6.3 nvme_queue_rq() when nvme_prep_rq() fails', () => {
  it("nvme1's CMB is NOT_SUPPORTED for nvme0 (host bridge not allowlisted): BLK_STS_TARGET, nothing executed", () => {
    const { ctrl, data, page, live, inUse } = setup();
    // two CMB pages of nvme1: the P2P path crosses host bridge 8086:1234 -> NOT_SUPPORTED,
    // dma_map_sgtable() fails with -EREMOTEIO -> BLK_STS_TARGET
    const rq = request(ctrl, REQ_OP_READ, [
      [page(CMB1), 4096],
      [page(CMB1 + 2 * 4096), 4096],
    ]);
    const r = nvmeQueueRq(ctrl, rq, untouchable, data);
    expect(r).toMatchObject({
      blkStatus: BLK_STS_TARGET,
      executed: false,
      nvmeStatus: undefined,
      exec: undefined,
      nvmeDescriptors: 0,
    });
    expect(data.peek(ctrl, 1)).toBeUndefined();
    expect(live()).toBe(0);
    expect(inUse()).toBe(0);
  });
});

describe('issue 6: the commands through the real Fabric', () => {
  it('§6.1 the 128 KiB read into 32 scattered RAM pages: 32 DMAs, the bytes in physical memory', () => {
    const { ctrl, data, ns, fabric } = setup();
    const port: NvmeDmaPort = fabric(); // Fabric satisfies the port structurally
    const f = port as Fabric;
    ns().fill(0, 128 * KiB, RANDOM(23));
    const pfn = (i: number) => 0x10_0000 + 2 * i;
    const rq = request(
      ctrl,
      REQ_OP_READ,
      Array.from({ length: 32 }, (_, i): Piece => [ram(pfn(i)), 4096]),
    );
    const r = nvmeQueueRq(ctrl, rq, port, data);
    expect(r).toMatchObject({ blkStatus: BLK_STS_OK, nvmeDescriptors: 31 });
    expect(r.exec).toMatchObject({ dmas: 32, bytes: 131072, errors: [] });
    // the fabric counted the 32 data DMAs and nothing for the list fetch (not routed)
    expect(f.stats.dmas).toBe(32);
    expect(f.stats.payloadBytes).toBe(131072);
    expect(r.exec!.transferNs).toBeCloseTo(f.stats.transferNs, 6);
    expect(r.exec!.transferNs).toBeGreaterThan(0);
    for (let i = 0; i < 32; i++) {
      expect(rangesEqual(f.memory, pfn(i) * 4096, ns(), i * 4096, 4096).equal).toBe(true);
    }
  });

  // AMD Zen: nvme1's CMB is THRU_HOST_BRIDGE for nvme0 (§1.2), so dma-direct hands out its CPU
  // physical address; a root complex that does not forward peer traffic then refuses the DMAs.
  const AMD_NO_RC_P2P: Platform = {
    cpu: { vendor: 'AMD', family: 0x19 },
    rootComplexP2p: { write: false, read: false },
  };
  const cmb1 = (k: ReturnType<typeof setup>) =>
    Array.from({ length: 4 }, (_, i): Piece => [k.page(CMB1 + i * 4096), 4096]);

  it('§6.3 a Read into peer memory whose writes the root complex drops: success, data lost', () => {
    const k = setup({}, AMD_NO_RC_P2P);
    const f = k.fabric();
    k.ns().fill(0, 16384, RANDOM(29));
    const r = nvmeQueueRq(k.ctrl, request(k.ctrl, REQ_OP_READ, cmb1(k)), f, k.data);
    // the 4 CMB pages are contiguous: PRP1 + 3 entries, one DMA of 16 KiB, silently dropped
    expect(r).toMatchObject({ blkStatus: BLK_STS_OK, nvmeStatus: NVME_SC_SUCCESS });
    expect(r.exec).toMatchObject({ dmas: 1, bytes: 0 });
    expect(r.exec!.transfers[0]).toMatchObject({ addr: CMB1, len: 16384 });
    expect(r.exec!.errors.map((e) => [e.code, e.silent])).toEqual([['RC_P2P_WRITE_DROPPED', true]]);
    expect(rangesEqual(f.memory, CMB1, k.ns(), 0, 16384).equal).toBe(false);
  });

  it('§6.3 a Write from peer memory whose reads the root complex refuses: Data Transfer Error', () => {
    const k = setup({}, AMD_NO_RC_P2P);
    const f = k.fabric();
    const r = nvmeQueueRq(k.ctrl, request(k.ctrl, REQ_OP_WRITE, cmb1(k)), f, k.data);
    expect(r).toMatchObject({ nvmeStatus: NVME_SC_DATA_XFER_ERROR, blkStatus: BLK_STS_IOERR });
    expect(r.exec!.errors.map((e) => [e.code, e.silent])).toEqual([['RC_P2P_READ_DROPPED', false]]);
  });
});
