/** What every command gets: the output streams and the program's version. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Output } from './io';

export interface CliContext {
  out: Output;
  version: string;
}

/**
 * A `dmasim` subcommand. Each lives in its own module under commands/ and adds itself to the
 * program; main() registers the list in COMMANDS (commands/index.ts).
 */
export interface CommandModule {
  register(program: Command, ctx: CliContext): void;
}

/** The version in packages/cli/package.json (found from src/ under jest and from dist/ when built). */
export function cliVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
