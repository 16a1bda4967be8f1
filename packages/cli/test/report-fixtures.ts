/**
 * Hand-built inputs for the report tests: the scenario examples/scenarios/copy-offload.yaml (its
 * machine is examples/topologies/switch-2nvme-nic.yaml: root port 00:01.1, switch 01:00.0 with
 * downstream ports 02:00.0, 02:01.0, 02:02.0, and nvme0 03:00.0, nvme1 04:00.0, mlx5_0 05:00.0),
 * run results and a sweep document written by hand, not by the runner.
 */
import { join } from 'node:path';
import {
  loadScenarioFile,
  type LoadedScenario,
  type RunMetrics,
  type ScenarioRunResult,
  type TransferPath,
} from '@dmasim/core';
import type { ReportInput } from '../src/report';
import type { SweepJson, SweepRow } from '../src/sweep/types';
import { REPO } from './helpers';

export const COPY_OFFLOAD = join(REPO, 'examples', 'scenarios', 'copy-offload.yaml');
export const TWO_SOCKETS = join(REPO, 'examples', 'scenarios', 'no-provider-fallback.yaml');

export function scenario(path = COPY_OFFLOAD): LoadedScenario {
  return loadScenarioFile(path);
}

export function reportInput(s: LoadedScenario = scenario()): ReportInput {
  return {
    scenario: s,
    source: 'examples/scenarios/copy-offload.yaml',
    titles: {
      'dma-direct': 'dma-direct: page-backed scatterlists, bus-address segments marked',
      'dma-iommu': 'dma-iommu: page-backed scatterlists through an IOVA allocator',
    },
    version: '9.8.7',
  };
}

export function metrics(over: Partial<RunMetrics> = {}): RunMetrics {
  return {
    bytesTransferred: 0,
    p2pBytes: 0,
    hostBridgeBytes: 0,
    iommuTranslatedBytes: 0,
    bounceBytes: 0,
    dmaSegments: 0,
    nvmeDescriptors: 0,
    iovaBytesPeak: 0,
    iotlbMisses: 0,
    iommuFaults: 0,
    structPageBytes: 0,
    mappingMetadataBytes: 0,
    cpuNs: 0,
    transferNs: 0,
    effectiveGBps: 0,
    integrity: 'not-checked',
    ...over,
  };
}

/** mlx5_0 writes 1 MiB into nvme1's CMB below the switch: BUS_ADDR, two links (§1.2 distance 4). */
export const P2P_RECEIVE: TransferPath = {
  step: 'receive',
  initiator: 'mlx5_0',
  target: 'nvme1',
  initiatorBdf: '0000:05:00.0',
  targetBdf: '0000:04:00.0',
  writeBytes: 1048576,
  readBytes: 0,
  refused: 0,
  viaRootComplex: false,
  crossHostBridge: false,
  links: [
    { bdf: '0000:05:00.0', dir: 'up' },
    { bdf: '0000:04:00.0', dir: 'down' },
  ],
};

/** The same write sent up to the root complex by ACS redirect (§1.2 THRU_HOST_BRIDGE). */
export const RC_RECEIVE: TransferPath = {
  ...P2P_RECEIVE,
  viaRootComplex: true,
  links: [
    { bdf: '0000:05:00.0', dir: 'up' },
    { bdf: '0000:01:00.0', dir: 'up' },
    { bdf: '0000:01:00.0', dir: 'down' },
    { bdf: '0000:04:00.0', dir: 'down' },
  ],
};

/** nvme0 reads 512 KiB from RAM. */
export const RAM_READ: TransferPath = {
  step: 'flush',
  initiator: 'nvme0',
  target: 'RAM',
  initiatorBdf: '0000:03:00.0',
  writeBytes: 0,
  readBytes: 524288,
  refused: 0,
  viaRootComplex: true,
  crossHostBridge: false,
  links: [
    { bdf: '0000:03:00.0', dir: 'up' },
    { bdf: '0000:01:00.0', dir: 'up' },
  ],
};

/** mlx5_0's write refused by the IOMMU at the root complex (no data moved). */
export const REFUSED_RECEIVE: TransferPath = {
  step: 'receive',
  initiator: 'mlx5_0',
  target: '(refused)',
  initiatorBdf: '0000:05:00.0',
  writeBytes: 0,
  readBytes: 0,
  refused: 1,
  viaRootComplex: true,
  crossHostBridge: false,
  links: [
    { bdf: '0000:05:00.0', dir: 'up' },
    { bdf: '0000:01:00.0', dir: 'up' },
  ],
};

