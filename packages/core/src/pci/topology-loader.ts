/**
 * Loads topology files (YAML, or JSON by extension) into the model, with file:line:column
 * messages for every problem (see input/document.ts): syntax, schema issues, and the relations
 * buildTopology() and assignResources() check.
 */
import { z } from 'zod';
import {
  documentFromObject,
  loadDocumentFile,
  parseDocumentText,
  type DocumentKind,
} from '../input/document';
import { buildTopology, type PciTopology } from './topology';
import { topologySchema } from './topology-schema';

const TOPOLOGY: DocumentKind<typeof topologySchema, PciTopology> = {
  schema: topologySchema,
  build: buildTopology,
  name: 'the topology',
  fileWhat: 'topology file',
};

/** Reads and loads a topology file; an unreadable file is an InputError naming it. */
export function loadTopologyFile(path: string): PciTopology {
  return loadDocumentFile(path, TOPOLOGY);
}

/**
 * Parses topology text; `file` names it in errors and picks the syntax (".json": JSON, else
 * YAML).
 */
export function parseTopologyText(text: string, file: string): PciTopology {
  return parseDocumentText(text, file, TOPOLOGY);
}

/**
 * Validates an already-parsed spec object (from an importer, or the CLI) and builds the model.
 * Errors are InputErrors located at `file` only, since there is no text to point into.
 */
export function topologyFromSpecObject(obj: unknown, file: string): PciTopology {
  return documentFromObject(obj, file, TOPOLOGY);
}

/** The JSON Schema of the topology file format (input side: what users write). */
export function topologyJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(topologySchema, { io: 'input' }) as Record<string, unknown>;
}
