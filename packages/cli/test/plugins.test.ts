/**
 * Plugins (`--plugin PATH_OR_PACKAGE`): resolution, what a plugin may export, the one-line errors
 * for every way a plugin can be wrong, and the plugin's strategies in `dmasim strategies`, `map`
 * and `run` beside the built-in designs.
 *
 * The fixtures (test/fixtures/plugins/) are plain CommonJS; their correct DmaMapOps delegate to
 * core's dma-direct (kernel/dma/direct.c, reference §3.2) under a name of their own, so what they
 * map must be what dma-direct maps.
 */
import { join } from 'node:path';
import { createKernelContainer, DmaApiDebugOps, DmaMapOps } from '@dmasim/core';
import { conformanceFabric } from '@dmasim/core/testing';
import { dmaDirectStrategy } from '@dmasim/dma-direct';
import { CliError } from '../src/errors';
import {
  cliRegistry,
  dmaMapOpsProblems,
  loadPlugin,
  loadPlugins,
  pluginOf,
  resolvePlugin,
} from '../src/plugins';
import { lines, REPO, run } from './helpers';

const FIX = join(__dirname, 'fixtures', 'plugins');
const fx = (name: string) => join(FIX, name);

// The map and run tests build a kernel per design: seconds on a loaded machine.
jest.setTimeout(30_000);

/** The CliError loadPlugins() throws for `specs` resolved from the fixture directory. */
function loadError(...specs: string[]): CliError {
  try {
    loadPlugins(specs, FIX);
  } catch (e) {
    if (e instanceof CliError) return e;
    throw e;
  }
  throw new Error(`loading ${specs.join(', ')} did not fail`);
}

describe('resolution and accepted exports', () => {
  test('a relative path is resolved from cwd and its `strategy` export taken', () => {
    const p = loadPlugin('./good.js', FIX);
    expect(p.spec).toBe('./good.js');
    expect(p.file).toBe(fx('good.js'));
    expect(p.strategies.map((d) => d.id)).toEqual(['fixture-direct']);
  });

  test('a path without ./ that exists is a path; a directory loads its package.json "main"', () => {
    // two-strategies/package.json: { "main": "main.js" }, whose `default` is an array of two.
    const p = loadPlugin('two-strategies', FIX);
    expect(p.file).toBe(fx(join('two-strategies', 'main.js')));
    expect(p.strategies.map((d) => d.id)).toEqual(['fixture-two-direct', 'fixture-two-vec']);
    expect(resolvePlugin(fx('good'), '/')).toBe(fx('good.js'));
  });

  test('the registry lists the built-in designs first, then each plugin in the order given', () => {
    const r = cliRegistry(['./good.js', './two-strategies'], FIX);
    expect(r.list().map((d) => d.id)).toEqual([
      'dma-direct',
      'dma-iommu',
      'dma-vec',
      'fixture-direct',
      'fixture-two-direct',
      'fixture-two-vec',
    ]);
    // fixture-two-vec brings no ops: it is runnable because the registry has the platform's
    // (§11 dispatch: dma-iommu with an enabled IOMMU, dma-direct without).
    expect(r.isRunnable(r.get('fixture-two-vec')!)).toBe(true);
    expect(pluginOf(r.get('fixture-direct')!)?.spec).toBe('./good.js');
    expect(pluginOf(r.get('dma-direct')!)).toBeUndefined();
  });

  test('the same file named twice (two spellings) is loaded once, not refused as a duplicate', () => {
    const loaded = loadPlugins(['./good.js', fx('good.js')], FIX);
    expect(loaded.map((p) => p.spec)).toEqual(['./good.js']);
  });

  test('no --plugin: the three built-in designs', () => {
    expect(
      cliRegistry(undefined)
        .list()
        .map((d) => d.id),
    ).toEqual(['dma-direct', 'dma-iommu', 'dma-vec']);
  });
});

