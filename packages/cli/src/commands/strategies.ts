/**
 * `dmasim strategies`: the designs this dmasim can run, with where each comes from and how it
 * gets its DMA ops: its own (and then whether it serves as the platform's ops, the way
 * dma-iommu is get_dma_ops() on a platform with an enabled IOMMU and dma-direct on one without),
 * or the platform's (dma-vec maps RAM with whichever of those the platform has).
 *
 * The P2PDMA capability flags of each design's DmaMapOps are not listed: the ops are built over
 * a topology (dma-iommu's over the platform's IOMMU), so there are none to ask without one.
 */
import { StrategyRegistry, type PlatformDmaOpsKind, type StrategyDescriptor } from '@dmasim/core';
import type { CliContext, CommandModule } from '../context';
import { alignColumns, cell, type Cell } from '../render/text';
import { cliRegistry, PLUGIN_HELP, pluginOf, pluginOption } from '../plugins';

export interface StrategiesOptions {
  json?: boolean;
  /** --plugin specs (paths or package names), listed after the built-in designs. */
  plugin?: string[];
}

export interface StrategyJson {
  id: string;
  title: string;
  origin: string;
  /** The design brings no DmaMapOps: RAM goes through the platform's. */
  usesPlatformDmaOps: boolean;
  /** The platforms whose DMA ops this design's module is: 'iommu', 'direct', or null. */
  platformDmaOps: PlatformDmaOpsKind | null;
  /** Present for a plugin's strategy: the --plugin spec as given. */
  plugin?: string;
}

export interface StrategiesJson {
  schemaVersion: 1;
  strategies: StrategyJson[];
}

export function strategyJson(d: StrategyDescriptor): StrategyJson {
  const plugin = pluginOf(d);
  return {
    id: d.id,
    title: d.title,
    origin: d.origin,
    usesPlatformDmaOps: d.usesPlatformDmaOps === true,
    platformDmaOps: d.platformDmaOps ?? null,
    ...(plugin ? { plugin: plugin.spec } : {}),
  };
}

export function strategiesJson(registry: StrategyRegistry): StrategiesJson {
  return { schemaVersion: 1, strategies: registry.list().map(strategyJson) };
}

/** The title without the "<id>: " prefix the built-in titles carry (the id is its own column). */
function shortTitle(d: StrategyDescriptor): string {
  return d.title.startsWith(`${d.id}: `) ? d.title.slice(d.id.length + 2) : d.title;
}

/** How the design gets its DMA ops, in a sentence. */
export function dmaOpsText(d: StrategyDescriptor, registry: StrategyRegistry): string {
  if (d.usesPlatformDmaOps) {
    const iommu = registry.platformDmaOps('iommu')?.id ?? 'none registered';
    const direct = registry.platformDmaOps('direct')?.id ?? 'none registered';
    return `the platform's (${iommu} with an IOMMU, ${direct} without)`;
  }
  if (d.platformDmaOps === 'iommu') return "its own; the platform's on one with an enabled IOMMU";
  if (d.platformDmaOps === 'direct') return "its own; the platform's on one without an IOMMU";
  return 'its own';
}

export function renderStrategies(registry: StrategyRegistry, ctx: CliContext): string[] {
  const { c } = ctx.out;
  const list = registry.list();
  const lines = [`${c.bold('Strategies')} (${list.length} registered)`];
  const idWidth = Math.max(0, ...list.map((d) => d.id.length));
  for (const d of list) {
    const rows: Cell[][] = [
      [cell('origin', c.dim), cell(d.origin)],
      [cell('DMA ops', c.dim), cell(dmaOpsText(d, registry))],
    ];
    const plugin = pluginOf(d);
    if (plugin) rows.push([cell('plugin', c.dim), cell(plugin.spec)]);
    if (!registry.isRunnable(d)) {
      rows.push([cell('status', c.dim), cell('cannot map yet: binds no DmaMapOps', c.yellow)]);
    }
    const head = `${c.bold(d.id)}${' '.repeat(idWidth - d.id.length + 2)}${shortTitle(d)}`;
    lines.push('', head, ...alignColumns(rows).map((l) => `  ${l}`));
  }
  return lines;
}

export function runStrategies(opts: StrategiesOptions, ctx: CliContext): number {
  const registry = cliRegistry(opts.plugin);
  if (opts.json) ctx.out.write(`${JSON.stringify(strategiesJson(registry), null, 2)}\n`);
  else ctx.out.out(...renderStrategies(registry, ctx));
  return 0;
}

const HELP_EXAMPLES = `
Examples:
  $ dmasim strategies
  $ dmasim strategies --json
  $ dmasim strategies --plugin ./my-plugin --plugin some-published-plugin

The ids are what --strategy takes in \`dmasim map\` and \`dmasim run\`.
${PLUGIN_HELP}`;

export const strategiesCommand: CommandModule = {
  register(program, ctx) {
    program
      .command('strategies')
      .summary('list the designs dmasim can compare')
      .description(
        'List the registered designs (strategies): id, title, where the design comes from, and ' +
          "whether it brings its own DMA ops or maps RAM with the platform's (dma-iommu with an " +
          'enabled IOMMU, dma-direct without).',
      )
      .option(
        '--json',
        'print one JSON document: { schemaVersion: 1, strategies: [{ id, title, origin, usesPlatformDmaOps, platformDmaOps, plugin? }] }',
      )
      .addOption(pluginOption())
      .addHelpText('after', HELP_EXAMPLES)
      .action((opts: StrategiesOptions) => {
        runStrategies(opts, ctx);
      });
  },
};
