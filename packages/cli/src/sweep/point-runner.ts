/**
 * One grid point of a sweep: the scenario changed by the point's values, validated by core's
 * loader, run under each strategy by core's runner, and summed up as one SweepRow per strategy.
 * The same code runs in-process (--jobs 1) and in every worker thread, so that a row does not
 * depend on where it was computed.
 */
import {
  InputError,
  runScenarioStrategy,
  SpecError,
  type StrategyDescriptor,
  type StrategyRegistry,
  type StrategyRunResult,
} from '@dmasim/core';
import { CliError, EXIT_INPUT, EXIT_INTERNAL } from '../errors';
import { setDocumentPath } from './document-path';
import { pointLabel, type SweepPoint } from './grid';
import { namedParameter } from './parameters';
import { isDoc, ScenarioVariant, type ScenarioSource } from './scenario-variant';
import type { SweepParameter, SweepRow } from './types';

/** The scenario at one grid point: each parameter applied in --vary order (a later one wins). */
export function scenarioVariantAt(
  source: ScenarioSource,
  params: readonly SweepParameter[],
  point: SweepPoint,
): ScenarioVariant {
  const v = new ScenarioVariant(source);
  for (const p of params) {
    const value = point[p.key]!;
    const named = namedParameter(p.key);
    if (named) named.apply(v, value);
    else setDocumentPath(v, p.key, value);
  }
  return v;
}

/** The row of one strategy's result: its first failed step that was not skipped, and metrics. */
export function sweepRow(
  point: SweepPoint,
  r: StrategyRunResult,
  repeatIds: ReadonlySet<string>,
): SweepRow {
  const failed = r.steps.filter((s) => !s.ok && !s.skipped);
  // A failed repeat is reported by its own entry and by the inner step that failed: name the latter.
  const first = failed.find((s) => !repeatIds.has(s.id)) ?? failed[0];
  return {
    point,
    strategy: r.strategy,
    ok: r.ok,
    failedStep: r.ok ? null : (first?.id ?? null),
    error: r.ok ? null : (first?.error?.code ?? null),
    metrics: r.metrics,
  };
}

/** Why a grid point could not run, in a form a worker can post to its parent. */
export interface PointFailure {
  message: string;
  exitCode: number;
  /** A dmasim bug: the stack, for DMASIM_DEBUG. */
  stack?: string;
}

/** Invalid input names the grid point; anything else is an internal error. */
export function pointFailure(
  e: unknown,
  point: SweepPoint,
  index: number,
  total: number,
  source: string,
): PointFailure {
  const where = `${source} at grid point ${index + 1} of ${total} (${pointLabel(point)})`;
  if (e instanceof InputError) {
    // The variant has no text to point into: the loader names the file, without a line.
    return { message: `${where}: ${e.message}`, exitCode: EXIT_INPUT };
  }
  if (e instanceof SpecError) {
    const at = e.path.length > 0 ? ` (at ${e.path.join('.')})` : '';
    return { message: `${where}: ${e.message}${at}`, exitCode: EXIT_INPUT };
  }
  if (e instanceof CliError) return { message: e.message, exitCode: e.exitCode };
  const err = e instanceof Error ? e : new Error(String(e));
  return { message: `${where}: ${err.message}`, exitCode: EXIT_INTERNAL, stack: err.stack };
}

/** Runs grid points of one sweep against one registry. */
export class SweepPointRunner {
  constructor(
    readonly source: ScenarioSource,
    /** The scenario file as the user named it, for messages. */
    readonly sourceName: string,
    readonly params: readonly SweepParameter[],
    readonly points: readonly SweepPoint[],
    readonly strategies: readonly StrategyDescriptor[],
    readonly registry: StrategyRegistry,
  ) {}

  /** The variant of point `index` (for checks before a run: a bad path fails here). */
  variant(index: number): ScenarioVariant {
    return scenarioVariantAt(this.source, this.params, this.points[index]!);
  }

  /**
   * Runs point `index` under every strategy, handing each row to `onRow` as it finishes.
   * Returns why the point could not run, or undefined.
   */
  run(index: number, onRow: (row: SweepRow) => void): PointFailure | undefined {
    const point = this.points[index]!;
    try {
      const v = this.variant(index);
      const s = v.load();
      const repeatIds = new Set(
        v
          .steps()
          .filter((r) => isDoc(r.step) && 'repeat' in r.step)
          .map((r) => r.id),
      );
      for (const d of this.strategies) {
        onRow(sweepRow(point, runScenarioStrategy(s, d, this.registry), repeatIds));
      }
      return undefined;
    } catch (e) {
      return pointFailure(e, point, index, this.points.length, this.sourceName);
    }
  }
}
