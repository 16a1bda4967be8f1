/**
 * Reports hold text the user or a plugin wrote: the scenario's name and description, the file
 * name, step ids, kernel messages and error codes, step details, notes, design titles, a sweep's
 * keys and word values. Every such string is markup here, a tag with an event handler and
 * quotes; a report must show it as text and nowhere let it become an element or an attribute.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadScenarioFile, type ScenarioRunResult } from '@dmasim/core';
import { runReportHtml, sweepReportHtml, type ReportInput } from '../src/report';
import { esc } from '../src/report/html';
import type { SweepJson } from '../src/sweep/types';
import { REPO } from './helpers';
import { embeddedJson, runResult, sweepDoc } from './report-fixtures';

/** Markup that would run, or add an attribute, if written as is. */
const EVIL = `<x-evil onclick="alert(1)">'&amp;" onmouseover="alert(2)</script><!--`;
const evil = (s: string): string => `${s}${EVIL}`;

function hostileInput(): ReportInput {
  const dir = mkdtempSync(join(tmpdir(), 'dmasim-report-'));
  const file = join(dir, 'hostile.yaml');
  const topology = join(REPO, 'examples', 'topologies', 'switch-2nvme-nic.yaml');
  // JSON is YAML: the strings go in as they are.
  writeFileSync(
    file,
    JSON.stringify({
      name: evil('name'),
      description: evil('description'),
      topology,
      steps: [{ id: 'cmb', alloc: { kind: 'ram', size: '4KiB' } }],
    }),
  );
  return {
    scenario: loadScenarioFile(file),
    source: evil('file.yaml'),
    titles: { 'dma-direct': evil('dma-direct: title'), 'acme-vec': evil('a plugin title') },
    version: evil('1.0'),
  };
}

/** The fixture's run, every text field of it hostile (report-fixtures.ts: two designs). */
function hostileRun(): ScenarioRunResult {
  const r = runResult();
  r.scenario = evil('scenario');
  r.notes = [evil('run note')];
  for (const s of r.results) {
    s.notes = [evil('design note')];
    for (const st of s.steps) {
      st.id = evil(st.id);
      if (st.detail !== undefined) st.detail = evil(st.detail);
      if (st.error) st.error = { code: evil(st.error.code), message: evil(st.error.message) };
    }
    s.transfers = s.transfers?.map((t) => ({
      ...t,
      step: evil(t.step),
      initiator: evil(t.initiator),
      target: t.target === '(refused)' ? t.target : evil(t.target),
    }));
  }
  return r;
}

/** The fixture's sweep with a hostile key, word values, failed step and error. */
function hostileSweep(): SweepJson {
  const s = sweepDoc();
  const key = evil('steps.x.nvme.mode');
  const words = [evil('a'), evil('b')];
  s.scenario = evil('scenario');
  s.parameters[1] = { key, values: words };
  for (const r of s.rows) {
    const { iommu, ...rest } = r.point;
    r.point = { ...rest, [key]: iommu === 'strict' ? words[0]! : words[1]! };
    if (!r.ok) {
      r.failedStep = evil('flush');
      r.error = evil('-EINVAL');
    }
  }
  return s;
}

/** The page without its JSON data block (checked on its own). */
function withoutData(html: string): string {
  return html.replace(embeddedJson(html), '');
}

describe.each([
  ['run', () => runReportHtml(hostileInput(), hostileRun()), hostileRun],
  ['sweep', () => sweepReportHtml(hostileInput(), hostileSweep()), hostileSweep],
] as const)('the %s report with markup in every user-provided string', (_kind, build, data) => {
  const html = build();
  const page = withoutData(html);

  test('no string becomes an element: no <x-evil>, one <script> (the data block), no comment', () => {
    expect(html).not.toMatch(/<x-evil/i);
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html.match(/<\/script>/g)).toHaveLength(1);
    expect(html).not.toContain('<!--');
  });

  test('no string becomes an attribute: no event handler anywhere', () => {
    // Escaped, the quote before the handler is &quot; and the one after it too.
    expect(page).not.toMatch(/\son[a-z]+\s*=\s*["']/i);
    expect(page).toContain('onmouseover=&quot;alert(2)');
  });

  test('the strings are shown as text: the heading is the scenario name, escaped', () => {
    expect(page).toContain(`<h1>${esc(evil('name'))}</h1>`);
    expect(page).toContain(esc(evil('description')));
    expect(page).toContain(`<code>${esc(evil('file.yaml'))}</code>`);
    expect(page.match(/<h1>/g)).toHaveLength(1);
  });

  test('the data block gives back the document, with no "<" in it', () => {
    const block = embeddedJson(html);
    expect(block).not.toContain('<');
    expect(JSON.parse(block)).toEqual(data());
  });
});

test('the run report shows the titles, messages, details and notes as text', () => {
  const page = withoutData(runReportHtml(hostileInput(), hostileRun()));
  // The card's title drops "dma-direct:" (the chip names the design).
  expect(page).toContain(`<p class="card-title">${esc(evil('title'))}</p>`);
  expect(page).toContain(esc(evil('a plugin title')));
  expect(page).toContain(`<li>${esc(evil('run note'))}</li>`);
  expect(page).toContain(`<li>${esc(evil('design note'))}</li>`);
  expect(page).toContain(`<code>${esc(evil('receive'))}</code>`);
  // acme-vec's receive failed at map with -EREMOTEIO: its message as tooltip and footnote.
  expect(page).toContain(`title="${esc(evil('refused </script><b>x</b> & "quoted"'))}"`);
  expect(page).toContain(esc(evil('1 MiB')));
});

test('the sweep report shows the key, the word values and the failure as text', () => {
  const page = withoutData(sweepReportHtml(hostileInput(), hostileSweep()));
  expect(page).toContain(`<code>${esc(evil('steps.x.nvme.mode'))}</code>`);
  expect(page).toContain(`<th scope="rowgroup" rowspan="3">${esc(evil('a'))}</th>`);
  // The one failed run (dma-vec at 4 KiB, the first word): its outcome cell and chart tooltip.
  expect(page).toContain(`FAILED ${esc(evil('flush'))}: ${esc(evil('-EINVAL'))}</td>`);
  expect(page).toContain(
    `<title>dma-vec, ioSize=4KiB: failed at step ${esc(evil('flush'))}: ${esc(evil('-EINVAL'))}</title>`,
  );
});
