/**
 * Every bundled topology in examples/topologies loads, analyses, and shows what its header says.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  analyzeTopology,
  loadTopologyFile,
  type PairAnalysis,
  type TopoAnalysis,
} from '@dmasim/core';
import { EXAMPLES } from './helpers';

const files = readdirSync(EXAMPLES)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

function analyze(name: string): TopoAnalysis {
  return analyzeTopology(loadTopologyFile(join(EXAMPLES, name)));
}

function distinctPairs(a: TopoAnalysis): PairAnalysis[] {
  return a.pairs.filter((p) => p.provider !== p.client);
}

function pair(a: TopoAnalysis, provider: string, client: string): PairAnalysis {
  const p = a.pairs.find((x) => x.provider.name === provider && x.client.name === client);
  if (!p) throw new Error(`no pair ${provider} -> ${client}`);
  return p;
}

test('the five bundled topologies are there', () => {
  expect(files).toEqual(
    expect.arrayContaining([
      'switch-2nvme-nic.yaml',
      'switch-acs-redirect.yaml',
      'intel-two-host-bridges.yaml',
      'amd-zen.yaml',
      'nested-switches.yaml',
    ]),
  );
});

describe.each(files)('%s', (file) => {
  test('loads and analyses without error', () => {
    const a = analyze(file);
    expect(a.endpoints.length).toBeGreaterThan(1);
    expect(a.pairs).toHaveLength(a.endpoints.length ** 2);
  });

  test('starts with a comment header and names and classes every endpoint', () => {
    const text = readFileSync(join(EXAMPLES, file), 'utf8');
    expect(text.startsWith(`# ${file.replace(/\.ya?ml$/, '')}:`)).toBe(true);
    expect(text).toContain(`dmasim topo examples/topologies/${file}`);
    const topo = loadTopologyFile(join(EXAMPLES, file));
    for (const ep of topo.endpoints) {
      expect(ep.name).toMatch(/^[a-z]+[a-z0-9_]*\d$/);
      expect(ep.props.class).toBeDefined();
      expect(ep.vendor).toBeDefined();
      expect(ep.device).toBeDefined();
      expect(ep.props.link).toBeDefined();
      expect(ep.source?.bars?.length).toBeGreaterThan(0);
    }
  });
});

test('switch-2nvme-nic: every pair BUS_ADDR at distance 4, nvme1 has a CMB', () => {
  const a = analyze('switch-2nvme-nic.yaml');
  for (const p of distinctPairs(a)) expect(p).toMatchObject({ mapType: 'BUS_ADDR', distance: 4 });
  const nvme1 = a.topology.get('nvme1');
  expect(nvme1.props.cmb).toMatchObject({ rds: true, wds: true });
  expect(nvme1.source?.bars?.find((b) => b.bar === nvme1.props.cmb!.bar)).toMatchObject({
    prefetchable: true,
  });
});

test('switch-acs-redirect: every pair NOT_SUPPORTED, with the ACS messages; one IOMMU group per endpoint', () => {
  const a = analyze('switch-acs-redirect.yaml');
  for (const p of distinctPairs(a)) {
    expect(p.mapType).toBe('NOT_SUPPORTED');
    expect(p.acsPorts.length).toBeGreaterThan(0);
    expect(p.reasons.join('\n')).toContain('ACS redirect is set between the client and provider');
  }
  const groups = new Set(a.endpoints.map((e) => a.iommuGroupOf[e.index]));
  expect(groups.size).toBe(a.endpoints.length);
});

test('intel-two-host-bridges: THRU_HOST_BRIDGE everywhere (8086:2020 allowlisted), SYS across sockets', () => {
  const a = analyze('intel-two-host-bridges.yaml');
  for (const p of distinctPairs(a)) expect(p.mapType).toBe('THRU_HOST_BRIDGE');
  expect(pair(a, 'nvme0', 'mlx5_0').pathLevel).toBe('PHB');
  expect(pair(a, 'nvme0', 'nvme1').pathLevel).toBe('SYS');
});

test('amd-zen: THRU_HOST_BRIDGE everywhere (AMD family >= 0x17), distance 4 on one host bridge', () => {
  const a = analyze('amd-zen.yaml');
  for (const p of distinctPairs(a)) expect(p.mapType).toBe('THRU_HOST_BRIDGE');
  expect(pair(a, 'gpu0', 'mlx5_0')).toMatchObject({ distance: 4, pathLevel: 'PHB' });
  expect(pair(a, 'gpu0', 'gpu1').pathLevel).toBe('SYS');
});

test('nested-switches: distance 4 below one second-level switch, 8 across', () => {
  const a = analyze('nested-switches.yaml');
  for (const p of distinctPairs(a)) expect(p.mapType).toBe('BUS_ADDR');
  expect(pair(a, 'nvme0', 'nvme1').distance).toBe(4);
  expect(pair(a, 'nvme0', 'nvme2').distance).toBe(8);
  expect(pair(a, 'gpu0', 'nvme1').distance).toBe(8);
});

test('examples/api/p2p-pairs.js lists the BUS_ADDR pairs, nearest first', () => {
  const { busAddrPairs } = require('../../../examples/api/p2p-pairs.js') as {
    busAddrPairs(file: string): string[];
  };
  const lines = busAddrPairs(join(EXAMPLES, 'nested-switches.yaml'));
  expect(lines[0]).toBe('nvme0 -> nvme1  distance 4  PIX');
  expect(lines).toHaveLength(12);
  expect(busAddrPairs(join(EXAMPLES, 'switch-acs-redirect.yaml'))).toEqual([]);
});
