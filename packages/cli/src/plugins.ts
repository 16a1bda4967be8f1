/**
 * Plugins: packages (or files) that export a strategy descriptor, and so its ContainerModule,
 * loaded with `--plugin PATH_OR_PACKAGE` and registered after the built-in designs. Nothing in
 * core knows about them: the CLI require()s the plugin, checks what it exports, loads its module
 * into a kernel container once to check the DmaMapOps it binds (the §11 contract's members), and
 * hands the descriptors to createStrategyRegistry() beside the built-ins.
 *
 * What a plugin may export (CommonJS, as require() sees it):
 *   strategy    one StrategyDescriptor
 *   strategies  an array of them
 *   default     either (an ES module's default export compiled to CommonJS)
 *   or module.exports being a descriptor itself.
 *
 * Every problem is a CliError (exit status 1) whose one line names the plugin as given and says
 * what is wrong, so that a plugin author never sees a stack trace for their own mistake: at load
 * time, and at run time, when the plugin's code throws (see guardedDescriptor()).
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { Option } from 'commander';
import { ContainerModule, type ContainerModuleLoadOptions } from 'inversify';
import {
  createKernelContainer,
  createStrategyRegistry,
  DmaMapOps,
  KernelSubmitter,
  P2pMemory,
  RequestMapper,
  type PciTopology,
  type StrategyDescriptor,
  type StrategyRegistry,
} from '@dmasim/core';
import { conformanceFabric } from '@dmasim/core/testing';
import { CliError, EXIT_INPUT } from './errors';
import { BUILT_IN_STRATEGIES } from './strategies';

/** A plugin loaded from one spec. */
export interface LoadedPlugin {
  /** The spec as given on the command line (a path or a package name). */
  spec: string;
  /** The absolute file require() loaded; give it to worker threads to load the same plugin. */
  file: string;
  /** The descriptors it exports, checked, in export order. */
  strategies: StrategyDescriptor[];
}

/** Which plugin each loaded descriptor came from (for `dmasim strategies`). */
const origins = new WeakMap<StrategyDescriptor, LoadedPlugin>();

/** The plugin a descriptor was loaded from; undefined for a built-in design. */
export function pluginOf(d: StrategyDescriptor): LoadedPlugin | undefined {
  return origins.get(d);
}

/** A strategy id: what `--strategy` and scenario files name it by. `all` means every design. */
const STRATEGY_ID_RE = /^[a-z][a-z0-9._-]*$/;

/**
 * The members of a DmaMapOps (packages/core/src/dma/map-ops.ts; reference §11's dma_map_ops
 * callbacks). Required functions first; the optional ones must be functions when present.
 */
const REQUIRED_OPS = ['mapPhys', 'unmapPhys', 'mapSg', 'unmapSg', 'dmaToPhys'] as const;
const OPTIONAL_OPS = [
  'mapResource',
  'unmapResource',
  'syncSingleForCpu',
  'syncSingleForDevice',
  'syncSgForCpu',
  'syncSgForDevice',
  'maxMappingSize',
  'optMappingSize',
  'getMergeBoundary',
  'lastMapSgIova',
  'counters',
  'debugMappingError',
  'debugDriverUnbound',
] as const;
const CAPABILITIES = ['pciP2pdma', 'mergesSegments', 'mapResource', 'bounce'] as const;

function fail(spec: string, message: string): never {
  throw new CliError(`plugin "${spec}": ${message}`, EXIT_INPUT);
}

/** The first line of what was thrown. */
function firstLine(e: unknown): string {
  const msg = e instanceof Error || (typeof e === 'object' && e !== null && 'message' in e);
  const text = msg ? String((e as { message: unknown }).message) : String(e);
  return text.split('\n')[0]!.trim() || '(no message)';
}

/** A short account of a value's kind, for "got ..." in messages. */
function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'object') {
    const name = (v as object).constructor?.name;
    return name && name !== 'Object' ? `a ${name}` : 'an object';
  }
  return `${typeof v} ${String(v)}`;
}

/** `file` relative to `cwd` when it lies below it, else absolute. */
function shown(file: string, cwd: string): string {
  const r = relative(cwd, file);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : file;
}

