/**
 * The DmaMapOps conformance suite (src/testing) tested on ops written here: a minimal correct
 * identity ops passes every case, and ops with one deliberate defect each fail the case that
 * checks what they break. Reference sections: §1.1 and §1.2 (the fabric's map types), §3.2, §3.3,
 * §8, §11 (the rules the cases check).
 */
import { ContainerModule } from 'inversify';
import {
  DMA_MAPPING_ERROR,
  DmaMapOps,
  EIO,
  EREMOTEIO,
  KernelLog,
  P2pdmaDevices,
  PciP2pdmaMapState,
  PciP2pdmaMapType,
  pciP2pdmaAddResource,
  pciP2pdmaBusAddrMap,
  pciP2pdmaMapType,
  pciP2pdmaState,
  sgDmaMarkBusAddress,
  sgDmaUnmarkBusAddress,
  sgEntries,
  sgPhys,
  type DmaDevice,
  type DmaMapOpsCapabilities,
  type Scatterlist,
} from '../src';
import {
  CONFORMANCE_MAP_TYPES,
  CONFORMANCE_PROVIDERS,
  conformanceFabric,
  conformanceGroups,
  describeDmaMapOpsConformance,
  type ConformanceGroup,
} from '../src/testing';

const SEED = Number(process.env.FC_SEED ?? 20261121);
/** Few runs: the example cases catch the defects; the properties only need to run. */
const NUM_RUNS = 8;
/** A 64 TiB aperture: above every CPU physical and bus address of the fabric. */
const APERTURE = 0x4000_0000_0000;

interface Defects {
  /** map_sg returns 0 instead of -EREMOTEIO (the pre-2021 convention, §3.3). */
  zeroOnError?: boolean;
  /**
   * Not a defect: RAM and THRU_HOST_BRIDGE pages are mapped at CPU physical + this (a GART-like
   * aperture), so that a mapping the ops keep is visible as a translation.
   */
  aperture?: number;
  /** unmap_sg / unmap_phys forget the mapping: its aperture address stays translated (a leak). */
  leakOnUnmap?: boolean;
  /** BUS_ADDR pages get their CPU physical address, without the bus offset (§1.1). */
  noBusOffset?: boolean;
  /** Physically contiguous DMA segments are merged without regard to max_segment_size (§8 item 10). */
  mergeUnlimited?: boolean;
  /** Claim no P2PDMA support: every P2PDMA page is refused (§11). */
  noP2p?: boolean;
}

interface Range {
  dma: number;
  size: number;
  phys: number;
}

/**
 * An identity DmaMapOps: DMA address = CPU physical address (+ aperture) for RAM and
 * THRU_HOST_BRIDGE pages, bus address for BUS_ADDR pages, -EREMOTEIO for NOT_SUPPORTED ones (the
 * dma-direct rules of §3.2, without swiotlb), with every live mapping remembered for dmaToPhys().
 */
class IdentityOps implements DmaMapOps {
  readonly name: string;
  readonly capabilities: DmaMapOpsCapabilities;
  private readonly sgMaps = new Map<Scatterlist, { dev: DmaDevice; ranges: Range[] }>();
  private readonly single: { dev: DmaDevice; r: Range }[] = [];

  constructor(
    private readonly p2p: P2pdmaDevices,
    private readonly log: KernelLog,
    private readonly defects: Defects,
  ) {
    this.name = `identity${Object.keys(defects).length ? `(${Object.keys(defects).join(',')})` : ''}`;
    this.capabilities = {
      pciP2pdma: !defects.noP2p,
      mergesSegments: !!defects.mergeUnlimited,
      mapResource: true,
      bounce: false,
    };
  }

