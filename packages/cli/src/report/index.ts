/**
 * `--report out.html`: one self-contained HTML file (inline CSS and SVG, no scripts needed) for a
 * run or a sweep. (Being written: the lead's stub so that commands can call it already.)
 */
import type { LoadedScenario, ScenarioRunResult } from '@dmasim/core';
import type { SweepJson } from '../sweep/types';

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
export function runReportHtml(_input: ReportInput, _result: ScenarioRunResult): string {
  throw new Error('runReportHtml: not written yet');
}

/** The HTML of a sweep's report. */
export function sweepReportHtml(_input: ReportInput, _sweep: SweepJson): string {
  throw new Error('sweepReportHtml: not written yet');
}
