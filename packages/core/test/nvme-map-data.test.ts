/**
 * nvme_map_data() / nvme_unmap_data() end to end: reference §6.1 (single-segment fast path,
 * general path through blk_rq_map_sg() + dma_map_sgtable(), the sgl_threshold decision, PRP and
 * SGL building, "Invalid SGL for payload"), §6.2 (SGL_FORCED, release '2026') and §6.3 (P2P
 * pages never take the fast path). Requests are built with the block layer's bio API on the
 * namespace queue of a probed controller; the DMA ops are dma-direct under the DMA-API debug
 * checker, so outstanding mappings can be counted. Under dma-direct without bus offsets, a RAM
 * page's DMA address equals its physical address (pfn * 4096 + offset).
 */
import { ContainerModule } from 'inversify';
import { bioAddPage, bioAlloc, REQ_FUA, REQ_OP_READ, REQ_OP_WRITE } from '../src/block/bio';
import { BLK_STS_IOERR, BLK_STS_OK, BLK_STS_TARGET } from '../src/block/blk-status';
import { blkRqFromBio, type Request } from '../src/block/request';
import {
  DmaMapSgRequestMapper,
  RequestMapper,
  type RequestMapping,
} from '../src/block/request-mapper';
import { createKernelContainer, DmaDevices } from '../src/di/kernel';
import { DmaApiDebug } from '../src/dma/debug';
import { DmaDirectOps } from '../src/dma/direct/direct';
import { DmaMapOps } from '../src/dma/map-ops';
import { EREMOTEIO } from '../src/errno';
import { KernelLog } from '../src/kernel-log';
import { Page } from '../src/mm/page';
import { P2pdmaDevices } from '../src/p2pdma/state';
import { topologyFromObject } from '../src/pci/topology';
import {
  NVME_CMD_READ,
  NVME_CMD_SGL_METABUF,
  NVME_CMD_WRITE,
  NVME_RW_FUA,
} from '../src/nvme/command';
import { nvmeProbe, type NvmeCtrl, type NvmeCtrlOptions } from '../src/nvme/ctrl';
import { NVME_CTRL_SGLS_DWORD_ALIGNED } from '../src/nvme/identify';
import { nvmePrepRq, nvmeUnmapData, type NvmeIod } from '../src/nvme/map-data';
import { nvmePrpWalk } from '../src/nvme/prp';
import { nvmeSglDescRead } from '../src/nvme/sgl';

const KiB = 1024;
const SGL = NVME_CTRL_SGLS_DWORD_ALIGNED;
/** pfn of BAR2 (the CMB) at 1 TiB: 2^40 / 4096 = 0x1000_0000. */
const CMB_PFN = 0x1000_0000;

/** nvme0 at 01:00.0 with a 256 MiB CMB (RDS, WDS) in BAR2 at 1 TiB. */
function topology() {
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
                cmb: { bar: 2, size: '256MiB', rds: true, wds: true },
              },
            ],
          },
        ],
      },
    ],
  });
}

function setup(opts: NvmeCtrlOptions = {}, mapper?: RequestMapper) {
  const strategy = new ContainerModule(({ bind }) => {
    bind(DmaMapOps).toDynamicValue((ctx) => ctx.get(DmaDirectOps));
    if (mapper) bind(RequestMapper).toConstantValue(mapper);
    else bind(RequestMapper).to(DmaMapSgRequestMapper);
  });
  const c = createKernelContainer({
    topology: topology(),
    strategy,
    options: { dmaApiDebug: true },
  });
  const dev = c.get(DmaDevices).get('01:00.0');
  const ctrl = nvmeProbe(dev, c.get(P2pdmaDevices), c.get<RequestMapper>(RequestMapper), opts);
  const debug = c.get(DmaApiDebug);
  return {
    ctrl,
    log: c.get(KernelLog),
    direct: c.get(DmaDirectOps),
    /** Live DMA-API mappings of the controller. */
    live: () => debug.entries(dev).length,
    errors: () => debug.errors(),
    cmbPage: (i = 0): Page => c.get(P2pdmaDevices).memmap.pfnToPage(CMB_PFN + i),
  };
}

type Piece = [page: Page, len: number, offset: number];

/** A request on nvme0n1 at `sector` made of one bio holding the pieces (bio_add_page each). */
function request(ctrl: NvmeCtrl, op: number, pieces: Piece[], sector = 0): Request {
  const q = ctrl.queues.get(1)!;
  const bio = bioAlloc(op, pieces.length, q);
  bio.sector = sector;
  for (const [page, len, off] of pieces) expect(bioAddPage(bio, page, len, off)).toBe(len);
  return blkRqFromBio(q, bio);
}

const ram = (pfn: number) => new Page(pfn);
const prps = (iod: NvmeIod) => iod.cmd.dptr as { prp1: number; prp2: number };