  mapSg(dev: DmaDevice, sgl: Scatterlist, nents: number) {
    const ents = sgEntries(sgl, nents);
    const state = new PciP2pdmaMapState();
    const segs: (Range & { bus: boolean })[] = [];
    for (const s of ents) {
      const phys = sgPhys(s);
      const type = pciP2pdmaState(this.p2p, state, dev.pci, s.page!, this.log);
      let err = 0;
      if (
        type === PciP2pdmaMapType.NONE ||
        (type === PciP2pdmaMapType.THRU_HOST_BRIDGE && !this.defects.noP2p)
      ) {
        const dma = phys + (this.defects.aperture ?? 0);
        if (dma + s.length - 1 > dev.dmaLimit) err = -EIO;
        else segs.push({ dma, size: s.length, phys, bus: false });
      } else if (type === PciP2pdmaMapType.BUS_ADDR && !this.defects.noP2p) {
        const dma = this.defects.noBusOffset ? phys : pciP2pdmaBusAddrMap(state, phys);
        segs.push({ dma, size: s.length, phys, bus: true });
      } else err = -EREMOTEIO;
      // Nothing was written yet, so the unwind has nothing to undo.
      if (err) return this.defects.zeroOnError ? 0 : err;
    }
    const out: typeof segs = [];
    for (const g of segs) {
      const prev = out[out.length - 1];
      if (
        this.defects.mergeUnlimited &&
        prev &&
        prev.bus === g.bus &&
        prev.dma + prev.size === g.dma
      ) {
        prev.size += g.size;
      } else out.push({ ...g });
    }
    out.forEach((g, i) => {
      const o = ents[i]!;
      o.dmaAddress = g.dma;
      o.dmaLength = g.size;
      if (g.bus) sgDmaMarkBusAddress(o);
    });
    this.sgMaps.set(sgl, { dev, ranges: segs });
    return out.length;
  }

  unmapSg(_dev: DmaDevice, sgl: Scatterlist, nents: number) {
    for (const s of sgEntries(sgl, nents)) sgDmaUnmarkBusAddress(s);
    if (!this.defects.leakOnUnmap) this.sgMaps.delete(sgl);
  }

  mapPhys(dev: DmaDevice, phys: number, size: number) {
    const dma = phys + (this.defects.aperture ?? 0);
    if (dma + size - 1 > dev.dmaLimit) return DMA_MAPPING_ERROR;
    this.single.push({ dev, r: { dma, size, phys } });
    return dma;
  }

  unmapPhys(dev: DmaDevice, addr: number) {
    const i = this.single.findIndex((m) => m.dev === dev && m.r.dma === addr);
    if (i >= 0 && !this.defects.leakOnUnmap) this.single.splice(i, 1);
  }

  mapResource(dev: DmaDevice, phys: number, size: number) {
    return this.mapPhys(dev, phys, size);
  }

  unmapResource(dev: DmaDevice, addr: number) {
    this.unmapPhys(dev, addr);
  }

  dmaToPhys(dev: DmaDevice, addr: number): number | undefined {
    const hit = (r: Range) => addr >= r.dma && addr < r.dma + r.size;
    for (const m of this.single) if (m.dev === dev && hit(m.r)) return m.r.phys + (addr - m.r.dma);
    for (const m of this.sgMaps.values()) {
      const r = m.dev === dev ? m.ranges.find(hit) : undefined;
      if (r) return r.phys + (addr - r.dma);
    }
    return undefined;
  }
}

function identityModule(defects: Defects = {}): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<DmaMapOps>(DmaMapOps)
      .toDynamicValue((ctx) => new IdentityOps(ctx.get(P2pdmaDevices), ctx.get(KernelLog), defects))
      .inSingletonScope();
  });
}

function groupsFor(defects: Defects = {}): ConformanceGroup[] {
  return conformanceGroups(() => identityModule(defects), { seed: SEED, numRuns: NUM_RUNS });
}

/** The one case whose name contains `name` (throws if none or several match). */
function caseNamed(groups: ConformanceGroup[], name: string) {
  const found = groups.flatMap((g) => g.cases.filter((c) => c.name.includes(name)));
  if (found.length !== 1) throw new Error(`${found.length} cases match "${name}"`);
  return found[0]!;
}