/** Whether `spec` names a path (rather than a package): ./x, ../x, /x, or anything that exists. */
function isPathSpec(spec: string, cwd: string): boolean {
  return spec.startsWith('.') || isAbsolute(spec) || existsSync(resolve(cwd, spec));
}

/**
 * The file a plugin spec names: a path (a file, or a directory whose package.json "main" or
 * index.js is the entry) resolved from `cwd`, or a package name resolved as require() would from
 * `cwd`.
 */
export function resolvePlugin(spec: string, cwd: string = process.cwd()): string {
  if (spec.trim() === '') fail(spec, 'empty plugin name: give a path or a package name');
  if (isPathSpec(spec, cwd)) {
    const abs = resolve(cwd, spec);
    try {
      return require.resolve(abs);
    } catch {
      if (!existsSync(abs)) fail(spec, `no such file or directory: ${abs}`);
      if (statSync(abs).isDirectory()) {
        fail(
          spec,
          `${abs} is a directory without an entry point (package.json "main" or index.js)`,
        );
      }
      fail(spec, `cannot load ${abs}`);
    }
  }
  try {
    return require.resolve(spec, { paths: [cwd] });
  } catch {
    return fail(
      spec,
      `cannot find a package of that name from ${cwd} (install it, or give a path starting with ./ or /)`,
    );
  }
}

/** Where a plugin's descriptors are among its exports, named for messages. */
function exportedDescriptors(
  exp: unknown,
  spec: string,
  file: string,
): { where: string; value: unknown }[] {
  const looksLikeDescriptor = (v: unknown) =>
    typeof v === 'object' && v !== null && 'id' in v && 'module' in v;
  const listOf = (name: string, v: unknown) => {
    if (!Array.isArray(v)) return [{ where: name, value: v }];
    if (v.length === 0) fail(spec, `${file}: "${name}" is an empty array: export at least one`);
    return v.map((value, i) => ({ where: `${name}[${i}]`, value }));
  };
  if (typeof exp === 'object' && exp !== null) {
    const e = exp as Record<string, unknown>;
    if (e.strategies !== undefined) {
      if (!Array.isArray(e.strategies)) {
        fail(
          spec,
          `${file}: "strategies" must be an array of descriptors, got ${describeValue(e.strategies)}`,
        );
      }
      return listOf('strategies', e.strategies);
    }
    if (e.strategy !== undefined) return [{ where: 'strategy', value: e.strategy }];
    if (e.default !== undefined) return listOf('default', e.default);
    if (looksLikeDescriptor(exp)) return [{ where: 'module.exports', value: exp }];
  }
  // Nothing usable: say what it does export, and point at a descriptor under another name.
  const expected =
    'expected an export named "strategy" (a descriptor), "strategies" (an array of them) or "default"';
  let got: string;
  if (typeof exp !== 'object' || exp === null) {
    got = `module.exports is ${describeValue(exp)}`;
  } else {
    const keys = Object.keys(exp);
    const hint = keys.find((k) => looksLikeDescriptor((exp as Record<string, unknown>)[k]));
    got =
      keys.length === 0
        ? 'it exports nothing'
        : `it exports ${keys.slice(0, 16).join(', ')}${keys.length > 16 ? `, ... (${keys.length} names)` : ''}` +
          (hint ? ` (is ${hint} the descriptor? export it as "strategy")` : '');
  }
  return fail(spec, `${file} exports no strategy descriptor: ${expected}; ${got}`);
}

/** Duck-typed: a plugin may bring its own copy of inversify, whose class is not ours. */
function isContainerModule(m: unknown): boolean {
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof (m as { load?: unknown }).load === 'function' &&
    typeof (m as { id?: unknown }).id === 'number'
  );
}

