/**
 * The `dmasim` program: builds the commander program, runs it, and turns every failure into one
 * line on stderr and an exit status (see errors.ts). Nothing here calls process.exit or writes to
 * process.stdout directly, so tests run main() in-process with captured streams:
 *
 *   const code = await main(['node', 'dmasim', 'topo', file], { stdout, stderr, env: {} });
 */
import { Command, CommanderError } from 'commander';
import { InputError, SpecError } from '@dmasim/core';
import { COMMANDS } from './commands';
import { cliVersion, type CliContext } from './context';
import {
  CliError,
  EXIT_INPUT,
  EXIT_INTERNAL,
  EXIT_OK,
  EXIT_USAGE,
  formatErrnoError,
  isErrnoError,
} from './errors';
import { Output, processIo, type CliIo } from './io';

const PROGRAM_HELP = `
Examples:
  $ dmasim topo examples/topologies/switch-2nvme-nic.yaml
  $ dmasim topo examples/topologies/switch-acs-redirect.yaml --json
  $ dmasim topo --from sysfs
  $ dmasim topo --help

Exit status: 0 success, 1 invalid input, 2 usage error.`;

/** Builds the program; commands write to ctx.out. */
export function createProgram(ctx: CliContext): Command {
  const { io } = ctx.out;
  const program = new Command('dmasim');
  // Settings made before .command() are inherited by the subcommands.
  program
    .description(
      'Simulate Linux PCI peer-to-peer DMA (P2PDMA) mapping and compare kernel designs side by side.',
    )
    .version(ctx.version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`dmasim: ${s}`),
      getOutHelpWidth: () => io.stdout.columns ?? 80,
      getErrHelpWidth: () => io.stderr.columns ?? 80,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .addHelpText('after', PROGRAM_HELP);
  for (const c of COMMANDS) c.register(program, ctx);
  return program;
}

/** Prints a failure as one line and returns the exit status. */
export function reportError(e: unknown, ctx: CliContext): number {
  const { out } = ctx;
  if (e instanceof CommanderError) {
    // Commander has printed its message (or the help) already.
    return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (e instanceof InputError) {
    out.error(e.format());
    return EXIT_INPUT;
  }
  if (e instanceof CliError) {
    out.error(e.message);
    // A plugin's exception (PluginCodeError): its author may want to see where it came from.
    if (out.io.env?.DMASIM_DEBUG && e.cause instanceof Error && e.cause.stack)
      out.err(e.cause.stack);
    return e.exitCode;
  }
  if (e instanceof SpecError) {
    out.error(e.path.length > 0 ? `${e.message} (at ${e.path.join('.')})` : e.message);
    return EXIT_INPUT;
  }
  if (isErrnoError(e)) {
    out.error(formatErrnoError(e));
    return EXIT_INPUT;
  }
  const msg = e instanceof Error ? e.message : String(e);
  out.error(`internal error: ${msg} (please report it; set DMASIM_DEBUG=1 for details)`);
  if (out.io.env?.DMASIM_DEBUG && e instanceof Error && e.stack) out.err(e.stack);
  return EXIT_INTERNAL;
}

/**
 * Entry point of the `dmasim` command: `argv` as process.argv gives it (node, script, args...).
 * Returns the exit status; never throws.
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const ctx: CliContext = { out: new Output(io), version: cliVersion() };
  try {
    const program = createProgram(ctx);
    await program.parseAsync(argv, { from: 'node' });
    return EXIT_OK;
  } catch (e) {
    return reportError(e, ctx);
  }
}
