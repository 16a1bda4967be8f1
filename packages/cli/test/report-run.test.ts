/**
 * `dmasim run --report`: the run report built from a hand-written result (report-fixtures.ts:
 * dma-direct completes peer-to-peer, the plugin design acme-vec is refused), then end to end
 * through the CLI on examples/scenarios/copy-offload.yaml.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScenarioRunResult } from '@dmasim/core';
import { runReportHtml } from '../src/report';
import { strategyColor } from '../src/report/colors';
import { RUN_KEY_METRICS } from '../src/report/metrics';
import { run } from './helpers';
import { COPY_OFFLOAD, embeddedJson, reportInput, runResult } from './report-fixtures';

/** The HTML between `<section id="ID">` and its end. */
function section(html: string, id: string): string {
  const m = new RegExp(`<section id="${id}">([\\s\\S]*?)</section>`).exec(html);
  if (!m) throw new Error(`no section ${id}`);
  return m[1];
}

describe('the run report', () => {
  const result = runResult();
  const html = runReportHtml(reportInput(), result);

  test('the header: scenario, description, file, machine, designs, version, modelled note', () => {
    const head = /<header class="report-head">([\s\S]*?)<\/header>/.exec(html)?.[1] ?? '';
    expect(head).toContain('<h1>copy-offload</h1>');
    expect(head).toContain('NVMe-oF target offload, NIC -&gt; CMB -&gt; NVMe below one switch');
    expect(head).toContain('<code>examples/scenarios/copy-offload.yaml</code>');
    expect(head).toContain(
      'switch-2nvme-nic · AMD · 1 host bridge · 9 PCI functions (3 endpoints)',
    );
    expect(head).toContain('dmasim 9.8.7');
    expect(head).toContain('Times are modelled, not measured.');
    expect(head).toContain(`background:${strategyColor('acme-vec')}`);
  });

  test('the outcome cards say which design completed and where the other failed', () => {
    const s = section(html, 'outcome');
    expect(s).toContain('every step succeeded (3)');
    expect(s).toContain('failed at receive: map: -EREMOTEIO; 1 skipped');
    // The registry's title without its "dma-direct: " prefix; none for the plugin.
    expect(s).toContain('page-backed scatterlists, bus-address segments marked');
  });

  test('the comparison table: a column per design, a row per step and per metric', () => {
    const s = section(html, 'comparison');
    // Two label columns (name, what it is), then the designs.
    expect(s.match(/<th scope="col"/g)).toHaveLength(4);
    expect(s.match(/<tr[^>]*data-step=/g)).toHaveLength(3);
    // 15 numeric metrics and integrity.
    expect(s.match(/<tr[^>]*data-metric=/g)).toHaveLength(16);
    // The failed cell: its code, the message as tooltip (escaped) and as footnote 1.
    expect(s).toContain(
      '<td class="failed" title="refused &lt;/script&gt;&lt;b&gt;x&lt;/b&gt; &amp; &quot;quoted&quot;">FAILED map: -EREMOTEIO<sup><a href="#note-1">1</a></sup></td>',
    );
    expect(s).toContain('<td class="skipped" title="needs step &quot;receive&quot;">skipped');
    expect(s).toContain('<li id="note-1" value="1"><b>acme-vec</b>, step <code>receive</code>');
    // struct pages: 4 MiB (§9, 256 MiB CMB) against 0 B; rows where the designs differ flagged.
    expect(s).toMatch(
      /<tr class="differs" data-metric="structPageBytes">.*?<td class="num" data-value="4194304">4 MiB<\/td><td class="num" data-value="0">0 B<\/td>/,
    );
    expect(s).toContain('<tr data-metric="bounceBytes">');
    // Only one design completed: no value is called the best.
    expect(s).not.toContain('num best');
  });

  test('a bar chart per key metric and per other metric the designs differ in, a bar per design', () => {
    const s = section(html, 'metrics');
    // Besides the key metrics the designs differ in bytesTransferred (1 MiB / 0), iotlbMisses
    // and iommuFaults (0 / 1); hostBridgeBytes is 0 for both: listed, not charted.
    const charts = [...s.matchAll(/<svg class="chart bar-chart"[^>]*data-metric="(\w+)"/g)].map(
      (m) => m[1],
    );
    expect(charts).toEqual([
      ...RUN_KEY_METRICS.filter((k) => k !== 'hostBridgeBytes'),
      'bytesTransferred',
      'iotlbMisses',
      'iommuFaults',
    ]);
    expect(s).toContain('0 for every design, so not charted: <code>hostBridgeBytes</code>.');
    expect(s.match(/<g class="bar[ "]/g)).toHaveLength(2 * charts.length);
    // acme-vec failed a step: hatched in every chart.
    expect(s.match(/<g class="bar incomplete"/g)).toHaveLength(charts.length);
    expect(s).toContain('Hatched bars: the design failed a step');
  });

  test('where the data went: a drawing per group of designs with the same paths', () => {
    const s = section(html, 'paths');
    expect(s.match(/<figure class="topology-figure"/g)).toHaveLength(2);
    expect(s.match(/<g class="path path-p2p"/g)).toHaveLength(1);
    expect(s.match(/<g class="path path-refused"/g)).toHaveLength(1);
    expect(s).toContain('1 MiB written · peer-to-peer, turning inside the switch of 01:00.0');
    expect(s).toContain('1 DMA refused, stopped at the root complex pci0000:00');
  });

  test('what differs, and each design with its steps and notes', () => {
    expect(section(html, 'differences')).toContain(
      '<li>acme-vec fails at step &quot;receive&quot; where dma-direct succeeds.</li>',
    );
    const d = section(html, 'designs');
    expect(d).toContain('id="design-acme-vec"');
    expect(d).toContain('<li>kernel: IO_PAGE_FAULT</li>');
    expect(d).toContain('<div class="message">refused &lt;/script&gt;');
  });

  test('the raw result is embedded whole', () => {
    expect(JSON.parse(embeddedJson(html))).toEqual(result);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*https?:/i);
  });
});

