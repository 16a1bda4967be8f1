/**
 * Exit statuses and the errors commands throw to end with one.
 *
 * - 0: success (also --help and --version)
 * - 1: invalid input: a topology, importer input or output file the user must fix
 * - 2: usage: unknown command or option, missing or conflicting arguments
 * - 70: internal error (a dmasim bug; EX_SOFTWARE)
 */
export const EXIT_OK = 0;
export const EXIT_INPUT = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

/** A user-facing failure that main() prints as `dmasim: <message>` and turns into an exit status. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_INPUT,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** What Node's fs functions throw: an Error with an errno code and the path involved. */
export interface ErrnoError extends Error {
  code: string;
  path?: string;
  syscall?: string;
}

/** Duck-typed: errors from Node's own realm fail `instanceof Error` under jest's VM contexts. */
export function isErrnoError(e: unknown): e is ErrnoError {
  if (typeof e !== 'object' || e === null) return false;
  const { code, message } = e as Partial<ErrnoError>;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) && typeof message === 'string';
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  EEXIST: 'file exists',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
};

/** "examples/x.yaml: no such file or directory" */
export function formatErrnoError(e: ErrnoError, fallbackPath?: string): string {
  const what = ERRNO_TEXT[e.code] ?? e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
  const where = e.path ?? fallbackPath;
  return where ? `${where}: ${what}` : what;
}
