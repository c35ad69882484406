import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { MAX_WORKFLOW_STATS_WINDOW_MS, WORKFLOW_STATS_BUCKETS, WorkflowErrorCode, type WorkflowStats, type WorkflowStatsBucket, type WorkflowStatsPoint, type WorkflowStatsResponse } from '@pancha/contracts';
import { parseDuration } from '@pancha/workflow-manifest';
import { DataSource } from 'typeorm';
import { EngineClock } from '../engine/engine-clock';
import { WorkflowException } from '../workflow.exception';

export const DEFAULT_STATS_WINDOW = '24h';

/** Steps that only contain other steps: their duration is their children's, so they are never "the slowest step". */
const CONTAINER_KINDS = ['group', 'parallel', 'foreach', 'switch'];

/**
 * The caller's products, $4 (NULL: every product, runs without one included). As the runs list (`product = ANY`): a
 * narrowed caller counts only runs of its products, never a run without a product. Every CTE of both statements
 * reads their `runs`, so steps, attempts, the last failure and the series come from in-scope runs only.
 */
const IN_SCOPE = `($4::text[] IS NULL OR product = ANY($4::text[]))`;

/**
 * One statement over the run, step and attempt tables: every figure of every workflow@version in the window comes
 * from the same snapshot. Runs count by when they were created; durations are of runs that ended (first start to
 * end); a retry is any attempt after a step's first.
 */
const STATS_SQL = `
WITH runs AS (
  SELECT run_id, workflow, version, status, error, created_at, started_at, completed_at
  FROM workflow_runs
  WHERE created_at >= $1 AND ($2::text IS NULL OR workflow = $2) AND ${IN_SCOPE}
),
by_status AS (
  SELECT workflow, version, jsonb_object_agg(status, n) AS runs, sum(n)::int AS total
  FROM (SELECT workflow, version, status, count(*)::int AS n FROM runs GROUP BY 1, 2, 3) s
  GROUP BY 1, 2
),
ended AS (
  SELECT workflow, version,
         count(*) FILTER (WHERE status = 'completed')::int AS completed,
         count(*)::int AS ended,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - coalesce(started_at, created_at)) * 1000) AS p50_ms,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - coalesce(started_at, created_at)) * 1000) AS p95_ms
  FROM runs
  WHERE status IN ('completed', 'failed', 'cancelled', 'timed_out') AND completed_at IS NOT NULL
  GROUP BY 1, 2
),
step_p95 AS (
  SELECT r.workflow, r.version, s.step_id,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM s.completed_at - s.started_at) * 1000) AS p95_ms
  FROM runs r JOIN workflow_steps s ON s.run_id = r.run_id
  WHERE s.started_at IS NOT NULL AND s.completed_at IS NOT NULL AND s.kind <> ALL($3::text[])
  GROUP BY 1, 2, 3
),
slowest AS (
  SELECT DISTINCT ON (workflow, version) workflow, version, step_id, p95_ms
  FROM step_p95 ORDER BY workflow, version, p95_ms DESC, step_id
),
retries AS (
  SELECT r.workflow, r.version, count(*)::int AS retries
  FROM runs r JOIN workflow_step_attempts a ON a.run_id = r.run_id
  WHERE a.attempt > 1
  GROUP BY 1, 2
),
last_failure AS (
  SELECT DISTINCT ON (workflow, version) workflow, version, run_id, completed_at AS at,
         coalesce(error ->> 'code', status) || coalesce(': ' || (error ->> 'message'), '') AS error
  FROM runs WHERE status IN ('failed', 'timed_out') AND completed_at IS NOT NULL
  ORDER BY workflow, version, completed_at DESC
)
SELECT b.workflow AS name, b.version, b.runs, b.total,
       e.completed, e.ended, e.p50_ms, e.p95_ms,
       sl.step_id AS slowest_step_id, sl.p95_ms AS slowest_step_p95_ms,
       coalesce(rt.retries, 0) AS retries,
       lf.run_id AS last_failure_run_id, lf.at AS last_failure_at, lf.error AS last_failure_error
FROM by_status b
LEFT JOIN ended e ON e.workflow = b.workflow AND e.version = b.version
LEFT JOIN slowest sl ON sl.workflow = b.workflow AND sl.version = b.version
LEFT JOIN retries rt ON rt.workflow = b.workflow AND rt.version = b.version
LEFT JOIN last_failure lf ON lf.workflow = b.workflow AND lf.version = b.version
ORDER BY b.workflow, b.version`;

/**
 * The window's runs (of the caller's products, $4) per bucket of $3 seconds: counts by status, and p50/p95 of the
 * durations of those that ended.
 */