/** Runs every case of the groups not skipped; returns the failures as "case: message". */
function failures(groups: ConformanceGroup[]): string[] {
  const out: string[] = [];
  for (const g of groups) {
    if (g.skip) continue;
    for (const c of g.cases) {
      try {
        void c.run();
      } catch (e) {
        out.push(`${c.name}: ${(e as Error).message}`);
      }
    }
  }
  return out;
}

describe('the conformance fabric (§1.2)', () => {
  it('gives the client the map type each provider stands for', () => {
    // Intel CPU: cpu_supports_p2pdma() is false, the allowlist decides paths that leave the switch.
    // nvme0/nvme1: common upstream port 01:00.0, no ACS redirect anywhere -> BUS_ADDR.
    // thru: no common upstream; hb0 and hb1 both have 8086:2020 (Skylake-E, no
    //   REQ_SAME_HOST_BRIDGE) at 00.0 -> THRU_HOST_BRIDGE.
    // remote: hb2's 8086:6f00 is in no allowlist entry -> NOT_SUPPORTED.
    const topo = conformanceFabric();
    const p2p = new P2pdmaDevices(topo);
    const client = topo.get('client');
    const got = CONFORMANCE_PROVIDERS.map((p) => {
      const dev = topo.get(p);
      expect(pciP2pdmaAddResource(p2p, dev, 2, 0, 0)).toBe(0);
      return pciP2pdmaMapType(p2p, dev, client);
    });
    const { BUS_ADDR, THRU_HOST_BRIDGE, NOT_SUPPORTED } = PciP2pdmaMapType;
    expect(got).toEqual([BUS_ADDR, BUS_ADDR, THRU_HOST_BRIDGE, NOT_SUPPORTED]);
    expect(CONFORMANCE_PROVIDERS.map((p) => CONFORMANCE_MAP_TYPES[p])).toEqual(got);
  });

  it('puts nvme0 BAR 2 at CPU 0x100_0000_0000 with bus offset 16 TiB, thru at 2 TiB with 32 TiB', () => {
    // Default windows: 64-bit prefetchable window of host bridge i at (i + 1) TiB; the first
    // (largest-first) 64 MiB BAR lands at its base. Bus address = CPU + the host bridge's offset.
    const topo = conformanceFabric();
    const nvme0 = topo.get('nvme0').bar(2)!;
    expect(nvme0.cpuAddress).toBe(0x100_0000_0000);
    expect(nvme0.busAddress).toBe(0x100_0000_0000 + 0x1000_0000_0000);
    const thru = topo.get('thru').bar(2)!;
    expect(thru.cpuAddress).toBe(0x200_0000_0000);
    expect(thru.busAddress - thru.cpuAddress).toBe(32 * 2 ** 40);
  });
});

// The jest adapter, as a plugin uses it (groups, skip reasons and the seed in the names).
describeDmaMapOpsConformance('identity ops of this test', () => identityModule(), {
  seed: SEED,
  numRuns: NUM_RUNS,
});

describe(`conformance suite on a correct identity ops (fast-check seed ${SEED}, ${NUM_RUNS} runs)`, () => {
  it('passes every case and skips only the group of the P2P support it does not lack', () => {
    const groups = groupsFor();
    expect(failures(groups)).toEqual([]);
    // pciP2pdma and mapResource are claimed: only the "refused" group is skipped.
    expect(groups.filter((g) => g.skip).map((g) => g.name)).toEqual([
      'P2PDMA pages refused without pciP2pdma (§3.3, §11)',
    ]);
  });

  it('passes every case without P2PDMA support, with the map-type group skipped (§11)', () => {
    const groups = groupsFor({ noP2p: true });
    expect(failures(groups)).toEqual([]);
    const skipped = groups.filter((g) => g.skip);
    expect(skipped.map((g) => g.name)).toEqual(['P2PDMA pages by map type (§1.1, §3.2)']);
    expect(skipped[0]!.skip).toMatch(/pciP2pdma is false/);
  });
});

