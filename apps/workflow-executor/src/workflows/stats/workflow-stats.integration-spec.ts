/**
 * GET /api/workflows/stats on PostgreSQL: real runs (one flaky provider, one that refuses for good) and the figures
 * a user reads from them — runs by status, success rate, durations, the slowest step, retries, the last failure.
 */
import { RequesterId, type WorkflowStats, type WorkflowStatsPoint, WorkflowErrorCode } from '@pancha/contracts';
import { eventually, httpJson, StandInServer } from '@pancha/testing';
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
    // Started for two products (and none) by the product-scope test; no other test starts it.
    'stats-scoped.yaml': `
name: stats-scoped
version: 1.0.0
inputs: { type: object, required: [path], properties: { path: { type: string } } }
security: { actions: [task, http], http_hosts: [127.0.0.1] }
retry: { max_attempts: 3, initial_interval: 10ms, backoff_coefficient: 1, max_interval: 10ms }
steps:
  - { id: create, action: task, with: { title: "scoped" } }
  - { id: call, action: http, with: { method: POST, url: "${url}/{{ inputs.path }}" } }
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

  it('counts only the runs of a narrowed caller’s products (no product-less runs): counts, durations, slowest step, retries, last failure and series', async () => {
    // acme: two runs that complete after one retry each and one that fails; other: one of each; none: one that fails.
    const started: Array<{ id: string; product?: string; path: string }> = [];
    for (const [product, path] of [['acme', 'flaky'], ['acme', 'flaky'], ['acme', 'broken'], ['other', 'flaky'], ['other', 'broken'], [undefined, 'broken']] as const) {
      started.push({ id: await h.startRun('stats-scoped', '1.0.0', { path }, product ? { product } : {}), product, path });
    }
    for (const run of started) await eventually(async () => expect((await h.run(run.id)).status).toBe(run.path === 'broken' ? 'failed' : 'completed'));
    // Fixed durations per product: acme's runs take 1s (steps 10ms and 500ms), the others' 1h (their `create` 1h), so any
    // figure taken over another product's runs shows; the latest failure is other's, then the product-less one's.
    await h.dataSource.query(
      `UPDATE workflow_runs SET started_at = created_at,
         completed_at = created_at + CASE product WHEN 'acme' THEN interval '1 second' WHEN 'other' THEN interval '1 hour' ELSE interval '2 hours' END
       WHERE workflow = 'stats-scoped'`,
    );
    await h.dataSource.query(
      `UPDATE workflow_steps s SET completed_at = s.started_at + CASE WHEN r.product = 'acme' AND s.step_id = 'create' THEN interval '10 ms'
         WHEN r.product = 'acme' THEN interval '500 ms' WHEN s.step_id = 'create' THEN interval '1 hour' ELSE interval '500 ms' END
       FROM workflow_runs r WHERE r.run_id = s.run_id AND r.workflow = 'stats-scoped' AND s.started_at IS NOT NULL AND s.completed_at IS NOT NULL`,
    );
    const stats = async (query: string, products?: string[]) => {
      const res = await httpJson('GET', `${h.url}/api/workflows/stats?${query}`, undefined, await h.keys.mint(RequesterId.Core, 'workflow-executor', products ? { products } : undefined));
      expect(res.status).toBe(200);
      const body = res.body as { workflows: WorkflowStats[]; series?: WorkflowStatsPoint[] };
      return { workflows: body.workflows, series: body.series ?? [] };
    };
    const failureOf = (product?: string) => started.find((r) => r.product === product && r.path === 'broken')?.id;
    const [acmeFailure, otherFailure, noneFailure] = [failureOf('acme'), failureOf('other'), failureOf(undefined)];

    // Narrowed to acme, with or without a name: only acme's runs; the product-less stats-ok/stats-bad runs are not counted.
    for (const query of ['window=24h&bucket=hour', 'window=24h&name=stats-scoped&bucket=hour']) {
      const acme = await stats(query, ['acme']);
      expect(acme.workflows).toEqual([
        {
          name: 'stats-scoped',
          version: '1.0.0',
          runs: { completed: 2, failed: 1 },
          total: 3,
          success_rate: 2 / 3,
          p50_ms: 1000,
          p95_ms: 1000,
          slowest_step: { step_id: 'call', p95_ms: 500 },
          retries: 2,
          last_failure: { run_id: acmeFailure, at: expect.any(String), error: expect.stringContaining('http_unexpected_status') },
        },
      ]);
      expect(acme.series.reduce((n, p) => n + p.total, 0)).toBe(3);
      expect(acme.series.reduce((n, p) => n + (p.runs.failed ?? 0), 0)).toBe(1);
      expect(acme.series.every((p) => p.p95_ms === 1000)).toBe(true);
    }
    const other = (await stats('window=24h&name=stats-scoped', ['other'])).workflows;
    expect(other).toEqual([expect.objectContaining({ runs: { completed: 1, failed: 1 }, total: 2, retries: 1, last_failure: expect.objectContaining({ run_id: otherFailure }) })]);
    // A caller of products with no runs (as an anonymous one with none) sees no figures at all.
    expect(await stats('window=24h&bucket=day', ['nobody'])).toMatchObject({ workflows: [], series: [] });

    // Unrestricted (Core's own token, no products claim): every run, product-less ones included, as before.
    const all = await stats('window=24h&bucket=hour');
    const byName = Object.fromEntries(all.workflows.map((w) => [w.name, w]));
    expect(Object.keys(byName).sort()).toEqual(['stats-bad', 'stats-ok', 'stats-scoped']);
    expect(byName['stats-scoped']).toMatchObject({
      runs: { completed: 3, failed: 3 },
      total: 6,
      retries: 3,
      slowest_step: { step_id: 'create', p95_ms: 3_600_000 },
      last_failure: { run_id: noneFailure },
    });
    expect(byName['stats-scoped'].p95_ms).toBeGreaterThan(3_600_000);
    expect(all.series.reduce((n, p) => n + p.total, 0)).toBe(11);
  });
});
