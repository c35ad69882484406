import type { WorkflowStatsBucket, WorkflowStatsPoint } from '../types';

export interface StatsBucket {
  /** Start of the bucket, ISO. */
  at: string;
  label: string;
  total: number;
  p50_ms: number | null;
  p95_ms: number | null;
  [status: string]: number | string | null;
}

/**
 * Chart rows from the executor's per-bucket series (`GET /workflows/stats?bucket=`, aggregated in SQL over every run
 * of the window): one row per bucket with a count per status (0 where none) and the p50/p95 durations.
 */
export function seriesRows(points: readonly WorkflowStatsPoint[], bucket: WorkflowStatsBucket, statuses: readonly string[]): StatsBucket[] {
  return points.map((p) => {
    const row: StatsBucket = {
      at: p.at,
      label: bucket === 'day' ? p.at.slice(5, 10) : p.at.slice(11, 16),
      total: p.total,
      p50_ms: p.p50_ms,
      p95_ms: p.p95_ms,
    };
    for (const s of statuses) row[s] = p.runs[s] ?? 0;
    return row;
  });
}
