/**
 * Input documents (YAML, or JSON by extension) checked against a zod schema and built into a
 * model. Every problem becomes one InputError naming the file, line and column of the offending
 * value: YAML and JSON syntax errors, schema issues (wrong types, unknown keys with the nearest
 * valid one, missing fields) and the relations the builder checks (SpecError, which carries the
 * value's path). The topology loader and the CLI's input files use it.
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { z } from 'zod';
import { InputError, SpecError, type SpecPath } from '../input-error';

/** A kind of document: its schema, how to build the model, and what to call it in messages. */
export interface DocumentKind<S extends z.ZodType, T> {
  schema: S;
  build: (data: z.output<S>) => T;
  /** "the topology", "the scatterlist": names the document when a message is about all of it. */
  name: string;
  /** "topology file": names the file in read errors. */
  fileWhat: string;
}

/** Reads a file's text; an unreadable file is an InputError naming it. */
export function readInputFile(path: string, fileWhat: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? `is a directory, not a ${fileWhat}`
          : code === 'EACCES'
            ? 'permission denied'
            : (e as Error).message;
    throw new InputError(`cannot read ${fileWhat}: ${why}`, { file: path });
  }
}

/** Reads and loads a document file. */
export function loadDocumentFile<S extends z.ZodType, T>(
  path: string,
  kind: DocumentKind<S, T>,
): T {
  return parseDocumentText(readInputFile(path, kind.fileWhat), path, kind);
}

/**
 * Parses document text; `file` names it in errors and picks the syntax (".json": JSON, else
 * YAML).
 */
export function parseDocumentText<S extends z.ZodType, T>(
  text: string,
  file: string,
  kind: DocumentKind<S, T>,
): T {
  const json = /\.json$/i.test(file);
  if (json) {
    const err = checkJsonSyntax(text);
    if (err) {
      const { line, column } = offsetToLineCol(text, err.offset);
      throw new InputError(`JSON syntax error: ${err.message}`, { file, line, column });
    }
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { file, line: p.line, column: p.col };
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new InputError(
      `${json ? 'JSON' : 'YAML'} syntax error: ${firstLine(e.message)}`,
      at(e.pos[0]),
    );
  }
  let obj: unknown;
  try {
    obj = doc.toJS();
  } catch (e) {
    throw new InputError(`cannot read the document: ${(e as Error).message}`, { file });
  }
  return fromObject(obj, file, (path, pointAtKey) => at(offsetOf(doc, path, pointAtKey)), kind);
}

/**
 * Validates an already-parsed object and builds the model. Errors are InputErrors located at
 * `file` only, since there is no text to point into.
 */
export function documentFromObject<S extends z.ZodType, T>(
  obj: unknown,
  file: string,
  kind: DocumentKind<S, T>,
): T {
  return fromObject(obj, file, () => ({ file }), kind);
}

type Locate = (
  path: SpecPath,
  pointAtKey: boolean,
) => { file: string; line?: number; column?: number };

