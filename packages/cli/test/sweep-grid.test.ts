/**
 * `dmasim sweep --vary`: parsing KEY=VALUES into parameters, the grid they span, and how each
 * parameter changes the scenario (the variant is checked on its document and, where it matters,
 * by core's loader and runner).
 *
 * The scenario is examples/scenarios/copy-offload.yaml: a 1 MiB buffer "cmb" in nvme1's CMB, the
 * NIC writes it, nvme0 writes it to its namespace in 128 KiB I/Os ("flush"), "check" compares
 * 1 MiB of the namespace with the data; topology switch-2nvme-nic.yaml with a strict IOMMU.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScenarioStrategy, scenarioFromObject } from '@dmasim/core';
import { dmaVecStrategy } from '@dmasim/dma-vec';
import { CliError } from '../src/errors';
import { builtInRegistry } from '../src/strategies';
import {
  expandGrid,
  MAX_GRID_POINTS,
  numericValues,
  parseGrid,
  parseVary,
  pointLabel,
} from '../src/sweep/grid';
import { scenarioVariantAt } from '../src/sweep/point-runner';
import { ScenarioSource, type Doc } from '../src/sweep/scenario-variant';
import { REPO } from './helpers';

const SCENARIOS = join(REPO, 'examples', 'scenarios');
const COPY = ScenarioSource.load(join(SCENARIOS, 'copy-offload.yaml'));

/** The variant of `source` for one --vary and one of its values. */
function variant(spec: string, source = COPY, value = 0): Doc {
  const params = parseGrid([spec]);
  return scenarioVariantAt(source, params, expandGrid(params)[value]!).doc;
}

/** The variant document loaded by core's loader, anchored at copy-offload.yaml. */
function loadVariant(doc: Doc) {
  return scenarioFromObject(doc, COPY.file);
}

function step(doc: Doc, id: string): Doc {
  return (doc.steps as Doc[]).find((s) => s.id === id)!;
}

/** The CliError `f` throws: its exit status and message. */
function cliError(f: () => unknown): { code: number; message: string } {
  try {
    f();
  } catch (e) {
    if (e instanceof CliError) return { code: e.exitCode, message: e.message };
    throw e;
  }
  throw new Error('no CliError thrown');
}

