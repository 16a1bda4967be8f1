/**
 * The cost model of dmasim scenarios: the constants that turn what a run did (mapping counters,
 * bytes over a link) into modelled CPU and wire time. Every figure is modelled from the published
 * anchors (reference anchors.md), never measured; docs/cost-model.md shows each derivation.
 *
 * Tags in the sources follow anchors.md: [V] read in the source, [D] derived by arithmetic from a
 * [V] figure, [C] community measurement, [U] unverified placeholder (override it when you know
 * better). Every constant can be overridden from the scenario's `cost:` section.
 *
 * Calibration (anchors.md §4), all in ns:
 *   passthrough 4 KiB I/O  1e9 / 5.01e6 = 199.6   = io + segment + struct page
 *   strict 4 KiB I/O       1e9 / 570e3  = 1754.4  = passthrough + iova + iommu_map + strict sync
 *   lazy 4 KiB I/O         1e9 / 1.93e6 = 518.1   = passthrough + iova + iommu_map + queued unmap
 *                                                   + one flush-queue flush per 255 unmaps
 *   dma_map_benchmark 8 x 4 KiB, IOMMU (assumed strict): map_sg 1400 + unmap_sg 1300 = 2700
 *     = 8 segments + 8 struct pages + iova + 8 iommu_map (pages assumed discontiguous) + strict sync
 */
import { z } from 'zod';

/** One constant of the model, with where its value comes from. */
export interface CostConstant {
  readonly value: number;
  readonly unit: string;
  /** anchors.md section + tag ([V]/[D]/[C]/[U]) + how the value was derived. */
  readonly source: string;
}

export const COST_KEYS = [
  'perIoNs',
  'perSegmentNs',
  'perBusAddrSegmentNs',
  'perP2pLookupNs',
  'perStructPageNs',
  'perIovaAllocNs',
  'perIommuMapNs',
  'perIotlbInvalidationStrictNs',
  'perIotlbInvalidationLazyNs',
  'perIotlbFlushAllNs',
  'perBounceByteNs',
  'peerThroughRootComplexFactor',
] as const;
export type CostKey = (typeof COST_KEYS)[number];

/** The constant values a run uses: the defaults with the scenario's overrides applied. */
export type CostModel = { readonly [K in CostKey]: number };

/**
 * The default constants. Values are rounded to whole ns; the arithmetic in each source uses the
 * unrounded anchors (1754.4, 518.1, 199.6 ns per I/O).
 */
export const COST_MODEL: { readonly [K in CostKey]: CostConstant } = {
  perIoNs: {
    value: 180,
    unit: 'ns per I/O',
    source:
      'anchors.md §4 [D]: passthrough Optane 5.01 M IOPS = 199.6 ns per 4 KiB I/O, less one ' +
      'perSegmentNs (10) and one perStructPageNs (10) = 179.6; the block/NVMe submission and ' +
      'completion of a request without its mapping',
  },
  perSegmentNs: {
    value: 10,
    unit: 'ns per DMA entry mapped and unmapped',
    source:
      'anchors.md §4 [U]: no published ns figure for the per-entry work of dma-direct ' +
      '(phys_to_dma, dma_capable) or of dma-iommu (granule expansion, __finalise_sg); a placeholder ' +
      'small next to the 200 ns I/O it is part of',
  },
  perBusAddrSegmentNs: {
    value: 5,
    unit: 'ns per BUS_ADDR entry',
    source:
      'anchors.md §4 [V op, U ns]: a bus-offset addition and the bus-address mark per entry, the ' +
      'mark cleared at unmap; no published ns figure, placeholder half a perSegmentNs',
  },
  perP2pLookupNs: {
    value: 20,
    unit: 'ns per map-type lookup',
    source:
      'anchors.md §4 [V op, U ns]: one map-type lookup (pci_p2pdma_state on a provider change, an ' +
      'xarray load in the provider cache); no published ns figure, placeholder',
  },
  perStructPageNs: {
    value: 10,
    unit: 'ns per struct page touched',
    source:
      'anchors.md §3 [V: 64 B per 4 KiB page, memory only] and §4 [U ns]: pin/refcount, ' +
      'sg_set_page, the zone-device check; no published CPU figure, placeholder',
  },
  perIovaAllocNs: {
    value: 112,
    unit: 'ns per IOVA range allocated',
    source:
      'anchors.md §4 [D]: map_sg of 8 x 4 KiB = 1400 ns = IOVA alloc + 8 perIommuMapNs (141) + ' +
      '8 (perSegmentNs + perStructPageNs) (20) -> 1400 - 1128 - 160 = 112 (rcache hit path)',
  },
  perIommuMapNs: {
    value: 141,
    unit: 'ns per iommu_map() call',
    source:
      'anchors.md §4 [D]: 8 x 4 KiB map+unmap 2700 ns less the strict 4 KiB I/O IOMMU share ' +
      '(1754.4 - 199.6 = 1554.8) less 8 x 20 ns of entry work, over the 7 extra runs: ' +
      '(2700 - 160 - 1554.8) / 7 = 140.7 (the 8 pages assumed physically discontiguous)',
  },
  perIotlbInvalidationStrictNs: {
    value: 1300,
    unit: 'ns per strict unmap (iommu_iotlb_sync)',
    source:
      'anchors.md §4 [D]: strict IOMMU share 1554.8 - 112 - 141 = 1301.8; agrees with unmap_sg ' +
      '1.3 us [V] for 8 x 4 KiB; includes the range unmap and the IOVA free it brackets',
  },
  perIotlbInvalidationLazyNs: {
    value: 60,
    unit: 'ns per unmap queued to the flush queue',
    source:
      'anchors.md §4 [D]: lazy 518.1 - 199.6 = 318.5 ns IOMMU share, less 112 + 141 and one ' +
      'perIotlbFlushAllNs per 255 unmaps (1300 / 255 = 5.1; a 256-slot per-CPU ring holds 255) ' +
      '= 60.4 (range unmap + queue_iova)',
  },
  perIotlbFlushAllNs: {
    value: 1300,
    unit: 'ns per flush-queue flush (flush_iotlb_all)',
    source:
      'anchors.md §4 [U]: a domain-wide invalidation assumed to cost one strict invalidation ' +
      '(1300 ns, [D]); amortised over 255 unmaps it is 5.1 ns of the lazy 518 ns',
  },
  perBounceByteNs: {
    value: 0.1,
    unit: 'ns per byte copied through swiotlb',
    source:
      'anchors.md (none) [U]: swiotlb_bounce memcpy, placeholder of 10 GB/s per copy; anchors.md ' +
      'gives no bounce figure',
  },
  peerThroughRootComplexFactor: {
    value: 1.2,
    unit: 'x wire time',
    source:
      'anchors.md §2 [V]: NCCL charges 1.2x bandwidth (INTEL_P2P_OVERHEAD, bw*6/5, "64B TLPs") ' +
      'when GPU peer traffic crosses an Intel CPU root complex; applied as 1.2x wire time',
  },
};

