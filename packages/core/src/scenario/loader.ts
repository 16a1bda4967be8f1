/**
 * Loads scenario files (YAML, or JSON by extension) with file:line:column messages for every
 * problem: syntax, schema issues, and the relations between steps (a buffer used before its
 * alloc, an unknown device, a duplicate id). The topology is read once to check names, and built
 * afresh for every strategy (buildTopology()), so that runs share no state.
 */
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  documentFromObject,
  loadDocumentFile,
  parseDocumentText,
  readInputFile,
  type DocumentKind,
} from '../input/document';
import { InputError, SpecError, type SpecPath } from '../input-error';
import type { PciTopology } from '../pci/topology';
import { parseTopologyText, topologyFromSpecObject } from '../pci/topology-loader';
import { scenarioSchema, type ScenarioSpec, type StepSpec } from './schema';

/** A validated scenario, ready to run under any number of strategies. */
export interface LoadedScenario {
  readonly name: string;
  /** The scenario file, when it came from one. */
  readonly file?: string;
  readonly spec: ScenarioSpec;
  /** Strategy ids the scenario asks for (undefined: every registered one). */
  readonly strategies?: readonly string[];
  /** A fresh topology with the scenario's platform overrides applied. */
  buildTopology(platform?: Record<string, unknown>): PciTopology;
}

/** Every step id in order, repeats flattened (inner ids are global too). */
export function stepIds(steps: readonly StepSpec[], parent?: string): string[] {
  const out: string[] = [];
  steps.forEach((s, i) => {
    const id = defaultStepId(s, i, parent);
    out.push(id);
    if ('repeat' in s) out.push(...stepIds(s.steps, id));
  });
  return out;
}

/** The id of a step: its own, or "<kind><index>" ("<repeat id>.<kind><index>" inside a repeat). */
export function defaultStepId(s: StepSpec, index: number, parent?: string): string {
  if (s.id) return s.id;
  const kind = Object.keys(s).find((k) =>
    ['alloc', 'fill', 'dma', 'nvme', 'verify', 'repeat'].includes(k),
  )!;
  return parent ? `${parent}.${kind}${index + 1}` : `${kind}${index + 1}`;
}

/** Reads and loads a scenario file. */
export function loadScenarioFile(path: string): LoadedScenario {
  return loadDocumentFile(path, scenarioKind(path));
}

/** Parses scenario text; `file` names it in errors, picks the syntax and anchors the topology path. */
export function parseScenarioText(text: string, file: string): LoadedScenario {
  return parseDocumentText(text, file, scenarioKind(file));
}

/** Validates an already-parsed scenario object (`file` anchors a relative topology path). */
export function scenarioFromObject(obj: unknown, file: string): LoadedScenario {
  return documentFromObject(obj, file, scenarioKind(file));
}

/** The JSON Schema of the scenario format (input side). */
export function scenarioJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(scenarioSchema, { io: 'input' }) as Record<string, unknown>;
}

function scenarioKind(file: string): DocumentKind<typeof scenarioSchema, LoadedScenario> {
  return {
    schema: scenarioSchema,
    build: (spec) => buildScenario(spec, file),
    name: 'the scenario',
    fileWhat: 'scenario file',
  };
}

function buildScenario(spec: ScenarioSpec, file: string): LoadedScenario {
  let base: () => Record<string, unknown>;
  let topoFile: string;
  let probe: PciTopology;
  if (typeof spec.topology === 'string') {
    topoFile = resolve(dirname(file), spec.topology);
    const text = readInputFile(topoFile, 'topology file');
    probe = parseTopologyText(text, topoFile); // topology errors point into its own file
    const json = /\.json$/i.test(topoFile);
    base = () => (json ? JSON.parse(text) : parseYaml(text)) as Record<string, unknown>;
  } else {
    topoFile = file;
    const obj = spec.topology;
    probe = topologyFromSpecObject(obj, file);
    base = () => structuredClone(obj);
  }
  checkSteps(spec, probe);
  const build = (platform?: Record<string, unknown>) => {
    const obj = base();
    const plat = (obj.platform ?? {}) as Record<string, unknown>;
    obj.platform = { ...plat, ...stripUndefined(spec.platform ?? {}), ...(platform ?? {}) };
    return topologyFromSpecObject(obj, topoFile);
  };
  // Overrides are validated by the scenario schema; building once reports relations they break.
  if (spec.platform) {
    try {
      build();
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      throw new SpecError(`with the scenario's platform overrides: ${e.message}`, ['platform']);
    }
  }
  return { name: spec.name, file, spec, strategies: spec.strategies, buildTopology: build };
}

