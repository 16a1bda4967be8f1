/**
 * `dmasim sweep --jobs N` spreads the grid points over worker threads, which load the compiled
 * worker (dist/sweep/worker.js): this test runs the compiled CLI (built by `tsc -b`, which
 * `npm ci` runs through the prepare script) and checks that two jobs give exactly what one
 * gives, byte for byte, as the runner is deterministic and the rows are put back in grid order.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SweepJson } from '../src/sweep/types';
import { REPO } from './helpers';

const DIST = join(REPO, 'packages', 'cli', 'dist');
const BIN = join(REPO, 'packages', 'cli', 'bin', 'dmasim.js');
const COPY = join(REPO, 'examples', 'scenarios', 'copy-offload.yaml');

/** The compiled CLI (bin/dmasim.js) with `args`. */
function dmasim(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const argv = [BIN, ...args];
  const r = spawnSync(process.execPath, argv, { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('dmasim sweep --jobs (compiled CLI)', () => {
  beforeAll(() => {
    if (!existsSync(join(DIST, 'sweep', 'worker.js'))) {
      throw new Error('packages/cli/dist is not built: run `npx tsc -b` first');
    }
  });

  test('--jobs 2 prints exactly what --jobs 1 prints', () => {
    // 4 x 2 = 8 points x 3 designs: enough points for both threads to take several.
    const args = [
      'sweep',
      COPY,
      '--vary',
      'ioSize=4KiB,16KiB,64KiB,128KiB',
      '--vary',
      'iommu=off,strict',
      '--json',
    ];
    const one = dmasim([...args, '--jobs', '1']);
    const two = dmasim([...args, '--jobs', '2']);
    expect([one.status, one.stderr]).toEqual([0, '']);
    expect([two.status, two.stderr]).toEqual([0, '']);
    expect(two.stdout).toBe(one.stdout);
    const j = JSON.parse(one.stdout) as SweepJson;
    expect(j.rows).toHaveLength(24);
    // With the IOMMU off or strict, P2P below the switch is BUS_ADDR and bypasses the IOMMU
    // (§4.6): 1 + 1 MiB / 4 KiB = 257 segments at 4 KiB under every design.
    expect(
      j.rows.filter((r) => r.point.ioSize === '4KiB').map((r) => r.metrics.dmaSegments),
    ).toEqual([257, 257, 257, 257, 257, 257]);
  });

  test('an invalid point is reported the same with workers: the first in grid order', () => {
    const args = ['sweep', COPY, '--vary', 'ioSize=4KiB,1000,8KiB,1001', '--json'];
    const one = dmasim([...args, '--jobs', '1']);
    const two = dmasim([...args, '--jobs', '2']);
    expect(one.status).toBe(1);
    expect(two.status).toBe(1);
    expect(two.stderr).toBe(one.stderr);
    expect(one.stderr).toMatch(/at grid point 2 of 4 \(ioSize=1000\): ioSize must be/);
    expect(one.stdout).toBe('');
  });
});
