/**
 * `dmasim conformance PLUGIN`: the DmaMapOps conformance suite (@dmasim/core/testing, the one
 * plugin authors run under jest with describeDmaMapOpsConformance()) run from the command line
 * against a plugin, or against a built-in design by id: one PASS, FAIL or SKIP line per group,
 * the failing cases with what the ops did wrong, and the fast-check seed to reproduce them.
 */
import { InvalidArgumentError, Option } from 'commander';
import { createKernelContainer, DmaMapOps, type StrategyDescriptor } from '@dmasim/core';
import {
  conformanceFabric,
  conformanceGroups,
  ConformanceFailure,
  DEFAULT_CONFORMANCE_NUM_RUNS,
  DEFAULT_CONFORMANCE_SEED,
  type ConformanceGroup,
  type ConformanceOptions,
} from '@dmasim/core/testing';
import type { CliContext, CommandModule } from '../context';
import { CliError, EXIT_INPUT, EXIT_USAGE } from '../errors';
import { loadPlugin } from '../plugins';
import { BUILT_IN_STRATEGIES } from '../strategies';

export interface ConformanceCommandOptions {
  strategy?: string;
  seed: number;
  runs: number;
  iommu?: 'strict' | 'lazy';
  replay?: string;
  json?: boolean;
}

export interface ConformanceCaseJson {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  /** Why it failed: the suite's message (reference section, what the ops did, on which input). */
  message?: string;
}

export interface ConformanceGroupJson {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  /** Why the whole group does not apply to these ops. */
  skip?: string;
  cases: ConformanceCaseJson[];
}

export interface ConformanceStrategyJson {
  id: string;
  /** The DmaMapOps' name, as the ops report it. */
  ops: string | null;
  ok: boolean;
  groups: ConformanceGroupJson[];
}

export interface ConformanceJson {
  schemaVersion: 1;
  /** The plugin (or built-in id) as given. */
  plugin: string;
  seed: number;
  numRuns: number;
  /** The IOMMU the fabric was given (--iommu), or null for none. */
  iommu: 'strict' | 'lazy' | null;
  ok: boolean;
  strategies: ConformanceStrategyJson[];
  /** Strategies not checked: they bring no DmaMapOps of their own. */
  skipped: { id: string; reason: string }[];
}

/** An integer option's parser (at least `min` when given). */
function intOption(what: string, min?: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\s*-?\d+\s*$/.test(v) || !Number.isSafeInteger(n) || (min !== undefined && n < min)) {
      throw new InvalidArgumentError(
        `${what} must be ${min === undefined ? 'an integer' : `an integer >= ${min}`}.`,
      );
    }
    return n;
  };
}

/** What a case threw, as a message: the suite's own, or what the plugin's code threw. */
function failureText(e: unknown, ctx: CliContext): string {
  if (e instanceof ConformanceFailure) {
    // A property's failure carries the stack of what the plugin threw (useful in jest): here it
    // is shown only on request, like main()'s.
    if (ctx.out.io.env?.DMASIM_DEBUG) return e.message;
    return e.message
      .split('\n')
      .filter((l) => !/^\s+at /.test(l))
      .join('\n');
  }
  const err = e instanceof Error ? e : undefined;
  const text = err ? `${err.name}: ${err.message}` : String(e);
  // The plugin's own bug: its stack is worth seeing, but only on request (like main()'s).
  return ctx.out.io.env?.DMASIM_DEBUG && err?.stack ? err.stack : `threw ${text}`;
}

/** Runs one group's cases in order; a case fails when it throws. */
async function runGroup(g: ConformanceGroup, ctx: CliContext): Promise<ConformanceGroupJson> {
  if (g.skip !== undefined) {
    return {
      name: g.name,
      status: 'skip',
      skip: g.skip,
      cases: g.cases.map((c) => ({ name: c.name, status: 'skip' as const })),
    };
  }
  const cases: ConformanceCaseJson[] = [];
  for (const c of g.cases) {
    try {
      await c.run();
      cases.push({ name: c.name, status: 'pass' });
    } catch (e) {
      cases.push({ name: c.name, status: 'fail', message: failureText(e, ctx) });
    }
  }
  const failed = cases.some((c) => c.status === 'fail');
  return { name: g.name, status: failed ? 'fail' : 'pass', cases };
}

function indent(text: string, by: string): string[] {
  return text.split('\n').map((l) => (l === '' ? '' : `${by}${l}`));
}

