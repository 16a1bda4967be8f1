/** The designs the CLI knows: the built-in three (plugins join them in plugins.ts). */
import { createStrategyRegistry, StrategyRegistry, type StrategyDescriptor } from '@dmasim/core';
import { dmaDirectStrategy } from '@dmasim/dma-direct';
import { dmaIommuStrategy } from '@dmasim/dma-iommu';
import { dmaVecStrategy } from '@dmasim/dma-vec';
import { CliError, EXIT_USAGE } from './errors';

export const BUILT_IN_STRATEGIES: readonly StrategyDescriptor[] = [
  dmaDirectStrategy,
  dmaIommuStrategy,
  dmaVecStrategy,
];

export function builtInRegistry(): StrategyRegistry {
  return createStrategyRegistry(BUILT_IN_STRATEGIES);
}

/**
 * `--strategy NAME|all` (repeatable, comma lists allowed) -> the descriptors to run. `all` (the
 * default) means every registered strategy that binds DmaMapOps; naming one that does not is an
 * error that says so.
 */
export function selectStrategies(
  registry: StrategyRegistry,
  names: readonly string[] | undefined,
): StrategyDescriptor[] {
  const wanted = (names ?? ['all']).flatMap((n) => n.split(',')).map((n) => n.trim());
  const out: StrategyDescriptor[] = [];
  const add = (d: StrategyDescriptor) => {
    if (!out.includes(d)) out.push(d);
  };
  for (const n of wanted) {
    if (n === 'all') {
      registry
        .list()
        .filter((d) => registry.isRunnable(d))
        .forEach(add);
      continue;
    }
    const d = registry.get(n);
    if (!d) {
      const ids = registry.list().map((x) => x.id);
      throw new CliError(
        `unknown strategy "${n}": expected one of ${[...ids, 'all'].join(', ')}`,
        EXIT_USAGE,
      );
    }
    if (!registry.isRunnable(d)) {
      throw new CliError(
        `strategy "${n}" cannot map yet: its module binds no DmaMapOps (${d.title})`,
        EXIT_USAGE,
      );
    }
    add(d);
  }
  return out;
}
