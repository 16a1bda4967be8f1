/**
 * The scenario loader (docs/scenario-format.md): every invalid scenario is one InputError at
 * file:line:column, the ids of a valid one are known before it runs, and the topology is built
 * afresh, with the scenario's platform overrides, for every run.
 *
 * Line and column are 1-based; the YAML sits in template strings whose first line is line 1 (the
 * text starts right after the backtick), so the numbers in the comments can be read off the test.
 * Scenarios are parsed as if they were files in examples/scenarios, so that
 * `topology: ../topologies/...` resolves to the bundled topologies.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError } from '../src/input-error';
import {
  loadScenarioFile,
  parseScenarioText,
  scenarioJsonSchema,
  stepIds,
} from '../src/scenario/loader';

const SCENARIOS = resolve(__dirname, '../../../examples/scenarios');
const TOPOLOGIES = resolve(__dirname, '../../../examples/topologies');
/** A scenario file that does not exist, in the directory of the bundled ones. */
const FILE = join(SCENARIOS, 'under-test.yaml');

/** The location and message of the one InputError that loading `text` throws. */
function errorOf(
  text: string,
  file = FILE,
): { file: string; line?: number; column?: number; message: string } {
  try {
    parseScenarioText(text, file);
  } catch (e) {
    if (e instanceof InputError) return { ...e.location!, message: e.message };
    throw e;
  }
  throw new Error('expected an InputError');
}

/** Three lines every scenario below starts with: a name, the topology, the steps key. */
const HEAD = `name: t
topology: ../topologies/switch-2nvme-nic.yaml
steps:
`;