/** The default constant values, without their sources. */
export const DEFAULT_COST_MODEL: CostModel = Object.freeze(
  Object.fromEntries(COST_KEYS.map((k) => [k, COST_MODEL[k].value])) as Record<CostKey, number>,
);

/** One sentence for every output that shows times. */
export const MODELLED_NOTE =
  'Times are modelled from published figures (anchors.md, see docs/cost-model.md), not measured: ' +
  'CPU time from per-operation constants, wire time from the bottleneck link bandwidth.';

function isPositive(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0;
}

const VALID_KEYS = COST_KEYS.join(', ');

/**
 * The scenario file's `cost:` section: any subset of the constants, each a positive number in the
 * constant's unit. Unknown keys are rejected with the list of valid ones.
 */
export const costModelOverridesSchema: z.ZodType<Partial<CostModel>> = z.strictObject(
  Object.fromEntries(
    COST_KEYS.map((k) => [
      k,
      z
        .number({ error: `${k} must be a positive number (${COST_MODEL[k].unit})` })
        .positive({ error: `${k} must be a positive number (${COST_MODEL[k].unit})` })
        .optional(),
    ]),
  ),
  {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? `unknown cost constant ${iss.keys.map((k) => JSON.stringify(k)).join(', ')}; valid keys: ${VALID_KEYS}`
        : undefined,
  },
);

/**
 * The defaults with `overrides` applied. Throws (library misuse) on an unknown key or a value that
 * is not a positive finite number; scenario files are checked by costModelOverridesSchema first.
 */
export function resolveCostModel(overrides?: Partial<CostModel>): CostModel {
  const m: Record<CostKey, number> = { ...DEFAULT_COST_MODEL };
  for (const [k, v] of Object.entries(overrides ?? {})) {
    if (!(COST_KEYS as readonly string[]).includes(k)) {
      throw new RangeError(`unknown cost constant ${JSON.stringify(k)}; valid keys: ${VALID_KEYS}`);
    }
    if (v === undefined) continue;
    if (!isPositive(v)) {
      throw new RangeError(`cost constant ${k} must be a positive finite number, got ${String(v)}`);
    }
    m[k as CostKey] = v;
  }
  return Object.freeze(m);
}

