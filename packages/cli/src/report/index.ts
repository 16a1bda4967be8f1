/**
 * `--report out.html`: one self-contained HTML file for a run or a sweep: inline CSS and SVG,
 * nothing loaded, nothing to run (it reads with JavaScript off and prints), and the raw JSON
 * embedded in a `<script type="application/json" id="dmasim-data">` block.
 */
import type { LoadedScenario, ScenarioRunResult } from '@dmasim/core';
import type { SweepJson } from '../sweep/types';
import { buildRunReport } from './run-report';
import { buildSweepReport } from './sweep-report';

export interface ReportInput {
  /** The scenario as loaded (its topology is drawn). */
  scenario: LoadedScenario;
  /** The scenario file as the user named it. */
  source: string;
  /** Strategy id -> title. */
  titles: Record<string, string>;
  /** dmasim's version, for the footer. */
  version: string;
}

/** The HTML of a run's report. */
export function runReportHtml(input: ReportInput, result: ScenarioRunResult): string {
  return buildRunReport(input, result);
}

/** The HTML of a sweep's report. */
export function sweepReportHtml(input: ReportInput, sweep: SweepJson): string {
  return buildSweepReport(input, sweep);
}
