/**
 * `dmasim run SCENARIO`: one I/O scenario run under each design, each in a kernel of its own, and
 * compared side by side: which steps worked, why the others failed, and what each design cost
 * (modelled, not measured). The scenario runner is core's; this module selects the designs,
 * picks the output form and renders.
 */
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { Option } from 'commander';
import {
  loadScenarioFile,
  MODELLED_NOTE,
  runScenario,
  type ScenarioRunResult,
  type StrategyRunResult,
} from '@dmasim/core';
import type { CliContext, CommandModule } from '../context';
import { renderRunReport } from '../render/run';
import { runReportHtml } from '../report';
import { cliRegistry, PLUGIN_HELP, pluginOption } from '../plugins';
import { selectStrategies } from '../strategies';

export interface RunOptions {
  strategy?: string[];
  /** --plugin specs (paths or package names), loaded after the built-in designs. */
  plugin?: string[];
  json?: boolean;
  ndjson?: boolean;
  /** --report FILE: also write the HTML report there. */
  report?: string;
}

/** `--json`: the ScenarioRunResult, schemaVersion and scenario first. */
export function runJson(r: ScenarioRunResult): ScenarioRunResult {
  return {
    schemaVersion: 1,
    scenario: r.scenario,
    ...(r.modelled !== undefined ? { modelled: r.modelled } : {}),
    results: r.results,
  };
}

/** `--ndjson`: one line per design, written as soon as its run finishes. */
export function runNdjsonLine(scenario: string, result: StrategyRunResult): string {
  return `${JSON.stringify({ schemaVersion: 1, scenario, result })}\n`;
}

export function runRun(path: string, opts: RunOptions, ctx: CliContext): number {
  const registry = cliRegistry(opts.plugin);
  // Without --strategy the runner takes the scenario's own list, else every registered design.
  const ids = opts.strategy
    ? selectStrategies(registry, opts.strategy).map((d) => d.id)
    : undefined;
  const scenario = loadScenarioFile(path);
  const result = runScenario(scenario, {
    registry,
    ...(ids ? { strategies: ids } : {}),
    ...(opts.ndjson
      ? { onResult: (r: StrategyRunResult) => ctx.out.write(runNdjsonLine(scenario.name, r)) }
      : {}),
  });
  const titles = Object.fromEntries(registry.list().map((d) => [d.id, d.title]));
  const source = relative(process.cwd(), path) || path;
  if (opts.report !== undefined) {
    const input = { scenario, source, titles, version: ctx.version };
    writeFileSync(opts.report, runReportHtml(input, result));
    ctx.out.err(`dmasim: report written to ${opts.report}`);
  }
  if (opts.ndjson) return 0;
  if (opts.json) {
    ctx.out.write(`${JSON.stringify(runJson(result), null, 2)}\n`);
    return 0;
  }
  ctx.out.out(
    ...renderRunReport(result, ctx.out.c, {
      source,
      titles,
      modelledNote: MODELLED_NOTE,
      width: Math.max(60, Math.min(ctx.out.io.stdout.columns ?? 100, 160)),
    }),
  );
  return 0;
}

const HELP_EXAMPLES = `
Output:
  default   a table (designs as columns; each step's outcome, then the metrics), then why each
            design failed where it did, and its notes
  --json    one document: { "schemaVersion": 1, "scenario": NAME, "results": [ ... ] }
  --report  also write FILE: an HTML report (the topology with the paths data took, the table,
            charts of the metrics, the raw JSON); combines with the other forms
  --ndjson  one line per design as soon as it finishes:
            { "schemaVersion": 1, "scenario": NAME, "result": { "strategy": ..., ... } }

Times and rates are modelled by dmasim's cost model, not measured.

Examples:
  $ dmasim run examples/scenarios/copy-offload.yaml
  $ dmasim run examples/scenarios/copy-offload.yaml --strategy dma-direct,dma-vec
  $ dmasim run examples/scenarios/copy-offload.yaml --json
  $ dmasim run examples/scenarios/copy-offload.yaml --report copy-offload.html
  $ dmasim run examples/scenarios/copy-offload.yaml --plugin ./my-plugin
${PLUGIN_HELP}

Exit status: 0 when the scenario ran (whatever each design's outcome), 1 invalid input
(file:line:column: message), 2 usage error.`;

export const runCommand: CommandModule = {
  register(program, ctx) {
    program
      .command('run')
      .summary('run an I/O scenario under each design and compare the outcomes and costs')
      .description(
        'Run the I/O scenario in SCENARIO (allocations, reads and writes between devices and memory, ' +
          'verification) under each design, each in a kernel of its own on the same topology, and ' +
          'compare them: which steps succeeded, where and why the others failed, and the bytes, ' +
          'segments, IOMMU work and modelled time each design took.',
      )
      .argument('<scenario>', 'scenario file (YAML or JSON)')
      .addOption(
        new Option(
          '--strategy <name>',
          "design to run: dma-direct, dma-iommu, dma-vec, a plugin's id, or all (repeatable or comma-separated; default: the scenario's list, else all)",
        ).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]),
      )
      .addOption(pluginOption())
      .option('--json', 'print one JSON document (schemaVersion 1)')
      .addOption(
        new Option('--ndjson', 'print one JSON line per design as it finishes').conflicts('json'),
      )
      .option('--report <file>', 'also write an HTML report to FILE')
      .addHelpText('after', HELP_EXAMPLES)
      .action((path: string, opts: RunOptions) => {
        runRun(path, opts, ctx);
      });
  },
};