function stripUndefined(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** The relations zod cannot check: ids, buffers before use, devices of the topology. */
function checkSteps(spec: ScenarioSpec, topo: PciTopology): void {
  const ids = new Set<string>();
  const buffers = new Set<string>();
  const device = (ref: string, path: SpecPath, what: string) => {
    const d = topo.find(ref);
    if (!d) {
      const names = topo.endpoints.map((e) => e.name ?? e.bdf).join(', ');
      throw new SpecError(
        `no device "${ref}" in the topology (${what}; endpoints: ${names})`,
        path,
      );
    }
    return d;
  };
  const buffer = (ref: string, path: SpecPath) => {
    if (!buffers.has(ref)) {
      throw new SpecError(
        `buffer "${ref}" is not allocated by an earlier step (an alloc step's id names its buffer)`,
        path,
      );
    }
  };
  const walk = (steps: readonly StepSpec[], at: SpecPath, parent?: string) => {
    steps.forEach((s, i) => {
      const p = [...at, i];
      const id = defaultStepId(s, i, parent);
      if (ids.has(id)) throw new SpecError(`duplicate step id "${id}"`, [...p, 'id']);
      for (const [j, n] of (s.needs ?? []).entries()) {
        if (!ids.has(n)) {
          throw new SpecError(`"needs" names "${n}", which is not an earlier step`, [
            ...p,
            'needs',
            j,
          ]);
        }
      }
      ids.add(id);
      if ('alloc' in s) {
        if (!s.id) throw new SpecError('an alloc step needs an id: it names the buffer', p);
        const a = s.alloc;
        if (a.kind === 'concat') {
          if (!a.parts) throw new SpecError('a concat alloc needs parts', [...p, 'alloc']);
          a.parts.forEach((b, j) => buffer(b, [...p, 'alloc', 'parts', j]));
        } else if (a.parts) {
          throw new SpecError('only a concat alloc has parts', [...p, 'alloc', 'parts']);
        } else if (a.size === undefined) {
          throw new SpecError('an alloc needs a size', [...p, 'alloc']);
        }
        if (a.size !== undefined && a.size <= 0) {
          throw new SpecError('size must be more than 0', [...p, 'alloc', 'size']);
        }
        if (a.kind === 'p2pmem' || a.kind === 'user-p2pmem') {
          if (!a.provider) {
            throw new SpecError(
              `a ${a.kind} alloc needs a provider (a device name, or "auto" with clients)`,
              [...p, 'alloc'],
            );
          }
          if (a.provider === 'auto') {
            if (a.kind === 'user-p2pmem') {
              throw new SpecError("user-p2pmem mmaps one device's p2pmem/allocate: name it", [
                ...p,
                'alloc',
                'provider',
              ]);
            }
            if (!a.clients?.length) {
              throw new SpecError('provider "auto" needs the clients to choose for', [
                ...p,
                'alloc',
              ]);
            }
          } else device(a.provider, [...p, 'alloc', 'provider'], 'the provider');
        }
        (a.clients ?? []).forEach((c, j) => device(c, [...p, 'alloc', 'clients', j], 'a client'));
        buffers.add(s.id);
      } else if ('fill' in s) {
        const f = s.fill;
        if ((f.buffer === undefined) === (f.namespace === undefined)) {
          throw new SpecError('a fill names either a buffer or a namespace', [...p, 'fill']);
        }
        if (f.buffer !== undefined) buffer(f.buffer, [...p, 'fill', 'buffer']);
        else {
          device(f.namespace!, [...p, 'fill', 'namespace'], 'the namespace');
          if (f.length === undefined) {
            throw new SpecError('a namespace fill needs a length', [...p, 'fill']);
          }
        }
      } else if ('dma' in s) {
        device(s.dma.device, [...p, 'dma', 'device'], 'the DMA initiator');
        buffer(s.dma.buffer, [...p, 'dma', 'buffer']);
      } else if ('nvme' in s) {
        const d = device(s.nvme.device, [...p, 'nvme', 'device'], 'the NVMe controller');
        if (d.props.class !== 'nvme') {
          throw new SpecError(`${s.nvme.device} is not an NVMe controller (class: nvme)`, [
            ...p,
            'nvme',
            'device',
          ]);
        }
        buffer(s.nvme.buffer, [...p, 'nvme', 'buffer']);
        for (const k of ['at', 'length'] as const) {
          const v = s.nvme[k];
          if (v !== undefined && (v % 512 || (k === 'length' && v === 0))) {
            throw new SpecError(
              `${k} must be a ${k === 'length' ? 'positive ' : ''}multiple of 512 bytes (whole logical blocks)`,
              [...p, 'nvme', k],
            );
          }
        }
        if (s.nvme.ioSize !== undefined && (s.nvme.ioSize <= 0 || s.nvme.ioSize % 512)) {
          throw new SpecError('ioSize must be a positive multiple of 512 bytes', [
            ...p,
            'nvme',
            'ioSize',
          ]);
        }
      } else if ('verify' in s) {
        for (const side of ['a', 'b'] as const) {
          const r = s.verify[side];
          const rp = [...p, 'verify', side];
          if ('buffer' in r) buffer(r.buffer, [...rp, 'buffer']);
          else if ('namespace' in r) device(r.namespace, [...rp, 'namespace'], 'the namespace');
          else if ('device' in r) device(r.device, [...rp, 'device'], 'the device');
        }
        const len = (r: (typeof s.verify)['a']) => r.length;
        if (
          ('data' in s.verify.a || 'namespace' in s.verify.a || 'device' in s.verify.a) &&
          ('data' in s.verify.b || 'namespace' in s.verify.b || 'device' in s.verify.b) &&
          len(s.verify.a) === undefined &&
          len(s.verify.b) === undefined
        ) {
          throw new SpecError('give a length: neither side is a buffer whose size would do', [
            ...p,
            'verify',
          ]);
        }
      } else if ('repeat' in s) {
        walk(s.steps, [...p, 'steps'], id);
      }
    });
  };
  walk(spec.steps, ['steps']);
}