describe('§6.1 single-segment fast path', () => {
  it('one RAM page: PRP1 only, mapped with dma_map_bvec, no descriptor list', () => {
    const { ctrl, live, direct } = setup();
    const rq = request(ctrl, REQ_OP_READ, [[ram(0x1000), 4096, 0]]);
    expect(rq.nrPhysSegments).toBe(1);
    const { status, iod } = nvmePrepRq(ctrl, rq);
    expect(status).toBe(BLK_STS_OK);
    expect(iod.path).toBe('prp-simple');
    // offset 0 + 4096 <= 8192; 4096 is not > first_prp_len 4096 -> PRP2 stays 0
    expect(iod.cmd.dptr).toEqual({ prp1: 0x100_0000, prp2: 0 });
    expect(iod.dmaLen).toBe(4096);
    expect(direct.stats.mapSgCalls).toBe(0);
    expect(live()).toBe(1);
    expect(ctrl.pools.small.stats.allocations + ctrl.pools.page.stats.allocations).toBe(0);
    nvmeUnmapData(ctrl, rq, iod);
    expect(live()).toBe(0);
  });

  it('6 KiB at offset 0x800: PRP2 = PRP1 + (4096 - 0x800)', () => {
    const { ctrl } = setup();
    // 0x800 + 0x1800 = 0x2000 <= 2 * 4096; first PRP covers 0x800 bytes
    const rq = request(ctrl, REQ_OP_WRITE, [[ram(0x1000), 0x1800, 0x800]]);
    const { iod } = nvmePrepRq(ctrl, rq);
    expect(iod.path).toBe('prp-simple');
    expect(iod.cmd.dptr).toEqual({ prp1: 0x100_0800, prp2: 0x100_1000 });
    expect(iod.cmd.opcode).toBe(NVME_CMD_WRITE);
  });

  it('beyond two pages on a controller with SGLs: one SGL data descriptor (I/O queue only)', () => {
    const { ctrl, live } = setup({ sgls: SGL });
    const rq = request(ctrl, REQ_OP_READ, [[ram(0x1000), 64 * KiB, 0]]);
    const { iod } = nvmePrepRq(ctrl, rq);
    expect(iod.path).toBe('sgl-simple');
    expect(iod.cmd.flags).toBe(NVME_CMD_SGL_METABUF);
    expect(iod.cmd.dptr).toEqual({ sgl: { addr: 0x100_0000, length: 65536, type: 0 } });
    nvmeUnmapData(ctrl, rq, iod);
    expect(live()).toBe(0);
    // the admin queue (qid 0) never uses SGLs: general path, PRP1 + 15 entries in a small list
    const admin = nvmePrepRq(ctrl, rq, { qid: 0 }).iod;
    expect(admin.path).toBe('prp');
    expect(admin.npages).toBe(0);
  });

  it('beyond two pages without SGLs (or with sgl_threshold 0): the general path', () => {
    for (const opts of [{}, { sgls: SGL, sglThreshold: 0 }]) {
      const { ctrl, direct } = setup(opts);
      // 16 KiB: PRP1 = page 0, 12 KiB left -> 3 entries in a small-pool list
      const rq = request(ctrl, REQ_OP_READ, [[ram(0x1000), 16 * KiB, 0]]);
      const { iod } = nvmePrepRq(ctrl, rq);
      expect(iod.path).toBe('prp');
      expect(direct.stats.mapSgCalls).toBe(1);
      expect(prps(iod).prp1).toBe(0x100_0000);
      expect(iod.descriptors[0]!.le64s().slice(0, 3)).toEqual([0x100_1000, 0x100_2000, 0x100_3000]);
    }
  });

  it('§6.3 is refused for a P2PDMA page: the general path maps it (BUS_ADDR, bus address)', () => {
    const { ctrl, direct, live, cmbPage } = setup();
    // the controller's own CMB, registered at probe: a ZONE_DEVICE page with a P2PDMA pgmap
    const own = cmbPage();
    expect(own.pgmap).toBeDefined();
    const rq = request(ctrl, REQ_OP_WRITE, [[own, 4096, 0]]);
    expect(rq.nrPhysSegments).toBe(1);
    const { status, iod } = nvmePrepRq(ctrl, rq);
    expect(status).toBe(BLK_STS_OK);
    expect(iod.path).toBe('prp');
    // provider = client: BUS_ADDR; no host-bridge bus offset -> bus address = 1 TiB
    expect(iod.cmd.dptr).toEqual({ prp1: 0x100_0000_0000, prp2: 0 });
    expect(direct.stats.mapSgCalls).toBe(1);
    expect(direct.stats.busAddrMappings).toBe(1);
    expect(iod.mapping!.needsUnmap).toBe(true);
    nvmeUnmapData(ctrl, rq, iod);
    expect(iod.mapping).toBeUndefined();
    expect(live()).toBe(0);
  });

  it('skipFastPath (a dma_vec design) sends a one-segment request down the general path', () => {
    const { ctrl } = setup({ skipFastPath: () => true });
    const rq = request(ctrl, REQ_OP_READ, [[ram(0x1000), 4096, 0]]);
    expect(nvmePrepRq(ctrl, rq).iod.path).toBe('prp');
  });
});

