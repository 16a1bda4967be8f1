/**
 * describeDmaMapOpsConformance(): the suite as describe/it blocks, so that a plugin's test file
 * is one line:
 *
 *   describeDmaMapOpsConformance('my-ops', () => myStrategy);
 *
 * It uses the runner's global describe() and it() (jest, vitest with globals, mocha); core does
 * not depend on any runner, so their shape is declared here. Skipped groups are registered with
 * it.skip under a name that says why.
 */
import { conformanceGroups } from './conformance';
import type { DmaMapOpsFactory } from './conformance-kernel';
import {
  DEFAULT_CONFORMANCE_NUM_RUNS,
  DEFAULT_CONFORMANCE_SEED,
  type ConformanceOptions,
} from './conformance-suite';

type TestFn = () => void | Promise<void>;
interface ItFn {
  (name: string, fn: TestFn, timeout?: number): void;
  skip?: (name: string, fn: TestFn) => void;
}
interface RunnerGlobals {
  describe?: (name: string, fn: () => void) => void;
  it?: ItFn;
}

/** Per-case timeout for runners that take one (properties build a kernel per run). */
const CASE_TIMEOUT_MS = 120_000;

function envNumber(name: string): number | undefined {
  const v = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env?.[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`${name}=${v} is not an integer`);
  return n;
}

/**
 * Registers the conformance suite for the ops `factory` returns (a StrategyDescriptor or a
 * ContainerModule binding DmaMapOps). The fast-check seed is options.seed, else the FC_SEED
 * environment variable, else DEFAULT_CONFORMANCE_SEED; the number of runs options.numRuns, else
 * FC_NUM_RUNS, else DEFAULT_CONFORMANCE_NUM_RUNS. Both appear in the title.
 */
export function describeDmaMapOpsConformance(
  title: string,
  factory: DmaMapOpsFactory,
  options: ConformanceOptions = {},
): void {
  const g = globalThis as RunnerGlobals;
  const describe = g.describe;
  const it = g.it;
  if (typeof describe !== 'function' || typeof it !== 'function') {
    throw new Error(
      'describeDmaMapOpsConformance() needs the global describe() and it() of a test runner ' +
        '(jest, vitest with globals, mocha); elsewhere run conformanceGroups() yourself',
    );
  }
  const seed = options.seed ?? envNumber('FC_SEED') ?? DEFAULT_CONFORMANCE_SEED;
  const numRuns = options.numRuns ?? envNumber('FC_NUM_RUNS') ?? DEFAULT_CONFORMANCE_NUM_RUNS;
  const groups = conformanceGroups(factory, { ...options, seed, numRuns });
  describe(`DmaMapOps conformance: ${title} (fast-check seed ${seed}, ${numRuns} runs per property)`, () => {
    for (const group of groups) {
      const skip = group.skip;
      describe(skip ? `${group.name} [skipped: ${skip}]` : group.name, () => {
        for (const c of group.cases) {
          if (skip === undefined) it(c.name, () => c.run(), CASE_TIMEOUT_MS);
          else if (it.skip) it.skip(c.name, () => {});
          else it(`${c.name} [skipped: ${skip}]`, () => {});
        }
      });
    }
  });
}
