/**
 * GET /api/workflows/stats on PostgreSQL: real runs (one flaky provider, one that refuses for good) and the figures
 * a user reads from them — runs by status, success rate, durations, the slowest step, retries, the last failure.
 */
import { type WorkflowStats, type WorkflowStatsPoint, WorkflowErrorCode } from '@pancha/contracts';
import { eventually, StandInServer } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';

jest.setTimeout(90_000);

const seen = new Set<string>();
const provider = new StandInServer((req) => {
  if (req.path === '/broken') return { status: 400, body: { error: 'no such account' } };
  // Each run's first call fails with 503 (a retry), the second succeeds.
  const key = String(req.headers['idempotency-key']);
  if (!seen.has(key)) {
    seen.add(key);
    return { status: 503, body: {} };
  }
  return { status: 200, body: { ok: true } };
});

function workflows(url: string): Record<string, string> {
  return {
    'stats-ok.yaml': `
name: stats-ok
version: 1.0.0
security: { actions: [task, http], http_hosts: [127.0.0.1] }
retry: { max_attempts: 3, initial_interval: 10ms, backoff_coefficient: 1, max_interval: 10ms }
steps:
  - { id: create, action: task, with: { title: "stats" } }
  - { id: call, action: http, with: { method: POST, url: "${url}/flaky" } }
`,
    'stats-bad.yaml': `
name: stats-bad
version: 2.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - { id: refuse, action: http, with: { method: POST, url: "${url}/broken" } }
`,
  };
}

describe('GET /api/workflows/stats', () => {
  let h: ExecutorHarness;
  const failed: string[] = [];

  beforeAll(async () => {
    await provider.start();
    h = await startExecutorHarness({ workflows: workflows(provider.url) });
    const ok = await Promise.all([1, 2, 3].map(() => h.startRun('stats-ok', '1.0.0', {})));
    for (const _ of [1, 2]) {
      const id = await h.startRun('stats-bad', '2.0.0', {});
      failed.push(id);
      await eventually(async () => expect((await h.run(id)).status).toBe('failed'));
    }
    for (const id of ok) await eventually(async () => expect((await h.run(id)).status).toBe('completed'));
  });

  afterAll(async () => {
    await h?.close();
    await provider.close();
  });

  it('reports each workflow@version: runs by status, success rate, p50/p95, slowest step, retries and the last failure', async () => {
    const res = await h.call('GET', '/api/workflows/stats?window=1h');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ window: '1h', since: expect.any(String) });
    const byName = Object.fromEntries((res.body.workflows as WorkflowStats[]).map((w) => [w.name, w]));
    expect(byName['stats-ok']).toMatchObject({
      version: '1.0.0',
      runs: { completed: 3 },
      total: 3,
      success_rate: 1,
      p50_ms: expect.any(Number),
      p95_ms: expect.any(Number),
      slowest_step: { step_id: expect.stringMatching(/^(create|call)$/), p95_ms: expect.any(Number) },
      retries: 3,
      last_failure: null,
    });
    expect(byName['stats-ok'].p95_ms!).toBeGreaterThanOrEqual(byName['stats-ok'].p50_ms!);
    const lastRow = await h.dataSource.query(`SELECT run_id FROM workflow_runs WHERE workflow = 'stats-bad' ORDER BY completed_at DESC LIMIT 1`);
    expect(byName['stats-bad']).toMatchObject({
      version: '2.0.0',
      runs: { failed: 2 },
      total: 2,
      success_rate: 0,
      retries: 0,
      last_failure: { run_id: lastRow[0].run_id, at: expect.any(String), error: expect.stringContaining('http_unexpected_status') },
    });
  });

  it('filters by name', async () => {
    const res = await h.call('GET', '/api/workflows/stats?window=24h&name=stats-bad');
    expect((res.body.workflows as WorkflowStats[]).map((w) => w.name)).toEqual(['stats-bad']);
  });

  it('with bucket=hour|day adds the window’s runs per UTC bucket, aggregated from every run (PRANA’s charts)', async () => {
    const hourly = await h.call('GET', '/api/workflows/stats?window=24h&name=stats-bad&bucket=hour');
    expect(hourly.status).toBe(200);
    expect(hourly.body.bucket).toBe('hour');
    const points = hourly.body.series as WorkflowStatsPoint[];
    // Each point starts on an hour; together they hold both failed runs, each with its duration percentiles.
    for (const p of points) expect(p.at).toMatch(/T\d\d:00:00\.000Z$/);
    expect(points.reduce((n, p) => n + p.total, 0)).toBe(2);
    expect(points.reduce((n, p) => n + (p.runs.failed ?? 0), 0)).toBe(2);
    expect(points.every((p) => typeof p.p50_ms === 'number' && p.p95_ms! >= p.p50_ms!)).toBe(true);
    // The buckets are the runs' own: moving one run two days back puts it in its own day.
    const [one] = await h.dataSource.query(`SELECT run_id FROM workflow_runs WHERE workflow = 'stats-bad' LIMIT 1`);
    await h.dataSource.query(`UPDATE workflow_runs SET created_at = created_at - interval '2 days', completed_at = completed_at - interval '2 days' WHERE run_id = $1`, [one.run_id]);
    const daily = await h.call('GET', '/api/workflows/stats?window=7d&name=stats-bad&bucket=day');
    const days = daily.body.series as WorkflowStatsPoint[];
    expect(days.map((p) => p.total)).toEqual([1, 1]);
    expect(days.every((p) => p.at.endsWith('T00:00:00.000Z'))).toBe(true);
    expect(Date.parse(days[1].at) - Date.parse(days[0].at)).toBeGreaterThanOrEqual(86_400_000);
    await h.dataSource.query(`UPDATE workflow_runs SET created_at = created_at + interval '2 days', completed_at = completed_at + interval '2 days' WHERE run_id = $1`, [one.run_id]);
    // Without bucket there is no series.
    expect((await h.call('GET', '/api/workflows/stats?window=24h')).body.series).toBeUndefined();
    const bad = await h.call('GET', '/api/workflows/stats?window=24h&bucket=week');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('bucket must be hour or day');
  });

  it('counts only runs created inside the window', async () => {
    await h.dataSource.query(`UPDATE workflow_runs SET created_at = created_at - interval '2 hours' WHERE workflow = 'stats-bad'`);
    const res = await h.call('GET', '/api/workflows/stats?window=1h');
    expect((res.body.workflows as WorkflowStats[]).map((w) => w.name)).toEqual(['stats-ok']);
  });

  it('refuses a window that is not a duration with 400 invalid_stats_window', async () => {
    for (const window of ['yesterday', '400d']) {
      const res = await h.call('GET', `/api/workflows/stats?window=${window}`);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: WorkflowErrorCode.InvalidStatsWindow, message: expect.stringContaining(window) });
    }
  });
});