function fromObject<S extends z.ZodType, T>(
  obj: unknown,
  file: string,
  locate: Locate,
  kind: DocumentKind<S, T>,
): T {
  const r = kind.schema.safeParse(obj, { reportInput: true });
  if (!r.success) {
    const issues = r.error.issues;
    const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
    const d = describeIssue(issue, obj, kind);
    throw new InputError(d.message, locate(d.path, d.pointAtKey));
  }
  try {
    return kind.build(r.data as z.output<S>);
  } catch (e) {
    if (e instanceof SpecError) throw new InputError(e.message, locate(e.path, false));
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Schema issues -> one actionable message

type Issue = z.core.$ZodIssue;

/**
 * Of a union's branches, the one a mapping was meant to match: the branch whose issues say least
 * about its top-level keys (keys it does not know, keys it needs but that are missing), then the
 * one whose first issue lies deepest. Its first issue, or undefined when no branch stands out.
 */
function meantBranch(branches: readonly Issue[][], input: unknown): Issue | undefined {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return undefined;
  const scored = branches
    .filter((b) => b.length > 0)
    .map((b) => {
      let misfit = 0;
      for (const i of b) {
        if (i.code === 'unrecognized_keys' && i.path.length === 0) misfit += i.keys.length;
        else if (i.path.length === 1 && !(String(i.path[0]) in (input as object))) misfit++;
      }
      return { first: b[0]!, misfit, depth: b[0]!.path.length };
    })
    .sort((a, b) => a.misfit - b.misfit || b.depth - a.depth);
  const [best, next] = scored;
  if (!best) return undefined;
  if (next && next.misfit === best.misfit && next.depth === best.depth) return undefined;
  return best.first;
}

/** Branches that are a union themselves (a union of unions, as steps are) as their branches. */
function flattenUnionBranches(branches: readonly Issue[][]): Issue[][] {
  return branches.flatMap((b) => {
    const only = b.length === 1 ? b[0]! : undefined;
    return only?.code === 'invalid_union' && only.path.length === 0
      ? flattenUnionBranches(only.errors)
      : [b];
  });
}

/**
 * A mapping that fits no branch of a union of mappings (a step of an unknown kind, or of a known
 * kind with a wrong value inside): the issue of the branch it was meant to be, by its keys, or,
 * when no branch stands out, which keys would have chosen one.
 */
function describeKeyedUnion(
  branches: readonly Issue[][],
  input: unknown,
  path: (string | number)[],
  field: string,
): { issue: Issue } | { message: string; path: SpecPath; pointAtKey: boolean } | undefined {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return undefined;
  branches = flattenUnionBranches(branches);
  const meant = meantBranch(branches, input);
  if (meant) return { issue: { ...meant, path: [...path, ...meant.path] } as Issue };
  // The key that names each branch, and the keys no branch knows.
  const missing: string[] = [];
  let unknown: string[] | undefined;
  for (const b of branches) {
    // a branch's first missing key is the one that names it (`dma`, `repeat`)
    const first = b.find((i) => i.path.length === 1 && !(String(i.path[0]) in input));
    if (first) missing.push(String(first.path[0]));
    const u = b.flatMap((i) => (i.code === 'unrecognized_keys' && !i.path.length ? i.keys : []));
    unknown = unknown ? unknown.filter((k) => u.includes(k)) : u;
  }
  const choices = [...new Set(missing)];
  if (!choices.length) return undefined;
  const key = unknown?.[0];
  if (key === undefined) {
    return {
      message: `${field}: expected one of the keys ${choices.join(', ')}`,
      path,
      pointAtKey: false,
    };
  }
  const near = closest(key, choices);
  return {
    message: `unknown key "${key}" in ${field}${near ? ` (did you mean "${near}"?)` : ''}: expected one of ${choices.join(', ')}`,
    path: [...path, key],
    pointAtKey: true,
  };
}

function describeIssue(
  issue: Issue,
  root: unknown,
  kind: { schema: z.ZodType; name: string },
): { message: string; path: SpecPath; pointAtKey: boolean } {
  const path = issue.path as (string | number)[];
  const field = fieldName(path, kind.name);
  const input = (issue as { input?: unknown }).input;
  if (issue.code !== 'unrecognized_keys' && input === undefined && path.length > 0) {
    const parent = path.slice(0, -1);
    const holder = valueAt(root, parent);
    const key = path[path.length - 1];
    if (
      holder !== null &&
      typeof holder === 'object' &&
      !Array.isArray(holder) &&
      !(key in holder)
    ) {
      const where = parent.length ? ` in ${fieldName(parent, kind.name)}` : '';
      return {
        message: `missing required field "${String(key)}"${where}`,
        path: parent,
        pointAtKey: false,
      };
    }
  }
  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = issue.keys[0];
      const known = knownKeys(kind.schema, path);
      const near = known ? closest(key, known) : undefined;
      let msg = `unknown key "${key}"${path.length ? ` in ${field}` : ''}`;
      if (near) msg += ` (did you mean "${near}"?)`;
      if (known) msg += `: expected one of ${known.join(', ')}`;
      return { message: msg, path: [...path, key], pointAtKey: true };
    }
    case 'invalid_type': {
      return {
        message: `${field}: expected ${typeName(issue.expected)}, got ${describeValue(input)}`,
        path,
        pointAtKey: false,
      };
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => String(v)).join(', ');
      const message =
        typeof input === 'string'
          ? `unknown ${typeof path[path.length - 1] === 'number' ? `${String(path[path.length - 2])} entry` : field} "${input}": expected one of ${values}`
          : `${field}: expected one of ${values}, got ${describeValue(input)}`;
      return { message, path, pointAtKey: false };
    }
    case 'invalid_union': {
      const keyed = describeKeyedUnion(issue.errors, input, path, field);
      if (keyed) {
        if ('issue' in keyed) return describeIssue(keyed.issue, root, kind);
        return keyed;
      }
      const subs = issue.errors.map((e) => e[0]).filter((e): e is Issue => e !== undefined);
      let expected: string;
      if (subs.length > 0 && subs.every((s) => s.code === 'invalid_value')) {
        const vals = subs.flatMap((s) => (s.code === 'invalid_value' ? s.values.map(String) : []));
        expected = `one of ${vals.join(', ')}`;
      } else if (subs.length > 0 && subs.every((s) => s.code === 'invalid_type')) {
        const types = subs.map((s) => (s.code === 'invalid_type' ? typeName(s.expected) : ''));
        expected = types.join(' or ');
      } else {
        expected = 'a different value';
      }
      return {
        message: `${field}: expected ${expected}, got ${describeValue(input)}`,
        path,
        pointAtKey: false,
      };
    }
    case 'too_small':
    case 'too_big': {
      const custom = !/^(Too small|Too big)/.test(issue.message);
      if (custom) return { message: issue.message, path, pointAtKey: false };
      const small = issue.code === 'too_small';
      const bound = small ? issue.minimum : issue.maximum;
      const incl = issue.inclusive !== false;
      const op = small ? (incl ? 'at least' : 'more than') : incl ? 'at most' : 'less than';
      let message: string;
      if (issue.origin === 'string' && small && Number(bound) === 1) {
        message = `${field} must not be empty`;
      } else if (issue.origin === 'array' || issue.origin === 'string') {
        const unit = issue.origin === 'array' ? 'entries' : 'characters';
        message = `${field} must have ${op} ${String(bound)} ${unit}`;
      } else {
        message = `${field} must be ${op} ${String(bound)}, got ${describeValue(input)}`;
      }
      return { message, path, pointAtKey: false };
    }
    default: {
      // custom (our refinements and transforms) and the rest: the message says what is wrong.
      const msg = issue.message;
      const prefixed = /^(must|expected)/.test(msg) ? `${field} ${msg}` : msg;
      return {
        message: prefixed.replace(`${field} expected`, `${field}: expected`),
        path,
        pointAtKey: false,
      };
    }
  }
}

