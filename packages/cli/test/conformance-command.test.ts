/**
 * `dmasim conformance PLUGIN`: core's DmaMapOps conformance suite run from the command line, on
 * built-in designs and on fixture plugins (test/fixtures/plugins/), with few fast-check runs per
 * property to stay quick. The fixed seed is printed in the output and in the tests' names.
 */
import { join } from 'node:path';
import { conformanceGroups } from '@dmasim/core/testing';
import { dmaDirectStrategy } from '@dmasim/dma-direct';
import type { ConformanceJson } from '../src/commands/conformance';
import { lines, run } from './helpers';

const FIX = join(__dirname, 'fixtures', 'plugins');
const fx = (name: string) => join(FIX, name);
const SEED = Number(process.env.FC_SEED ?? 20261121);
const RUNS = '5';
const FAST = ['--seed', String(SEED), '--runs', RUNS];

// Each run builds a kernel per case and per property run: seconds on a loaded machine.
jest.setTimeout(60_000);

/** The group lines (PASS / FAIL / SKIP) of a human report. */
function groupLines(stdout: string): string[] {
  return lines(stdout).filter((l) => /^(PASS|FAIL|SKIP) {2}/.test(l));
}

describe(`dmasim conformance (fast-check seed ${SEED}, ${RUNS} runs per property)`, () => {
  test('dma-direct passes every group that applies; the pciP2pdma-refused group is skipped (§3.3)', async () => {
    const r = await run(['conformance', 'dma-direct', ...FAST]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toBe('DmaMapOps conformance: dma-direct');
    expect(out[1]).toBe(`fast-check seed ${SEED}, 5 runs per property`);
    const groups = groupLines(r.stdout);
    // dma-direct claims every capability but segment merging: §3.3 v6.12+ dma_pci_p2pdma_supported()
    // is true for it, so only the group about ops that refuse P2PDMA pages does not apply.
    expect(groups.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(groups.filter((l) => l.startsWith('SKIP'))).toEqual([
      expect.stringMatching(
        /^SKIP {2}P2PDMA pages refused without pciP2pdma .*: capabilities\.pciP2pdma is true/,
      ),
    ]);
    for (const l of groups.filter((x) => x.startsWith('PASS'))) {
      expect(l).toMatch(/^PASS {2}.+ \(\d+ cases?\)$/);
    }
    const n = groups.length;
    expect(out.find((l) => l.startsWith('dma-direct: '))).toMatch(
      new RegExp(
        `^dma-direct: ${n - 1} passed, 0 failed, 1 skipped of ${n} groups \\((\\d+) of \\1 cases passed\\)$`,
      ),
    );
  });

  test('a correct plugin passes; --json gives the plugin, seed, runs and every group', async () => {
    const r = await run(['conformance', fx('good.js'), ...FAST, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as ConformanceJson;
    expect(j).toMatchObject({
      schemaVersion: 1,
      plugin: fx('good.js'),
      seed: SEED,
      numRuns: 5,
      iommu: null,
      ok: true,
      skipped: [],
    });
    expect(j.strategies.map((s) => [s.id, s.ops, s.ok])).toEqual([
      ['fixture-direct', 'fixture-direct', true],
    ]);
    const groups = j.strategies[0]!.groups;
    // Every group of the suite, in its order, none failed; a skipped one says why.
    expect(groups.map((g) => g.name)).toEqual(
      conformanceGroups(() => dmaDirectStrategy).map((g) => g.name),
    );
    for (const g of groups) {
      expect(g.status).not.toBe('fail');
      if (g.status === 'skip') expect(g.skip).toEqual(expect.any(String));
      else expect(g.cases.every((c) => c.status === 'pass')).toBe(true);
    }
  });

  test('§11/§3.3: a map_sg that returns 0 instead of a negative errno fails the return-conventions group (exit 1)', async () => {
    // §11: "0 or any other value triggers a WARN and becomes -EIO"; the fixture returns 0
    // whenever dma-direct would return an errno (a list with a NOT_SUPPORTED page: -EREMOTEIO).
    const r = await run(['conformance', fx('zero-mapsg.js'), ...FAST]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `dmasim: conformance failed for fixture-zero-mapsg (fast-check seed ${SEED}, 5 runs per property)\n`,
    );
    const out = lines(r.stdout);
    const fail = out.findIndex((l) => l.startsWith('FAIL  return conventions (§3.3, §11) ('));
    expect(fail).toBeGreaterThan(0);
    expect(out[fail]).toMatch(/\(\d+ of \d+ failed\)$/);
    // The failing cases follow, indented, each with the suite's message.
    const next = out.slice(fail + 1).findIndex((l) => /^(PASS|FAIL|SKIP) /.test(l));
    const block = out.slice(fail + 1, fail + 1 + next).join('\n');
    expect(block).toContain(
      '      §3.3/§11 a failing map_sg returns a negative errno of the four, never 0',
    );
    expect(block).toContain(
      '        §3.3/§11: fixture-zero-mapsg map_sg returned 0; a failed map_sg must return -EINVAL, -ENOMEM, -EIO or -EREMOTEIO',
    );
    // §3.3 __dma_map_sg_attrs WARNs about the 0 (WARN_ON_ONCE), which the suite reports too.
    expect(block).toContain('the generic layer WARNed about fixture-zero-mapsg');
    // The shape of the ops is fine (§11 members all there), and map_phys is dma-direct's own.
    expect(out).toContain('PASS  contract (§11 dma_map_ops) (3 cases)');
    expect(out.some((l) => l.startsWith('PASS  map_phys / unmap_phys (§11)'))).toBe(true);
    expect(out).toContain(
      `  rerun: dmasim conformance ${fx('zero-mapsg.js')} --seed ${SEED} --runs 5`,
    );
  });

  test('§11: a map_sg that throws fails its cases with what it threw, not a crash (exit 1)', async () => {
    // Kernel errors are return values (§3.3); the fixture's mapSg throws a TypeError on every
    // call, so each case that maps a list fails with it, and the contract group (shape only) passes.
    const r = await run(['conformance', fx('mapsg-throws.js'), ...FAST]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `dmasim: conformance failed for fixture-mapsg-throws (fast-check seed ${SEED}, 5 runs per property)\n`,
    );
    const out = lines(r.stdout);
    expect(out).toContain('PASS  contract (§11 dma_map_ops) (3 cases)');
    const i = out.indexOf(
      '      §3.3/§11 a failing map_sg returns a negative errno of the four, never 0 (a list with a NOT_SUPPORTED page)',
    );
    expect(i).toBeGreaterThan(0);
    expect(out[i + 1]).toBe('        threw TypeError: fixture: sgl.page is undefined');
  });

  test('the same seed reproduces the same report; another seed is printed and used', async () => {
    const args = ['conformance', fx('zero-mapsg.js'), '--seed', String(SEED), '--runs', '2'];
    const a = await run(args);
    const b = await run(args);
    expect(b.stdout).toBe(a.stdout);
    const c = await run(['conformance', fx('zero-mapsg.js'), '--seed', '7', '--runs', '2']);
    expect(lines(c.stdout)[1]).toBe('fast-check seed 7, 2 runs per property');
    expect(c.stdout).toContain('[fast-check seed 7, 2 runs]');
  });

  test('every strategy of a plugin is checked; one using the platform ops is skipped', async () => {
    const r = await run(['conformance', fx('two-strategies'), ...FAST]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(
      /^SKIP {2}strategy fixture-two-vec: uses the platform's DMA ops and brings no DmaMapOps of its own/,
    );
    expect(out[1]).toBe('DmaMapOps conformance: fixture-two-direct');
    expect(out.filter((l) => l.startsWith('DmaMapOps conformance:'))).toHaveLength(1);
  });

  test('nothing to check: a design that uses the platform ops, alone (exit 1)', async () => {
    const vec = await run(['conformance', 'dma-vec']);
    expect(vec.code).toBe(1);
    expect(vec.stdout).toBe('');
    expect(vec.stderr).toBe(
      'dmasim: nothing to check: strategy "dma-vec" uses the platform\'s DMA ops and brings no ' +
        "DmaMapOps of its own (check the platform's: dmasim conformance dma-direct, dmasim " +
        'conformance dma-iommu)\n',
    );
    const one = await run(['conformance', fx('two-strategies'), '--strategy', 'fixture-two-vec']);
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/^dmasim: nothing to check: strategy "fixture-two-vec" /);
  });

  test('an invalid plugin: its one-line error, exit 1, no report', async () => {
    const r = await run(['conformance', fx('missing-mapsg.js')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^dmasim: plugin ".*missing-mapsg\.js": strategy "fixture-missing-mapsg": .*mapSg\(\)/,
    );
  });

  test.each([
    ['no PLUGIN', ['conformance'], /missing required argument 'plugin'/],
    ['--runs 0', ['conformance', 'dma-direct', '--runs', '0'], /--runs must be an integer >= 1/],
    ['--seed x', ['conformance', 'dma-direct', '--seed', 'x'], /--seed must be an integer/],
    [
      '--iommu on',
      ['conformance', 'dma-direct', '--iommu', 'on'],
      /Allowed choices are strict, lazy/,
    ],
    [
      '--strategy naming none of the plugin',
      ['conformance', fx('good.js'), '--strategy', 'nope'],
      /has no strategy "nope": it has fixture-direct/,
    ],
  ])('usage error (%s): exit 2', async (_what, args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });
});
