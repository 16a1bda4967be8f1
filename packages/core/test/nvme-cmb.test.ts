/**
 * The NVMe Controller Memory Buffer as a P2PDMA provider: reference/kernel-dma.md §6.4 (CMBLOC /
 * CMBSZ encoding and nvme_map_cmb()), with §2.2 (pci_p2pdma_add_resource) and §9 (struct pages)
 * where the CMB reaches them.
 */
import {
  EINVAL,
  ENOMEM,
  KernelLog,
  NVME_CMBMSC_CMSE,
  NVME_CMBMSC_CRE,
  NVME_CMBSZ_RDS,
  NVME_CMBSZ_SQS,
  NVME_CMBSZ_WDS,
  NvmeCmbState,
  nvmeCmbBir,
  nvmeCmbOfst,
  nvmeCmbRegisters,
  nvmeCmbSize,
  nvmeCmbSizeUnit,
  nvmeMapCmb,
  P2pdmaDevices,
  p2pmemSysfs,
  pciAllocP2pmem,
  pciP2pdmaStructPageBytes,
  pciP2pmemVirtToBus,
  topologyFromObject,
  type PciCmb,
} from '@dmasim/core';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

interface CmbSpec {
  bar: number;
  size: string;
  offset?: string;
  rds: boolean;
  wds: boolean;
  sqs?: boolean;
}

/**
 * An NVMe at 01:00.0 below root port 00:01.1: BAR0 16 KiB, BAR2 256 MiB at 1 TiB
 * (0x100_0000_0000), BAR4 1 MiB at 0x100_1010_0000 (1 MiB aligned but not 2 MiB aligned).
 */
function controller(cmb?: CmbSpec, busOffset = 0) {
  const topo = topologyFromObject({
    platform: { cpu: { vendor: 'AMD', family: 0x19 } },
    hostBridges: [
      {
        name: 'hb0',
        bus: 0,
        busOffset,
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
                ...(cmb ? { cmb } : {}),
              },
            ],
          },
        ],
      },
    ],
  });
  const p2p = new P2pdmaDevices(topo);
  const log = new KernelLog();
  return { topo, p2p, log, nvme: topo.get('01:00.0') };
}

/** Raw register values: CMBSZ = SZ << 12 | SZU << 8 | flags, CMBLOC = OFST << 12 | BIR. */
function regs(szu: number, sz: number, bir: number, ofst: number, flags: number) {
  return { cmbsz: sz * 4096 + szu * 256 + flags, cmbloc: ofst * 4096 + bir };
}

const cmb = (c: Partial<PciCmb> & { size: number }): PciCmb => ({
  bar: 2,
  offset: 0,
  rds: true,
  wds: true,
  sqs: false,
  ...c,
});

