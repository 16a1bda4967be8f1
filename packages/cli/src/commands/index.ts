/** Every `dmasim` subcommand, in the order `dmasim --help` lists them. Add new ones here. */
import type { CommandModule } from '../context';
import { conformanceCommand } from './conformance';
import { mapCommand } from './map';
import { runCommand } from './run';
import { strategiesCommand } from './strategies';
import { sweepCommand } from './sweep';
import { topoCommand } from './topo';

export const COMMANDS: readonly CommandModule[] = [
  topoCommand,
  mapCommand,
  runCommand,
  sweepCommand,
  strategiesCommand,
  conformanceCommand,
];
