#!/usr/bin/env node
/**
 * Writes the JSON Schemas of the file formats from the zod schemas in the built package (run
 * `npm run build` first): packages/core/schema/topology.schema.json (topology-loader.test.ts)
 * and packages/core/schema/scenario.schema.json (scenario-loader.test.ts). Those tests fail when
 * a committed file is stale.
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
const schemas = {
  'topology.schema.json': core.topologyJsonSchema,
  'scenario.schema.json': core.scenarioJsonSchema,
};
const dir = path.join(__dirname, '..', 'schema');
fs.mkdirSync(dir, { recursive: true });
for (const [name, generate] of Object.entries(schemas)) {
  if (typeof generate !== 'function') {
    console.error(`gen-schema: the built @dmasim/core does not export the generator of ${name}`);
    process.exit(1);
  }
  const out = path.join(dir, name);
  fs.writeFileSync(out, JSON.stringify(generate(), null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}
