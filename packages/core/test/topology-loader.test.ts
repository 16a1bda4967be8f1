/**
 * The topology loader: every invalid input is one InputError at file:line:column, and valid
 * files load with sizes, hex numbers and addresses resolved. Line and column are 1-based; the
 * YAML sits in template strings whose first line is line 1 (the text starts right after the
 * backtick), so the numbers in the comments can be read off the test.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InputError,
  loadTopologyFile,
  parseTopologyText,
  topologyFromSpecObject,
  topologyJsonSchema,
} from '@dmasim/core';

/** The one-line message the CLI prints for the error parsing `text` throws. */
function errorOf(text: string, file = 'topo.yaml'): string {
  try {
    parseTopologyText(text, file);
  } catch (e) {
    if (e instanceof InputError) return e.format();
    throw e;
  }
  throw new Error('expected an InputError');
}

describe('topology loader: errors point at the offending value', () => {
  it('unknown kind names the value and the kinds there are', () => {
    // line 8 is `kind: switch`; the value starts at column 15 (8 spaces, then "kind: ").
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - bdf: 00:01.0
        kind: switch
`;
    expect(errorOf(text)).toBe(
      'topo.yaml:8:15: unknown kind "switch": expected one of host-bridge, root-port, switch-upstream, switch-downstream, pci-bridge, endpoint',
    );
  });

  it('duplicate BDF points at the second definition', () => {
    // line 11 holds the second `bdf: 00:01.0`; its value starts at column 14 (6 spaces, "- bdf: ").
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - bdf: 00:00.0
        kind: host-bridge
      - bdf: 00:01.0
        kind: root-port
      - bdf: 00:01.0
        kind: root-port
`;
    expect(errorOf(text)).toBe(
      'topo.yaml:11:14: duplicate BDF 00:01.0: already defined as 00:01.0',
    );
  });

  it('a child under an endpoint points at its children', () => {
    // `children:` is on line 9; its value (the sequence) starts on line 10 at column 11.
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - bdf: 00:02.0
        kind: endpoint
        children:
          - bdf: 01:00.0
            kind: endpoint
`;
    expect(errorOf(text)).toBe(
      'topo.yaml:10:11: 00:02.0 is a endpoint and cannot have children: only root-port, switch-upstream, switch-downstream and pci-bridge forward to a secondary bus',
    );
  });

  it('malformed BDF', () => {
    // slot 0x20 is out of range; line 7, the value starts at column 14.
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - bdf: "00:20.0"
        kind: endpoint
`;
    expect(errorOf(text)).toBe(
      'topo.yaml:7:14: malformed BDF "00:20.0": expected "BB:DD.F" or "DDDD:BB:DD.F" in hex, device 00-1f, function 0-7',
    );
  });

  it('malformed size', () => {
    // line 10: `- { bar: 0, size: 16 KB }`; the size value starts at column 29.
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - bdf: 00:02.0
        kind: endpoint
        bars:
          - { bar: 0, size: 16 KB }
`;
    expect(errorOf(text)).toBe(
      'topo.yaml:10:29: malformed size "16 KB": use a whole number of bytes or a number with KiB, MiB, GiB or TiB (for example "16KiB")',
    );
  });

  it('unknown key names the key, points at the key and suggests the right one', () => {
    // line 8: `vendr: 0x8086`, the key starts at column 9.
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - bdf: 00:02.0
        vendr: 0x8086
        kind: endpoint
`;
    expect(errorOf(text)).toBe(
      'topo.yaml:8:9: unknown key "vendr" in devices[0] (did you mean "vendor"?): expected one of bdf, kind, name, class, vendor, device, acs, link, mps, mrrs, bars, cmb, p2pmem, dmaMaskBits, windows, children',
    );
  });

  it('YAML syntax error', () => {
    // line 4 opens a flow sequence (`[pci0000:00`) that never closes; yaml notices on line 5,
    // column 1, where a less indented line follows inside the unclosed sequence.
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: [pci0000:00
bus: 0
`;
    expect(errorOf(text)).toBe(
      'topo.yaml:5:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]',
    );
  });

  it('YAML duplicate keys are syntax errors at the second key', () => {
    // line 3 repeats `platform`; column 1.
    const text = `platform:
  cpu: { vendor: Intel }
platform:
  cpu: { vendor: AMD }
`;
    expect(errorOf(text)).toBe('topo.yaml:3:1: YAML syntax error: Map keys must be unique');
  });

  it('JSON syntax error (missing comma) with a readable message', () => {
    // line 3: `"hostBridges": []` follows line 2 without a comma; the error is at the `"` of
    // line 3, column 3.
    const text = `{
  "platform": { "cpu": { "vendor": "Intel" } }
  "hostBridges": []
}
`;
    expect(errorOf(text, 'topo.json')).toBe(
      `topo.json:3:3: JSON syntax error: expected ',' or '}' after the property value, found "\\""`,
    );
  });

  it('JSON trailing comma points at the comma', () => {
    // line 2 ends with `},`: the comma is column 47.
    const text = `{
  "platform": { "cpu": { "vendor": "Intel" } },
}
`;
    expect(errorOf(text, 'topo.json')).toBe(
      "topo.json:2:47: JSON syntax error: trailing comma: JSON does not allow ',' before '}'",
    );
  });

  it('wrong type', () => {
    // line 10: `rds: "yes"`, a string where a boolean belongs; the value is at column 41.
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - bdf: 00:02.0
        kind: endpoint
        bars: [{ bar: 0, size: 16KiB }]
        cmb: { bar: 0, size: 4KiB, rds: "yes", wds: true }
`;
    expect(errorOf(text)).toBe('topo.yaml:10:41: rds: expected a boolean, got the string "yes"');
  });

  it('wrong type in a number-or-string field', () => {
    // line 5: `bus: true`; the value is at column 10.
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: true
    devices: []
`;
    expect(errorOf(text)).toBe(
      'topo.yaml:5:10: bus: expected a number or a string, got boolean true',
    );
  });

  it('missing required field points at the mapping that lacks it', () => {
    // the device on line 7 has no `kind`; its mapping starts at `bdf`, line 7 column 9.
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - bdf: 00:02.0
        name: nic0
`;
    expect(errorOf(text)).toBe('topo.yaml:7:9: missing required field "kind" in devices[0]');
  });

  it('ACS ctrl bit without the capability points at ctrl', () => {
    // line 9: `acs: { cap: [SV], ctrl: [SV, RR] }`; ctrl's value starts at column 33.
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - bdf: 00:01.0
        kind: root-port
        acs: { cap: [SV], ctrl: [SV, RR] }
`;
    expect(errorOf(text)).toBe(
      'topo.yaml:9:33: ACS control enables RR but the ACS capability does not offer it',
    );
  });

  it('children of one bridge on two different buses', () => {
    // the second child, line 12, names bus 02; its bdf value is at column 18 (10 spaces, "- bdf: ").
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - bdf: 00:01.0
        kind: root-port
        children:
          - bdf: 01:00.0
            kind: endpoint
          - bdf: 02:00.0
            kind: endpoint
`;
    expect(errorOf(text)).toBe(
      'topo.yaml:12:18: 02:00.0 is on bus 0000:02, but its siblings below 0000:00:01.0 are on bus 0000:01: the functions below a bridge all sit on its secondary bus',
    );
  });

  it('a BAR larger than its fixed bridge window points at the BAR size', () => {
    // the root port forwards a fixed 1 MiB prefetchable window; the 2 MiB BAR on line 15
    // (`- { bar: 0, size: 2MiB, prefetchable: true }` after 14 spaces, size value at column 33)
    // cannot fit.
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - bdf: 00:01.0
        kind: root-port
        windows:
          - { base: 0x10000000000, size: 1MiB, prefetchable: true }
        children:
          - bdf: 01:00.0
            kind: endpoint
            bars:
              - { bar: 0, size: 2MiB, prefetchable: true }
`;
    expect(errorOf(text)).toBe(
      'topo.yaml:15:33: BAR 0 of 0000:01:00.0 is 2MiB, larger than the prefetchable window of 0000:00:01.0 [0x10000000000-0x100000fffff] (1MiB)',
    );
  });

  it('a CMB outside its BAR points at the CMB size', () => {
    // BAR 2 is 1 MiB; the CMB at offset 512 KiB with 1 MiB size ends 512 KiB past it.
    // line 10: `cmb: { bar: 2, offset: 512KiB, size: 1MiB, ... }`, size value at column 46.
    const text = `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - bdf: 00:02.0
        kind: endpoint
        bars: [{ bar: 0, size: 16KiB }, { bar: 2, size: 1MiB }]
        cmb: { bar: 2, offset: 512KiB, size: 1MiB, rds: true, wds: true }
`;
    expect(errorOf(text)).toBe(
      'topo.yaml:10:46: CMB outside its BAR: offset 512KiB + size 1MiB exceeds the 1MiB of BAR 2',
    );
  });

  it('an empty file asks for a mapping', () => {
    expect(errorOf('')).toBe(
      'topo.yaml:1:1: the topology: expected a mapping, got an empty value (null)',
    );
  });

  it('a missing file is an InputError naming it', () => {
    const missing = join(tmpdir(), 'dmasim-no-such-dir', 'topo.yaml');
    expect(() => loadTopologyFile(missing)).toThrow(InputError);
    try {
      loadTopologyFile(missing);
    } catch (e) {
      expect((e as InputError).format()).toBe(
        `${missing}: cannot read topology file: no such file`,
      );
    }
  });

  it('topologyFromSpecObject reports the file without a position', () => {
    try {
      topologyFromSpecObject(
        { platform: { cpu: { vendor: 'Intel' } }, hostBridges: [] },
        'lspci.txt',
      );
      throw new Error('expected an InputError');
    } catch (e) {
      expect((e as InputError).format()).toBe(
        'lspci.txt: a topology needs at least one host bridge',
      );
    }
  });
});

describe('topology loader: valid files', () => {
  it('accepts sizes with units and hex numbers; JSON takes hex as strings', () => {
    const text = `{
  "platform": { "cpu": { "vendor": "AMD", "family": "0x19" } },
  "hostBridges": [
    {
      "name": "pci0000:00",
      "bus": 0,
      "devices": [
        {
          "bdf": "00:02.0",
          "kind": "endpoint",
          "vendor": "0x8086",
          "device": 4347,
          "bars": [{ "bar": 0, "size": "16KiB" }, { "bar": 2, "size": "0.5MiB" }]
        }
      ]
    }
  ]
}
`;
    const dir = mkdtempSync(join(tmpdir(), 'dmasim-'));
    const file = join(dir, 'topo.json');
    writeFileSync(file, text);
    const topo = loadTopologyFile(file);
    const dev = topo.get('00:02.0');
    expect(dev.vendor).toBe(0x8086);
    expect(dev.device).toBe(4347);
    expect(topo.cpu.family).toBe(0x19);
    expect(dev.source?.bars?.map((b) => b.size)).toEqual([16 * 1024, 512 * 1024]);
  });

  it('YAML reads 0x8086 as a number and "16KiB" as a size', () => {
    const topo = parseTopologyText(
      `platform:
  cpu: { vendor: Intel }
hostBridges:
  - name: pci0000:00
    bus: 0
    devices:
      - { bdf: 00:02.0, kind: endpoint, vendor: 0x8086, bars: [{ bar: 0, size: 16KiB }] }
`,
      'topo.yaml',
    );
    expect(topo.get('00:02.0').vendor).toBe(0x8086);
    expect(topo.get('00:02.0').bars[0].size).toBe(16384);
  });

  it('loads the complete example of docs/topology-format.md', () => {
    const doc = readFileSync(join(__dirname, '../../../docs/topology-format.md'), 'utf8');
    const example = doc.slice(doc.indexOf('## A complete example'));
    const m = /```yaml\n([\s\S]*?)```/.exec(example);
    expect(m).not.toBeNull();
    const topo = parseTopologyText(m![1], 'example.yaml');
    // the address table below the example in the doc
    const at = (ref: string, bar: number) => topo.get(ref).bar(bar)?.cpuAddress.toString(16);
    expect(at('gpu0', 0)).toBe('c0000000');
    expect(at('nvme0', 0)).toBe('c1000000');
    expect(at('gpu0', 1)).toBe('10000000000');
    expect(at('gpu0', 3)).toBe('11000000000');
    expect(at('nvme0', 2)).toBe('11010000000');
    expect(at('nic0', 0)).toBe('1fffe000000');
    expect(topo.get('00:01.1').windows.map((w) => [w.base.toString(16), w.size / 2 ** 20])).toEqual(
      [
        ['c0000000', 17],
        ['10000000000', 64.5 * 1024],
      ],
    );
    expect(topo.hostBridges[0].allowlistDevice?.bdf).toBe('0000:00:00.0');
  });
});

describe('topology JSON Schema', () => {
  it('the committed packages/core/schema/topology.schema.json is what the schema generates', () => {
    // Regenerate with `npm run schema -w @dmasim/core` after changing topology-schema.ts.
    const file = join(__dirname, '../schema/topology.schema.json');
    const committed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    expect(committed).toEqual(topologyJsonSchema());
  });

  it('describes the recursive device under a named definition', () => {
    const s = topologyJsonSchema() as { $defs?: Record<string, unknown> };
    expect(Object.keys(s.$defs ?? {})).toContain('TopologyDevice');
  });
});
