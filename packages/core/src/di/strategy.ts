/**
 * The strategy extension point: each design package (and each plugin) exports one descriptor and
 * one ContainerModule. The CLI and the scenario runner build one container per strategy.
 */
import type { ContainerModule } from 'inversify';

/** Injection symbol under which a container lists its strategy descriptors. */
export const StrategyDescriptor = Symbol.for('dmasim.StrategyDescriptor');

export interface StrategyDescriptor {
  /** Short id used on the command line (`--strategy dma-direct`). */
  id: string;
  /** One-line title for tables. */
  title: string;
  /** Where the design comes from (series, release). */
  origin: string;
  /** Binds the design's DmaMapOps, P2P memory representation and request mapper. */
  module: ContainerModule;
}
