/**
 * `dmasim sweep SCENARIO --vary KEY=V1,V2...`: the scenario run over a grid of parameter values
 * (I/O size, transfer size, IOMMU mode, ACS, MPS, ... or any field of the scenario), under each
 * design at every point, one row per point and design: a table, CSV, JSON or an HTML report.
 * Long sweeps spread the points over worker threads (--jobs) with the same result as one thread.
 */
import { statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import {
  loadScenarioFile,
  MODELLED_NOTE,
  selectScenarioStrategies,
  type LoadedScenario,
} from '@dmasim/core';
import type { CliContext, CommandModule } from '../context';
import { CliError, EXIT_INPUT, EXIT_USAGE, formatErrnoError, isErrnoError } from '../errors';
import { cliRegistry, pluginOf, pluginOption } from '../plugins';
import { formatCount } from '../render/units';
import { sweepReportHtml } from '../report';
import { selectStrategies } from '../strategies';
import { sweepCsv } from '../sweep/csv';
import { expandGrid, MAX_GRID_POINTS, parseGrid } from '../sweep/grid';
import { NAMED_PARAMETERS } from '../sweep/parameters';
import { SweepPointRunner } from '../sweep/point-runner';
import { runSweepPoints } from '../sweep/pool';
import { sweepProgress } from '../sweep/progress';
import { ScenarioSource } from '../sweep/scenario-variant';
import { renderSweepTable } from '../sweep/table';
import type { SweepJson } from '../sweep/types';

export interface SweepOptions {
  vary?: string[];
  strategy?: string[];
  csv?: string;
  json?: boolean;
  jobs?: number;
  plugin?: string[];
  report?: string;
}

/** The sweep and what the report needs beside it. */
export interface SweepOutcome {
  sweep: SweepJson;
  scenario: LoadedScenario;
  /** The scenario file as the user named it. */
  source: string;
  titles: Record<string, string>;
}

/** Runs the sweep (no output but the progress bar). */
export async function runSweep(
  path: string,
  opts: SweepOptions,
  ctx: CliContext,
): Promise<SweepOutcome> {
  const parameters = parseGrid(opts.vary ?? []);
  const cwd = process.cwd();
  const source = relative(cwd, path) || path;
  const scenario = loadScenarioFile(path);
  const registry = cliRegistry(opts.plugin, cwd);
  // As `dmasim run`: --strategy, else the scenario's list, else every registered design.
  const ids = opts.strategy
    ? selectStrategies(registry, opts.strategy).map((d) => d.id)
    : undefined;
  const strategies = selectScenarioStrategies(scenario, registry, ids);
  const points = expandGrid(parameters);
  const runner = new SweepPointRunner(
    ScenarioSource.load(path),
    source,
    parameters,
    points,
    strategies,
    registry,
  );
  // A path that cannot be followed fails here, the same at every point, before any run.
  runner.variant(0);

  const progress = sweepProgress(ctx.out.io.stderr, points.length * strategies.length);
  let rows;
  try {
    rows = await runSweepPoints(
      runner,
      {
        file: runner.source.file,
        sourceName: source,
        parameters,
        strategies: strategies.map((d) => d.id),
        // the plugins' files, as loaded (and checked) once for the registry above
        plugins: [...new Set(registry.list().flatMap((d) => pluginOf(d)?.file ?? []))],
        cwd,
      },
      {
        // More threads than CPUs only cost memory (a worker holds its own copy of dmasim).
        jobs: Math.min(opts.jobs ?? availableParallelism(), availableParallelism()),
        // Without --jobs, workers start only when the sweep is long enough to repay them.
        adaptive: opts.jobs === undefined,
        onRow: () => progress.tick(),
      },
    );
  } finally {
    progress.stop();
  }
  return {
    sweep: { schemaVersion: 1, scenario: scenario.name, modelled: MODELLED_NOTE, parameters, rows },
    scenario,
    source,
    titles: Object.fromEntries(registry.list().map((d) => [d.id, d.title])),
  };
}

/**
 * Fails before the sweep when `file` cannot be created (a directory, or in a directory that does
 * not exist), so that a long sweep is not lost for a mistyped output path.
 */
function checkOutputFile(option: string, file: string): void {
  const kind = (p: string) => {
    try {
      return statSync(p).isDirectory() ? 'directory' : 'file';
    } catch {
      return undefined;
    }
  };
  if (kind(file) === 'directory') {
    throw new CliError(`${option} ${file}: is a directory: name a file`, EXIT_INPUT);
  }
  const dir = dirname(resolve(file));
  if (kind(dir) !== 'directory') {
    throw new CliError(`${option} ${file}: no directory ${dirname(file)}`, EXIT_INPUT);
  }
}

/** Writes an output file; a failure names the file (EIO and the like carry no path). */
function writeOutputFile(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (e) {
    if (isErrnoError(e)) throw new CliError(formatErrnoError(e, file), EXIT_INPUT);
    throw e;
  }
}

export async function sweepAction(path: string, opts: SweepOptions, ctx: CliContext) {
  if (opts.json && opts.csv === '-') {
    throw new CliError('--json and --csv - both write to stdout: give --csv a file', EXIT_USAGE);
  }
  if (opts.csv !== undefined && opts.csv !== '-') checkOutputFile('--csv', opts.csv);
  if (opts.report !== undefined) checkOutputFile('--report', opts.report);
  const { sweep, scenario, source, titles } = await runSweep(path, opts, ctx);
  if (opts.csv !== undefined && opts.csv !== '-') writeOutputFile(opts.csv, sweepCsv(sweep));
  if (opts.report !== undefined) {
    const html = sweepReportHtml({ scenario, source, titles, version: ctx.version }, sweep);
    writeOutputFile(opts.report, html);
    ctx.out.err(`dmasim: report written to ${opts.report}`);
  }
  if (opts.json) ctx.out.write(`${JSON.stringify(sweep, null, 2)}\n`);
  else if (opts.csv === '-') ctx.out.write(sweepCsv(sweep));
  else {
    const width = Math.max(60, Math.min(ctx.out.io.stdout.columns ?? 100, 160));
    ctx.out.out(...renderSweepTable(sweep, ctx.out.c, width));
  }
}

function parseJobs(v: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1) {
    throw new InvalidArgumentError('expected a whole number of at least 1');
  }
  return Number(v);
}