describe('scenario loader: errors point at the offending value', () => {
  it('an unknown top-level key points at the key and suggests the nearest valid one', () => {
    // line 3 is `stpes:`, the key at column 1; "stpes" is 2 edits from "steps".
    const text = `name: t
topology: ../topologies/switch-2nvme-nic.yaml
stpes: []
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 3,
      column: 1,
      message:
        'unknown key "stpes" (did you mean "steps"?): expected one of $schema, name, description, topology, platform, cost, strategies, nvme, steps',
    });
  });

  it('an unknown key of the nvme driver settings suggests the nearest valid one', () => {
    // line 3: `nvme: { sglTreshold: 4096 }`; the key starts at column 9 ("nvme: { " is 8 chars).
    const text = `name: t
topology: ../topologies/switch-2nvme-nic.yaml
nvme: { sglTreshold: 4096 }
steps:
  - id: a
    alloc: { kind: ram, size: 4KiB }
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 3,
      column: 9,
      message:
        'unknown key "sglTreshold" in nvme (did you mean "sglThreshold"?): expected one of release, sgls, sglThreshold',
    });
  });

  it('a wrong value inside a step is described by the step kind it was meant to be', () => {
    // The step has the key `dma`, so it is a dma step whatever else is wrong with it: its op is
    // unknown. Line 6 (HEAD is lines 1-3): `    dma: { device: mlx5_0, op: wrte, buffer: a }`,
    // the value "wrte" at column 32 ("    dma: { device: mlx5_0, op: " is 31 characters).
    const text = `${HEAD}  - id: a
    alloc: { kind: ram, size: 4KiB }
  - dma: { device: mlx5_0, op: wrte, buffer: a }
`;
    expect(errorOf(text)).toMatchObject({
      line: 6,
      column: 32,
      message: 'unknown op "wrte": expected one of write, read',
    });
  });

  it('a malformed size inside a step is reported as a size, at the value', () => {
    // line 5: `    alloc: { kind: ram, size: 4KeB }`, the value at column 31.
    const text = `${HEAD}  - id: a
    alloc: { kind: ram, size: 4KeB }
`;
    expect(errorOf(text)).toMatchObject({ line: 5, column: 31 });
    expect(errorOf(text).message).toMatch(/^malformed size "4KeB"/);
  });

  it('a step of no known kind names the key and suggests the kind it is nearest to', () => {
    // line 4: `  - dmaa: { device: mlx5_0, op: write }`; "dmaa" is one edit from "dma". The kinds are
    // the keys that name the step union's branches, the repeat step's included.
    const text = `${HEAD}  - dmaa: { device: mlx5_0, op: write }
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 4,
      column: 5,
      message:
        'unknown key "dmaa" in steps[0] (did you mean "dma"?): expected one of alloc, fill, dma, nvme, verify, repeat',
    });
  });

  it('a buffer used before its alloc points at the `buffer:` value', () => {
    // line 4: `  - dma: { device: mlx5_0, op: write, buffer: staging }`; "  - dma: { " is 11
    // chars, "device: mlx5_0, " 16, "op: write, " 11, "buffer: " 8: the value starts at column
    // 11 + 16 + 11 + 8 + 1 = 47. The alloc of "staging" comes after it, on line 5.
    const text = `${HEAD}  - dma: { device: mlx5_0, op: write, buffer: staging }
  - id: staging
    alloc: { kind: ram, size: 4KiB }
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 4,
      column: 47,
      message:
        'buffer "staging" is not allocated by an earlier step (an alloc step\'s id names its buffer)',
    });
  });

  it('a buffer allocated after a repeat is unknown inside it', () => {
    // line 8: `      - nvme: { device: nvme0, op: write, buffer: later }`; "      - nvme: { " is
    // 16 chars, "device: nvme0, " 15, "op: write, " 11, "buffer: " 8: column 16 + 15 + 11 + 8 + 1 = 51.
    const text = `${HEAD}  - id: a
    alloc: { kind: ram, size: 4KiB }
  - repeat: 2
    steps:
      - nvme: { device: nvme0, op: write, buffer: later }
  - id: later
    alloc: { kind: ram, size: 4KiB }
`;
    expect(errorOf(text)).toMatchObject({ line: 8, column: 51 });
  });

  it('an alloc without an id points at the step: its id names the buffer', () => {
    // line 4 is the step `  - alloc: ...`; the step's mapping starts after "  - ", at column 5.
    const text = `${HEAD}  - alloc: { kind: ram, size: 4KiB }
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 4,
      column: 5,
      message: 'an alloc step needs an id: it names the buffer',
    });
  });

  it('an unknown device points at its name and lists the endpoints there are', () => {
    // line 6: `  - dma: { device: mlx5_9, op: write, buffer: a }`; "  - dma: { " is 11 chars,
    // "device: " 8: the value starts at column 20. switch-2nvme-nic.yaml names its endpoints
    // nvme0 (03:00.0), nvme1 (04:00.0) and mlx5_0 (05:00.0), in that order.
    const text = `${HEAD}  - id: a
    alloc: { kind: ram, size: 4KiB }
  - dma: { device: mlx5_9, op: write, buffer: a }
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 6,
      column: 20,
      message:
        'no device "mlx5_9" in the topology (the DMA initiator; endpoints: nvme0, nvme1, mlx5_0)',
    });
  });

  it('an nvme step on a device that is not an NVMe controller is refused', () => {
    // line 6: `  - nvme: { device: mlx5_0, op: read, buffer: a }`; "  - nvme: { device: " is
    // 20 chars: the value starts at column 21.
    const text = `${HEAD}  - id: a
    alloc: { kind: ram, size: 4KiB }
  - nvme: { device: mlx5_0, op: read, buffer: a }
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 6,
      column: 21,
      message: 'mlx5_0 is not an NVMe controller (class: nvme)',
    });
  });

  it('a duplicate step id points at the second one', () => {
    // the second `id: a` is on line 6; its value starts at column 9 ("  - id: " is 8 chars).
    const text = `${HEAD}  - id: a
    alloc: { kind: ram, size: 4KiB }
  - id: a
    alloc: { kind: ram, size: 8KiB }
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 6,
      column: 9,
      message: 'duplicate step id "a"',
    });
  });

  it('an explicit id may collide with a default one: the defaulted step is at fault', () => {
    // Step 3 (1-based) is a fill without an id: its default id is "fill3", which step 2 took.
    // The defaulted step has no `id:` to point at, so the error is at the step, line 8 column 5.
    const text = `${HEAD}  - id: a
    alloc: { kind: ram, size: 4KiB }
  - id: fill3
    fill: { buffer: a }
  - fill: { buffer: a }
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 8,
      column: 5,
      message: 'duplicate step id "fill3"',
    });
  });

  it('`needs` naming a later step points at that entry', () => {
    // line 6: `    needs: [b]`; the list starts at column 12 ("    needs: " is 11 chars), its
    // entry "b" at column 13. Step b comes after, on line 7.
    const text = `${HEAD}  - id: a
    alloc: { kind: ram, size: 4KiB }
    needs: [b]
  - id: b
    alloc: { kind: ram, size: 4KiB }
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 6,
      column: 13,
      message: '"needs" names "b", which is not an earlier step',
    });
  });

  it('provider auto without clients points at the alloc (pci_p2pmem_find_many() needs them, §2.3)', () => {
    // line 5: `    alloc: { kind: p2pmem, provider: auto, size: 1MiB }`; the alloc mapping starts
    // at column 12 ("    alloc: " is 11 chars).
    const text = `${HEAD}  - id: cmb
    alloc: { kind: p2pmem, provider: auto, size: 1MiB }
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 5,
      column: 12,
      message: 'provider "auto" needs the clients to choose for',
    });
  });

  it('a fill naming both a buffer and a namespace points at the fill', () => {
    // line 6: `  - fill: { buffer: a, namespace: nvme0, length: 4KiB }`; the fill mapping
    // starts at column 11 ("  - fill: " is 10 chars).
    const text = `${HEAD}  - id: a
    alloc: { kind: ram, size: 4KiB }
  - fill: { buffer: a, namespace: nvme0, length: 4KiB }
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 6,
      column: 11,
      message: 'a fill names either a buffer or a namespace',
    });
  });

  it('an ioSize that is not a whole number of 512-byte sectors points at it', () => {
    // 1000 = 1 x 512 + 488: not a multiple of 512. line 6:
    // `  - nvme: { device: nvme0, op: write, buffer: a, ioSize: 1000 }`; "  - nvme: { " is 12
    // chars, "device: nvme0, " 15, "op: write, " 11, "buffer: a, " 11, "ioSize: " 8: column
    // 12 + 15 + 11 + 11 + 8 + 1 = 58.
    const text = `${HEAD}  - id: a
    alloc: { kind: ram, size: 4KiB }
  - nvme: { device: nvme0, op: write, buffer: a, ioSize: 1000 }
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 6,
      column: 58,
      message: 'ioSize must be a positive multiple of 512 bytes',
    });
  });

  it('an nvme "at" that is not a whole logical block points at it (§6.1: SLBA in 512-byte blocks)', () => {
    // 1000 bytes is not a multiple of 512. line 6: "  - nvme: { " 12 chars, "device: nvme0, " 15,
    // "op: write, " 11, "buffer: a, " 11, "at: " 4: column 12 + 15 + 11 + 11 + 4 + 1 = 54.
    const text = `${HEAD}  - id: a
    alloc: { kind: ram, size: 4KiB }
  - nvme: { device: nvme0, op: write, buffer: a, at: 1000 }
`;
    expect(errorOf(text)).toEqual({
      file: FILE,
      line: 6,
      column: 54,
      message: 'at must be a multiple of 512 bytes (whole logical blocks)',
    });
  });

  it('a missing topology file is an error that names that file', () => {
    // ../topologies/no-such.yaml, relative to the scenario's directory examples/scenarios.
    const text = `name: t
topology: ../topologies/no-such.yaml
steps:
  - id: a
    alloc: { kind: ram, size: 4KiB }
`;
    expect(errorOf(text)).toEqual({
      file: join(TOPOLOGIES, 'no-such.yaml'),
      message: 'cannot read topology file: no such file',
    });
  });

  it('an error in the topology file points into the topology file, not the scenario', () => {
    // The topology's line 8 is `        kind: switch`; the value starts at column 15.
    const dir = mkdtempSync(join(tmpdir(), 'dmasim-scenario-'));
    mkdirSync(join(dir, 'topologies'));
    mkdirSync(join(dir, 'scenarios'));
    const topo = join(dir, 'topologies', 'broken.yaml');
    writeFileSync(
      topo,
      `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - bdf: 00:01.0
        kind: switch
`,
    );
    const scenario = join(dir, 'scenarios', 's.yaml');
    writeFileSync(
      scenario,
      `name: t
topology: ../topologies/broken.yaml
steps:
  - id: a
    alloc: { kind: ram, size: 4KiB }
`,
    );
    let err: unknown;
    try {
      loadScenarioFile(scenario);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).format()).toBe(
      `${topo}:8:15: unknown kind "switch": expected one of host-bridge, root-port, switch-upstream, switch-downstream, pci-bridge, endpoint`,
    );
  });
});

describe('scenario loader: a valid scenario', () => {
  it('knows its step ids before it runs: "<kind><n>" by default, "<repeat id>.<kind><n>" inside a repeat', () => {
    // Top-level steps count from 1 in file order: a (1), fill2 (2), copy (3), repeat4 (4).
    // Inside a repeat the count restarts at 1 under the repeat's id: copy.dma1, then x (its own),
    // then repeat4.verify1.
    const text = `${HEAD}  - id: a
    alloc: { kind: ram, size: 4KiB }
  - fill: { buffer: a }
  - id: copy
    repeat: 2
    steps:
      - dma: { device: mlx5_0, op: write, buffer: a }
      - id: x
        nvme: { device: nvme0, op: write, buffer: a }
  - repeat: 1
    steps:
      - verify: { a: { buffer: a }, b: { namespace: nvme0 } }
`;
    const s = parseScenarioText(text, FILE);
    expect(stepIds(s.spec.steps)).toEqual([
      'a',
      'fill2',
      'copy',
      'copy.dma1',
      'x',
      'repeat4',
      'repeat4.verify1',
    ]);
  });

  it('platform overrides reach the built topology', () => {
    // switch-2nvme-nic.yaml has no iommu key (no IOMMU); the scenario turns one on in strict
    // mode, and the other iommu fields take their defaults (enabled, 4 KiB granule, 48 bits).
    const text = `name: t
topology: ../topologies/switch-2nvme-nic.yaml
platform:
  iommu: { mode: strict }
steps:
  - id: a
    alloc: { kind: ram, size: 4KiB }
`;
    const topo = parseScenarioText(text, FILE).buildTopology();
    expect(topo.platform.iommu).toMatchObject({
      enabled: true,
      mode: 'strict',
      granule: 4096,
      addressWidth: 48,
    });
    // The topology's own cpu (AMD family 0x19) is kept: only the keys given are replaced.
    expect(topo.platform.cpu).toEqual({ vendor: 'AMD', family: 0x19 });
  });

  it("the runner's extra platform argument wins over the scenario's overrides", () => {
    // What the runner does for dma-direct on an IOMMU platform: rebuild with iommu.passthrough=1.
    const text = `name: t
topology: ../topologies/switch-2nvme-nic.yaml
platform:
  iommu: { mode: strict }
steps:
  - id: a
    alloc: { kind: ram, size: 4KiB }
`;
    const s = parseScenarioText(text, FILE);
    const strict = s.buildTopology();
    const pt = s.buildTopology({ iommu: { ...strict.platform.iommu, mode: 'passthrough' } });
    expect(pt.platform.iommu?.mode).toBe('passthrough');
    expect(s.buildTopology().platform.iommu?.mode).toBe('strict');
  });

  it('every buildTopology() is a fresh topology: an ACS write in one run does not leak into the next', () => {
    // switch-acs-redirect.yaml's downstream port 02:00.0 has ACS ctrl [SV, RR, CR, UF]
    // = 0x01 | 0x04 | 0x08 | 0x10 = 0x1d (PCI_ACS_SV, _RR, _CR, _UF). The first topology clears it (setpci); the next one
    // built must still read 0x1d, with no ACS change counted.
    const text = `name: t
topology: ../topologies/switch-acs-redirect.yaml
steps:
  - id: a
    alloc: { kind: ram, size: 4KiB }
`;
    const s = parseScenarioText(text, FILE);
    const first = s.buildTopology();
    first.setAcsCtrl(first.get('02:00.0'), 0);
    expect(first.acsGeneration).toBe(1);
    const second = s.buildTopology();
    expect(second).not.toBe(first);
    expect(second.get('02:00.0')).not.toBe(first.get('02:00.0'));
    expect(second.get('02:00.0').acs?.ctrl).toBe(0x1d);
    expect(second.acsGeneration).toBe(0);
  });

  it('an inline topology is built afresh too', () => {
    // One root port with one NVMe endpoint below it, written in the scenario itself.
    const text = `name: t
topology:
  platform: { cpu: { vendor: AMD, family: 0x19 } }
  hostBridges:
    - name: pci0000:00
      bus: 0
      devices:
        - bdf: '00:01.0'
          kind: root-port
          children:
            - { bdf: '01:00.0', kind: endpoint, class: nvme, name: nvme0, bars: [{ bar: 0, size: 16KiB }] }
steps:
  - id: a
    alloc: { kind: ram, size: 4KiB }
  - nvme: { device: nvme0, op: write, buffer: a }
`;
    const s = parseScenarioText(text, FILE);
    const a = s.buildTopology();
    const b = s.buildTopology();
    expect(a).not.toBe(b);
    expect(a.get('nvme0').bdf).toBe('0000:01:00.0');
    expect(b.get('nvme0')).not.toBe(a.get('nvme0'));
  });
});

describe('bundled scenarios', () => {
  const files = readdirSync(SCENARIOS).filter((f) => /\.ya?ml$/.test(f));

  it('there are bundled scenarios', () => {
    // docs/scenario-format.md lists eight.
    expect(files.length).toBeGreaterThanOrEqual(8);
  });

  it.each(files)(
    '%s loads, is named after its file and points editors at the scenario schema',
    (f) => {
      const path = join(SCENARIOS, f);
      const s = loadScenarioFile(path);
      expect(s.name).toBe(basename(f).replace(/\.ya?ml$/, ''));
      expect(s.buildTopology().endpoints.length).toBeGreaterThan(0);
      const m = /^# yaml-language-server: \$schema=(\S+)$/m.exec(readFileSync(path, 'utf8'));
      expect(m).not.toBeNull();
      expect(resolve(dirname(path), m![1]!)).toBe(
        resolve(__dirname, '../schema/scenario.schema.json'),
      );
    },
  );
});

describe('scenario JSON Schema', () => {
  it('the committed packages/core/schema/scenario.schema.json is what the schema generates', () => {
    // Regenerate with `npm run schema -w @dmasim/core` after changing scenario/schema.ts.
    const file = join(__dirname, '../schema/scenario.schema.json');
    const committed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    expect(committed).toEqual(scenarioJsonSchema());
  });
});
