/**
 * The reports in a real browser (Debian's chromium driven by playwright-core) with JavaScript
 * off, as a reader with scripts disabled would see them: the charts, the table, the topology and
 * its highlighted paths are there and visible, nothing is fetched but the file itself, and a
 * full-page screenshot of each is saved in test-artifacts/ (report-run.png, report-sweep.png).
 *
 * Without chromium the test is skipped with a message, except under CI (CI=true), where it
 * fails: .ci/run installs chromium first.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { sweepReportHtml } from '../src/report';
import { SWEEP_KEY_METRICS } from '../src/report/metrics';
import { REPO, run } from './helpers';
import { COPY_OFFLOAD, reportInput, sweepDoc, SWEEP_DESIGNS, SWEEP_SIZES } from './report-fixtures';

/** CHROMIUM_PATH, else Debian's /usr/bin/chromium, else `chromium` on the PATH. */
function findChromium(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const found = ['/usr/bin/chromium', ...dirs.map((d) => join(d, 'chromium'))].find((p) =>
    existsSync(p),
  );
  return found ?? '/usr/bin/chromium';
}

const CHROMIUM = findChromium();
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = process.env.CI === 'true';
const ARTIFACTS = join(REPO, 'test-artifacts');

if (!HAVE_CHROMIUM && !IN_CI) {
  console.warn(
    `report-browser.test.ts skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`,
  );
}

const describeBrowser = HAVE_CHROMIUM || IN_CI ? describe : describe.skip;

describeBrowser('reports in headless chromium, JavaScript off', () => {
  let browser: Browser;
  const dir = mkdtempSync(join(tmpdir(), 'dmasim-browser-'));

  beforeAll(async () => {
    if (!HAVE_CHROMIUM)
      throw new Error(`CI=true and no chromium at ${CHROMIUM}: .ci/run installs it`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  /** Opens `file` with scripts off; returns the page and every URL it requested. */
  async function open(file: string): Promise<{ page: Page; requests: string[] }> {
    const ctx = await browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 1280, height: 900 },
    });
    const page = await ctx.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    return { page, requests };
  }

  test('the run report of copy-offload: drawing, table and charts are visible', async () => {
    const file = join(dir, 'run.html');
    const r = await run(['run', COPY_OFFLOAD, '--report', file]);
    expect(r.code).toBe(0);
    const { page, requests } = await open(file);
    // Nothing but the file itself was fetched.
    expect(requests).toEqual([pathToFileURL(file).href]);

    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      'copy-offload',
    );
    for (const h of ['Where the data went', 'Comparison', 'Metrics', 'Designs'])
      expect(await page.getByRole('heading', { level: 2, name: h }).isVisible()).toBe(true);

    // The topology: 9 functions, the host bridge and the CPU; every design took the same two
    // peer-to-peer paths below the switch (§1.2 BUS_ADDR): one drawing, two green routes.
    const topo = page.locator('#paths svg.topology');
    expect(await topo.count()).toBe(1);
    expect(await topo.locator('g.node').count()).toBe(11);
    expect(await topo.locator('g.path-p2p').count()).toBe(2);
    expect(await topo.locator('g.node.on-path').count()).toBe(7);
    const box = await topo.boundingBox();
    expect(box?.width).toBeGreaterThan(400);

    // The table: three design columns after the two label columns; 4 steps, 16 metric rows.
    const table = page.locator('table.comparison');
    expect(await table.locator('thead th').count()).toBe(5);
    expect(await table.locator('tbody tr[data-step]').count()).toBe(4);
    expect(await table.locator('tbody tr[data-metric]').count()).toBe(16);
    expect(await table.locator('tbody tr[data-step] td.ok').count()).toBe(12);
    expect(await table.isVisible()).toBe(true);

    // Bar charts: the 8 key metrics but hostBridgeBytes (0 everywhere: nothing reaches the root
    // complex), and no other metric differs; 3 bars each.
    const bars = page.locator('#metrics svg.bar-chart');
    const n = await bars.count();
    expect(n).toBe(7);
    expect(await page.locator('#metrics svg[data-metric="hostBridgeBytes"]').count()).toBe(0);
    for (let i = 0; i < n; i++) expect(await bars.nth(i).locator('g.bar').count()).toBe(3);
    // dma-vec has no struct pages (§9): its value is written next to its bar, visibly.
    const structPages = page.locator('svg.bar-chart[data-metric="structPageBytes"]');
    expect(
      await structPages.locator('g.bar[data-strategy="dma-vec"] text.bar-value').textContent(),
    ).toBe('0 B');
    expect(
      await structPages.locator('g.bar[data-strategy="dma-direct"] text.bar-value').textContent(),
    ).toBe('4 MiB');
    expect(await structPages.isVisible()).toBe(true);

    // The raw JSON: collapsed, and embedded for tools.
    expect(await page.locator('details pre.json').isVisible()).toBe(false);
    const raw = await page.locator('#dmasim-data').textContent();
    expect(JSON.parse(raw ?? '').scenario).toBe('copy-offload');

    await page.screenshot({ path: join(ARTIFACTS, 'report-run.png'), fullPage: true });
    await page.context().close();
  }, 60_000);

  test('a sweep report: line charts per metric and iommu mode, the table of every point', async () => {
    const file = join(dir, 'sweep.html');
    writeFileSync(file, sweepReportHtml(reportInput(), sweepDoc()));
    const { page, requests } = await open(file);
    expect(requests).toEqual([pathToFileURL(file).href]);

    // The key metrics but hostBridgeBytes (0 everywhere), a chart per iommu mode.
    const charted = SWEEP_KEY_METRICS.length - 1;
    const charts = page.locator('#charts svg.line-chart');
    expect(await charts.count()).toBe(2 * charted);
    // Each chart: a series per design, a tick per size.
    const first = charts.first();
    expect(await first.locator('g.series').count()).toBe(SWEEP_DESIGNS.length);
    expect(await first.locator('text.x-tick').allTextContents()).toEqual(SWEEP_SIZES);
    expect(await first.isVisible()).toBe(true);
    // dma-vec's failure at 4 KiB (iommu strict) is a cross in each strict chart.
    expect(await page.locator('#charts g.failed-point').count()).toBe(charted);

    const rows = page.locator('table.sweep-table tbody tr');
    expect(await rows.count()).toBe(SWEEP_SIZES.length * 2 * SWEEP_DESIGNS.length);
    expect(await page.locator('table.sweep-table td.failed').textContent()).toBe(
      'FAILED flush: -EINVAL',
    );
    expect(await page.locator('#machine svg.topology g.node').count()).toBe(11);

    await page.screenshot({ path: join(ARTIFACTS, 'report-sweep.png'), fullPage: true });
    await page.context().close();
  }, 60_000);
});