describe('§6.1 general path: sgl_threshold and the PRP/SGL choice', () => {
  /** Two segments at pfn 0x1000 and 0x2000 (not contiguous): 32 KiB and `second` bytes. */
  const two = (ctrl: NvmeCtrl, second: number) =>
    request(ctrl, REQ_OP_READ, [
      [ram(0x1000), 32 * KiB, 0],
      [ram(0x2000), second, 0],
    ]);

  it('avg = ceil(64 KiB / 2) = 32768 >= 32768: SGL list of 2 descriptors (small pool)', () => {
    const { ctrl } = setup({ sgls: SGL });
    const rq = two(ctrl, 32 * KiB);
    expect(rq.nrPhysSegments).toBe(2);
    const { status, iod } = nvmePrepRq(ctrl, rq);
    expect(status).toBe(BLK_STS_OK);
    expect(iod).toMatchObject({ path: 'sgl', useSgl: true, npages: 0 });
    expect(iod.cmd.flags).toBe(NVME_CMD_SGL_METABUF);
    // LAST_SEGMENT (0x30) of 2 * 16 bytes at the small pool's first block
    const small = ctrl.pools.small.region.base;
    expect(iod.cmd.dptr).toEqual({ sgl: { addr: small, length: 32, type: 0x30 } });
    expect([0, 1].map((i) => nvmeSglDescRead(iod.descriptors[0]!, i))).toEqual([
      { addr: 0x100_0000, length: 32768, type: 0 },
      { addr: 0x200_0000, length: 32768, type: 0 },
    ]);
  });

  it('avg = ceil(65024 / 2) = 32512 < 32768: PRPs (15 list entries); threshold 32512 -> SGL', () => {
    const { ctrl } = setup({ sgls: SGL });
    const rq = two(ctrl, 32 * KiB - 512);
    const { iod } = nvmePrepRq(ctrl, rq);
    expect(iod).toMatchObject({ path: 'prp', useSgl: false, npages: 0 });
    // PRP1 = 0x100_0000; list: 0x100_1000..0x100_7000 (7), 0x200_0000..0x200_7000 (8)
    const walked = nvmePrpWalk(prps(iod).prp1, prps(iod).prp2, 65024, (d) =>
      ctrl.pools.small.lookup(d),
    );
    expect(walked).toEqual([
      ...Array.from({ length: 8 }, (_, i) => 0x100_0000 + i * 4096),
      ...Array.from({ length: 8 }, (_, i) => 0x200_0000 + i * 4096),
    ]);
    const lowered = setup({ sgls: SGL, sglThreshold: 32512 });
    expect(nvmePrepRq(lowered.ctrl, two(lowered.ctrl, 32 * KiB - 512)).iod.path).toBe('sgl');
  });

  it('§6.2 release 2026 forces SGLs for an unaligned gap even below the threshold', () => {
    // 0x800 bytes at the start of pfn 0x1000, then 4 KiB at pfn 0x2000: the gap starts at
    // 0x100_0800, not 4 KiB aligned; avg = ceil(0x1800 / 2) = 3072 < 32768
    const pieces: Piece[] = [
      [ram(0x1000), 0x800, 0],
      [ram(0x2000), 4096, 0],
    ];
    const a = setup({ release: '2026', sgls: SGL });
    const rq = request(a.ctrl, REQ_OP_READ, pieces);
    expect(a.ctrl.queues.get(1)!.limits.virtBoundaryMask).toBe(0);
    expect(nvmePrepRq(a.ctrl, rq).iod.path).toBe('sgl');
    // v5.x would take PRPs here (the virt boundary normally splits such a request first)
    const b = setup({ sgls: SGL });
    expect(nvmePrepRq(b.ctrl, request(b.ctrl, REQ_OP_READ, pieces)).iod.path).toBe('prp');
  });
});

