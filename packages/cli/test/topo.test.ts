/**
 * `dmasim topo` end to end: main() in-process with captured streams, and once through the built
 * bin script.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTopologyFile, parseTopologyText, type TopoJson } from '@dmasim/core';
import { ANSI_RE, EXAMPLES, lines, REPO, run } from './helpers';

const SWITCH = join(EXAMPLES, 'switch-2nvme-nic.yaml');
const ACS = join(EXAMPLES, 'switch-acs-redirect.yaml');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'dmasim-cli-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Every user-facing failure: exactly one line on stderr, no stack trace, nothing on stdout. */
function expectOneLineError(r: { stdout: string; stderr: string }): string {
  expect(r.stdout).toBe('');
  expect(lines(r.stderr)).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).toMatch(/^dmasim: /);
  return lines(r.stderr)[0];
}

describe('dmasim topo FILE (human output)', () => {
  test('switch-2nvme-nic: the tree, the IOMMU groups and the matrix, without colours', async () => {
    const r = await run(['topo', SWITCH]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).not.toMatch(ANSI_RE);
    const out = r.stdout;
    // tree, like lspci -tv: root bus, bridges with their bus ranges, endpoints with names
    expect(out).toContain('PCI tree');
    expect(out).toContain('[0000:00] pci0000:00');
    expect(out).toMatch(/\\-01\.1-\[01-05\]-- +root-port +\[1022:1483\]/);
    expect(out).toMatch(/\\-00\.0-\[02-05\]-- +switch-upstream/);
    expect(out).toMatch(/\| \\-00\.0 +nvme0 +nvme +\[144d:a824\] +Gen4 x4 +BAR0 16KiB/);
    expect(out).toMatch(/nvme1 .*CMB 256MiB in BAR2 RDS WDS/);
    expect(out).toMatch(/mlx5_0 +nic/);
    // groups
    expect(out).toContain('IOMMU groups');
    expect(out).toMatch(/^group 0: 0000:00:00\.0$/m);
    expect(out).toMatch(/^group 1: 0000:00:01\.1, .*0000:03:00\.0 nvme0/m);
    // matrix: rows are providers, columns clients
    expect(out).toMatch(/\| provider \\ client \| nvme0 +\| nvme1 +\| mlx5_0 +\|/);
    expect(out).toMatch(/\| nvme0 03:00\.0 +\| BUS 0 PIX \| BUS 4 PIX \| BUS 4 PIX \|/);
    expect(out).toContain('PCI_P2PDMA_MAP_THRU_HOST_BRIDGE'); // legend
    expect(out).toContain(
      '6 pairs of distinct endpoints: 6 BUS_ADDR, 0 THRU_HOST_BRIDGE, 0 NOT_SUPPORTED',
    );
    expect(out).toContain('Every pair maps with BUS_ADDR.');
  });

  test('switch-acs-redirect: ACS bits in the tree, NOT_SUPPORTED cells, the kernel messages grouped', async () => {
    const r = await run(['topo', ACS]);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/switch-downstream +\[1000:c010\] +Gen4 x4 +ACS ctl RR CR SV UF/);
    expect(out).toMatch(/\| nvme0 03:00\.0 +\| BUS 0 PIX \| -- +4 PIX \| -- +4 PIX \|/);
    expect(out).toContain('0 BUS_ADDR, 0 THRU_HOST_BRIDGE, 6 NOT_SUPPORTED');
    const reasons = out.slice(out.indexOf('Why pairs are not BUS_ADDR'));
    // one heading per message, in the kernel's words, with the pairs it applies to
    expect(reasons).toMatch(
      /^NOT_SUPPORTED nvme0 -> nvme1, nvme0 -> mlx5_0\n {4}ACS redirect is set between the client and provider \(0000:03:00\.0\)$/m,
    );
    expect(reasons).toContain('pci=disable_acs_redir=0000:02:00.0;0000:02:01.0');
    // shared by all six pairs, printed once
    expect(reasons).toMatch(
      /^NOT_SUPPORTED all 6 pairs of distinct endpoints\n {4}0000:00:00\.0: Host bridge not in P2PDMA whitelist: 8086:1234$/m,
    );
    expect(
      lines(reasons).filter((l) => l.includes('Host bridge not in P2PDMA whitelist')),
    ).toHaveLength(1);
  });

  test('colours only on a terminal, and never with NO_COLOR', async () => {
    expect((await run(['topo', ACS], { tty: true })).stdout).toMatch(ANSI_RE);
    expect((await run(['topo', ACS], { tty: true, env: { NO_COLOR: '1' } })).stdout).not.toMatch(
      ANSI_RE,
    );
    expect((await run(['topo', ACS], { tty: false, env: { FORCE_COLOR: '1' } })).stdout).toMatch(
      ANSI_RE,
    );
  });

  test('more than 16 endpoints: a pair list instead of a matrix', async () => {
    const devs = Array.from({ length: 17 }, (_, i) => ({
      bdf: `02:${i.toString(16).padStart(2, '0')}.0`,
      kind: 'switch-downstream',
      children: [
        {
          bdf: `${(3 + i).toString(16).padStart(2, '0')}:00.0`,
          kind: 'endpoint',
          name: `nvme${i}`,
          class: 'nvme',
        },
      ],
    }));
    const spec = {
      platform: { cpu: { vendor: 'AMD', family: 0x19 } },
      hostBridges: [
        {
          name: 'pci0000:00',
          bus: 0,
          devices: [
            {
              bdf: '00:01.1',
              kind: 'root-port',
              children: [{ bdf: '01:00.0', kind: 'switch-upstream', children: devs }],
            },
          ],
        },
      ],
    };
    const file = join(tmp, 'many.json');
    writeFileSync(file, JSON.stringify(spec));
    const r = await run(['topo', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('provider \\ client');
    expect(r.stdout).toMatch(/^nvme0 +nvme16 +BUS 4 PIX$/m);
    expect(r.stdout).toContain('272 pairs of distinct endpoints');
  });
});

describe('dmasim topo --json', () => {
  test.each(['switch-2nvme-nic.yaml', 'switch-acs-redirect.yaml', 'nested-switches.yaml'])(
    '%s: one JSON document, schemaVersion 1, n*n pairs',
    async (name) => {
      const r = await run(['topo', join(EXAMPLES, name), '--json']);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      const doc = JSON.parse(r.stdout) as TopoJson;
      expect(doc.schemaVersion).toBe(1);
      const eps = doc.devices.filter((d) => d.kind === 'endpoint').map((d) => d.bdf);
      expect(eps.length).toBeGreaterThan(1);
      expect(doc.pairs).toHaveLength(eps.length * eps.length);
      const seen = new Set(doc.pairs.map((p) => `${p.provider}>${p.client}`));
      for (const a of eps) for (const b of eps) expect(seen.has(`${a}>${b}`)).toBe(true);
    },
  );

  test('nested switches: distance 8 across the second-level switches', async () => {
    const doc = JSON.parse(
      (await run(['topo', join(EXAMPLES, 'nested-switches.yaml'), '--json'])).stdout,
    ) as TopoJson;
    const byName = new Map(doc.devices.map((d) => [d.name, d.bdf]));
    const pair = (a: string, b: string) =>
      doc.pairs.find((p) => p.provider === byName.get(a) && p.client === byName.get(b))!;
    expect(pair('nvme0', 'nvme2')).toMatchObject({ mapType: 'BUS_ADDR', distance: 8 });
    expect(pair('nvme0', 'nvme1')).toMatchObject({ mapType: 'BUS_ADDR', distance: 4 });
  });
});

describe('bad input and usage errors', () => {
  test('an invalid topology: one "file:line:col: message" line, exit 1, no stack', async () => {
    const file = join(tmp, 'bad.yaml');
    writeFileSync(
      file,
      [
        'platform:',
        '  cpu: { vendor: AMD, family: 0x19 }',
        'hostBridges:',
        '  - name: pci0000:00',
        '    bus: 0',
        '    devices:',
        '      - bdf: "00:00.0"',
        '        kind: endpointx',
        '',
      ].join('\n'),
    );
    for (const extra of [[], ['--json']]) {
      const r = await run(['topo', file, ...extra]);
      expect(r.code).toBe(1);
      const line = expectOneLineError(r);
      expect(line.startsWith(`dmasim: ${file}:8:`)).toBe(true);
      expect(line).toMatch(/^dmasim: .+:\d+:\d+: \S/);
    }
  });

  test('a YAML syntax error is located too', async () => {
    const file = join(tmp, 'syntax.yaml');
    writeFileSync(file, 'platform:\n  cpu: { vendor: AMD, family: 0x19\nhostBridges: []\n');
    const r = await run(['topo', file]);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toMatch(
      new RegExp(`^dmasim: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `),
    );
  });

  test('a missing file: one line, exit 1', async () => {
    const r = await run(['topo', join(tmp, 'nope.yaml')]);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toContain('nope.yaml');
    const l = await run(['topo', '--from', 'lspci', join(tmp, 'nope.txt')]);
    expect(l.code).toBe(1);
    expect(expectOneLineError(l)).toBe(
      `dmasim: ${join(tmp, 'nope.txt')}: no such file or directory`,
    );
  });

  test.each([
    [['bogus'], /unknown command 'bogus'/],
    [['topo', SWITCH, '--bogus'], /unknown option '--bogus'/],
    [['topo'], /missing topology file/],
    [['topo', SWITCH, '--from', 'xml'], /argument 'xml' is invalid/],
    [['topo', SWITCH, '--cpu', 'Zilog:80'], /argument 'Zilog:80' is invalid/],
    [['topo', SWITCH, '--json', '--export', 'yaml'], /cannot be used with/],
    [['topo', SWITCH, '-o', 'x.yaml'], /only goes with --export/],
    [['topo', SWITCH, 'extra'], /too many arguments/],
  ])('usage error %j: exit 2, one line', async (args, msg) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(expectOneLineError(r)).toMatch(msg);
  });

  test('no command: help on stderr, exit 2', async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Usage: dmasim');
  });
});