const SERIES_SQL = `
WITH runs AS (
  SELECT to_timestamp(floor(extract(epoch FROM created_at) / $3) * $3) AS at, status, created_at, started_at, completed_at
  FROM workflow_runs
  WHERE created_at >= $1 AND ($2::text IS NULL OR workflow = $2) AND ${IN_SCOPE}
),
by_status AS (
  SELECT at, jsonb_object_agg(status, n) AS runs, sum(n)::int AS total
  FROM (SELECT at, status, count(*)::int AS n FROM runs GROUP BY 1, 2) s
  GROUP BY 1
),
durations AS (
  SELECT at,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - coalesce(started_at, created_at)) * 1000) AS p50_ms,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - coalesce(started_at, created_at)) * 1000) AS p95_ms
  FROM runs
  WHERE status IN ('completed', 'failed', 'cancelled', 'timed_out') AND completed_at IS NOT NULL
  GROUP BY 1
)
SELECT b.at, b.runs, b.total, d.p50_ms, d.p95_ms
FROM by_status b LEFT JOIN durations d ON d.at = b.at
ORDER BY b.at`;

const BUCKET_SECONDS: Record<WorkflowStatsBucket, number> = { hour: 3_600, day: 86_400 };

interface StatsRow {
  name: string;
  version: string;
  runs: Record<string, number>;
  total: number;
  completed: number | null;
  ended: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  slowest_step_id: string | null;
  slowest_step_p95_ms: number | null;
  retries: number;
  last_failure_run_id: string | null;
  last_failure_at: Date | null;
  last_failure_error: string | null;
}

/**
 * Per workflow@version over a window: runs by status, success rate, p50/p95 duration, slowest step, retries, last failure;
 * of the caller's products only (product scope of reads, T9).
 */
@Injectable()
export class WorkflowStatsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly clock: EngineClock,
  ) {}

  /** `products`: the caller's (productFilter); undefined = every product, else only runs of these products. */
  async stats(window: string = DEFAULT_STATS_WINDOW, name?: string, bucket?: string, products?: string[]): Promise<WorkflowStatsResponse> {
    const windowMs = parseWindow(window);
    if (bucket !== undefined && !(WORKFLOW_STATS_BUCKETS as readonly string[]).includes(bucket)) {
      throw new WorkflowException(WorkflowErrorCode.InvalidStatsWindow, `bucket must be hour or day, not "${bucket}"`, 400);
    }
    const since = new Date(this.clock.now().getTime() - windowMs);
    const rows: StatsRow[] = await this.dataSource.query(STATS_SQL, [since, name ?? null, CONTAINER_KINDS, products ?? null]);
    const answer: WorkflowStatsResponse = { window, since: since.toISOString(), workflows: rows.map(toStats) };
    if (bucket === undefined) return answer;
    const b = bucket as WorkflowStatsBucket;
    const points: Array<{ at: Date; runs: Record<string, number>; total: number; p50_ms: number | null; p95_ms: number | null }> = await this.dataSource.query(
      SERIES_SQL,
      [since, name ?? null, BUCKET_SECONDS[b], products ?? null],
    );
    const series: WorkflowStatsPoint[] = points.map((p) => ({
      at: new Date(p.at).toISOString(),
      runs: p.runs,
      total: Number(p.total),
      p50_ms: roundOrNull(p.p50_ms),
      p95_ms: roundOrNull(p.p95_ms),
    }));
    return { ...answer, bucket: b, series };
  }
}

function parseWindow(window: string): number {
  let ms: number;
  try {
    ms = parseDuration(window);
  } catch {
    throw new WorkflowException(WorkflowErrorCode.InvalidStatsWindow, `window must be a duration such as 90m, 24h or 7d, not "${window}"`, 400);
  }
  if (!(ms > 0) || ms > MAX_WORKFLOW_STATS_WINDOW_MS) throw new WorkflowException(WorkflowErrorCode.InvalidStatsWindow, `window must be more than 0 and at most 90d, not "${window}"`, 400);
  return ms;
}

function toStats(row: StatsRow): WorkflowStats {
  const ended = Number(row.ended ?? 0);
  return {
    name: row.name,
    version: row.version,
    runs: row.runs,
    total: Number(row.total),
    success_rate: ended > 0 ? Number(row.completed ?? 0) / ended : null,
    p50_ms: roundOrNull(row.p50_ms),
    p95_ms: roundOrNull(row.p95_ms),
    slowest_step: row.slowest_step_id !== null ? { step_id: row.slowest_step_id, p95_ms: roundOrNull(row.slowest_step_p95_ms) ?? 0 } : null,
    retries: Number(row.retries),
    last_failure:
      row.last_failure_run_id !== null
        ? { run_id: row.last_failure_run_id, at: new Date(row.last_failure_at!).toISOString(), error: row.last_failure_error ?? '' }
        : null,
  };
}

function roundOrNull(value: number | string | null): number | null {
  return value === null ? null : Math.round(Number(value));
}