/** The key an issue is about: the last string segment, with an index ("devices[2]") if last. */
function fieldName(path: readonly (string | number)[], docName: string): string {
  if (path.length === 0) return docName;
  const last = path[path.length - 1];
  if (typeof last === 'string') return last;
  const key = path.length >= 2 ? String(path[path.length - 2]) : 'list';
  return `${key}[${last}]`;
}

function typeName(t: string): string {
  switch (t) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'int':
      return 'an integer';
    default:
      return `a ${t}`;
  }
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

function valueAt(root: unknown, path: SpecPath): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

interface SchemaDef {
  type: string;
  shape?: Record<string, SchemaLike>;
  element?: SchemaLike;
  innerType?: SchemaLike;
  in?: SchemaLike;
  getter?: () => SchemaLike;
}
interface SchemaLike {
  _zod: { def: SchemaDef };
}

/** The keys the strict object at `path` accepts, found by walking the schema. */
function knownKeys(schema: z.ZodType, path: SpecPath): string[] | undefined {
  let s: SchemaLike | undefined = schema as unknown as SchemaLike;
  const unwrap = (x: SchemaLike | undefined): SchemaLike | undefined => {
    for (let i = 0; x && i < 20; i++) {
      const d: SchemaDef = x._zod.def;
      if (d.type === 'optional' || d.type === 'default' || d.type === 'nullable') x = d.innerType;
      else if (d.type === 'lazy') x = d.getter?.();
      else if (d.type === 'pipe') x = d.in;
      else return x;
    }
    return x;
  };
  for (const seg of path) {
    s = unwrap(s);
    if (!s) return undefined;
    const d = s._zod.def;
    if (typeof seg === 'number' && d.type === 'array') s = d.element;
    else if (typeof seg === 'string' && d.type === 'object') s = d.shape?.[seg];
    else return undefined;
  }
  s = unwrap(s);
  const shape = s?._zod.def.type === 'object' ? s._zod.def.shape : undefined;
  return shape ? Object.keys(shape) : undefined;
}

