/**
 * A sweep worker thread (dist/sweep/worker.js): loads the scenario and the plugins itself, then
 * runs the grid points its parent sends, one at a time, posting each strategy's row as it
 * finishes. Nothing but plain data crosses the thread boundary.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { cliRegistry } from '../plugins';
import { expandGrid } from './grid';
import { SweepPointRunner } from './point-runner';
import { ScenarioSource } from './scenario-variant';
import type { ToWorker, FromWorker, WorkerSetup } from './pool';

const setup = workerData as WorkerSetup;
const registry = cliRegistry(setup.plugins, setup.cwd);
const strategies = setup.strategies.map((id) => {
  const d = registry.get(id);
  if (!d) throw new Error(`sweep worker: strategy "${id}" is not registered`);
  return d;
});
const runner = new SweepPointRunner(
  ScenarioSource.load(setup.file),
  setup.sourceName,
  setup.parameters,
  expandGrid(setup.parameters),
  strategies,
  registry,
);

const port = parentPort!;
const post = (msg: FromWorker) => port.postMessage(msg);
port.on('message', (m: ToWorker) => {
  const failure = runner.run(m.index, (row) => post({ kind: 'row', index: m.index, row }));
  post(failure ? { kind: 'failed', index: m.index, failure } : { kind: 'done', index: m.index });
});
post({ kind: 'ready' });