describe('help and version', () => {
  test('--help lists topo and examples', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: dmasim [options] [command]');
    expect(r.stdout).toMatch(/^ +topo /m);
    expect(r.stdout).toContain('Examples:');
  });

  test('topo --help has examples for every source', async () => {
    const r = await run(['topo', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: dmasim topo [options] [path]');
    for (const s of ['--json', '--from lspci', '--from sysfs', '--export yaml', '--cpu AMD:0x19']) {
      expect(r.stdout).toContain(s);
    }
  });

  test('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
  });
});

describe('real machines: --from lspci, --export yaml', () => {
  const TREE = [
    '-[0000:00]-+-00.0  Advanced Micro Devices, Inc. [AMD] Starship/Matisse Root Complex',
    '           \\-01.1-[01-04]----00.0-[02-04]--+-00.0-[03]----00.0  Samsung Electronics Co Ltd NVMe SSD Controller PM173X',
    '                                           \\-01.0-[04]----00.0  Mellanox Technologies MT2892 Family [ConnectX-6 Dx]',
    '',
  ].join('\n');

  test('--from lspci prints the same analysis; importer notes go to stderr', async () => {
    const file = join(tmp, 'lspci-tree.txt');
    writeFileSync(file, TREE);
    const r = await run(['topo', '--from', 'lspci', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('PCI tree');
    expect(r.stdout).toMatch(/\\-01\.1-\[01-04\]-- +root-port/);
    expect(r.stdout).toContain('IOMMU groups');
    expect(r.stdout).toContain('2 pairs of distinct endpoints: 2 BUS_ADDR');
    for (const l of lines(r.stderr)) expect(l).toMatch(/^dmasim: note: /);

    const j = await run(['topo', '--from', 'lspci', file, '--json', '--cpu', 'AMD:0x19']);
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.stdout) as TopoJson;
    expect(doc.pairs).toHaveLength(4);
  });

  test('a malformed lspci file: one located line, exit 1', async () => {
    const file = join(tmp, 'lspci-bad.txt');
    writeFileSync(file, '-[0000:00]-+-00.0  Host\n           ?-01.0  Oops\n');
    const r = await run(['topo', '--from', 'lspci', file]);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toMatch(/^dmasim: .*lspci-bad\.txt:2:\d+: /);
  });

  test('--export yaml writes a topology file that loads back', async () => {
    const file = join(tmp, 'lspci-export.txt');
    writeFileSync(file, TREE);
    const r = await run(['topo', '--from', 'lspci', file, '--cpu', 'AMD:0x19', '--export', 'yaml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^# Exported by dmasim /);
    const topo = parseTopologyText(r.stdout, 'exported.yaml');
    expect(topo.endpoints).toHaveLength(2);
    expect(topo.cpu).toEqual({ vendor: 'AMD', family: 0x19 });

    const out = join(tmp, 'exported.yaml');
    const o = await run(['topo', '--from', 'lspci', file, '--export', 'yaml', '-o', out]);
    expect(o.code).toBe(0);
    expect(o.stdout).toBe('');
    expect(loadTopologyFile(out).endpoints).toHaveLength(2);
    expect((await run(['topo', out])).code).toBe(0);
  });

  test('--export yaml of a topology file round-trips the analysis', async () => {
    const out = join(tmp, 'acs-roundtrip.yaml');
    expect((await run(['topo', ACS, '--export', 'yaml', '-o', out])).code).toBe(0);
    const a = JSON.parse((await run(['topo', ACS, '--json'])).stdout) as TopoJson;
    const b = JSON.parse((await run(['topo', out, '--json'])).stdout) as TopoJson;
    expect(b).toEqual(a);
  });

  test('--cpu overrides the CPU of a topology file', async () => {
    const r = await run(['topo', ACS, '--json', '--cpu', 'AMD:0x19']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as TopoJson;
    // ACS redirect still sends the TLPs up, but an AMD Zen root complex allows the path.
    expect(
      doc.pairs
        .filter((p) => p.provider !== p.client)
        .every((p) => p.mapType === 'THRU_HOST_BRIDGE'),
    ).toBe(true);
  });

  const SYSFS = '/sys/bus/pci/devices';
  (existsSync(SYSFS) ? test : test.skip)(
    `--from sysfs (this machine's ${SYSFS}): an analysis or one line, never a crash`,
    async () => {
      const r = await run(['topo', '--from', 'sysfs', '--json']);
      expect([0, 1]).toContain(r.code);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      for (const l of lines(r.stderr)) expect(l).toMatch(/^dmasim: /);
      if (r.code === 0) expect((JSON.parse(r.stdout) as TopoJson).schemaVersion).toBe(1);
      else expect(r.stdout).toBe('');
    },
  );

  test('--from sysfs of a directory that does not exist: one line, exit 1', async () => {
    const r = await run(['topo', '--from', 'sysfs', join(tmp, 'no-sysfs')]);
    expect(r.code).toBe(1);
    expect(expectOneLineError(r)).toContain('no-sysfs');
  });
});

describe('the built bin script', () => {
  const bin = join(REPO, 'packages', 'cli', 'bin', 'dmasim.js');
  const dist = join(REPO, 'packages', 'cli', 'dist', 'main.js');

  beforeAll(() => {
    // Incremental, so fast when the tree is already built; a failure leaves the old dist (if any).
    spawnSync('npx', ['tsc', '-b'], { cwd: REPO, stdio: 'ignore', timeout: 120_000 });
  }, 130_000);

  test('node packages/cli/bin/dmasim.js topo examples/topologies/switch-2nvme-nic.yaml', () => {
    if (!existsSync(dist)) {
      console.warn(`skipped: ${dist} does not exist (run npx tsc -b)`);
      return;
    }
    const r = spawnSync(
      process.execPath,
      [bin, 'topo', 'examples/topologies/switch-2nvme-nic.yaml'],
      {
        cwd: REPO,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('PCI tree');
    expect(r.stdout).toContain('BUS 4 PIX');

    const bad = spawnSync(process.execPath, [bin, 'topo', 'no/such/file.yaml'], {
      cwd: REPO,
      encoding: 'utf8',
    });
    expect(bad.status).toBe(1);
    expect(lines(bad.stderr)).toHaveLength(1);
    const usage = spawnSync(process.execPath, [bin, 'frobnicate'], { cwd: REPO, encoding: 'utf8' });
    expect(usage.status).toBe(2);
  });
});
