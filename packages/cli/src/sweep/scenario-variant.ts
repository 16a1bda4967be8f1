/**
 * A scenario changed at one grid point. The sweep works on the scenario document as written (the
 * parsed YAML, before validation), so that a change reads like an edit of the file; the variant
 * is then validated by core's loader like any scenario. What a scenario cannot override (a
 * device's ACS or MPS) is changed in its topology, which the variant then carries inline.
 */
import { dirname, resolve } from 'node:path';
import {
  defaultStepId,
  loadDocumentFile,
  scenarioFromObject,
  type DocumentKind,
  type LoadedScenario,
  type StepSpec,
} from '@dmasim/core';
import { z } from 'zod';

/** A YAML or JSON mapping as parsed. */
export type Doc = Record<string, unknown>;

function rawKind(fileWhat: string): DocumentKind<z.ZodType<Doc>, Doc> {
  return {
    schema: z.record(z.string(), z.unknown()),
    build: (d) => d,
    name: `the ${fileWhat}`,
    fileWhat,
  };
}

export function isDoc(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The scenario file's document, and its topology's when a parameter needs it. */
export class ScenarioSource {
  private topo?: Doc;

  private constructor(
    /** Absolute path of the scenario file: it anchors a relative topology path. */
    readonly file: string,
    readonly doc: Doc,
  ) {}

  /** Reads the file as a document (the caller has loaded it with loadScenarioFile first). */
  static load(file: string): ScenarioSource {
    const abs = resolve(file);
    return new ScenarioSource(abs, loadDocumentFile(abs, rawKind('scenario file')));
  }

  /** The topology document: the file the scenario names (read once), or the inline mapping. */
  topologyDoc(): Doc {
    const t = this.doc.topology;
    if (isDoc(t)) return t;
    this.topo ??= loadDocumentFile(
      resolve(dirname(this.file), String(t)),
      rawKind('topology file'),
    );
    return this.topo;
  }
}

/** A leaf or repeat step as written, with its id (its own, or the default one). */
export interface StepRef {
  id: string;
  step: Doc;
}

/** Every step of `steps` in file order, repeats followed by their inner steps. */
export function allSteps(steps: unknown, parent?: string): StepRef[] {
  if (!Array.isArray(steps)) return [];
  const out: StepRef[] = [];
  steps.forEach((s, i) => {
    if (!isDoc(s)) return;
    const id = defaultStepId(s as unknown as StepSpec, i, parent);
    out.push({ id, step: s });
    if ('repeat' in s) out.push(...allSteps(s.steps, id));
  });
  return out;
}

/** A copy of the scenario document, changed by the parameters of one grid point. */
export class ScenarioVariant {
  readonly doc: Doc;

  constructor(readonly source: ScenarioSource) {
    this.doc = structuredClone(source.doc);
  }

  /** Every step, repeats' inner steps included. */
  steps(): StepRef[] {
    return allSteps(this.doc.steps);
  }

  /**
   * The topology, to change: on first use a copy of the topology file's document replaces the
   * variant's `topology` path, so the change reaches every strategy's machine.
   */
  topology(): Doc {
    const t = this.doc.topology;
    if (isDoc(t)) return t;
    const copy = structuredClone(this.source.topologyDoc());
    this.doc.topology = copy;
    return copy;
  }

  /**
   * `platform.<key>` as the run would see it: the scenario's override, else the topology's.
   * A parameter that changes one field of it starts from this copy, so the others are kept (a
   * scenario's platform key replaces the topology's whole).
   */
  platformKey(key: string): unknown {
    const own = isDoc(this.doc.platform) ? this.doc.platform[key] : undefined;
    if (own !== undefined) return structuredClone(own);
    const t = isDoc(this.doc.topology) ? this.doc.topology : this.source.topologyDoc();
    const plat = isDoc(t.platform) ? t.platform[key] : undefined;
    return plat === undefined ? undefined : structuredClone(plat);
  }

  /** Sets `platform.<key>` of the scenario. */
  setPlatformKey(key: string, value: unknown): void {
    if (!isDoc(this.doc.platform)) this.doc.platform = {};
    (this.doc.platform as Doc)[key] = value;
  }

  /** Validates the variant with core's loader (an InputError when it is not a valid scenario). */
  load(): LoadedScenario {
    return scenarioFromObject(this.doc, this.source.file);
  }
}