describe('§6.4 CMBSZ / CMBLOC encoding', () => {
  it('decodes SZU 0..6 as units of 4 KiB, 64 KiB, 1 MiB, 16 MiB, 256 MiB, 4 GiB, 64 GiB', () => {
    // unit = 1 << (12 + 4 * SZU)
    const units = [0, 1, 2, 3, 4, 5, 6].map((szu) => nvmeCmbSizeUnit(szu << 8));
    expect(units).toEqual([4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB, 256 * MiB, 4 * GiB, 64 * GiB]);
  });

  it('chooses the smallest unit whose 20-bit SZ holds the size exactly', () => {
    // 256 MiB / 4 KiB = 0x10000 fits SZ (max 0xfffff): SZU 0;
    // CMBSZ = 0x10000 << 12 | RDS (8) | WDS (0x10) = 0x10000018; CMBLOC = BIR 2
    expect(nvmeCmbRegisters(cmb({ size: 256 * MiB }))).toEqual({ cmbsz: 0x1000_0018, cmbloc: 2 });
    // 4 GiB / 4 KiB = 0x100000 > 0xfffff, so 64 KiB units: SZ 0x10000, SZU 1 -> 0x10000100
    // 64 GiB needs 1 MiB units (SZU 2), 1 TiB 16 MiB (3), 16 TiB 256 MiB (4), 256 TiB 4 GiB (5),
    // 4 PiB = 2^52 64 GiB units (6); each time SZ = 0x10000.
    const sizes = [4 * GiB, 64 * GiB, 1 * TiB, 16 * TiB, 256 * TiB, 2 ** 52];
    sizes.forEach((size, i) => {
      const r = nvmeCmbRegisters(cmb({ size, rds: false, wds: false }));
      expect(r.cmbsz).toBe(0x1000_0000 + (i + 1) * 0x100);
      expect(nvmeCmbSizeUnit(r.cmbsz) * nvmeCmbSize(r.cmbsz)).toBe(size);
    });
  });

  it('encodes the offset in the same unit, and SQS/RDS/WDS flags', () => {
    // 16 KiB at 8 KiB in BAR 4: SZU 0, SZ 4, OFST 2; SQS (1) only
    const r = nvmeCmbRegisters(
      cmb({ bar: 4, size: 16 * KiB, offset: 8 * KiB, rds: false, wds: false, sqs: true }),
    );
    expect(r).toEqual({ cmbsz: 0x4000 + NVME_CMBSZ_SQS, cmbloc: 0x2000 + 4 });
    expect([nvmeCmbBir(r.cmbloc), nvmeCmbOfst(r.cmbloc)]).toEqual([4, 2]);
    // 4 GiB at 64 KiB: 64 KiB units, SZ 0x10000, OFST 1
    expect(
      nvmeCmbRegisters(cmb({ size: 4 * GiB, offset: 64 * KiB, rds: false, wds: false })),
    ).toEqual({
      cmbsz: 0x1000_0100,
      cmbloc: 0x1000 + 2,
    });
  });

  it('keeps 32-bit register values positive when bit 31 is set', () => {
    // 4 GiB - 4 KiB = 0xfffff units of 4 KiB: CMBSZ = 0xfffff << 12 = 0xfffff000
    const r = nvmeCmbRegisters(cmb({ size: 4 * GiB - 4 * KiB, rds: false, wds: false }));
    expect(r.cmbsz).toBe(0xffff_f000);
    expect(nvmeCmbSize(r.cmbsz)).toBe(0xfffff);
  });

  it('refuses a CMB no unit represents exactly', () => {
    // 4 GiB + 4 KiB: in 4 KiB units SZ = 0x100001 (21 bits); 64 KiB does not divide it
    expect(() => nvmeCmbRegisters(cmb({ size: 4 * GiB + 4 * KiB }))).toThrow(/cannot be encoded/);
    // 4 GiB at offset 4 KiB: SZ needs >= 64 KiB units, the offset needs 4 KiB units
    expect(() => nvmeCmbRegisters(cmb({ size: 4 * GiB, offset: 4 * KiB }))).toThrow(
      /cannot be encoded/,
    );
  });
});

