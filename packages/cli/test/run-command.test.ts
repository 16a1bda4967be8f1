/**
 * `dmasim run` end to end, with core's scenario runner: the output forms, strategy selection,
 * exit statuses and bad input. (run.test.ts covers the report's layout on hand-built results.)
 *
 * The machine is examples/topologies/switch-2nvme-nic.yaml: nvme0 and nvme1 (with a 256 MiB
 * CMB) below one PCIe switch without ACS, no IOMMU; and switch-acs-redirect.yaml, the same
 * devices with ACS redirect on the switch's downstream ports and an Intel host bridge that is not
 * on the allowlist.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScenarioRunResult } from '@dmasim/core';
import { EXAMPLES, lines, run } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'dmasim-run-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** nvme0 reads 128 KiB from its namespace into nvme1's CMB, then the CMB is compared with it. */
function cmbCopy(topology: string, extra = ''): string {
  return `name: cmb-copy
topology: ${JSON.stringify(join(EXAMPLES, topology))}
${extra}steps:
  - id: cmb
    alloc: { kind: p2pmem, provider: nvme1, size: 128KiB }
  - id: read
    nvme: { device: nvme0, op: read, buffer: cmb, length: 128KiB }
  - id: check
    verify: { a: { buffer: cmb }, b: { namespace: nvme0, length: 128KiB } }
`;
}

const SAME_SWITCH = file('cmb-copy.yaml', cmbCopy('switch-2nvme-nic.yaml'));
const ACS = file('cmb-copy-acs.yaml', cmbCopy('switch-acs-redirect.yaml'));

async function runJson(args: string[]): Promise<ScenarioRunResult> {
  const r = await run(['run', ...args, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as ScenarioRunResult;
}

describe('dmasim run with the scenario runner', () => {
  test('below one switch every design reads into the CMB by bus address (§1.2 distance 4, §6.3)', async () => {
    const j = await runJson([SAME_SWITCH]);
    expect(Object.keys(j)).toEqual(
      expect.arrayContaining(['schemaVersion', 'scenario', 'results']),
    );
    expect(j.schemaVersion).toBe(1);
    expect(j.scenario).toBe('cmb-copy');
    expect(j.results.map((r) => r.strategy)).toEqual(['dma-direct', 'dma-iommu', 'dma-vec']);
    for (const r of j.results) {
      expect(r.ok).toBe(true);
      expect(r.steps.map((s) => [s.id, s.ok])).toEqual([
        ['cmb', true],
        ['read', true],
        ['check', true],
      ]);
      // 128 KiB = 131072 bytes, all of them written by nvme0 into nvme1's BAR.
      expect(r.metrics.bytesTransferred).toBe(131072);
      expect(r.metrics.p2pBytes).toBe(131072);
      // BUS_ADDR below the switch: "no TLP reaches the root complex" (the topology's header).
      expect(r.metrics.hostBridgeBytes).toBe(0);
      // §6.1 PRPs for 128 KiB at offset 0: PRP1 covers 4 KiB, the other 126976 bytes are
      // ceil(126976 / 4096) = 31 entries in one PRP list.
      expect(r.metrics.nvmeDescriptors).toBe(31);
      expect(r.metrics.integrity).toBe('verified');
    }
  });

  test('human output: one column per design, every step ok, the modelled sentence', async () => {
    const r = await run(['run', SAME_SWITCH]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^Scenario cmb-copy \(/);
    const header = out[out.indexOf('Comparison') + 1];
    expect(header.trim().split(/ {2,}/)).toEqual(['dma-direct', 'dma-iommu', 'dma-vec']);
    const read = out.find((l) => l.trim().startsWith('read '))!;
    expect(read.trim().split(/ {2,}/)).toEqual(['read', 'ok', 'ok', 'ok']);
    const bytes = out.find((l) => l.trim().startsWith('bytesTransferred'))!;
    expect(bytes.trim().split(/ {2,}/)).toEqual([
      'bytesTransferred',
      '128.00 KiB',
      '128.00 KiB',
      '128.00 KiB',
    ]);
    expect(r.stdout).toMatch(/modelled[\s\S]*not measured/);
  });

  test('ACS redirect: dma-direct fails the read at map with the reason, skips the check (§1.2, §3.2)', async () => {
    const j = await runJson([ACS, '--strategy', 'dma-direct']);
    expect(j.results).toHaveLength(1);
    const r = j.results[0]!;
    expect(r.ok).toBe(false);
    const [cmb, read, check] = r.steps;
    expect(cmb.ok).toBe(true);
    // NOT_SUPPORTED -> dma_map_sgtable() returns -EREMOTEIO (§3.2, §3.3); the NVMe driver
    // completes the request with BLK_STS_TARGET.
    expect(read.ok).toBe(false);
    expect(read.stage).toBe('map');
    expect(read.error?.code).toMatch(/^(-EREMOTEIO|BLK_STS_TARGET)$/);
    expect(check.skipped).toBe(true);
    expect(r.metrics.bytesTransferred).toBe(0);

    const h = await run(['run', ACS, '--strategy', 'dma-direct']);
    expect(h.code).toBe(0); // the scenario ran, whatever the design did
    expect(h.stdout).toMatch(/read +FAILED map: (-EREMOTEIO|BLK_STS_TARGET)/);
    expect(h.stdout).toMatch(/check +skipped/);
    const why = h.stdout.slice(h.stdout.indexOf('\nWhy\n'));
    expect(why).toMatch(/read: FAILED map/);
  });

  test('--ndjson: one line per design, in the order they ran', async () => {
    const r = await run(['run', SAME_SWITCH, '--ndjson', '--strategy', 'dma-vec,dma-direct']);
    expect(r.code).toBe(0);
    const docs = lines(r.stdout).map(
      (l) =>
        JSON.parse(l) as { schemaVersion: number; scenario: string; result: { strategy: string } },
    );
    expect(docs.map((d) => [d.schemaVersion, d.scenario, d.result.strategy])).toEqual([
      [1, 'cmb-copy', 'dma-vec'],
      [1, 'cmb-copy', 'dma-direct'],
    ]);
  });

  test("the scenario's strategies are the default; --strategy all overrides them", async () => {
    const only = file(
      'only-iommu.yaml',
      cmbCopy('switch-2nvme-nic.yaml', 'strategies: [dma-iommu]\n'),
    );
    expect((await runJson([only])).results.map((r) => r.strategy)).toEqual(['dma-iommu']);
    expect((await runJson([only, '--strategy', 'all'])).results.map((r) => r.strategy)).toEqual([
      'dma-direct',
      'dma-iommu',
      'dma-vec',
    ]);
  });

  test('a missing file: exit status 1, one line', async () => {
    const missing = join(dir, 'missing.yaml');
    const r = await run(['run', missing]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('missing.yaml');
  });

  test('invalid input is reported as file:line:column, exit status 1', async () => {
    // Line 5 (1-based) names the unknown provider.
    const bad = file(
      'bad.yaml',
      `name: bad
topology: ${JSON.stringify(join(EXAMPLES, 'switch-2nvme-nic.yaml'))}
steps:
  - id: buf
    alloc: { kind: p2pmem, provider: nvme9, size: 4KiB }
`,
    );
    const r = await run(['run', bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^dmasim: .*bad\.yaml:5:\d+: .*nvme9/);
  });
});