describe('--vary KEY=VALUES', () => {
  test('values are YAML scalars: sizes stay text, numbers and booleans are typed', () => {
    const p = parseVary('ioSize=4KiB, 16KiB,0x10000');
    expect(p.key).toBe('ioSize');
    // YAML reads 0x10000 as the integer 65536.
    expect(p.values).toEqual(['4KiB', '16KiB', 65536]);
    // 4 KiB = 4096, 16 KiB = 16384 bytes.
    expect(p.numeric).toEqual([4096, 16384, 65536]);
    expect(parseVary('nvme.sgls=true,false').values).toEqual([true, false]);
    expect(parseVary('mps=128,256').numeric).toEqual([128, 256]);
  });

  test('words have no numeric values (nothing to chart on an axis)', () => {
    expect(parseVary('iommu=off,strict').numeric).toBeUndefined();
    expect(numericValues(['4KiB', 'lazy'])).toBeUndefined();
    expect(numericValues([true])).toBeUndefined();
  });

  test('the grid is the cartesian product, the last --vary fastest', () => {
    const params = parseGrid(['ioSize=4KiB,8KiB', 'iommu=off,strict,lazy']);
    const points = expandGrid(params);
    // 2 x 3 = 6 points; iommu changes at every point, ioSize every 3.
    expect(points.map(pointLabel)).toEqual([
      'ioSize=4KiB iommu=off',
      'ioSize=4KiB iommu=strict',
      'ioSize=4KiB iommu=lazy',
      'ioSize=8KiB iommu=off',
      'ioSize=8KiB iommu=strict',
      'ioSize=8KiB iommu=lazy',
    ]);
  });

  test.each([
    ['ioSize', /expected KEY=VALUE/],
    ['=4KiB', /key before "=" is missing/],
    ['ioSize=4KiB,,8KiB', /an empty value/],
    ['ioSize=4KiB,4KiB', /given twice/],
    ['iosize=4KiB', /unknown key "iosize": expected one of ioSize, size, iommu/],
    ['iommu=on', /iommu: unknown value "on": expected off, passthrough, strict or lazy/],
    ['acs=maybe', /acs: unknown value "maybe": expected on or off/],
    ['sgls=2', /sgls: unknown value "2"/],
    ['steps..nvme=1', /an empty segment/],
    ['nvme.release=[1', /cannot read "\[1" as a value/],
    // Would set a field of Object.prototype, so of every object in the process.
    ['__proto__.polluted=1', /"__proto__" is not a field of a scenario/],
    ['nvme.constructor.prototype.x=1', /"constructor" is not a field of a scenario/],
    // Not sizes at all (the loader would only say the step matches none of its forms).
    ['ioSize=4kib', /ioSize: unknown value "4kib": expected a size/],
    ['ioSize=-4096', /ioSize: unknown value "-4096": expected a size/],
    ['size=true', /size: unknown value "true": expected a size/],
    ['sglThreshold=1.5', /sglThreshold: unknown value "1.5": expected a size/],
  ])('usage error (exit status 2): --vary %s', (spec, message) => {
    const e = cliError(() => parseVary(spec));
    expect(e.code).toBe(2);
    expect(e.message).toMatch(message);
  });

  test('no --vary, or a key twice: usage errors', () => {
    expect(cliError(() => parseGrid([])).message).toMatch(/at least one --vary/);
    expect(cliError(() => parseGrid(['mps=128', 'mps=256'])).message).toMatch(/given twice/);
  });

  test(`a grid of more than ${MAX_GRID_POINTS} points is refused before it is built`, () => {
    const values = (n: number) => Array.from({ length: n }, (_, i) => i + 1).join(',');
    // 100 x 100 = 10,000 points: the most a sweep runs.
    expect(
      parseGrid([`cost.perIoNs=${values(100)}`, `cost.perSegmentNs=${values(100)}`]),
    ).toHaveLength(2);
    // 100 x 101 = 10,100 points: one too many.
    const e = cliError(() =>
      parseGrid([`cost.perIoNs=${values(100)}`, `cost.perSegmentNs=${values(101)}`]),
    );
    expect(e.code).toBe(2);
    expect(e.message).toBe(
      '--vary: the grid has 10,100 points (100 x 101); a sweep runs at most 10,000: ' +
        'vary fewer values, or split it into several sweeps',
    );
    // 1000^3 = 10^9 points: refused at once, not after building a billion points.
    const big = cliError(() =>
      parseGrid(['cost.a=' + values(1000), 'cost.b=' + values(1000), 'cost.c=' + values(1000)]),
    );
    expect(big.message).toMatch(
      /^--vary: the grid has 1,000,000,000 points \(1000 x 1000 x 1000\)/,
    );
  });
});

