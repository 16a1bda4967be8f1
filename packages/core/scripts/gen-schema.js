#!/usr/bin/env node
/**
 * Writes packages/core/schema/topology.schema.json, the JSON Schema of the topology file format,
 * from the zod schema in the built package (run `npm run build` first). The test
 * topology-loader.test.ts fails when the committed file is stale.
 */
const fs = require('node:fs');
const path = require('node:path');

let core;
try {
  core = require('../dist');
} catch (e) {
  console.error(
    `gen-schema: cannot load the built @dmasim/core (run \`npm run build\`): ${e.message}`,
  );
  process.exit(1);
}
const out = path.join(__dirname, '..', 'schema', 'topology.schema.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(core.topologyJsonSchema(), null, 2) + '\n');
console.log(`wrote ${path.relative(process.cwd(), out)}`);