/** Every problem with a descriptor's fields (empty when it is well-formed). */
function descriptorProblems(v: unknown): string[] {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return [
      `a descriptor must be an object { id, title, origin, module }, got ${describeValue(v)}`,
    ];
  }
  const d = v as Record<string, unknown>;
  const out: string[] = [];
  if (typeof d.id !== 'string' || !STRATEGY_ID_RE.test(d.id) || d.id === 'all') {
    out.push(
      `id must be a lowercase id such as "my-ops" (a-z first, then a-z, 0-9, '.', '_' or '-'; not "all"), got ${describeValue(d.id)}`,
    );
  }
  for (const k of ['title', 'origin'] as const) {
    if (typeof d[k] !== 'string') out.push(`${k} must be a string, got ${describeValue(d[k])}`);
  }
  if (!isContainerModule(d.module)) {
    out.push(
      `module must be an inversify ContainerModule (an object with an id and load()), got ${describeValue(d.module)}`,
    );
  }
  for (const k of ['usesPlatformDmaOps', 'untranslated'] as const) {
    if (d[k] !== undefined && typeof d[k] !== 'boolean') {
      out.push(`${k} must be a boolean when present, got ${describeValue(d[k])}`);
    }
  }
  if (
    d.platformDmaOps !== undefined &&
    d.platformDmaOps !== 'iommu' &&
    d.platformDmaOps !== 'direct'
  ) {
    out.push(
      `platformDmaOps must be "iommu" or "direct" when present, got ${describeValue(d.platformDmaOps)}`,
    );
  }
  if (d.usesPlatformDmaOps === true && d.platformDmaOps !== undefined) {
    out.push(
      "platformDmaOps is set but so is usesPlatformDmaOps: a design that brings no DMA ops cannot serve as the platform's",
    );
  }
  return out;
}

/**
 * What a DmaMapOps lacks of the contract (packages/core/src/dma/map-ops.ts, §11): each missing
 * or mistyped member, all of them, so that one message lists everything.
 */
export function dmaMapOpsProblems(ops: unknown): string[] {
  if (typeof ops !== 'object' || ops === null)
    return [`it is ${describeValue(ops)}, not an object`];
  const o = ops as Record<string, unknown>;
  const out: string[] = [];
  if (typeof o.name !== 'string' || o.name === '') {
    out.push(`name (a non-empty string; got ${describeValue(o.name)})`);
  }
  const caps = o.capabilities;
  if (typeof caps !== 'object' || caps === null) {
    out.push(
      `capabilities (an object of booleans ${CAPABILITIES.join(', ')}; got ${describeValue(caps)})`,
    );
  } else {
    for (const k of CAPABILITIES) {
      const v = (caps as Record<string, unknown>)[k];
      if (typeof v !== 'boolean')
        out.push(`capabilities.${k} (a boolean; got ${describeValue(v)})`);
    }
  }
  for (const k of REQUIRED_OPS) {
    if (typeof o[k] !== 'function') out.push(`${k}() (got ${describeValue(o[k])})`);
  }
  const claimsResource =
    typeof caps === 'object' &&
    caps !== null &&
    (caps as { mapResource?: unknown }).mapResource === true;
  for (const k of OPTIONAL_OPS) {
    const v = o[k];
    const required = claimsResource && (k === 'mapResource' || k === 'unmapResource');
    if (v === undefined && required) {
      out.push(`${k}() (capabilities.mapResource is true)`);
    } else if (v !== undefined && typeof v !== 'function') {
      out.push(`${k}() (optional, but a function when present; got ${describeValue(v)})`);
    }
  }
  return out;
}

let fabric: PciTopology | undefined;

/** The machine a plugin's module is loaded on to check it: the conformance suite's fabric. */
function checkTopology(): PciTopology {
  fabric ??= conformanceFabric();
  return fabric;
}

/**
 * Loads the descriptor's module into a kernel container, as every command will, and checks the
 * DmaMapOps it binds: a design must bind one or say it uses the platform's, not neither or both.
 */