/**
 * What one run did on its mapping paths, gathered by the runner. The kernel keeps no such
 * counters; they count the work the modelled functions stand for. Where they come from:
 * - segmentsMapped: DmaDirectStats.mappings; DmaIommuStats.mapSgEntries - busAddrEntries +
 *   mappings; a strategy's own count of RAM / THRU_HOST_BRIDGE entries it mapped
 * - busAddrSegments: DmaDirectStats.busAddrMappings + DmaIommuStats.busAddrEntries (+ dma_vecs
 *   holding bus addresses)
 * - p2pLookups: DmaDirectStats.p2pLookups + DmaIommuStats.p2pLookups
 * - iovaAllocs: DmaIommuStats.iovaAllocs; iommuMapCalls: DmaIommuStats.iommuMapCalls
 * - iotlbSyncs: Iommu.counters.iotlbSync (strict unmaps)
 * - fqQueued: FlushQueueStats.queued; iotlbFlushAlls: FlushQueueStats.flushes (lazy)
 * - bounceBytes: SwiotlbStats.bytesBounced
 * The IOMMU mode is read from the counters: strict domains sync, lazy ones queue and flush,
 * passthrough and no-IOMMU runs do neither.
 */
export interface MappingCounters {
  /** Block requests / NVMe commands submitted and completed. */
  readonly ios: number;
  /** DMA entries given a DMA address by the DMA layer (RAM, THRU_HOST_BRIDGE, single mappings). */
  readonly segmentsMapped: number;
  /** BUS_ADDR entries: bus offset added, marked, mark cleared at unmap. */
  readonly busAddrSegments: number;
  /** Map-type lookups (pci_p2pdma_state() on a provider change). */
  readonly p2pLookups: number;
  /** Pages whose struct page the path handles (pinned, put in a scatterlist, checked), per I/O. */
  readonly structPagesTouched: number;
  /** iommu_dma_alloc_iova() calls that returned a range. */
  readonly iovaAllocs: number;
  /** iommu_map() calls (one per physically contiguous run). */
  readonly iommuMapCalls: number;
  /** iommu_iotlb_sync() range invalidations waited for (strict unmaps). */
  readonly iotlbSyncs: number;
  /** Unmaps queued by queue_iova() (lazy). */
  readonly fqQueued: number;
  /** fq_flush_iotlb() domain-wide flushes (lazy). */
  readonly iotlbFlushAlls: number;
  /** Bytes copied through swiotlb bounce buffers. */
  readonly bounceBytes: number;
}

export type CpuCostTerm = keyof MappingCounters;

/** Which constant prices each counter. */
const PRICE_OF: { readonly [T in CpuCostTerm]: CostKey } = {
  ios: 'perIoNs',
  segmentsMapped: 'perSegmentNs',
  busAddrSegments: 'perBusAddrSegmentNs',
  p2pLookups: 'perP2pLookupNs',
  structPagesTouched: 'perStructPageNs',
  iovaAllocs: 'perIovaAllocNs',
  iommuMapCalls: 'perIommuMapNs',
  iotlbSyncs: 'perIotlbInvalidationStrictNs',
  fqQueued: 'perIotlbInvalidationLazyNs',
  iotlbFlushAlls: 'perIotlbFlushAllNs',
  bounceBytes: 'perBounceByteNs',
};

export interface CpuCost {
  /** All terms, the I/O base included (ns). */
  total: number;
  /** total without the I/O base: the mapping and unmapping alone (RunMetrics.cpuNs). */
  mapping: number;
  /** Each counter times its constant (ns). */
  breakdown: Record<CpuCostTerm, number>;
}

/**
 * Modelled CPU time of a run: each counter times its constant. Missing counters count as 0;
 * negative or non-finite ones are misuse and throw.
 */
export function modelCpuNs(c: Partial<MappingCounters>, m: CostModel): CpuCost {
  const breakdown = {} as Record<CpuCostTerm, number>;
  let total = 0;
  for (const term of Object.keys(PRICE_OF) as CpuCostTerm[]) {
    const n = c[term] ?? 0;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
      throw new RangeError(
        `mapping counter ${term} must be a non-negative number, got ${String(n)}`,
      );
    }
    breakdown[term] = n * m[PRICE_OF[term]];
    total += breakdown[term];
  }
  return { total, mapping: total - breakdown.ios, breakdown };
}

/**
 * Modelled wire time of `bytes` over a path whose bottleneck link gives `gbps` Gb/s of payload
 * (10^9 bits per second, i.e. bits per ns). Peer traffic through a root complex is charged
 * peerThroughRootComplexFactor, as NCCL charges GPU P2P through an Intel CPU (the caller decides
 * when that applies).
 */
export function modelTransferNs(
  bytes: number,
  gbps: number,
  peerThroughRootComplex: boolean,
  m: CostModel,
): number {
  if (!Number.isFinite(bytes) || bytes < 0) {
    throw new RangeError(`modelTransferNs: bytes must be a non-negative number, got ${bytes}`);
  }
  if (!isPositive(gbps)) {
    throw new RangeError(`modelTransferNs: bandwidth must be a positive Gb/s figure, got ${gbps}`);
  }
  const ns = (bytes * 8) / gbps;
  return peerThroughRootComplex ? ns * m.peerThroughRootComplexFactor : ns;
}
