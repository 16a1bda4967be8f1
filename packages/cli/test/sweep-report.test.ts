/**
 * `dmasim sweep --report FILE`: the command hands the report module the scenario, where it came
 * from, the designs' titles and the sweep it printed, and writes what it returns to FILE. The
 * report's own content is tested in report-sweep.test.ts; here it is replaced by a stand-in.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { CliContext } from '../src/context';
import { Output } from '../src/io';
import { createProgram, reportError } from '../src/main';
import type { ReportInput } from '../src/report';
import type { SweepJson } from '../src/sweep/types';
import { REPO } from './helpers';

const calls: [ReportInput, SweepJson][] = [];
jest.mock('../src/report', () => ({
  sweepReportHtml: (input: ReportInput, sweep: SweepJson) => {
    calls.push([input, sweep]);
    return '<!doctype html><title>stand-in</title>';
  },
  runReportHtml: () => '',
}));

test('--report FILE writes the report of the sweep it printed', async () => {
  const copy = join(REPO, 'examples', 'scenarios', 'copy-offload.yaml');
  const file = join(mkdtempSync(join(tmpdir(), 'dmasim-sweep-')), 'out.html');
  let stdout = '';
  const io = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: () => true },
    env: {},
  };
  const ctx: CliContext = { out: new Output(io), version: '9.9.9' };
  const program = createProgram(ctx);
  const args = ['sweep', copy, '--vary', 'ioSize=64KiB,128KiB', '--strategy', 'dma-vec'];
  try {
    await program.parseAsync(['node', 'dmasim', ...args, '--json', '--report', file], {
      from: 'node',
    });
  } catch (e) {
    throw new Error(`exit ${reportError(e, ctx)}`);
  }
  expect(readFileSync(file, 'utf8')).toBe('<!doctype html><title>stand-in</title>');
  expect(calls).toHaveLength(1);
  const [input, sweep] = calls[0]!;
  expect(input.scenario.name).toBe('copy-offload');
  expect(input.source).toBe(relative(process.cwd(), copy));
  expect(input.version).toBe('9.9.9');
  expect(input.titles['dma-vec']).toMatch(/^dma-vec/);
  expect(sweep).toEqual(JSON.parse(stdout));
  expect(sweep.rows).toHaveLength(2);
});
