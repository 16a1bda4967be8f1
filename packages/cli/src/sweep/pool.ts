/**
 * Runs a sweep's grid points: in this thread one after the other (--jobs 1), or, with --jobs N,
 * in this thread and N - 1 worker threads (node:worker_threads). Each worker loads the scenario
 * and the plugins itself, says when it is ready, and is handed the next point whenever it finishes
 * one; this thread runs points meanwhile, so the workers' start-up is not lost time. Rows are put
 * back in grid order (points in order, strategies in run order), so the result is the same
 * whatever the number of jobs: the runner is deterministic and every point runs on machines of
 * its own.
 *
 * When a point is invalid, no further point is handed out; once the points in flight have
 * finished, the first invalid point in grid order is reported (the same one a serial run stops
 * at).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CliError } from '../errors';
import type { PointFailure, SweepPointRunner } from './point-runner';
import type { SweepParameter, SweepRow } from './types';

/** What a worker needs to rebuild the sweep: plain data only. */
export interface WorkerSetup {
  /** Absolute path of the scenario file. */
  file: string;
  /** The scenario file as the user named it, for messages. */
  sourceName: string;
  parameters: SweepParameter[];
  /** Strategy ids, in run order. */
  strategies: string[];
  /** Plugin files, resolved to absolute paths. */
  plugins: string[];
  cwd: string;
}

export type ToWorker = { index: number };
export type FromWorker =
  | { kind: 'ready' }
  | { kind: 'row'; index: number; row: SweepRow }
  | { kind: 'done'; index: number }
  | { kind: 'failed'; index: number; failure: PointFailure };

/**
 * The worker's compiled entry beside this module (dist/sweep/worker.js), or undefined when
 * running from the TypeScript sources (jest, ts-node), where a worker could not load it.
 */
export function workerEntry(): string | undefined {
  const f = join(__dirname, 'worker.js');
  return existsSync(f) ? f : undefined;
}

/** A failure as the exception the command ends with (internal ones keep their stack). */
export function failureError(f: PointFailure): Error {
  if (f.stack !== undefined) {
    const e = new Error(f.message);
    e.stack = f.stack;
    return e;
  }
  return new CliError(f.message, f.exitCode);
}

export interface RunPointsOptions {
  /** Threads to run points in: this one and jobs - 1 workers (none without a compiled worker). */
  jobs: number;
  /**
   * Start the workers only when the sweep is long: after two points in this thread, when the
   * others would take at least ADAPTIVE_MIN_REST_MS at the second one's pace.
   */
  adaptive?: boolean;
  /** Called once per row as it arrives (progress). */
  onRow?: (row: SweepRow) => void;
}

/**
 * A worker takes 0.4 s to load dmasim on an idle two-CPU machine and over 1 s while this thread
 * runs points beside it, and two threads of this allocation-heavy work run about 1.3x as fast as
 * one (measured: two sweeps at once take 1.5x as long as one alone). Below some 8 s of work the
 * workers cost more than they bring.
 */
export const ADAPTIVE_MIN_REST_MS = 8000;

/** The workers worth starting for `rest` more points, one of which took `pointMs` in this thread. */
export function adaptiveWorkers(max: number, pointMs: number, rest: number): number {
  return pointMs * rest >= ADAPTIVE_MIN_REST_MS ? max : 0;
}

/** Runs every point; resolves with the rows in grid order. */
export async function runSweepPoints(
  runner: SweepPointRunner,
  setup: WorkerSetup,
  opts: RunPointsOptions,
): Promise<SweepRow[]> {
  const total = runner.points.length;
  const entry = workerEntry();
  const jobs = Math.max(1, Math.min(opts.jobs, total));
  // From the sources (jest) there is no worker to start: run in-process, with the same result.
  let workers = entry === undefined ? 0 : jobs - 1;
  const byPoint: SweepRow[][] = Array.from({ length: total }, () => []);
  const failures = new Map<number, PointFailure>();
  let next = 0;
  // Points are handed out in grid order, and none after a failure: every point before the first
  // failing one has been handed out, and has finished once the threads are idle.
  const take = (): number | undefined => (failures.size === 0 && next < total ? next++ : undefined);
  const finished = (index: number, failure: PointFailure | undefined) => {
    if (failure) failures.set(index, failure);
  };
  const addRow = (index: number, row: SweepRow) => {
    byPoint[index]!.push(row);
    opts.onRow?.(row);
  };
  const outcome = (): SweepRow[] => {
    const first = [...failures.keys()].sort((a, b) => a - b)[0];
    if (first !== undefined) throw failureError(failures.get(first)!);
    return byPoint.flat();
  };

  if (opts.adaptive && workers > 0) {
    // The first point warms the JIT up and is no guide; the second is timed.
    for (let k = 0; k < 2; k++) {
      const index = take();
      if (index === undefined) break;
      const t0 = performance.now();
      finished(
        index,
        runner.run(index, (row) => addRow(index, row)),
      );
      if (k === 1) workers = adaptiveWorkers(workers, performance.now() - t0, total - 2);
    }
  }
  const threads = startWorkers(entry, setup, workers, take, finished, addRow);
  try {
    // This thread is one of the jobs: it runs points while the workers start and run theirs,
    // yielding between points so that their messages (and the progress bar's timer) are handled.
    for (let i = take(); i !== undefined; i = take()) {
      const index = i;
      finished(
        index,
        runner.run(index, (row) => addRow(index, row)),
      );
      await new Promise<void>((r) => setImmediate(r));
    }
    await threads.idle();
  } finally {
    threads.stop();
  }
  return outcome();
}

interface WorkerThreads {
  /** Resolves when no point is in flight and none is left to hand out; rejects if a worker dies. */
  idle(): Promise<void>;
  stop(): void;
}

function startWorkers(
  entry: string | undefined,
  setup: WorkerSetup,
  count: number,
  take: () => number | undefined,
  finished: (index: number, failure: PointFailure | undefined) => void,
  addRow: (index: number, row: SweepRow) => void,
): WorkerThreads {
  const workers: Worker[] = [];
  let inFlight = 0;
  let waiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  let broken: Error | undefined;
  let stopped = false;
  const check = () => {
    if (!waiter) return;
    if (broken) waiter.reject(broken);
    else if (inFlight === 0) waiter.resolve();
    else return;
    waiter = undefined;
  };
  const dispatch = (w: Worker) => {
    const index = take();
    if (index === undefined) return check();
    inFlight++;
    w.postMessage({ index } satisfies ToWorker);
  };
  for (let j = 0; j < count && entry !== undefined; j++) {
    const w = new Worker(entry, { workerData: setup });
    workers.push(w);
    w.on('message', (m: FromWorker) => {
      if (m.kind === 'ready') return dispatch(w);
      if (m.kind === 'row') return addRow(m.index, m.row);
      inFlight--;
      finished(m.index, m.kind === 'failed' ? m.failure : undefined);
      dispatch(w);
    });
    const die = (e: Error) => {
      if (stopped) return;
      broken ??= e;
      check();
    };
    w.on('error', (e) => die(e instanceof Error ? e : new Error(String(e))));
    w.on('exit', (code) => die(new Error(`a sweep worker exited with status ${code}`)));
  }
  return {
    idle: () =>
      new Promise<void>((resolve, reject) => {
        waiter = { resolve, reject };
        check();
      }),
    stop: () => {
      stopped = true;
      for (const w of workers) void w.terminate();
    },
  };
}