describe('§6.4 nvme_map_cmb', () => {
  it('registers and publishes a CMB with RDS and WDS (256 MiB CMB -> 4 MiB of struct pages, §9)', () => {
    const { p2p, log, nvme } = controller({ bar: 2, size: '256MiB', rds: true, wds: true });
    const r = nvmeMapCmb(p2p, nvme, log);
    expect(r).toMatchObject({
      registered: true,
      published: true,
      bar: 2,
      offset: 0,
      size: 256 * MiB,
    });
    expect(r.reason).toBeUndefined();
    expect(r.state.cmbSize).toBe(256 * MiB);
    expect(log.messages()).toEqual([
      {
        level: 'info',
        dev: '0000:01:00.0',
        msg: 'added peer-to-peer DMA memory 0x10000000000-0x1000fffffff',
      },
    ]);
    expect(p2p.hasP2pmem(nvme)).toBe(true);
    expect(p2pmemSysfs(p2p, nvme)).toEqual({
      size: '268435456\n',
      available: '268435456\n',
      published: '1\n',
    });
    // 65536 pages * 64 B = 4 MiB
    expect(pciP2pdmaStructPageBytes(p2p, nvme)).toBe(4 * MiB);
    // CAP.CMBS: CMBMSC = CRE | CMSE | (bus address of BAR2 + 0)
    expect(r.state.cmbmsc).toBe(0x100_0000_0000 + NVME_CMBMSC_CRE + NVME_CMBMSC_CMSE);
  });

  it.each([
    [true, true, true],
    [true, false, false],
    [false, true, false],
    [false, false, false],
  ])(
    'publishes only with both RDS and WDS (rds %s, wds %s -> published %s)',
    (rds, wds, published) => {
      const { p2p, nvme } = controller({ bar: 2, size: '256MiB', rds, wds });
      const r = nvmeMapCmb(p2p, nvme);
      // registered either way: only publishing depends on the flags
      expect(r).toMatchObject({ registered: true, published });
      expect(p2p.hasP2pmem(nvme)).toBe(published);
      expect(p2pmemSysfs(p2p, nvme)!.published).toBe(published ? '1\n' : '0\n');
    },
  );

  it('uses the CMB for submission queues only with SQS and the use_cmb_sqes parameter', () => {
    const withSqs = controller({ bar: 2, size: '256MiB', rds: true, wds: true, sqs: true });
    expect(nvmeMapCmb(withSqs.p2p, withSqs.nvme).state.cmbUseSqes).toBe(true);
    const paramOff = controller({ bar: 2, size: '256MiB', rds: true, wds: true, sqs: true });
    expect(
      nvmeMapCmb(paramOff.p2p, paramOff.nvme, undefined, { useCmbSqes: false }).state.cmbUseSqes,
    ).toBe(false);
    const noSqs = controller({ bar: 2, size: '256MiB', rds: true, wds: true });
    expect(nvmeMapCmb(noSqs.p2p, noSqs.nvme).state.cmbUseSqes).toBe(false);
  });

  it.each([0, 1, 2, 3, 4, 5, 6])(
    'decodes SZU %i (a size above the 256 MiB BAR is clipped to it)',
    (szu) => {
      const { p2p, nvme } = controller();
      const unit = 2 ** (12 + 4 * szu);
      // SZ = 256 MiB / unit where the unit is at most 256 MiB (size exactly the BAR), else SZ = 1
      // (one 4 GiB or 64 GiB unit: clipped to 256 MiB - 0)
      const sz = unit <= 256 * MiB ? (256 * MiB) / unit : 1;
      const r = nvmeMapCmb(p2p, nvme, undefined, {
        registers: regs(szu, sz, 2, 0, NVME_CMBSZ_RDS | NVME_CMBSZ_WDS),
      });
      expect(r).toMatchObject({ registered: true, published: true, size: 256 * MiB });
      expect(p2pmemSysfs(p2p, nvme)!.size).toBe('268435456\n');
    },
  );

  it('clips a CMB larger than the rest of its BAR to BAR length - offset', () => {
    const { p2p, log, nvme } = controller();
    // SZ 0x20000 * 4 KiB = 512 MiB at OFST 0x4000 * 4 KiB = 64 MiB: min(512, 256 - 64) = 192 MiB
    const r = nvmeMapCmb(p2p, nvme, log, {
      registers: regs(0, 0x20000, 2, 0x4000, NVME_CMBSZ_RDS | NVME_CMBSZ_WDS),
    });
    expect(r).toMatchObject({
      registered: true,
      published: true,
      offset: 64 * MiB,
      size: 192 * MiB,
    });
    // [0x100_0000_0000 + 0x400_0000, 0x100_0fff_ffff]
    expect(log.messages()[0].msg).toBe('added peer-to-peer DMA memory 0x10004000000-0x1000fffffff');
    expect(r.state.cmbmsc).toBe(0x100_0400_0000 + 3);
  });

  it('gives up, silently, when the offset is beyond the BAR', () => {
    const { p2p, log, nvme } = controller();
    // OFST 0x20000 * 4 KiB = 512 MiB > 256 MiB
    const r = nvmeMapCmb(p2p, nvme, log, {
      registers: regs(0, 512, 2, 0x20000, NVME_CMBSZ_RDS | NVME_CMBSZ_WDS),
    });
    expect(r).toMatchObject({
      registered: false,
      published: false,
      reason: 'offset-beyond-bar',
      offset: 512 * MiB,
    });
    expect(log.messages()).toEqual([]);
    expect(p2p.get(nvme)).toBeUndefined();
    expect(r.state.cmbmsc).toBe(NVME_CMBMSC_CRE); // only the first write (enable CMBLOC/CMBSZ)
  });

  it('fails in pci_p2pdma_add_resource when the offset equals the BAR length', () => {
    const { p2p, log, nvme } = controller();
    // offset 0x10000 * 4 KiB = 256 MiB is not > 256 MiB; size = min(2 MiB, 0) = 0 (aligned);
    // add_resource(size 0, offset 256 MiB): offset >= BAR length -> -EINVAL
    const r = nvmeMapCmb(p2p, nvme, log, {
      registers: regs(0, 512, 2, 0x10000, NVME_CMBSZ_RDS | NVME_CMBSZ_WDS),
    });
    expect(r).toMatchObject({
      registered: false,
      reason: 'add-resource-failed',
      error: -EINVAL,
      size: 0,
    });
    expect(log.messages()).toEqual([
      { level: 'warn', dev: '0000:01:00.0', msg: 'failed to register the CMB' },
    ]);
    expect(r.state.cmbmsc).toBe(0); // cleared on failure
  });

  it('skips, silently, a CMB whose size is not a multiple of memremap_compat_align() (2 MiB)', () => {
    // 512 KiB CMB in the 1 MiB BAR4 (like the 512K CMB of an Intel DC D4502)
    const { p2p, log, nvme } = controller({ bar: 4, size: '512KiB', rds: true, wds: true });
    const r = nvmeMapCmb(p2p, nvme, log);
    expect(r).toMatchObject({ registered: false, reason: 'misaligned', size: 512 * KiB });
    expect(r.detail).toBe('CMB size 0x80000 is not a multiple of memremap_compat_align() 0x200000');
    expect(log.messages()).toEqual([]);
    expect(p2p.get(nvme)).toBeUndefined();
  });

  it('before the 2025 fix, tried a misaligned CMB and failed with the memory-hotplug warning', () => {
    const { p2p, log, nvme } = controller({ bar: 4, size: '512KiB', rds: true, wds: true });
    const r = nvmeMapCmb(p2p, nvme, log, { skipMisaligned: false });
    expect(r).toMatchObject({ registered: false, reason: 'add-resource-failed', error: -EINVAL });
    // BAR4 at 0x100_1010_0000: pfn 0x1001_0100; 512 KiB = 128 pages; end pfn 0x1001_017f
    expect(log.messages()).toEqual([
      { level: 'warn', msg: 'Misaligned __add_pages start: 0x10010100 end: 0x1001017f' },
      { level: 'warn', dev: '0000:01:00.0', msg: 'failed to register the CMB' },
    ]);
  });

  it('skips a CMB whose BAR start is not 2 MiB aligned', () => {
    const { p2p, log, nvme } = controller();
    // SZ 0 with RDS|WDS (CMBSZ non-zero) in BAR4: size 0 is aligned, the BAR start
    // 0x100_1010_0000 is 1 MiB past a 2 MiB boundary
    const r = nvmeMapCmb(p2p, nvme, log, {
      registers: regs(0, 0, 4, 0, NVME_CMBSZ_RDS | NVME_CMBSZ_WDS),
    });
    expect(r).toMatchObject({ registered: false, reason: 'misaligned' });
    expect(r.detail).toBe(
      'BAR 4 start 0x10010100000 is not aligned to memremap_compat_align() 0x200000',
    );
    expect(log.messages()).toEqual([]);
  });

  it('checks the BAR start, not BAR start + offset: a misaligned offset fails later in add_resource', () => {
    // 2 MiB at 64 KiB in BAR2: size and BAR start are 2 MiB aligned, so nvme_map_cmb goes on
    const { p2p, log, nvme } = controller({
      bar: 2,
      size: '2MiB',
      offset: '64KiB',
      rds: true,
      wds: true,
    });
    const r = nvmeMapCmb(p2p, nvme, log);
    expect(r).toMatchObject({
      registered: false,
      published: false,
      reason: 'add-resource-failed',
      error: -EINVAL,
    });
    // start 0x100_0001_0000 -> pfn 0x1000_0010; 512 pages; end pfn 0x1000_020f
    expect(log.messages()).toEqual([
      { level: 'warn', msg: 'Misaligned __add_pages start: 0x10000010 end: 0x1000020f' },
      { level: 'warn', dev: '0000:01:00.0', msg: 'failed to register the CMB' },
    ]);
    expect(r.state.cmbmsc).toBe(0);
    // the p2pdma state and empty pool were created before the page map failed
    expect(p2pmemSysfs(p2p, nvme)).toEqual({ size: '0\n', available: '0\n', published: '0\n' });
  });

  it('uses memremap_compat_align() of the platform (16 MiB on ppc64 hash)', () => {
    const a = controller({ bar: 2, size: '8MiB', rds: true, wds: true });
    expect(nvmeMapCmb(a.p2p, a.nvme, undefined, { compatAlign: 16 * MiB })).toMatchObject({
      registered: false,
      reason: 'misaligned',
    });
    const b = controller({ bar: 2, size: '8MiB', rds: true, wds: true });
    expect(nvmeMapCmb(b.p2p, b.nvme)).toMatchObject({ registered: true, size: 8 * MiB });
  });

  it('programs CMBMSC with the BAR bus address, and the pool with bus addresses', () => {
    // host bridge bus offset 64 GiB: bus address of BAR2 = 0x100_0000_0000 + 0x10_0000_0000
    const { p2p, log, nvme } = controller(
      { bar: 2, size: '256MiB', rds: true, wds: true },
      0x10_0000_0000,
    );
    const r = nvmeMapCmb(p2p, nvme, log);
    expect(r.state.cmbmsc).toBe(0x110_0000_0000 + 3);
    const va = pciAllocP2pmem(p2p, nvme, 4096)!;
    expect(pciP2pmemVirtToBus(p2p, nvme, va)).toBe(0x110_0000_0000);
    // the log keeps CPU physical addresses
    expect(log.messages()[0].msg).toBe('added peer-to-peer DMA memory 0x10000000000-0x1000fffffff');
    // without CAP.CMBS nothing is written to CMBMSC
    const c = controller({ bar: 2, size: '256MiB', rds: true, wds: true });
    expect(nvmeMapCmb(c.p2p, c.nvme, undefined, { cmbs: false }).state.cmbmsc).toBe(0);
  });

  it('does nothing when CMBSZ reads 0 (no CMB)', () => {
    const { p2p, log, nvme } = controller();
    const r = nvmeMapCmb(p2p, nvme, log);
    expect(r).toMatchObject({ registered: false, reason: 'no-cmb' });
    expect(r.state.cmbmsc).toBe(NVME_CMBMSC_CRE);
    expect(p2p.get(nvme)).toBeUndefined();
    expect(log.messages()).toEqual([]);
  });

  it('maps once: a later call (controller reset) returns at once while cmb_size is set', () => {
    const { p2p, log, nvme } = controller({ bar: 2, size: '256MiB', rds: true, wds: true });
    const state = new NvmeCmbState();
    expect(nvmeMapCmb(p2p, nvme, log, { state }).registered).toBe(true);
    expect(nvmeMapCmb(p2p, nvme, log, { state })).toMatchObject({
      registered: false,
      reason: 'already-mapped',
    });
    expect(log.messages()).toHaveLength(1);
    expect(p2p.get(nvme)!.pgmaps).toHaveLength(1);
  });

  it('registers the whole rest of the BAR when SZ is 0 and then, with cmb_size 0, conflicts on reset [DERIVED]', () => {
    const { p2p, log, nvme } = controller();
    const state = new NvmeCmbState();
    const registers = regs(0, 0, 2, 0, NVME_CMBSZ_RDS | NVME_CMBSZ_WDS);
    // size = 4 KiB * 0 = 0, aligned; pci_p2pdma_add_resource(size 0) means the rest of the BAR
    const r = nvmeMapCmb(p2p, nvme, log, { state, registers });
    expect(r).toMatchObject({ registered: true, published: true, size: 0 });
    expect(p2pmemSysfs(p2p, nvme)!.size).toBe('268435456\n');
    // dev->cmb_size = 0, so the next call registers again: same pfns -> -ENOMEM
    const again = nvmeMapCmb(p2p, nvme, log, { state, registers });
    expect(again).toMatchObject({
      registered: false,
      reason: 'add-resource-failed',
      error: -ENOMEM,
    });
    expect(log.messages().slice(1)).toEqual([
      { level: 'warn', msg: 'Conflicting mapping in same section' },
      { level: 'warn', dev: '0000:01:00.0', msg: 'failed to register the CMB' },
    ]);
  });
});