describe('§6.1 general path: failures and unmapping', () => {
  it('"Invalid SGL for payload": a 2 KiB middle segment -> BLK_STS_IOERR, WARN once, unmapped', () => {
    const { ctrl, log, live } = setup();
    // three separate pages: 4 KiB + 2 KiB + 4 KiB = 10240 bytes, 3 mapped entries; built
    // directly, as the virt boundary would have split it in the block layer
    const pieces: Piece[] = [
      [ram(0x1000), 4096, 0],
      [ram(0x2000), 2048, 0],
      [ram(0x3000), 4096, 0],
    ];
    const rq = request(ctrl, REQ_OP_READ, pieces);
    const { status, iod } = nvmePrepRq(ctrl, rq);
    expect(status).toBe(BLK_STS_IOERR);
    const pad = (n: number) => `0x${n.toString(16).padStart(16, '0')}`;
    const sgLine = (i: number, addr: number, len: number) =>
      `sg[${i}] phys_addr:${pad(addr)} offset:0 length:${len} dma_address:${pad(addr)} dma_length:${len}`;
    const warns = log
      .messages()
      .filter((m) => m.level === 'warn')
      .map((m) => m.msg);
    expect(warns).toEqual([
      sgLine(0, 0x100_0000, 4096),
      sgLine(1, 0x200_0000, 2048),
      sgLine(2, 0x300_0000, 4096),
      'WARNING: at drivers/nvme/host/pci.c nvme_pci_setup_prps: Invalid SGL for payload:10240 nents:3',
    ]);
    // the scatterlist was unmapped (out_unmap_sg) ...
    expect(iod.mapping).toBeUndefined();
    expect(live()).toBe(0);
    // ... but the small-pool PRP list was not freed ([DERIVED] leak)
    expect(iod.leaked).toHaveLength(1);
    expect(ctrl.pools.small.stats).toMatchObject({ allocations: 1, inUse: 1, frees: 0 });
    // DO_ONCE: a second bad request prints nothing more
    nvmePrepRq(ctrl, request(ctrl, REQ_OP_READ, pieces));
    expect(log.messages().filter((m) => m.level === 'warn')).toHaveLength(4);
  });

  it('a mapper failure comes back as is (BLK_STS_TARGET for -EREMOTEIO), nothing allocated', () => {
    const refusing: RequestMapper = {
      mapRequest: (): RequestMapping => ({
        status: BLK_STS_TARGET,
        segments: [],
        needsUnmap: false,
        errno: -EREMOTEIO,
      }),
      unmapRequest: () => {
        throw new Error('nothing to unmap');
      },
    };
    const { ctrl } = setup({}, refusing);
    const rq = request(ctrl, REQ_OP_READ, [
      [ram(0x1000), 4096, 0],
      [ram(0x2000), 4096, 0],
    ]);
    const { status, iod } = nvmePrepRq(ctrl, rq);
    expect(status).toBe(BLK_STS_TARGET);
    expect(iod.mapping).toBeUndefined();
    expect(ctrl.pools.small.stats.allocations).toBe(0);
  });

  it('unmap returns the PRP lists to the pool and unmaps the table (2 MiB + 8 KiB, chained)', () => {
    const { ctrl, live, errors } = setup({ mdts: 0 });
    // 514 pages from pfn 0x40000, one bvec: nr_phys_segments 1 but > 8 KiB and no SGLs
    const rq = request(ctrl, REQ_OP_READ, [[ram(0x4_0000), 514 * 4096, 0]]);
    const { status, iod } = nvmePrepRq(ctrl, rq);
    expect(status).toBe(BLK_STS_OK);
    // 513 entries > 512: two chained list pages (§6.1)
    expect(iod.npages).toBe(2);
    expect(ctrl.pools.page.stats.inUse).toBe(2);
    expect(live()).toBe(1);
    nvmeUnmapData(ctrl, rq, iod);
    expect(ctrl.pools.page.stats).toMatchObject({ inUse: 0, frees: 2 });
    expect(live()).toBe(0);
    expect(errors()).toEqual([]);
  });
});

describe('§6 nvme_setup_rw: the command', () => {
  it('read of 8 KiB at sector 16 on 512-byte LBAs: slba 16, length 15 (0-based)', () => {
    const { ctrl } = setup();
    const rq = request(ctrl, REQ_OP_READ, [[ram(0x1000), 8192, 0]], 16);
    const { iod } = nvmePrepRq(ctrl, rq);
    expect(iod.cmd).toMatchObject({ opcode: NVME_CMD_READ, nsid: 1, slba: 16, length: 15 });
    expect(iod.cmd.nlb).toBe(16);
  });

  it('FUA write on a 4096-byte LBA namespace: sector 16 -> slba 2, 2 blocks -> length 1', () => {
    const { ctrl } = setup({ namespaces: [{ lbaSize: 4096 }] });
    const rq = request(ctrl, REQ_OP_WRITE | REQ_FUA, [[ram(0x1000), 8192, 0]], 16);
    const { iod } = nvmePrepRq(ctrl, rq);
    expect(iod.cmd).toMatchObject({ opcode: NVME_CMD_WRITE, slba: 2, length: 1 });
    expect(iod.cmd.control).toBe(NVME_RW_FUA);
  });
});