const KEY_WIDTH = Math.max(...NAMED_PARAMETERS.map((p) => p.key.length)) + 2;

export const SWEEP_HELP = `
Parameters (--vary KEY=V1,V2,...; several --vary make a grid, the last varying fastest):
${NAMED_PARAMETERS.map((p) => `  ${p.key.padEnd(KEY_WIDTH)}${p.help}\n  ${' '.repeat(KEY_WIDTH)}e.g. ${p.key}=${p.example}`).join('\n')}
  a.b.c${' '.repeat(KEY_WIDTH - 5)}a dotted path into the scenario, steps by id: steps.flush.nvme.ioSize,
  ${' '.repeat(KEY_WIDTH)}platform.iommu.mode, nvme.sglThreshold, cost.<constant>
Values are YAML scalars: 4KiB (a size), 256 (a number), on, strict (words), true/false. The
size rule: L is the largest alloc size of the scenario; every alloc size and every length (dma,
nvme, fill, verify sides) equal to L becomes the value. See docs/sweep.md.

Output: one row per grid point and design
  default   a table: the point, the design, ok or the first failed step and its error code,
            effectiveGBps, cpuNs, hostBridgeBytes, dmaSegments, structPageBytes
  --json    { "schemaVersion": 1, "scenario", "modelled", "parameters": [ { key, values,
            numeric? } ], "rows": [ { point, strategy, ok, failedStep, error, metrics } ] }
  --csv F   the keys, strategy, ok, failedStep, error, then every metric (RFC 4180; - for stdout)
  --report  an HTML report of the sweep
A progress bar is drawn on stderr when it is a terminal. Times and rates are modelled, not measured.

Examples:
  $ dmasim sweep examples/scenarios/copy-offload.yaml --vary ioSize=4KiB,16KiB,64KiB,128KiB
  $ dmasim sweep examples/scenarios/copy-offload.yaml --vary iommu=off,strict --vary acs=on,off
  $ dmasim sweep examples/scenarios/copy-offload.yaml --vary size=256KiB,4MiB --csv sweep.csv

Exit status: 0 when every point ran (whatever each design's outcome), 1 invalid input (a point
whose values make the scenario invalid is named with the loader's message), 2 usage error (also
a grid of more than ${formatCount(MAX_GRID_POINTS)} points).`;

export const sweepCommand: CommandModule = {
  register(program, ctx) {
    program
      .command('sweep')
      .summary('run a scenario over a grid of parameter values and tabulate each design')
      .description(
        'Run the scenario in SCENARIO at every point of a grid of parameter values (--vary: I/O ' +
          'size, transfer size, IOMMU mode, ACS, MPS, or any field of the scenario) under each ' +
          'design, and report one row per point and design: which step failed, and the bytes, ' +
          'segments and modelled time it took. Points run in parallel worker threads (--jobs); ' +
          'the result does not depend on how many.',
      )
      .argument('<scenario>', 'scenario file (YAML or JSON)')
      .addOption(
        new Option(
          '--vary <key=values>',
          'a parameter and its values, comma-separated (repeatable; required)',
        ).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]),
      )
      .addOption(
        new Option(
          '--strategy <name>',
          "design to run: dma-direct, dma-iommu, dma-vec or all (repeatable or comma-separated; default: the scenario's list, else all)",
        ).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]),
      )
      .option('--csv <file>', 'write the rows as CSV to FILE (- for stdout)')
      .option('--json', 'print one JSON document (schemaVersion 1)')
      .addOption(
        new Option(
          '--jobs <n>',
          'threads to run points in: this one and N - 1 workers, at most one per CPU (default: one per CPU when the first point says the sweep will take 8 s or more, else 1: a worker takes 0.4 to 1.5 s to start)',
        ).argParser(parseJobs),
      )
      .addOption(pluginOption())
      .option('--report <file>', 'write an HTML report of the sweep to FILE')
      .addHelpText('after', SWEEP_HELP)
      .action(async (path: string, opts: SweepOptions) => {
        await sweepAction(path, opts, ctx);
      });
  },
};
