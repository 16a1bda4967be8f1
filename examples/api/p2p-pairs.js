#!/usr/bin/env node
/**
 * Using @dmasim/core from a script: load a topology file, run the kernel's P2PDMA decisions over
 * every pair of endpoints, and print the pairs that could use peer-to-peer DMA directly
 * (PCI_P2PDMA_MAP_BUS_ADDR), nearest first.
 *
 *   npm run build && node examples/api/p2p-pairs.js examples/topologies/nested-switches.yaml
 *
 * `dmasim topo FILE --json` gives the same analysis as a JSON document.
 */
'use strict';
const { analyzeTopology, InputError, loadTopologyFile } = require('@dmasim/core');

/** "nvme0 -> nvme1  distance 4  PIX" for every BUS_ADDR pair of distinct endpoints. */
function busAddrPairs(file) {
  const analysis = analyzeTopology(loadTopologyFile(file));
  return analysis.pairs
    .filter((p) => p.provider !== p.client && p.mapType === 'BUS_ADDR')
    .sort((a, b) => a.distance - b.distance)
    .map(
      (p) =>
        `${p.provider.name ?? p.provider.bdf} -> ${p.client.name ?? p.client.bdf}  distance ${p.distance}  ${p.pathLevel}`,
    );
}

module.exports = { busAddrPairs };

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node examples/api/p2p-pairs.js TOPOLOGY.yaml');
    process.exitCode = 2;
  } else {
    try {
      const lines = busAddrPairs(file);
      console.log(lines.length > 0 ? lines.join('\n') : 'no pair maps with BUS_ADDR');
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      console.error(`p2p-pairs: ${e.format()}`);
      process.exitCode = 1;
    }
  }
}
