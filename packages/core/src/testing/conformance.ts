/**
 * conformanceGroups(): the DmaMapOps conformance suite as plain data, for any runner (the jest
 * adapter in describe.ts, a CLI). The plugin's factory is called once here to read the
 * capabilities the ops claim, which decide what is skipped, and once per case or property run
 * for a fresh kernel.
 */
import { DmaMapOps } from '../dma/map-ops';
import { ConformanceFailure } from './conformance-failure';
import { conformanceFabric } from './conformance-fabric';
import type { DmaMapOpsFactory } from './conformance-kernel';
import { ConformanceKernel } from './conformance-kernel';
import {
  DEFAULT_CONFORMANCE_NUM_RUNS,
  DEFAULT_CONFORMANCE_SEED,
  type ConformanceGroup,
  type ConformanceOptions,
  type SuiteContext,
} from './conformance-suite';
import { addressingGroup } from './group-addressing';
import { contractGroup } from './group-contract';
import { mapPhysGroup } from './group-map-phys';
import { mapResourceGroup } from './group-map-resource';
import { p2pdmaGroup, p2pdmaRefusedGroup } from './group-p2pdma';
import { returnConventionsGroup } from './group-return-conventions';
import { segmentLimitsGroup } from './group-segment-limits';
import { translationGroup } from './group-translation';
import { unmapGroup } from './group-unmap';

/**
 * The groups of the suite for the ops `factory` binds. When no kernel can be built with it (the
 * factory throws, or its module binds no DmaMapOps) the result is a single group whose one case
 * fails with that error, so runners report it like any failure.
 */
export function conformanceGroups(
  factory: DmaMapOpsFactory,
  options: ConformanceOptions = {},
): ConformanceGroup[] {
  const topology = conformanceFabric(options.platform);
  let probe: DmaMapOps;
  try {
    probe = new ConformanceKernel(topology, factory).ops;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return [
      {
        name: 'setup',
        cases: [
          {
            name: 'a kernel container can be built with the strategy, and it binds DmaMapOps',
            run() {
              throw new ConformanceFailure(
                `cannot build a kernel with the strategy under test: ${why}`,
              );
            },
          },
        ],
      },
    ];
  }
  const ctx: SuiteContext = {
    topology,
    factory,
    opsName: probe.name,
    caps: { ...probe.capabilities },
    seed: options.seed ?? DEFAULT_CONFORMANCE_SEED,
    numRuns: options.numRuns ?? DEFAULT_CONFORMANCE_NUM_RUNS,
    path: options.path,
  };
  return [
    contractGroup(ctx),
    returnConventionsGroup(ctx),
    translationGroup(ctx),
    segmentLimitsGroup(ctx),
    unmapGroup(ctx),
    p2pdmaGroup(ctx),
    p2pdmaRefusedGroup(ctx),
    mapPhysGroup(ctx),
    mapResourceGroup(ctx),
    addressingGroup(ctx),
  ];
}