function checkModule(d: StrategyDescriptor, spec: string): void {
  const who = `strategy "${d.id}"`;
  let c: ReturnType<typeof createKernelContainer>;
  try {
    c = createKernelContainer({ topology: checkTopology(), strategy: d });
  } catch (e) {
    fail(spec, `${who}: its module threw when loaded into a kernel container: ${firstLine(e)}`);
  }
  const binds = c.isBound(DmaMapOps);
  if (d.usesPlatformDmaOps) {
    if (binds) {
      fail(
        spec,
        `${who}: usesPlatformDmaOps is set but its module binds DmaMapOps too: a design brings its own ops or uses the platform's, not both`,
      );
    }
    return;
  }
  if (!binds) {
    fail(
      spec,
      `${who}: its module binds no DmaMapOps and the descriptor does not set usesPlatformDmaOps (bind DmaMapOps from @dmasim/core, or set usesPlatformDmaOps: true)`,
    );
  }
  let ops: unknown;
  try {
    ops = c.get(DmaMapOps);
  } catch (e) {
    fail(spec, `${who}: its DmaMapOps cannot be created in a kernel container: ${firstLine(e)}`);
  }
  const problems = dmaMapOpsProblems(ops);
  if (problems.length > 0) {
    fail(
      spec,
      `${who}: the DmaMapOps its module binds does not satisfy the contract (§11); missing or wrong: ${problems.join('; ')}`,
    );
  }
}

/**
 * Loads one plugin: resolves `spec` from `cwd`, require()s it (CommonJS; ESM without top-level
 * await also loads on Node 20.19+), takes the descriptors it exports and checks each, its module
 * included. Throws a CliError (exit 1) naming the plugin and what is wrong.
 */
export function loadPlugin(spec: string, cwd: string = process.cwd()): LoadedPlugin {
  const file = resolvePlugin(spec, cwd);
  const where = shown(file, cwd);
  // require() would parse it, but no JSON can hold the ContainerModule a descriptor needs.
  if (file.endsWith('.json')) {
    fail(spec, `${where} is a JSON file: a plugin is a JavaScript module exporting a descriptor`);
  }
  let exp: unknown;
  try {
    exp = require(file);
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    const hint =
      code === 'ERR_REQUIRE_ESM' || code === 'ERR_REQUIRE_ASYNC_MODULE'
        ? ' (plugins are loaded with require(): publish CommonJS, or ESM without top-level await)'
        : '';
    fail(spec, `loading ${where} threw: ${firstLine(e)}${hint}`);
  }
  const strategies: StrategyDescriptor[] = [];
  for (const { where: name, value } of exportedDescriptors(exp, spec, where)) {
    const problems = descriptorProblems(value);
    if (problems.length > 0) {
      const id = (value as { id?: unknown } | null)?.id;
      const which = typeof id === 'string' && id !== '' ? `"${name}" (id "${id}")` : `"${name}"`;
      fail(
        spec,
        `${where}: the descriptor exported as ${which} is invalid: ${problems.join('; ')}`,
      );
    }
    const d = value as StrategyDescriptor;
    if (strategies.some((s) => s.id === d.id)) {
      fail(spec, `${where} exports two strategies with the id "${d.id}"`);
    }
    checkModule(d, spec);
    strategies.push(d);
  }
  const loaded: LoadedPlugin = { spec, file, strategies };
  // require() caches a file's exports: the descriptors belong to the latest load that named them.
  for (const d of strategies) origins.set(d, loaded);
  return loaded;
}

/**
 * Loads every plugin in `specs`, in order, and checks that their ids are their own: no built-in
 * design's and no earlier plugin's. The same file named twice is loaded once.
 */
export function loadPlugins(
  specs: readonly string[] | undefined,
  cwd: string = process.cwd(),
): LoadedPlugin[] {
  const out: LoadedPlugin[] = [];
  const owner = new Map<string, string>(BUILT_IN_STRATEGIES.map((d) => [d.id, 'the built-in']));
  for (const spec of specs ?? []) {
    const p = loadPlugin(spec, cwd);
    const same = out.find((q) => q.file === p.file);
    if (same) {
      for (const d of same.strategies) origins.set(d, same);
      continue;
    }
    for (const d of p.strategies) {
      const taken = owner.get(d.id);
      if (taken) {
        const by = taken === 'the built-in' ? 'a built-in design' : `plugin "${taken}"`;
        fail(
          spec,
          `strategy id "${d.id}" is already taken by ${by}: give the descriptor another id`,
        );
      }
    }
    for (const d of p.strategies) owner.set(d.id, spec);
    out.push(p);
  }
  return out;
}

/**
 * What the plugin's code threw while a command ran it: a bug in the plugin (or a kernel BUG() it
 * models), not in dmasim, so it ends the command with one line naming the strategy, its plugin
 * and the member that threw (exit status 1). The original error is `cause`, its stack printed
 * with DMASIM_DEBUG=1.
 */
