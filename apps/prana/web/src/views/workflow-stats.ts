import type { RunSummaryView } from '../types';

export interface StatsBucket {
  /** Start of the bucket, ISO. */
  at: string;
  label: string;
  total: number;
  p50_ms: number | null;
  p95_ms: number | null;
  [status: string]: number | string | null;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Runs grouped in buckets of `bucketMs` by creation time: counts per status and p50/p95 of ended runs' durations. */
export function runStats(runs: RunSummaryView[], bucketMs: number, statuses: readonly string[]): StatsBucket[] {
  const groups = new Map<number, RunSummaryView[]>();
  for (const r of runs) {
    const t = Date.parse(r.created_at);
    if (Number.isNaN(t)) continue;
    const k = Math.floor(t / bucketMs) * bucketMs;
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([k, g]) => {
      const durations = g.map((r) => r.duration_ms).filter((d): d is number => typeof d === 'number').sort((a, b) => a - b);
      const at = new Date(k).toISOString();
      const row: StatsBucket = {
        at,
        label: bucketMs >= 86_400_000 ? at.slice(5, 10) : at.slice(11, 16),
        total: g.length,
        p50_ms: percentile(durations, 50),
        p95_ms: percentile(durations, 95),
      };
      for (const s of statuses) row[s] = g.filter((r) => r.status === s).length;
      return row;
    });
}