describe('named parameters', () => {
  test('ioSize: every nvme step, inside repeats too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dmasim-sweep-'));
    const file = join(dir, 'stream.yaml');
    writeFileSync(
      file,
      `name: stream
topology: ${JSON.stringify(join(REPO, 'examples', 'topologies', 'switch-2nvme-nic.yaml'))}
steps:
  - id: buf
    alloc: { kind: ram, size: 128KiB }
  - nvme: { device: nvme0, op: write, buffer: buf }
  - id: copy
    repeat: 2
    steps:
      - dma: { device: mlx5_0, op: write, buffer: buf }
      - nvme: { device: nvme0, op: write, buffer: buf, at: 1MiB, ioSize: 64KiB }
`,
    );
    const doc = variant('ioSize=8KiB', ScenarioSource.load(file));
    const steps = doc.steps as Doc[];
    expect((steps[1]!.nvme as Doc).ioSize).toBe('8KiB');
    expect(((steps[2]!.steps as Doc[])[1]!.nvme as Doc).ioSize).toBe('8KiB');
    // The inner step's default id has a dot (copy.nvme2): a path reaches it all the same.
    const byPath = variant('steps.copy.nvme2.nvme.ioSize=4KiB', ScenarioSource.load(file));
    expect((((byPath.steps as Doc[])[2]!.steps as Doc[])[1]!.nvme as Doc).ioSize).toBe('4KiB');
    expect(((byPath.steps as Doc[])[1]!.nvme as Doc).ioSize).toBeUndefined();
  });

  test('size: every alloc size and length equal to the largest alloc size; copy-offload at 4 MiB verifies 4 MiB', () => {
    const doc = variant('size=4MiB');
    // L = 1 MiB (cmb, the only alloc); check.a.length is 1 MiB too; nothing else has a size.
    expect((step(doc, 'cmb').alloc as Doc).size).toBe('4MiB');
    expect(((step(doc, 'check').verify as Doc).a as Doc).length).toBe('4MiB');
    expect((step(doc, 'flush').nvme as Doc).at).toBe(0);
    // Run it: the NIC writes 4 MiB into the CMB, nvme0 reads 4 MiB from it (8 MiB moved in all),
    // in 4 MiB / 128 KiB = 32 I/Os, and the verify compares 4 MiB of the namespace.
    const s = loadVariant(doc);
    const r = runScenarioStrategy(s, dmaVecStrategy, builtInRegistry());
    expect(r.ok).toBe(true);
    expect(r.metrics.bytesTransferred).toBe(8 * 2 ** 20);
    expect(r.metrics.dmaSegments).toBe(1 + 32);
    expect(r.steps.find((x) => x.id === 'check')!.detail).toBe('4 MiB identical');
    expect(r.metrics.integrity).toBe('verified');
  });

  test('size: lengths that differ from the largest alloc stay', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dmasim-sweep-'));
    const file = join(dir, 'two.yaml');
    writeFileSync(
      file,
      `name: two
topology: ${JSON.stringify(join(REPO, 'examples', 'topologies', 'switch-2nvme-nic.yaml'))}
steps:
  - id: big
    alloc: { kind: ram, size: 1048576 }
  - id: small
    alloc: { kind: ram, size: 64KiB }
  - fill: { buffer: big, length: 1MiB }
  - nvme: { device: nvme0, op: write, buffer: small, length: 64KiB }
`,
    );
    const doc = variant('size=2MiB', ScenarioSource.load(file));
    const steps = doc.steps as Doc[];
    // L = 1048576 = 1 MiB, written once in bytes and once as 1MiB: both match.
    expect((steps[0]!.alloc as Doc).size).toBe('2MiB');
    expect((steps[2]!.fill as Doc).length).toBe('2MiB');
    expect((steps[1]!.alloc as Doc).size).toBe('64KiB');
    expect((steps[3]!.nvme as Doc).length).toBe('64KiB');
  });

  test("iommu: the scenario's own iommu fields are kept, off is enabled: false", () => {
    // copy-offload.yaml gives platform.iommu { enabled: true, mode: strict }.
    expect((variant('iommu=lazy').platform as Doc).iommu).toEqual({ enabled: true, mode: 'lazy' });
    expect((variant('iommu=off').platform as Doc).iommu).toEqual({
      enabled: false,
      mode: 'strict',
    });
  });

  test("iommu and platform.* paths start from the topology's key when the scenario has none", () => {
    const dir = mkdtempSync(join(tmpdir(), 'dmasim-sweep-'));
    const topo = join(dir, 'topo.yaml');
    writeFileSync(
      topo,
      `platform:
  cpu: { vendor: ARM }
  iommu: { granule: 16KiB, mode: lazy }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - { bdf: '00:00.0', kind: host-bridge }
      - bdf: '00:01.0'
        kind: root-port
        children:
          - { bdf: '01:00.0', kind: endpoint, name: nvme0, class: nvme }
`,
    );
    const file = join(dir, 's.yaml');
    writeFileSync(
      file,
      `name: s
topology: topo.yaml
steps:
  - id: buf
    alloc: { kind: ram, size: 64KiB }
  - nvme: { device: nvme0, op: write, buffer: buf }
`,
    );
    const src = ScenarioSource.load(file);
    // A scenario's platform.iommu replaces the topology's whole: the granule must be carried over.
    expect((variant('iommu=strict', src).platform as Doc).iommu).toEqual({
      granule: '16KiB',
      mode: 'strict',
      enabled: true,
    });
    expect((variant('platform.iommu.mode=passthrough', src).platform as Doc).iommu).toEqual({
      granule: '16KiB',
      mode: 'passthrough',
    });
  });

  test('acs=on: SV RR CR UF on every switch downstream port, carried inline (§1.2)', () => {
    const doc = variant('acs=on');
    const topo = doc.topology as Doc;
    expect(typeof topo).toBe('object');
    const rootPort = ((topo.hostBridges as Doc[])[0]!.devices as Doc[])[1]!;
    const usp = (rootPort.children as Doc[])[0]!;
    const dsps = usp.children as Doc[];
    expect(dsps.map((d) => d.kind)).toEqual([
      'switch-downstream',
      'switch-downstream',
      'switch-downstream',
    ]);
    for (const d of dsps) expect(d.acs).toEqual({ ctrl: ['SV', 'RR', 'CR', 'UF'] });
    // Only downstream ports: the root port and the upstream port have no ACS in the file.
    expect(rootPort.acs).toBeUndefined();
    expect(usp.acs).toBeUndefined();
  });

  test('acs=off clears RR, CR, EC everywhere and keeps the capability (pci=disable_acs_redir=, §1.2)', () => {
    const src = ScenarioSource.load(join(SCENARIOS, 'copy-offload-acs-refused.yaml'));
    const topo = variant('acs=off', src).topology as Doc;
    const rootPort = ((topo.hostBridges as Doc[])[0]!.devices as Doc[])[1]!;
    const dsp = ((rootPort.children as Doc[])[0]!.children as Doc[])[0]!;
    // switch-acs-redirect.yaml: cap [SV, RR, CR, UF, EC, DT], ctrl [SV, RR, CR, UF] on both.
    for (const d of [rootPort, dsp]) {
      expect(d.acs).toEqual({ cap: ['SV', 'RR', 'CR', 'UF', 'EC', 'DT'], ctrl: ['SV', 'UF'] });
    }
  });

  test('mps and mrrs: every function of the topology', () => {
    const doc = variant('mps=128');
    const all: Doc[] = [];
    const walk = (ds: Doc[] | undefined) =>
      (ds ?? []).forEach((d) => {
        all.push(d);
        walk(d.children as Doc[] | undefined);
      });
    walk(((doc.topology as Doc).hostBridges as Doc[])[0]!.devices as Doc[]);
    // host bridge, root port, upstream port, 3 downstream ports, 3 endpoints.
    expect(all).toHaveLength(9);
    expect(all.every((d) => d.mps === 128)).toBe(true);
  });

  test('sgls, sglThreshold and release set the nvme settings (release stays a name)', () => {
    expect(variant('sgls=on').nvme).toEqual({ sgls: true });
    expect(variant('sglThreshold=0').nvme).toEqual({ sglThreshold: 0 });
    // YAML reads 2026 as a number; the release is the name "2026".
    expect(variant('release=v5.x,2026', COPY, 1).nvme).toEqual({ release: '2026' });
  });
});