export class PluginCodeError extends CliError {
  constructor(d: StrategyDescriptor, spec: string, member: string, cause: unknown) {
    super(
      `strategy "${d.id}" (plugin "${spec}"): ${member} threw: ${firstLine(cause)}`,
      EXIT_INPUT,
    );
    this.name = 'PluginCodeError';
    this.cause = cause;
  }
}

/** The extension points a plugin's module may bind; the objects it binds are its own code. */
const EXTENSION_POINTS = [DmaMapOps, P2pMemory, RequestMapper, KernelSubmitter] as const;

/**
 * `obj` with each method wrapped so that what it throws becomes a PluginCodeError. Methods run on
 * the object itself, so its calls to its own members are not wrapped again: the member named is
 * the one core called.
 */
function guardObject<T extends object>(obj: T, d: StrategyDescriptor, spec: string): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(obj, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      // A proxy must return a frozen own property unchanged: such a member goes unguarded.
      const own = Object.getOwnPropertyDescriptor(target, prop);
      if (own && !own.configurable && !own.writable) return v;
      let w = wrapped.get(prop);
      if (w === undefined) {
        const fn = v as (...args: unknown[]) => unknown;
        w = (...args: unknown[]) => {
          try {
            return fn.apply(target, args);
          } catch (e) {
            if (e instanceof PluginCodeError) throw e;
            throw new PluginCodeError(d, spec, String(prop), e);
          }
        };
        wrapped.set(prop, w);
      }
      return w;
    },
  });
}

/**
 * `d` with a module that loads the plugin's and guards what it binds: without it, a plugin whose
 * mapSg throws would end `dmasim run` with "internal error ... please report it", blaming dmasim.
 * An activation hook (not a rebinding) so that the DMA-API debug checker still wraps the ops; its
 * hook is the container's and runs first, so the guard sits outside the checker.
 */
function guardedDescriptor(d: StrategyDescriptor, spec: string): StrategyDescriptor {
  const module = new ContainerModule((options: ContainerModuleLoadOptions) => {
    d.module.load(options);
    for (const id of EXTENSION_POINTS) {
      // Bound now means bound by the plugin: core binds its defaults after loading the strategy.
      if (!options.isBound(id)) continue;
      options.onActivation(id, (_ctx, v: unknown) =>
        typeof v === 'object' && v !== null ? guardObject(v, d, spec) : v,
      );
    }
  });
  return { ...d, module };
}

/**
 * The registry a command works with: the built-in designs, then every plugin in `plugins` (paths
 * or package names, resolved from `cwd`), in the order given, their code guarded (a throw is a
 * PluginCodeError). Throws a CliError (exit 1) naming the plugin and what is wrong with it when
 * one cannot be loaded.
 */
export function cliRegistry(
  plugins: readonly string[] | undefined,
  cwd: string = process.cwd(),
): StrategyRegistry {
  const guarded = loadPlugins(plugins, cwd).flatMap((p) =>
    p.strategies.map((d) => {
      const g = guardedDescriptor(d, p.spec);
      origins.set(g, p);
      return g;
    }),
  );
  return createStrategyRegistry([...BUILT_IN_STRATEGIES, ...guarded]);
}

/** Help text shared by the commands that take --plugin. */
export const PLUGIN_HELP = `
Plugins (--plugin, repeatable): a path (./my-ops.js, ../pkg, /abs/dir; a directory loads its
package.json "main") or a package name resolved from the current directory. It is loaded with
require() and must export "strategy" (a strategy descriptor { id, title, origin, module }),
"strategies" (an array of them) or "default" (either). Its strategies are listed after the
built-in designs. A plugin that cannot be loaded, exports the wrong shape, reuses an id, or whose
module binds a DmaMapOps lacking members of the contract is reported in one line (exit status 1).`;

/** The `--plugin PATH_OR_PACKAGE` option (repeatable), for every command that runs strategies. */
export function pluginOption(): Option {
  return new Option(
    '--plugin <path-or-package>',
    'load a strategy plugin (a package or path exporting a strategy descriptor); repeatable',
  ).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
}