/** `PASS  <group> (<n> cases)`, `FAIL  <group> (<k> of <n> failed)` and its cases, `SKIP  <group>: <why>`. */
export function renderGroup(g: ConformanceGroupJson, ctx: CliContext): string[] {
  const { c } = ctx.out;
  const n = g.cases.length;
  if (g.status === 'skip') return [`${c.yellow('SKIP')}  ${g.name}: ${g.skip}`];
  if (g.status === 'pass')
    return [`${c.green('PASS')}  ${g.name} (${n} case${n === 1 ? '' : 's'})`];
  const failed = g.cases.filter((x) => x.status === 'fail');
  const lines = [`${c.red('FAIL')}  ${g.name} (${failed.length} of ${n} failed)`];
  for (const f of failed) {
    lines.push(`      ${c.bold(f.name)}`, ...indent(f.message ?? '', '        '));
  }
  return lines;
}

/** The DmaMapOps name the strategy's module binds (null when no kernel can be built with it). */
function opsName(d: StrategyDescriptor, options: ConformanceOptions): string | null {
  try {
    const k = createKernelContainer({ topology: conformanceFabric(options.platform), strategy: d });
    return k.get<DmaMapOps>(DmaMapOps).name;
  } catch {
    return null;
  }
}

/** The strategies PLUGIN names: a built-in design's id, or what the plugin exports. */
function target(spec: string, cwd: string): StrategyDescriptor[] {
  const builtIn = BUILT_IN_STRATEGIES.find((d) => d.id === spec);
  return builtIn ? [builtIn] : loadPlugin(spec, cwd).strategies;
}

function rerunCommand(spec: string, opts: ConformanceCommandOptions, id?: string): string {
  const arg = /^[\w@./:-]+$/.test(spec) ? spec : JSON.stringify(spec);
  return [
    `dmasim conformance ${arg}`,
    id ? `--strategy ${id}` : '',
    `--seed ${opts.seed} --runs ${opts.runs}`,
    opts.iommu ? `--iommu ${opts.iommu}` : '',
  ]
    .filter((s) => s !== '')
    .join(' ');
}

export async function runConformance(
  spec: string,
  opts: ConformanceCommandOptions,
  ctx: CliContext,
  cwd: string = process.cwd(),
): Promise<ConformanceJson> {
  const { out } = ctx;
  const { c } = out;
  let strategies = target(spec, cwd);
  if (opts.strategy !== undefined) {
    const d = strategies.find((s) => s.id === opts.strategy);
    if (!d) {
      throw new CliError(
        `${spec} has no strategy "${opts.strategy}": it has ${strategies.map((s) => s.id).join(', ')}`,
        EXIT_USAGE,
      );
    }
    strategies = [d];
  }
  // A design that uses the platform's ops (dma-vec) brings none: the suite has nothing of its
  // own to check; the platform's are checked under their own ids.
  const skipped = strategies
    .filter((d) => d.usesPlatformDmaOps)
    .map((d) => ({
      id: d.id,
      reason:
        "uses the platform's DMA ops and brings no DmaMapOps of its own (check the platform's: " +
        'dmasim conformance dma-direct, dmasim conformance dma-iommu)',
    }));
  const checked = strategies.filter((d) => !d.usesPlatformDmaOps);
  if (checked.length === 0) {
    throw new CliError(
      `nothing to check: strategy "${skipped[0]!.id}" ${skipped[0]!.reason}`,
      EXIT_INPUT,
    );
  }

  const options: ConformanceOptions = {
    seed: opts.seed,
    numRuns: opts.runs,
    ...(opts.replay !== undefined ? { path: opts.replay } : {}),
    ...(opts.iommu ? { platform: { iommu: { mode: opts.iommu } } } : {}),
  };
  const result: ConformanceJson = {
    schemaVersion: 1,
    plugin: spec,
    seed: opts.seed,
    numRuns: opts.runs,
    iommu: opts.iommu ?? null,
    ok: true,
    strategies: [],
    skipped,
  };
  const human = !opts.json;
  if (human) {
    for (const s of skipped) out.out(`${c.yellow('SKIP')}  strategy ${s.id}: ${s.reason}`);
  }
  for (const d of checked) {
    const name = opsName(d, options);
    if (human) {
      const platform = opts.iommu ? `, behind a ${opts.iommu} IOMMU` : '';
      out.out(
        c.bold(`DmaMapOps conformance: ${d.id}${name && name !== d.id ? ` (ops "${name}")` : ''}`),
        c.dim(
          `fast-check seed ${opts.seed}, ${opts.runs} run${opts.runs === 1 ? '' : 's'} per property${platform}`,
        ),
      );
    }
    const groups: ConformanceGroupJson[] = [];
    for (const g of conformanceGroups(() => d, options)) {
      const r = await runGroup(g, ctx);
      groups.push(r);
      // Each line as soon as its group is done: properties build a kernel per run.
      if (human) out.out(...renderGroup(r, ctx));
    }
    const ok = groups.every((g) => g.status !== 'fail');
    result.strategies.push({ id: d.id, ops: name, ok, groups });
    if (!ok) result.ok = false;
    if (human) {
      const count = (s: ConformanceGroupJson['status']) =>
        groups.filter((g) => g.status === s).length;
      const cases = groups.flatMap((g) => g.cases);
      const failedCases = cases.filter((x) => x.status === 'fail').length;
      const ran = cases.filter((x) => x.status !== 'skip').length;
      const summary =
        `${d.id}: ${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped ` +
        `of ${groups.length} groups (${ran - failedCases} of ${ran} cases passed)`;
      out.out(ok ? c.green(summary) : c.red(summary));
      if (!ok)
        out.out(`  rerun: ${rerunCommand(spec, opts, strategies.length > 1 ? d.id : undefined)}`);
      out.out('');
    }
  }
  return result;
}