describe('one error line naming the plugin and what is wrong (exit status 1)', () => {
  test.each([
    [
      'a missing file',
      ['./nope.js'],
      `plugin "./nope.js": no such file or directory: ${fx('nope.js')}`,
    ],
    [
      'a package that is not installed',
      ['dmasim-plugin-not-installed'],
      `plugin "dmasim-plugin-not-installed": cannot find a package of that name from ${FIX} ` +
        '(install it, or give a path starting with ./ or /)',
    ],
    [
      'a directory without an entry point',
      ['./lib'],
      `plugin "./lib": ${fx('lib')} is a directory without an entry point (package.json "main" or index.js)`,
    ],
    [
      'a JSON file (it cannot hold a ContainerModule)',
      ['./not-a-plugin.json'],
      'plugin "./not-a-plugin.json": not-a-plugin.json is a JSON file: a plugin is a JavaScript ' +
        'module exporting a descriptor',
    ],
    [
      'code that throws while loading (first line only)',
      ['./throws.js'],
      'plugin "./throws.js": loading throws.js threw: fixture: cannot find the hypervisor',
    ],
    [
      'a descriptor under another export name',
      ['./wrong-shape.js'],
      'plugin "./wrong-shape.js": wrong-shape.js exports no strategy descriptor: expected an export ' +
        'named "strategy" (a descriptor), "strategies" (an array of them) or "default"; it exports ' +
        'version, myStrategy (is myStrategy the descriptor? export it as "strategy")',
    ],
    [
      'wrong descriptor fields, all of them at once',
      ['./bad-fields.js'],
      'plugin "./bad-fields.js": bad-fields.js: the descriptor exported as "strategy" (id "Bad Id") ' +
        'is invalid: id must be a lowercase id such as "my-ops" (a-z first, then a-z, 0-9, \'.\', ' +
        '\'_\' or \'-\'; not "all"), got "Bad Id"; title must be a string, got number 42; module ' +
        'must be an inversify ContainerModule (an object with an id and load()), got an object; ' +
        'platformDmaOps must be "iommu" or "direct" when present, got "xen"',
    ],
    [
      // §11: map_sg is one of the callbacks every ops table provides; map_resource/unmap_resource
      // come as a pair, claimed by capabilities.mapResource.
      'ops without mapSg, unmapResource and capabilities.bounce',
      ['./missing-mapsg.js'],
      'plugin "./missing-mapsg.js": strategy "fixture-missing-mapsg": the DmaMapOps its module ' +
        'binds does not satisfy the contract (§11); missing or wrong: capabilities.bounce (a ' +
        'boolean; got undefined); mapSg() (got undefined); unmapResource() ' +
        '(capabilities.mapResource is true)',
    ],
    [
      'a module that binds no DmaMapOps',
      ['./no-ops.js'],
      'plugin "./no-ops.js": strategy "fixture-no-ops": its module binds no DmaMapOps and the ' +
        'descriptor does not set usesPlatformDmaOps (bind DmaMapOps from @dmasim/core, or set ' +
        'usesPlatformDmaOps: true)',
    ],
    [
      'a module that throws when loaded',
      ['./module-throws.js'],
      'plugin "./module-throws.js": strategy "fixture-module-throws": its module threw when loaded ' +
        'into a kernel container: fixture: no IOMMU driver for this platform',
    ],
    [
      "a built-in design's id",
      ['./duplicate.js'],
      'plugin "./duplicate.js": strategy id "dma-direct" is already taken by a built-in design: ' +
        'give the descriptor another id',
    ],
    [
      "another plugin's id",
      ['./good.js', './good-again.js'],
      'plugin "./good-again.js": strategy id "fixture-direct" is already taken by plugin ' +
        '"./good.js": give the descriptor another id',
    ],
  ])('%s', (_what, specs, message) => {
    const e = loadError(...specs);
    expect(e.message).toBe(message);
    expect(e.exitCode).toBe(1);
  });

  test('a package name is resolved like require() from cwd; one exporting no descriptor says what it exports', () => {
    // @dmasim/dma-direct exports dmaDirectStrategy, not `strategy`.
    const e = loadError('@dmasim/dma-direct');
    expect(e.message).toMatch(
      /^plugin "@dmasim\/dma-direct": \S*dma-direct\S* exports no strategy descriptor: .*; it exports .*dmaDirectStrategy.* \(is dmaDirectStrategy the descriptor\? export it as "strategy"\)$/,
    );
  });

  test.each([
    ['strategies', ['--plugin']],
    ['map', [join(REPO, 'examples', 'sgl', 'nic-reads-cmb.yaml'), '--plugin']],
    ['run', [join(REPO, 'examples', 'scenarios', 'copy-offload.yaml'), '--plugin']],
  ])(
    'dmasim %s: the error is one line on stderr, no stack, nothing on stdout',
    async (cmd, args) => {
      const r = await run([cmd, ...args, fx('missing-mapsg.js')]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(lines(r.stderr)).toEqual([
        expect.stringMatching(
          /^dmasim: plugin ".*missing-mapsg\.js": strategy "fixture-missing-mapsg": .* mapSg\(\) /,
        ),
      ]);
    },
  );
});

describe("an exception from the plugin's code at run time: one line, exit status 1", () => {
  // §11: map_sg reports failure by its return value; a throw is a bug in the plugin (or a BUG()
  // it models), to be named as the plugin's, not dmasim's "internal error" (exit status 70).
  test.each([
    ['run', join(REPO, 'examples', 'scenarios', 'copy-offload.yaml')],
    ['map', join(REPO, 'examples', 'sgl', 'nic-reads-cmb.yaml')],
  ])('dmasim %s: the strategy, its plugin, the member and the first line', async (cmd, input) => {
    const spec = fx('mapsg-throws.js');
    const r = await run([cmd, input, '--plugin', spec, '--strategy', 'fixture-mapsg-throws']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `dmasim: strategy "fixture-mapsg-throws" (plugin "${spec}"): mapSg threw: ` +
        'fixture: sgl.page is undefined\n',
    );
  });

  test("§8 the DMA-API debug checker still wraps a plugin's guarded ops", () => {
    // The guard is an activation hook, like the checker's: both apply (the guard outside the
    // checker), so dma-debug still sees every mapping the plugin makes.
    const r = cliRegistry(['./good.js'], FIX);
    const c = createKernelContainer({
      topology: conformanceFabric(),
      strategy: r.get('fixture-direct')!,
      options: { dmaApiDebug: true },
    });
    const ops = c.get<DmaMapOps>(DmaMapOps);
    expect(ops).toBeInstanceOf(DmaApiDebugOps);
    expect((ops as DmaApiDebugOps).inner.name).toBe('fixture-direct');
  });
});

describe('dmaMapOpsProblems', () => {
  test("core's dma-direct ops, as a kernel binds them, satisfy the contract", () => {
    const c = createKernelContainer({ topology: conformanceFabric(), strategy: dmaDirectStrategy });
    expect(dmaMapOpsProblems(c.get(DmaMapOps))).toEqual([]);
  });

  test('an optional member that is there must be a function; a nameless object lists everything', () => {
    expect(dmaMapOpsProblems({})).toEqual([
      'name (a non-empty string; got undefined)',
      'capabilities (an object of booleans pciP2pdma, mergesSegments, mapResource, bounce; got undefined)',
      'mapPhys() (got undefined)',
      'unmapPhys() (got undefined)',
      'mapSg() (got undefined)',
      'unmapSg() (got undefined)',
      'dmaToPhys() (got undefined)',
    ]);
    const c = createKernelContainer({ topology: conformanceFabric(), strategy: dmaDirectStrategy });
    const ops = c.get<DmaMapOps>(DmaMapOps);
    const withBadOptional = Object.assign(Object.create(ops) as object, { maxMappingSize: 4096 });
    expect(dmaMapOpsProblems(withBadOptional)).toEqual([
      'maxMappingSize() (optional, but a function when present; got number 4096)',
    ]);
  });
});

describe("a plugin's strategies beside the built-in designs", () => {
  test('dmasim strategies --plugin lists it last, with the plugin it came from', async () => {
    const r = await run(['strategies', '--plugin', fx('good.js')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const out = lines(r.stdout);
    expect(out[0]).toBe('Strategies (4 registered)');
    const i = out.findIndex((l) => l.startsWith('fixture-direct  '));
    expect(i).toBeGreaterThan(out.findIndex((l) => l.startsWith('dma-vec  ')));
    expect(out[i]).toBe('fixture-direct  dma-direct under another name');
    expect(out.slice(i + 1, i + 4)).toEqual([
      '  origin   dmasim test fixture',
      '  DMA ops  its own',
      `  plugin   ${fx('good.js')}`,
    ]);

    const j = await run(['strategies', '--json', '--plugin', fx('good.js')]);
    const doc = JSON.parse(j.stdout) as { strategies: Record<string, unknown>[] };
    expect(doc.strategies.map((s) => s.plugin)).toEqual([
      undefined,
      undefined,
      undefined,
      fx('good.js'),
    ]);
  });

  test('dmasim map --plugin: the plugin maps what dma-direct maps (§3.2, §1.1 BUS_ADDR)', async () => {
    const sgl = join(REPO, 'examples', 'sgl', 'nic-reads-cmb.yaml');
    const r = await run([
      'map',
      sgl,
      '--plugin',
      fx('good.js'),
      '--strategy',
      'dma-direct,fixture-direct',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      results: {
        strategy: string;
        ret: number;
        entries: { dmaAddress: string; busAddress: boolean }[];
      }[];
    };
    expect(doc.results.map((x) => x.strategy)).toEqual(['dma-direct', 'fixture-direct']);
    const [direct, plugin] = doc.results;
    expect(plugin!.ret).toBe(0);
    expect(plugin!.entries).toEqual(direct!.entries);
    // No IOMMU, no bus offset in switch-2nvme-nic.yaml: RAM at 4 GiB maps to 0x100000000, and
    // nvme1's CMB is BUS_ADDR for mlx5_0 below the same switch, so its entry is marked.
    expect(plugin!.entries.map((e) => [e.dmaAddress, e.busAddress])).toEqual([
      ['0x100000000', false],
      [direct!.entries[1]!.dmaAddress, true],
      ['0x100003200', false],
    ]);
  });

  test('dmasim run --plugin: the plugin runs the scenario like dma-direct (§6.3 P2P below a switch)', async () => {
    const scenario = join(REPO, 'examples', 'scenarios', 'copy-offload.yaml');
    const r = await run(['run', scenario, '--plugin', fx('good.js'), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      results: { strategy: string; ok: boolean; metrics: Record<string, unknown> }[];
    };
    // Without --strategy every registered design runs, the plugin's last.
    expect(doc.results.map((x) => x.strategy)).toEqual([
      'dma-direct',
      'dma-iommu',
      'dma-vec',
      'fixture-direct',
    ]);
    const plugin = doc.results[3]!;
    expect(plugin.ok).toBe(true);
    // 1 MiB NIC -> CMB plus 1 MiB CMB -> nvme0, all peer to peer below the switch.
    expect(plugin.metrics.p2pBytes).toBe(2 * 1024 * 1024);
    expect(plugin.metrics.hostBridgeBytes).toBe(0);
    expect(plugin.metrics).toEqual(doc.results[0]!.metrics);
  });

  test('--strategy names a plugin id only when the plugin is loaded (usage error otherwise)', async () => {
    const r = await run([
      'run',
      join(REPO, 'examples', 'scenarios', 'copy-offload.yaml'),
      '--strategy',
      'fixture-direct',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'dmasim: unknown strategy "fixture-direct": expected one of dma-direct, dma-iommu, dma-vec, all\n',
    );
  });
});