/** A known key within edit distance 2 of a misspelt one (case-insensitive). */
function closest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}

// ---------------------------------------------------------------------------------------------
// Positions

/**
 * Offset of the node at `path` (its key with `pointAtKey`), or of the nearest ancestor that
 * exists; an empty value (`children:` with nothing after it) is located at its key.
 */
function offsetOf(doc: Document, path: SpecPath, pointAtKey: boolean): number {
  let node: Node | null | undefined = doc.contents;
  let keyNode: Node | undefined;
  let best = node?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      keyNode = pair.key as Node;
      const value = pair.value as Node | null;
      if (last && pointAtKey) return keyNode.range?.[0] ?? best;
      node = value;
      best = value?.range?.[0] ?? keyNode.range?.[0] ?? best;
      if (!value) break;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      node = item;
      best = item.range?.[0] ?? best;
    } else {
      break;
    }
  }
  return best;
}

function offsetToLineCol(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}

// ---------------------------------------------------------------------------------------------
// A strict JSON syntax check with readable messages and exact positions (JSON.parse's messages
// differ between Node releases and some carry no position).

class JsonSyntax extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const WORD_RE = /[A-Za-z_$][\w$]*/y;

function checkJsonSyntax(text: string): { message: string; offset: number } | undefined {
  let i = 0;
  let lastComma = 0;
  const n = text.length;
  const fail = (msg: string, at = i): never => {
    throw new JsonSyntax(msg, at);
  };
  const ws = () => {
    while (i < n && ' \t\n\r'.includes(text[i])) i++;
    if (text.startsWith('//', i) || text.startsWith('/*', i)) fail('JSON does not allow comments');
  };
  const show = (at: number) => (at >= n ? 'the end of the file' : `${JSON.stringify(text[at])}`);
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') return object();
    if (c === '[') return array();
    if (c === '"') return string();
    if (c === "'") fail('strings must be in double quotes');
    if (c === '-' || (c >= '0' && c <= '9')) return number();
    if (i >= n) fail('unexpected end of file: a value is missing');
    WORD_RE.lastIndex = i;
    const word = WORD_RE.exec(text)?.[0];
    if (word === 'true' || word === 'false' || word === 'null') {
      i += word.length;
      return;
    }
    if (word) fail(`unexpected word "${word}": text values must be in double quotes`);
    fail(`unexpected ${show(i)} where a value should be`);
  };
  const object = (): void => {
    i++;
    ws();
    if (text[i] === '}') {
      i++;
      return;
    }
    for (;;) {
      ws();
      if (text[i] !== '"') {
        if (text[i] === '}') fail("trailing comma: JSON does not allow ',' before '}'", lastComma);
        fail(`expected a property name in double quotes, found ${show(i)}`);
      }
      string();
      ws();
      if (text[i] !== ':') fail(`expected ':' after the property name, found ${show(i)}`);
      i++;
      value();
      ws();
      if (text[i] === ',') {
        lastComma = i;
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return;
      }
      fail(`expected ',' or '}' after the property value, found ${show(i)}`);
    }
  };
  const array = (): void => {
    i++;
    ws();
    if (text[i] === ']') {
      i++;
      return;
    }
    for (;;) {
      ws();
      if (text[i] === ']') fail("trailing comma: JSON does not allow ',' before ']'", lastComma);
      value();
      ws();
      if (text[i] === ',') {
        lastComma = i;
        i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        return;
      }
      fail(`expected ',' or ']' after the list element, found ${show(i)}`);
    }
  };
  const string = (): void => {
    const start = i;
    i++;
    for (;;) {
      if (i >= n) fail('unterminated string', start);
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail('line break or control character inside a string (write \\n)');
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('malformed \\u escape');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2;
        } else {
          fail(`invalid escape \\${e ?? ''} in a string`);
        }
      } else {
        i++;
      }
    }
  };
  const number = (): void => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m || /^[\w.]/.test(text.slice(i + m[0].length, i + m[0].length + 1))) {
      fail('malformed number (hex must be written as a string, e.g. "0x8086")');
    }
    i += m![0].length;
  };
  try {
    value();
    ws();
    if (i < n) fail(`unexpected ${show(i)} after the end of the document`);
    return undefined;
  } catch (e) {
    if (e instanceof JsonSyntax) return { message: e.message, offset: e.offset };
    throw e;
  }
}
