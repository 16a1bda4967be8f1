/**
 * Errors for invalid input (topology files, importer input, scenarios).
 *
 * Kernel error codes are return values; exceptions are reserved for library misuse and for
 * input a user must fix. `InputError` is what the CLI prints as one line, `file:line:col: message`,
 * and never as a stack trace.
 */

/** A position in a user's file. Lines and columns are 1-based, as editors show them. */
export interface SourceLocation {
  file: string;
  line?: number;
  column?: number;
}

/** Invalid input that the user must fix; `format()` gives the one-line message the CLI prints. */
export class InputError extends Error {
  constructor(
    message: string,
    readonly location?: SourceLocation,
  ) {
    super(message);
    this.name = 'InputError';
  }

  format(): string {
    const loc = this.location;
    if (!loc) return this.message;
    let where = loc.file;
    if (loc.line !== undefined) {
      where += `:${loc.line}`;
      if (loc.column !== undefined) where += `:${loc.column}`;
    }
    return `${where}: ${this.message}`;
  }
}

/** Path of a value inside a parsed document, as zod reports it (`['hostBridges', 0, 'devices', 2]`). */
export type SpecPath = readonly (string | number)[];

/**
 * A semantic error found in an already-parsed spec object. It names the path of the offending
 * value; the loader that parsed the text maps the path to a line and column.
 */
export class SpecError extends Error {
  constructor(
    message: string,
    readonly path: SpecPath,
  ) {
    super(message);
    this.name = 'SpecError';
  }
}
