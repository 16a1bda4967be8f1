/**
 * The run metrics as the CLI shows them: each numeric RunMetrics field with its unit, which way
 * is better, and what it counts, in the order of RunMetrics. The text table, the CSV and the
 * reports all take their lists from here.
 */
import type { RunMetrics } from '@dmasim/core';
import { formatBytes, formatCount, formatGBps, formatNs } from './render/units';

/** The numeric metrics (all but integrity). */
export type NumericMetric = Exclude<keyof RunMetrics, 'integrity'>;

export type MetricUnit = 'bytes' | 'ns' | 'count' | 'GBps';

export interface MetricInfo {
  key: NumericMetric;
  unit: MetricUnit;
  /** Which way a design is better in it; absent when it describes the workload, not a cost. */
  better?: 'lower' | 'higher';
  /** What it counts, in a few words (RunMetrics' doc comments). */
  what: string;
}

/** Every numeric metric, in the order of RunMetrics (and of the text table). */
export const METRICS: readonly MetricInfo[] = [
  { key: 'bytesTransferred', unit: 'bytes', what: 'payload every DMA delivered' },
  { key: 'p2pBytes', unit: 'bytes', what: 'payload to or from a PCI BAR' },
  {
    key: 'hostBridgeBytes',
    unit: 'bytes',
    better: 'lower',
    what: 'payload through a root complex',
  },
  {
    key: 'iommuTranslatedBytes',
    unit: 'bytes',
    better: 'lower',
    what: 'payload an IOMMU translated',
  },
  { key: 'bounceBytes', unit: 'bytes', better: 'lower', what: 'copied through swiotlb' },
  { key: 'dmaSegments', unit: 'count', better: 'lower', what: 'DMA segments handed to devices' },
  { key: 'nvmeDescriptors', unit: 'count', better: 'lower', what: 'PRP entries, SGL descriptors' },
  { key: 'iovaBytesPeak', unit: 'bytes', better: 'lower', what: 'most IOVA space held at once' },
  { key: 'iotlbMisses', unit: 'count', better: 'lower', what: 'IOTLB misses' },
  { key: 'iommuFaults', unit: 'count', better: 'lower', what: 'DMAs the IOMMU refused' },
  {
    key: 'structPageBytes',
    unit: 'bytes',
    better: 'lower',
    what: 'struct pages of the P2P providers',
  },
  {
    key: 'mappingMetadataBytes',
    unit: 'bytes',
    better: 'lower',
    what: 'scatterlists, bio_vecs, dma_vecs, PRP lists',
  },
  { key: 'cpuNs', unit: 'ns', better: 'lower', what: 'modelled CPU time to map and unmap' },
  { key: 'transferNs', unit: 'ns', better: 'lower', what: 'modelled wire time of the DMAs' },
  { key: 'effectiveGBps', unit: 'GBps', better: 'higher', what: 'bytes moved per modelled ns' },
];

// Fails to compile when RunMetrics gains a numeric field METRICS lacks.
type Unlisted = Exclude<NumericMetric, (typeof METRICS)[number]['key']>;
const _complete: Unlisted extends never ? true : never = true;
void _complete;

/** The text formatter of each unit ("4.00 MiB", "5.34 µs", "6.69 GB/s", "9"). */
export const UNIT_FORMAT: Readonly<Record<MetricUnit, (v: number) => string>> = {
  bytes: formatBytes,
  ns: formatNs,
  count: formatCount,
  GBps: formatGBps,
};