describe('dotted paths', () => {
  test('steps by id, created mappings, cost constants', () => {
    expect((step(variant('steps.flush.nvme.ioSize=8KiB'), 'flush').nvme as Doc).ioSize).toBe(
      '8KiB',
    );
    expect(variant('nvme.sgls=true').nvme).toEqual({ sgls: true });
    expect(variant('cost.perIoNs=100').cost).toEqual({ perIoNs: 100 });
    // By position when no step has that id.
    expect((variant('steps.2.nvme.ioSize=4KiB').steps as Doc[])[2]!.nvme).toMatchObject({
      ioSize: '4KiB',
    });
  });

  test('paths that cannot be followed are usage errors naming what is there', () => {
    const e = cliError(() => variant('steps.flsh.nvme.ioSize=4KiB'));
    expect(e.code).toBe(2);
    expect(e.message).toBe(
      '--vary steps.flsh.nvme.ioSize: no step "flsh" in the scenario (steps: cmb, receive, flush, check)',
    );
    expect(cliError(() => variant('steps.flush.nvme.device.x=1')).message).toBe(
      '--vary steps.flush.nvme.device.x: steps.flush.nvme.device is "nvme0", not a mapping or a list',
    );
    expect(cliError(() => variant('steps.flush=1')).message).toMatch(/a whole step cannot be/);
  });

  test('the loader judges the keys and values it reaches (unknown key)', () => {
    const doc = variant('steps.flush.nvme.iosize=4KiB');
    expect(() => loadVariant(doc)).toThrow(/unknown key "iosize" in nvme/);
  });
});