const HELP = `
PLUGIN is a plugin, found and checked as --plugin does (see \`dmasim run --help\`): a path
(./my-ops.js, or a directory whose package.json "main" is loaded) or a package name resolved
from the current directory, exporting "strategy", "strategies" or "default". Or it is the id of a
built-in design (dma-direct, dma-iommu); write a path as ./NAME if it clashes with one. Every
strategy the plugin exports is checked, or the one --strategy names. A strategy that uses the
platform's DMA ops (usesPlatformDmaOps, like dma-vec) brings none to check and is skipped; when
nothing is left to check the command fails (exit status 1).

The suite runs on its own machine (the conformance fabric: one DMA client, P2P providers whose
pages are BUS_ADDR, THRU_HOST_BRIDGE and NOT_SUPPORTED for it; no IOMMU unless --iommu). Groups
test what the reference requires of dma_map_ops (§3.3 return conventions, §11 map_sg contract,
unmap, segment limits, P2PDMA by map type); a group whose capability the ops do not claim is
skipped. Properties use fast-check with a fixed seed: the same seed and runs reproduce a failure,
and --replay with the path a failure prints reruns just its counterexample. Behind an IOMMU,
dma-iommu fails the checks that every mapped byte has one DMA byte: its v6.16+ bus entries take
the list head's dma_length (reference §4.2 note), which the suite rightly reports.

Output: per group "PASS  <group> (<n> cases)", "FAIL  <group> (<k> of <n> failed)" followed by
each failing case and the suite's message, or "SKIP  <group>: <reason>"; then a summary.
--json prints one document { schemaVersion: 1, plugin, seed, numRuns, iommu, ok, strategies:
[{ id, ops, ok, groups: [{ name, status, skip?, cases: [{ name, status, message? }] }] }],
skipped }.

Examples:
  $ dmasim conformance ./my-plugin                       # every strategy it exports
  $ dmasim conformance dma-direct --runs 100             # a built-in design, more runs
  $ dmasim conformance dma-iommu --iommu strict          # dma-iommu translating (see above)
  $ dmasim conformance my-plugin --seed 42 --json

Exit status: 0 every group passed or was skipped, 1 a case failed, or the plugin is invalid or
brings no DMA ops to check, 2 usage error.`;

export const conformanceCommand: CommandModule = {
  register(program, ctx) {
    program
      .command('conformance')
      .summary("run the DmaMapOps conformance suite against a plugin's strategies")
      .description(
        'Run the DmaMapOps conformance suite (the one @dmasim/core/testing gives plugin authors for ' +
          'their own tests) against the strategies a plugin exports, or a built-in design, and print ' +
          'a pass/fail line per group of checks, with what failed and the seed to reproduce it.',
      )
      .argument('<plugin>', 'plugin path or package name, or a built-in strategy id')
      .option('--strategy <id>', "check only this one of the plugin's strategies")
      .addOption(
        new Option('--seed <n>', 'fast-check seed of every property')
          .argParser(intOption('--seed'))
          .default(DEFAULT_CONFORMANCE_SEED),
      )
      .addOption(
        new Option('--runs <n>', 'runs per property')
          .argParser(intOption('--runs', 1))
          .default(DEFAULT_CONFORMANCE_NUM_RUNS),
      )
      .addOption(
        new Option('--iommu <mode>', "give the suite's machine an enabled IOMMU").choices([
          'strict',
          'lazy',
        ]),
      )
      .option(
        '--replay <path>',
        'fast-check path from a failure report (with its --seed): replay that counterexample',
      )
      .option('--json', 'print one JSON document (schemaVersion 1)')
      .addHelpText('after', HELP)
      .action(async (spec: string, opts: ConformanceCommandOptions) => {
        const r = await runConformance(spec, opts, ctx);
        if (opts.json) ctx.out.write(`${JSON.stringify(r, null, 2)}\n`);
        if (!r.ok) {
          const failed = r.strategies.filter((s) => !s.ok).map((s) => s.id);
          throw new CliError(
            `conformance failed for ${failed.join(', ')} (fast-check seed ${r.seed}, ${r.numRuns} runs per property)`,
            EXIT_INPUT,
          );
        }
      });
  },
};
