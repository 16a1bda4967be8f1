/**
 * The JSON shape of `dmasim sweep --json` (schemaVersion 1), shared by the sweep runner, its
 * CSV writer and the HTML report.
 */
import type { RunMetrics } from '@dmasim/core';

/** A value of a varied parameter as given on the command line, parsed (sizes stay strings). */
export type SweepValue = string | number | boolean;

export interface SweepParameter {
  /** The key as given to --vary ("ioSize", "iommu", "steps.flush.nvme.ioSize"). */
  key: string;
  values: SweepValue[];
  /** Numeric values of `values` (bytes for sizes) when every value is a number or a size, for charts. */
  numeric?: number[];
}

export interface SweepRow {
  /** The grid point: one value per parameter, by key. */
  point: Record<string, SweepValue>;
  strategy: string;
  /** Every step succeeded. */
  ok: boolean;
  /** Id of the first step that failed (not skipped), null when ok. */
  failedStep: string | null;
  /** Its error code ("-EREMOTEIO", "BLK_STS_TARGET", ...), null when ok. */
  error: string | null;
  metrics: RunMetrics;
}

export interface SweepJson {
  schemaVersion: 1;
  scenario: string;
  /** Says that the times are modelled. */
  modelled: string;
  /** In --vary order; the grid is their cartesian product, the last varying fastest. */
  parameters: SweepParameter[];
  /** One row per grid point and strategy: points in grid order, strategies in run order. */
  rows: SweepRow[];
}
