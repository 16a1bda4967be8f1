#!/usr/bin/env node
/**
 * Writes packages/core/src/fabric/pcie-dllp-intervals.ts from packages/core/data/pcie-dllp-intervals.json.
 * The link model needs the table at run time from both src (ts-jest) and dist (tsc -b with rootDir
 * src, which cannot import a JSON file outside src), so the table is compiled in as a module.
 * The test fabric-link-model.test.ts fails when the generated module is stale.
 */
const fs = require('node:fs');
const path = require('node:path');

const input = path.join(__dirname, '..', 'data', 'pcie-dllp-intervals.json');
const out = path.join(__dirname, '..', 'src', 'fabric', 'pcie-dllp-intervals.ts');
const table = JSON.parse(fs.readFileSync(input, 'utf8'));
const text =
  '/**\n' +
  ' * PCIe DLLP intervals (ACK latency limit and UpdateFC interval, in symbol times) by generation,\n' +
  ' * width and MPS, as read by the link model. Generated from data/pcie-dllp-intervals.json by\n' +
  ' * scripts/gen-dllp-intervals.js (`npm run dllp-intervals -w @dmasim/core`); do not edit.\n' +
  ' */\n' +
  `export const PCIE_DLLP_INTERVALS = ${JSON.stringify(table, null, 2)} as const;\n`;

// Formatted like the rest of the sources, so `npm run format:check` stays clean.
(async () => {
  const prettier = require('prettier');
  const options = (await prettier.resolveConfig(out)) ?? {};
  fs.writeFileSync(out, await prettier.format(text, { ...options, filepath: out }));
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
})().catch((e) => {
  console.error(`gen-dllp-intervals: ${e.message}`);
  process.exit(1);
});
