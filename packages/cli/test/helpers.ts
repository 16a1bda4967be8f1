/** Runs the CLI in-process with captured streams. */
import { join } from 'node:path';
import { main } from '../src/main';
import type { CliIo } from '../src/io';

export const REPO = join(__dirname, '..', '..', '..');
export const EXAMPLES = join(REPO, 'examples', 'topologies');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Pretend stdout (and stderr) are terminals. */
  tty?: boolean;
  env?: Record<string, string | undefined>;
}

/** `dmasim ...args` in-process: main(['node', 'dmasim', ...args], io). */
export async function run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s), isTTY: opts.tty ?? false },
    stderr: { write: (s: string) => (stderr += s), isTTY: opts.tty ?? false },
    env: opts.env ?? {},
  };
  const code = await main(['node', 'dmasim', ...args], io);
  return { code, stdout, stderr };
}

/** Lines of text without the empty one after the final newline. */
export function lines(text: string): string[] {
  const l = text.split('\n');
  if (l[l.length - 1] === '') l.pop();
  return l;
}

// eslint-disable-next-line no-control-regex
export const ANSI_RE = /\u001b\[/;

export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[\d+m/g, '');
}
