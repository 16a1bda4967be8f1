/**
 * Plugins: packages that export a strategy descriptor (and so its ContainerModule), loaded with
 * `--plugin PATH_OR_PACKAGE` and registered beside the built-in designs. (Being written: the lead's
 * stub so that other commands can call cliRegistry() already.)
 */
import { Option } from 'commander';
import type { StrategyRegistry } from '@dmasim/core';
import { builtInRegistry } from './strategies';

/**
 * The registry a command works with: the built-in designs, then every plugin in `plugins` (paths
 * or package names, resolved from `cwd`), in the order given. Throws a CliError (exit 1) naming
 * the plugin and what is wrong with it when one cannot be loaded.
 */
export function cliRegistry(
  plugins: readonly string[] | undefined,
  cwd: string = process.cwd(),
): StrategyRegistry {
  void plugins;
  void cwd;
  return builtInRegistry();
}

/** The `--plugin PATH_OR_PACKAGE` option (repeatable), for every command that runs strategies. */
export function pluginOption(): Option {
  return new Option(
    '--plugin <path-or-package>',
    'load a strategy plugin (a package or path exporting a strategy descriptor); repeatable',
  ).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
}
