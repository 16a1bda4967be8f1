/**
 * The framework-agnostic shape of the conformance suite (groups of named cases that throw on
 * failure, as abstract-level's suite is one list of tests any runner can drive) and what every
 * group is built from: the plugin's factory, its claimed capabilities, the fabric, and the
 * fast-check settings.
 */
import fc from 'fast-check';
import type { DmaMapOpsCapabilities } from '../dma/map-ops';
import type { PciTopology } from '../pci/topology';
import type { TopologySpecInput } from '../pci/topology-schema';
import { ConformanceFailure } from './conformance-failure';
import { ConformanceKernel, type DmaMapOpsFactory } from './conformance-kernel';

/** One check; it throws (an Error with a message saying what is wrong) when the ops fail it. */
export interface ConformanceCase {
  name: string;
  run(): void | Promise<void>;
}

/** Cases about one part of the contract; `skip` says why none of them apply to these ops. */
export interface ConformanceGroup {
  name: string;
  skip?: string;
  cases: ConformanceCase[];
}

/** The repository's fixed fast-check seed (FC_SEED overrides it in describeDmaMapOpsConformance()). */
export const DEFAULT_CONFORMANCE_SEED = 20261121;
export const DEFAULT_CONFORMANCE_NUM_RUNS = 40;

export interface ConformanceOptions {
  /** fast-check seed of every property (default DEFAULT_CONFORMANCE_SEED). */
  seed?: number;
  /** Runs per property (default DEFAULT_CONFORMANCE_NUM_RUNS). */
  numRuns?: number;
  /** fast-check replay path, from a failure report, to rerun one counterexample. */
  path?: string;
  /**
   * Fields merged into the suite fabric's `platform` (topology format), e.g.
   * `{ iommu: { mode: 'strict' } }` to run every case behind an IOMMU. Changing `cpu` or `memory`
   * changes what the cases assume (map types, RAM); the default is the fabric as documented.
   */
  platform?: Partial<TopologySpecInput['platform']>;
}

/** What the groups are built from. */
export interface SuiteContext {
  readonly topology: PciTopology;
  readonly factory: DmaMapOpsFactory;
  /** The name and capabilities the ops declare. */
  readonly opsName: string;
  readonly caps: DmaMapOpsCapabilities;
  readonly seed: number;
  readonly numRuns: number;
  readonly path: string | undefined;
}

/** A fresh kernel (container, P2P memory registered) for one case or one property run. */
export function newKernel(ctx: SuiteContext): ConformanceKernel {
  return new ConformanceKernel(ctx.topology, ctx.factory);
}

/** "[fast-check seed S, N runs]", for the names of property cases. */
export function propertyTag(ctx: SuiteContext): string {
  return `[fast-check seed ${ctx.seed}, ${ctx.numRuns} runs]`;
}

/**
 * Runs a fast-check property with the suite's seed; on failure throws a ConformanceFailure with
 * the check's message, the shrunk counterexample as `show` prints it, and how to replay it.
 */
export function checkProperty<T>(
  ctx: SuiteContext,
  arb: fc.Arbitrary<T>,
  run: (value: T) => void,
  show: (value: T) => string,
): void {
  const params: fc.Parameters<[T]> = { seed: ctx.seed, numRuns: ctx.numRuns };
  if (ctx.path !== undefined) params.path = ctx.path;
  const out = fc.check(fc.property(arb, run), params);
  if (!out.failed) return;
  const err = out.errorInstance;
  const what =
    err instanceof ConformanceFailure
      ? err.message
      : `${ctx.opsName} threw ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
  const example = out.counterexample ? show(out.counterexample[0]) : '(none)';
  throw new ConformanceFailure(
    `${what}\n\nfast-check counterexample after ${out.numRuns} run(s) and ${out.numShrinks} ` +
      `shrink(s), seed ${out.seed}, path "${out.counterexamplePath}" (replay with the options ` +
      `{ seed: ${out.seed}, path: "${out.counterexamplePath}" }):\n${example}`,
  );
}
