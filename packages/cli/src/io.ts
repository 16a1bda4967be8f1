/**
 * Where the CLI writes. Commands never touch process.stdout/stderr directly: they write to the
 * streams in a CliIo, so tests can call main() in-process and capture both streams.
 */
import pc from 'picocolors';

/** picocolors' formatter set (identity functions when colours are off). */
export type Colors = ReturnType<typeof pc.createColors>;

/** The part of a Node writable stream the CLI uses. */
export interface TextStream {
  write(chunk: string): unknown;
  /** True when the stream is a terminal (colours are used only then). */
  isTTY?: boolean;
  /** Terminal width, when known. */
  columns?: number;
}

export interface CliIo {
  stdout: TextStream;
  stderr: TextStream;
  /** Environment consulted for NO_COLOR / FORCE_COLOR; defaults to process.env. */
  env?: Record<string, string | undefined>;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/**
 * Colours on `stream`: only for a terminal, never when NO_COLOR is set to a non-empty value
 * (https://no-color.org); FORCE_COLOR (non-empty, not "0") forces them on.
 */
export function colorsEnabled(
  stream: TextStream,
  env: Record<string, string | undefined>,
): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0')
    return true;
  return stream.isTTY === true;
}

/** Line-oriented output to the injected streams, with colours decided once per stream. */
export class Output {
  /** Colours for text written to stdout (identity functions when disabled). */
  readonly c: Colors;
  /** Colours for text written to stderr. */
  readonly ce: Colors;

  constructor(readonly io: CliIo) {
    const env = io.env ?? {};
    this.c = pc.createColors(colorsEnabled(io.stdout, env));
    this.ce = pc.createColors(colorsEnabled(io.stderr, env));
  }

  /** Writes text to stdout as is. */
  write(text: string): void {
    this.io.stdout.write(text);
  }

  /** Writes lines to stdout, each terminated by a newline. */
  out(...lines: string[]): void {
    for (const l of lines) this.io.stdout.write(`${l}\n`);
  }

  /** Writes lines to stderr, each terminated by a newline. */
  err(...lines: string[]): void {
    for (const l of lines) this.io.stderr.write(`${l}\n`);
  }

  /** `dmasim: <message>` on stderr: the one-line form every user-facing error takes. */
  error(message: string): void {
    this.err(`dmasim: ${message}`);
  }

  /** `dmasim: note: <message>` on stderr. */
  note(message: string): void {
    this.err(`dmasim: ${this.ce.dim('note:')} ${message}`);
  }
}
