/**
 * The cost model reproduces the anchors it is calibrated on (anchors.md §4, §2; reference §4.4,
 * §4.5 for what a strict and a lazy unmap do, §3.2 for the dma-direct per-entry work, §9 for struct
 * pages). Tolerance: 1 % of each anchor, the precision of the 3-digit IOPS figures the per-I/O
 * times are derived from.
 */
import fc from 'fast-check';
import {
  COST_KEYS,
  COST_MODEL,
  DEFAULT_COST_MODEL,
  MODELLED_NOTE,
  costModelOverridesSchema,
  modelCpuNs,
  modelTransferNs,
  resolveCostModel,
  type MappingCounters,
} from '../src/scenario/cost-model';

const SEED = Number(process.env.FC_SEED ?? 20261121);
const TOLERANCE = 0.01;

function expectWithin(actual: number, anchor: number): void {
  expect(Math.abs(actual - anchor) / anchor).toBeLessThanOrEqual(TOLERANCE);
}

const m = DEFAULT_COST_MODEL;

/**
 * One 4 KiB O_DIRECT read mapped per I/O: one request, one scatterlist entry, one struct page.
 * Under an IOMMU dma-iommu adds one IOVA range and one iommu_map() (§4.2); strict unmap waits for
 * one iommu_iotlb_sync (§4.4), lazy unmap queues the range instead (§4.5).
 */
const passthroughIo: Partial<MappingCounters> = {
  ios: 1,
  segmentsMapped: 1,
  structPagesTouched: 1,
};
const strictIo: Partial<MappingCounters> = {
  ...passthroughIo,
  iovaAllocs: 1,
  iommuMapCalls: 1,
  iotlbSyncs: 1,
};

describe('cost model constants (anchors.md)', () => {
  it('every constant is positive, has a unit and cites an anchors.md section and tag', () => {
    for (const k of COST_KEYS) {
      const c = COST_MODEL[k];
      expect(c.value).toBeGreaterThan(0);
      expect(c.unit.length).toBeGreaterThan(0);
      expect(c.source).toMatch(/^anchors\.md (§\d|\(none\))/);
      expect(c.source).toMatch(/\[(V|D|C|U)[^\]]*\]/);
    }
  });

  it('names every term of issue 6: segment, IOVA, strict and lazy invalidation, struct page, NCCL peer factor', () => {
    for (const k of [
      'perSegmentNs',
      'perIovaAllocNs',
      'perIotlbInvalidationStrictNs',
      'perIotlbInvalidationLazyNs',
      'perStructPageNs',
      'peerThroughRootComplexFactor',
    ]) {
      expect(COST_KEYS).toContain(k);
    }
  });

  it('says the figures are modelled, not measured', () => {
    expect(MODELLED_NOTE).toMatch(/modelled/);
    expect(MODELLED_NOTE).toMatch(/not measured/);
  });
});

describe('modelCpuNs reproduces anchors.md §4 (Optane NVMe, 4 KiB I/O)', () => {
  it('passthrough: 1e9 / 5.01e6 = 199.6 ns per I/O (§3.2 dma-direct, one entry)', () => {
    // 180 (I/O) + 10 (entry) + 10 (struct page) = 200 ns; |200 - 199.6| / 199.6 = 0.2 %
    const r = modelCpuNs(passthroughIo, m);
    expect(r.total).toBe(200);
    expectWithin(r.total, 1e9 / 5.01e6);
  });

  it('strict: 1e9 / 570e3 = 1754.4 ns per I/O (§4.4: unmap waits for the IOTLB sync)', () => {
    // 200 + 112 (IOVA) + 141 (iommu_map) + 1300 (iotlb sync) = 1753 ns; 0.08 % below 1754.4
    const r = modelCpuNs(strictIo, m);
    expect(r.total).toBe(1753);
    expectWithin(r.total, 1e9 / 570e3);
    // the mapping alone excludes the 180 ns I/O base: 1753 - 180 = 1573
    expect(r.mapping).toBe(1573);
  });

  it('lazy: 1e9 / 1.93e6 = 518.1 ns per I/O (§4.5: 255 queued unmaps per flush of a 256-slot ring)', () => {
    // per I/O: 200 + 112 + 141 + 60 (queue_iova) = 513; plus one 1300 ns flush per 255 I/Os:
    // 255 * 513 + 1300 = 132115 ns, / 255 = 518.10 ns per I/O (0.006 % off 518.13)
    const n = 255;
    const r = modelCpuNs(
      {
        ios: n,
        segmentsMapped: n,
        structPagesTouched: n,
        iovaAllocs: n,
        iommuMapCalls: n,
        fqQueued: n,
        iotlbFlushAlls: 1,
      },
      m,
    );
    expect(r.total).toBe(132115);
    expectWithin(r.total / n, 1e9 / 1.93e6);
  });

  it('strict and lazy cost the same as passthrough when nothing is mapped per I/O (pre-mapped buffers)', () => {
    // anchors §4: pre-mapped buffers reach 5.01 M IOPS in every mode: no mapping counters -> the
    // 180 ns I/O base alone whatever the IOMMU mode, and nothing charged to mapping
    const r = modelCpuNs({ ios: 1 }, m);
    expect(r.total).toBe(180);
    expect(r.mapping).toBe(0);
    expect(r.total).toBeLessThanOrEqual(modelCpuNs(passthroughIo, m).total);
  });
});