describe('dmasim run --report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dmasim-report-'));

  test('writes the report and says so on stderr; the table still goes to stdout', async () => {
    const file = join(dir, 'copy-offload.html');
    const r = await run(['run', COPY_OFFLOAD, '--report', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`dmasim: report written to ${file}\n`);
    expect(r.stdout).toContain('Comparison');
    const html = readFileSync(file, 'utf8');
    // Every design maps BUS_ADDR below the switch (§1.2 distance 4): one drawing for all three,
    // with the NIC's write into the CMB and nvme0's read from it, both peer-to-peer.
    expect(html.match(/<figure class="topology-figure"/g)).toHaveLength(1);
    expect(html).toContain('data-strategies="dma-direct, dma-iommu, dma-vec"');
    expect(html.match(/<g class="path path-p2p"/g)).toHaveLength(2);
    expect(html).not.toContain('path-rc');
    const data = JSON.parse(embeddedJson(html)) as ScenarioRunResult;
    expect(data.results.map((x) => x.strategy)).toEqual(['dma-direct', 'dma-iommu', 'dma-vec']);
  });

  test('combines with --json: the JSON on stdout is the one embedded in the report', async () => {
    const file = join(dir, 'with-json.html');
    const r = await run(['run', COPY_OFFLOAD, '--json', '--report', file]);
    expect(r.code).toBe(0);
    const printed = JSON.parse(r.stdout) as ScenarioRunResult;
    const embedded = JSON.parse(embeddedJson(readFileSync(file, 'utf8'))) as ScenarioRunResult;
    expect(embedded.results).toEqual(printed.results);
  });

  test('a report path in a missing directory is an input error (exit 1), not a crash', async () => {
    const file = join(dir, 'no-such-dir', 'x.html');
    const r = await run(['run', COPY_OFFLOAD, '--report', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no such file or directory');
    expect(existsSync(file)).toBe(false);
  });
});
