#!/usr/bin/env node
/**
 * Writes packages/cli/schema/sgl.schema.json, the JSON Schema of `dmasim map` input files, from
 * the zod schema in the built package (run `npm run build` first). The test map.test.ts fails
 * when the committed file is stale.
 */
const fs = require('node:fs');
const path = require('node:path');

let input;
try {
  input = require('../dist/input/sgl-file');
} catch (e) {
  console.error(
    `gen-schema: cannot load the built @dmasim/cli (run \`npm run build\`): ${e.message}`,
  );
  process.exit(1);
}
const out = path.join(__dirname, '..', 'schema', 'sgl.schema.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(input.sglJsonSchema(), null, 2) + '\n');
console.log(`wrote ${path.relative(process.cwd(), out)}`);
