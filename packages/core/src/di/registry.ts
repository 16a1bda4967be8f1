/**
 * The strategy registry: collects every StrategyDescriptor contributed to a container (the
 * built-in designs, plugins) with @multiInject, in the style of Theia's contribution points.
 */
import { Container, injectable, multiInject, optional } from 'inversify';
import { DmaMapOps } from '../dma/map-ops';
import { StrategyDescriptor } from './strategy';

@injectable()
export class StrategyRegistry {
  constructor(
    @multiInject(StrategyDescriptor)
    @optional()
    private readonly contributions: StrategyDescriptor[] = [],
  ) {
    const seen = new Set<string>();
    for (const d of this.contributions) {
      if (seen.has(d.id)) throw new Error(`two strategies are registered as "${d.id}"`);
      seen.add(d.id);
    }
  }

  /** Every registered strategy, in registration order. */
  list(): readonly StrategyDescriptor[] {
    return this.contributions;
  }

  get(id: string): StrategyDescriptor | undefined {
    return this.contributions.find((d) => d.id === id);
  }

  /** Whether the strategy's module binds DmaMapOps (a design still being built binds nothing). */
  static isRunnable(d: StrategyDescriptor): boolean {
    const c = new Container();
    c.load(d.module);
    return c.isBound(DmaMapOps);
  }
}

/** A registry over the given descriptors. */
export function createStrategyRegistry(
  descriptors: readonly StrategyDescriptor[],
): StrategyRegistry {
  const c = new Container();
  for (const d of descriptors) c.bind<StrategyDescriptor>(StrategyDescriptor).toConstantValue(d);
  c.bind(StrategyRegistry).toSelf();
  return c.get(StrategyRegistry);
}