describe(`conformance suite on broken ops (fast-check seed ${SEED})`, () => {
  it('§3.3/§11 fails ops whose map_sg returns 0 on error', () => {
    const groups = groupsFor({ zeroOnError: true });
    expect(() => caseNamed(groups, 'a failing map_sg returns a negative errno').run()).toThrow(
      /map_sg returned 0; a failed map_sg must return -EINVAL, -ENOMEM, -EIO or -EREMOTEIO/,
    );
    // Through dma_map_sgtable() the generic layer WARNs and turns the 0 into -EIO.
    expect(() => caseNamed(groups, 'dma_map_sgtable returns the negative code').run()).toThrow(
      /generic layer WARNed/,
    );
    // Lists without a refused page still map correctly.
    expect(() => caseNamed(groups, 'chained table of 300 entries').run()).not.toThrow();
  });

  it('§3.2/§8 fails ops that leak mappings on unmap', () => {
    // With the aperture alone the ops are correct: a translating ops passes.
    expect(failures(groupsFor({ aperture: APERTURE }))).toEqual([]);
    const groups = groupsFor({ aperture: APERTURE, leakOnUnmap: true });
    // The first entry of the mixed list is 3 pages of RAM one page after the RAM region's start:
    // 1 GiB + 4 KiB = 0x40001000, mapped at 0x4000_0000_0000 + 0x40001000 = 0x400040001000.
    expect(() => caseNamed(groups, 'dma_unmap_sg with the nents given').run()).toThrow(
      'after dma_unmap_sg, DMA address 0x400040001000 still reaches CPU physical 0x40001000',
    );
    expect(() => caseNamed(groups, 'dma_unmap_phys releases them').run()).toThrow(
      /after dma_unmap_phys, DMA address .* still reaches/,
    );
  });

  it('§1.1 fails ops that forget the bus offset of BUS_ADDR pages, in the example and in the property', () => {
    const groups = groupsFor({ noBusOffset: true });
    // nvme0's first pool byte is BAR 2's start, CPU 0x100_0000_0000; hb0's offset is 16 TiB =
    // 0x1000_0000_0000: the bus address is 0x1100_0000_0000, the broken ops programs 0x100_0000_0000.
    expect(() =>
      caseNamed(groups, 'BUS_ADDR pages: DMA address = CPU physical + bus offset').run(),
    ).toThrow(
      'CPU physical 0x10000000000 + bus offset 0x100000000000 = 0x110000000000, but the DMA address is 0x10000000000',
    );
    expect(() =>
      caseNamed(groups, 'random lists of RAM and P2P pages of every map type').run(),
    ).toThrow(new RegExp(`bus offset[\\s\\S]*fast-check counterexample[\\s\\S]*seed ${SEED}`));
    // THRU_HOST_BRIDGE and RAM entries are unaffected.
    expect(() => caseNamed(groups, 'THRU_HOST_BRIDGE pages: mapped like RAM').run()).not.toThrow();
  });

  it('§8 (10) fails ops that merge contiguous entries beyond max_segment_size', () => {
    const groups = groupsFor({ mergeUnlimited: true });
    // Four contiguous 64 KiB entries merge into one of 4 x 65536 = 262144 bytes > 65536.
    expect(() =>
      caseNamed(groups, 'four physically contiguous 64 KiB entries of System RAM').run(),
    ).toThrow("output entry 0 is 262144 bytes, longer than the device's max segment size 65536");
    // 16 x 4 KiB from 32 KiB into a window: all merged is 65536 bytes (not too long) but spans
    // [base + 0x8000, base + 0x18000), crossing base + 0x10000.
    expect(() => caseNamed(groups, 'sixteen contiguous 4 KiB entries of System RAM').run()).toThrow(
      /output entry 0 \[0x40008000, \+65536\) crosses the device's segment boundary \(mask 0xffff/,
    );
  });

  it('reports a strategy that binds no DmaMapOps as one failing setup case', () => {
    const groups = conformanceGroups(() => new ContainerModule(() => {}));
    expect(groups.map((g) => g.name)).toEqual(['setup']);
    expect(() => groups[0]!.cases[0]!.run()).toThrow(
      /cannot build a kernel with the strategy under test/,
    );
  });
});