describe('modelCpuNs reproduces dma_map_benchmark (anchors.md §4)', () => {
  it('map_sg + unmap_sg of 8 x 4 KiB under a strict IOMMU = 1.4 + 1.3 = 2.7 us', () => {
    // map: 8 * (10 + 10) entries and struct pages + 112 IOVA + 8 * 141 iommu_map = 1400
    // unmap: one range, one iotlb sync = 1300; total 2700 (no I/O base: the benchmark maps only)
    const r = modelCpuNs(
      {
        segmentsMapped: 8,
        structPagesTouched: 8,
        iovaAllocs: 1,
        iommuMapCalls: 8,
        iotlbSyncs: 1,
      },
      m,
    );
    expect(r.total).toBe(2700);
    expectWithin(r.total, 2700);
    expectWithin(r.breakdown.iotlbSyncs, 1300);
    expectWithin(r.total - r.breakdown.iotlbSyncs, 1400);
  });

  it('BUS_ADDR entries under the same IOMMU skip IOVA and the IOTLB (§4.6): 8 entries cost 140 ns', () => {
    // 8 * 5 (bus offset) + 1 * 20 (map-type lookup, one provider) + 8 * 10 (struct pages) = 140
    const r = modelCpuNs({ busAddrSegments: 8, p2pLookups: 1, structPagesTouched: 8 }, m);
    expect(r.total).toBe(140);
    expect(r.breakdown.iovaAllocs).toBe(0);
    expect(r.breakdown.iotlbSyncs).toBe(0);
  });

  it('swiotlb bounce: 64 KiB copied at 0.1 ns per byte = 6553.6 ns', () => {
    // 65536 * 0.1 = 6553.6
    expect(modelCpuNs({ bounceBytes: 65536 }, m).breakdown.bounceBytes).toBeCloseTo(6553.6, 6);
  });

  it('rejects negative or non-finite counters (misuse)', () => {
    // a counter counts operations (§4.2-§4.5); a negative or NaN one is a runner bug
    expect(() => modelCpuNs({ ios: -1 }, m)).toThrow(RangeError);
    expect(() => modelCpuNs({ iotlbSyncs: Number.NaN }, m)).toThrow(/iotlbSyncs/);
  });

  it(`is additive over the steps of a run (seed ${SEED})`, () => {
    // the runner may price each step and sum; that must equal pricing the summed counters
    const counters = fc.record({
      ios: fc.nat(1000),
      segmentsMapped: fc.nat(1000),
      busAddrSegments: fc.nat(1000),
      p2pLookups: fc.nat(1000),
      structPagesTouched: fc.nat(1000),
      iovaAllocs: fc.nat(1000),
      iommuMapCalls: fc.nat(1000),
      iotlbSyncs: fc.nat(1000),
      fqQueued: fc.nat(1000),
      iotlbFlushAlls: fc.nat(1000),
      bounceBytes: fc.nat(1 << 20),
    });
    console.log(`scenario-cost-model additivity: FC_SEED=${SEED}`);
    fc.assert(
      fc.property(counters, counters, (a, b) => {
        const keys = Object.keys(a) as (keyof MappingCounters)[];
        const sum = Object.fromEntries(keys.map((k) => [k, a[k] + b[k]])) as Partial<
          Record<keyof MappingCounters, number>
        >;
        const whole = modelCpuNs(sum, m).total;
        const parts = modelCpuNs(a, m).total + modelCpuNs(b, m).total;
        return Math.abs(whole - parts) <= 1e-6 * Math.max(1, whole);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

describe('overrides (the scenario `cost:` section)', () => {
  it('replace the constants they name and leave the others', () => {
    const o = resolveCostModel({ perIovaAllocNs: 300, peerThroughRootComplexFactor: 1.5 });
    expect(o.perIovaAllocNs).toBe(300);
    expect(o.peerThroughRootComplexFactor).toBe(1.5);
    expect(o.perIotlbInvalidationStrictNs).toBe(1300);
    // strict 4 KiB I/O: 1753 - 112 + 300 = 1941
    expect(modelCpuNs(strictIo, o).total).toBe(1941);
    expect(resolveCostModel()).toEqual(DEFAULT_COST_MODEL);
  });

  it('resolveCostModel refuses unknown keys and non-positive values (misuse)', () => {
    expect(() => resolveCostModel({ perIovaAlloc: 1 } as never)).toThrow(/valid keys: perIoNs/);
    expect(() => resolveCostModel({ perIoNs: 0 })).toThrow(RangeError);
    expect(() => resolveCostModel({ perIoNs: Number.POSITIVE_INFINITY })).toThrow(RangeError);
  });

  it('the schema accepts any subset of positive numbers', () => {
    expect(costModelOverridesSchema.parse({ perIovaAllocNs: 300 })).toEqual({
      perIovaAllocNs: 300,
    });
    expect(costModelOverridesSchema.parse({})).toEqual({});
    expect(costModelOverridesSchema.parse({ perBounceByteNs: 0.05 })).toEqual({
      perBounceByteNs: 0.05,
    });
  });

  it('the schema rejects an unknown key and lists the valid ones', () => {
    const r = costModelOverridesSchema.safeParse({ perIovaAlocNs: 300 });
    expect(r.success).toBe(false);
    const msg = r.error!.issues.map((i) => i.message).join('\n');
    expect(msg).toContain('"perIovaAlocNs"');
    for (const k of COST_KEYS) expect(msg).toContain(k);
  });

  it('the schema rejects zero, negative, infinite and non-numeric values, naming the key and unit', () => {
    for (const v of [0, -5, Number.POSITIVE_INFINITY, '300', null]) {
      const r = costModelOverridesSchema.safeParse({ perIovaAllocNs: v });
      expect(r.success).toBe(false);
      expect(r.error!.issues[0]!.path).toEqual(['perIovaAllocNs']);
      expect(r.error!.issues[0]!.message).toBe(
        'perIovaAllocNs must be a positive number (ns per IOVA range allocated)',
      );
    }
  });
});

describe('modelTransferNs (anchors.md §1, §2)', () => {
  it('is bytes x 8 over the bottleneck Gb/s', () => {
    // 4096 B * 8 = 32768 bits at 32 Gb/s (32 bits per ns) = 1024 ns
    expect(modelTransferNs(4096, 32, false, m)).toBe(1024);
    expect(modelTransferNs(0, 32, false, m)).toBe(0);
  });

  it('charges peer traffic through a root complex 1.2x, as NCCL does on Intel (§2)', () => {
    // 4096 B at 32 Gb/s = 1024 ns, x 1.2 = 1228.8 ns
    expect(modelTransferNs(4096, 32, true, m)).toBeCloseTo(1228.8, 9);
    // NCCL's gen4 x16 24 GB/s = 192 Gb/s: 1 GB through the Intel root complex moves at 24/1.2 = 20 GB/s
    const ns = modelTransferNs(1e9, 192, true, m);
    expect(1e9 / ns).toBeCloseTo(20, 9);
  });

  it('uses an overridden peer factor', () => {
    // 4096 B at 32 Gb/s = 1024 ns, x 2 = 2048 ns
    expect(
      modelTransferNs(4096, 32, true, resolveCostModel({ peerThroughRootComplexFactor: 2 })),
    ).toBe(2048);
  });

  it('rejects a non-positive bandwidth or negative bytes (misuse)', () => {
    expect(() => modelTransferNs(4096, 0, false, m)).toThrow(RangeError);
    expect(() => modelTransferNs(-1, 32, false, m)).toThrow(RangeError);
  });
});
