/**
 * @dmasim/core/testing: the DmaMapOps conformance suite for plugin authors (a package subpath,
 * not part of @dmasim/core's main entry, so that fast-check is loaded only by tests).
 *
 * In a plugin's tests:
 *
 *   import { describeDmaMapOpsConformance } from '@dmasim/core/testing';
 *   describeDmaMapOpsConformance('my-ops', () => myStrategy);
 *
 * Elsewhere, conformanceGroups() returns the same suite as data: groups of cases whose run()
 * throws an Error saying what is wrong.
 */
export { conformanceGroups } from './conformance';
export { describeDmaMapOpsConformance } from './describe';
export {
  DEFAULT_CONFORMANCE_NUM_RUNS,
  DEFAULT_CONFORMANCE_SEED,
  type ConformanceCase,
  type ConformanceGroup,
  type ConformanceOptions,
} from './conformance-suite';
export type { DmaMapOpsFactory } from './conformance-kernel';
export { ConformanceFailure } from './conformance-failure';
export {
  conformanceFabric,
  CONFORMANCE_BUS_OFFSETS,
  CONFORMANCE_MAP_TYPES,
  CONFORMANCE_PROVIDERS,
  type ConformanceProvider,
  type ConformanceRegion,
} from './conformance-fabric';