/**
 * Two designs: dma-direct completes (1 MiB peer-to-peer, 4 MiB of struct pages for the 256 MiB
 * CMB, §9), "acme-vec" (a plugin's id) fails its receive with a message that holds markup, and
 * its check is skipped.
 */
export function runResult(): ScenarioRunResult {
  return {
    schemaVersion: 1,
    scenario: 'copy-offload',
    modelled: 'Times are modelled, not measured.',
    notes: ['acme-vec fails at step "receive" where dma-direct succeeds.'],
    results: [
      {
        strategy: 'dma-direct',
        ok: true,
        steps: [
          { id: 'cmb', ok: true, skipped: false, stage: null, error: null, detail: '1 MiB' },
          { id: 'receive', ok: true, skipped: false, stage: null, error: null },
          { id: 'check', ok: true, skipped: false, stage: null, error: null },
        ],
        metrics: metrics({
          bytesTransferred: 1048576,
          p2pBytes: 1048576,
          dmaSegments: 1,
          structPageBytes: 4194304,
          mappingMetadataBytes: 32,
          cpuNs: 2000,
          transferNs: 156682,
          effectiveGBps: 6.692,
          integrity: 'verified',
        }),
        notes: ['pci_p2pmem_find_many() chose nvme1'],
        transfers: [P2P_RECEIVE],
      },
      {
        strategy: 'acme-vec',
        ok: false,
        steps: [
          { id: 'cmb', ok: true, skipped: false, stage: null, error: null, detail: '1 MiB' },
          {
            id: 'receive',
            ok: false,
            skipped: false,
            stage: 'map',
            error: { code: '-EREMOTEIO', message: 'refused </script><b>x</b> & "quoted"' },
          },
          {
            id: 'check',
            ok: false,
            skipped: true,
            stage: 'dependency',
            error: { code: 'skipped', message: 'needs step "receive"' },
          },
        ],
        metrics: metrics({ iommuFaults: 1, iotlbMisses: 1, cpuNs: 500 }),
        notes: ['kernel: IO_PAGE_FAULT'],
        transfers: [REFUSED_RECEIVE],
      },
    ],
  };
}

/**
 * A sweep over ioSize (4 KiB .. 1 MiB, numeric: a log2 axis, §5.1 sizes) and iommu (strict,
 * off), three designs. Figures are made up, so each is known: effectiveGBps = 1 + i (i = the
 * size's index) for every design; cpuNs = 100 * (i + 1) * (design index + 1); dmaSegments =
 * 1 MiB / ioSize; scatterlists of 32 bytes per segment (dma_vecs 16 for dma-vec); struct pages
 * 4 MiB except under dma-vec (§9); hostBridgeBytes 0 everywhere; dma-vec fails at ioSize=4KiB
 * with iommu=strict (step flush, -EINVAL).
 */
export const SWEEP_SIZES = ['4KiB', '16KiB', '64KiB', '256KiB', '1MiB'];
export const SWEEP_DESIGNS = ['dma-direct', 'dma-iommu', 'dma-vec'];

export function sweepDoc(): SweepJson {
  const rows: SweepRow[] = [];
  SWEEP_SIZES.forEach((size, i) => {
    for (const iommu of ['strict', 'off']) {
      SWEEP_DESIGNS.forEach((strategy, d) => {
        const failed = strategy === 'dma-vec' && size === '4KiB' && iommu === 'strict';
        rows.push({
          point: { ioSize: size, iommu },
          strategy,
          ok: !failed,
          failedStep: failed ? 'flush' : null,
          error: failed ? '-EINVAL' : null,
          metrics: metrics({
            bytesTransferred: 1048576,
            dmaSegments: 1048576 / (4096 * 4 ** i),
            mappingMetadataBytes: ((strategy === 'dma-vec' ? 16 : 32) * 1048576) / (4096 * 4 ** i),
            structPageBytes: strategy === 'dma-vec' ? 0 : 4194304,
            cpuNs: 100 * (i + 1) * (d + 1),
            effectiveGBps: 1 + i,
            integrity: 'verified',
          }),
        });
      });
    }
  });
  return {
    schemaVersion: 1,
    scenario: 'copy-offload',
    modelled: 'Times are modelled, not measured.',
    parameters: [
      {
        key: 'ioSize',
        values: SWEEP_SIZES,
        numeric: SWEEP_SIZES.map((_, i) => 4096 * 4 ** i),
      },
      { key: 'iommu', values: ['strict', 'off'] },
    ],
    rows,
  };
}

/** The text of a report's <script id="dmasim-data"> block. */
export function embeddedJson(html: string): string {
  const m = /<script type="application\/json" id="dmasim-data">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error('no dmasim-data block');
  return m[1];
}
