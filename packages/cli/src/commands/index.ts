/** Every `dmasim` subcommand, in the order `dmasim --help` lists them. Add new ones here. */
import type { CommandModule } from '../context';
import { mapCommand } from './map';
import { topoCommand } from './topo';

export const COMMANDS: readonly CommandModule[] = [topoCommand, mapCommand];
