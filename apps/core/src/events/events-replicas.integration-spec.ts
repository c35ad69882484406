// Two Core replicas on one PostgreSQL, 20 concurrent clients, 1,000 events for 10 keys: the runs are exactly the ones a
// sequential evaluation gives, and every event that did not start a trigger's workflow records why.
import { type EventDecisionView, RequesterId } from '@pancha/contracts';
import { applyFilters, EMPTY_STATE, type StatefulFilters, type TriggerState } from '@pancha/event-router';
import { validateEnv } from '@pancha/service-kit';
import { bootService, createTestDatabase, createTestKeys, httpJson, poll, StandInServer, type TestDatabase, type TestService } from '@pancha/testing';
import { parseManifest, type TriggerSpec, type WorkflowManifest } from '@pancha/workflow-manifest';
import { DataSource } from 'typeorm';
import { AppModule } from '../app.module';
import { CoreConfig } from '../config/env.validation';
import { catalogExecutor } from '../testing/catalog-executor';

jest.setTimeout(300_000);

const EVENTS = 1000;
const KEYS = 10;
const CLIENTS = 20;

const WATCH = parseManifest(`
name: watch
version: 1.0.0
security: { actions: [task] }
triggers:
  - name: once
    event: kpi.metric_updated
    key: event.data.metric
    dedup: { window: 1h }
  - name: limited
    event: kpi.metric_updated
    key: event.data.metric
    rate_limit: { max: 7, per: 1h, mode: drop }
  - name: high
    event: kpi.metric_updated
    key: event.data.metric
    if: event.data.value % 2 == 0
    threshold: { field: event.data.value, above: 50, on: every }
  - name: crossing
    event: kpi.metric_updated
    key: event.data.metric
    threshold: { field: event.data.value, above: 50, on: crossing }
  - name: jump
    event: kpi.metric_updated
    key: event.data.metric
    delta: { field: event.data.value, min_change: 30, relative: false }
    dedup: { window: 1h }
steps: [{ id: a, action: task, with: { title: x } }]
`).manifest as WorkflowManifest;

const keys = createTestKeys('core-events-replicas');
const executor = catalogExecutor([WATCH]);
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

/** Deterministic pseudo-random values (seeded), so a failure reproduces. */
function values(seed: number, n: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % 100;
  });
}

describe('event router on two Core replicas', () => {
  let db: TestDatabase;
  const cores: TestService[] = [];
  let dataSource: DataSource;

  beforeAll(async () => {
    await Promise.all([executor.start(), bucket.start()]);
    db = await createTestDatabase('core_events_replicas');
    const env = {
      DATABASE_URL: db.url,
      PANCHA_KEYS_DIR: keys.dir,
      APP_ENV: 'test',
      LOG_LEVEL: 'silent',
      WORKFLOW_EXECUTOR_URL: executor.url,
      BUCKET_URL: bucket.url,
      WORKFLOW_CATALOG_REFRESH_MS: '1000',
      AUDIT_WITNESS_INTERVAL_MS: '0',
      NATS_URL: '',
    };
    // One after the other: each runs the migrations at start.
    for (let i = 0; i < 2; i++) cores.push(await bootService(AppModule.forRoot(validateEnv(CoreConfig, env))));
    dataSource = cores[0].app.get(DataSource);
  });

  afterAll(async () => {
    for (const core of cores) await core.close();
    await db?.drop();
    await Promise.all([executor.close(), bucket.close()]);
    keys.remove();
  });

  it(`${EVENTS} events for ${KEYS} keys from ${CLIENTS} clients give exactly the sequential runs, and every skip its reason`, async () => {
    const vals = values(42, EVENTS);
    const events = vals.map((value, i) => ({ id: `ev-${i}`, type: 'kpi.metric_updated', data: { metric: `k${i % KEYS}`, value } }));
    let next = 0;
    const client = async (n: number) => {
      for (let i = next++; i < EVENTS; i = next++) {
        const core = cores[(i + n) % 2];
        // A 503 says "nothing decided, retry" (a starved machine can time out waiting for a pooled connection);
        // a client retries it, and the event's id makes the retry safe either way.
        let res = await httpJson('POST', `${core.url}/events`, events[i], await keys.mint(RequesterId.Operator, 'core'));
        for (let retry = 1; res.status === 503 && retry <= 10; retry++) {
          await new Promise((resolve) => setTimeout(resolve, 100 * retry));
          res = await httpJson('POST', `${core.url}/events`, events[i], await keys.mint(RequesterId.Operator, 'core'));
        }
        if (res.status !== 202) throw new Error(`event ${i}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));

    const rows: { event_id: string; data: { metric: string; value: number }; decisions: EventDecisionView[] }[] = await dataSource.query(
      `SELECT event_id, data, decisions FROM events`,
    );
    expect(rows).toHaveLength(EVENTS);
    const decisions = rows.flatMap((r) => r.decisions.map((d) => ({ ...d, value: r.data.value, kpi: r.data.metric })));
    // Every event has one decision per trigger, and every non-run says why.
    expect(decisions).toHaveLength(EVENTS * 5);
    for (const d of decisions) if (d.outcome !== 'run') expect(d.reason).toEqual(expect.any(String));

    const runsOf = (trigger: string) => decisions.filter((d) => d.trigger === trigger && d.outcome === 'run');
    // Order-independent triggers: the count alone is fixed.
    expect(runsOf('once')).toHaveLength(KEYS);
    expect(runsOf('limited')).toHaveLength(KEYS * 7);
    expect(runsOf('high')).toHaveLength(vals.filter((v) => v % 2 === 0 && v > 50).length);
    const reasons = (trigger: string) => [...new Set(decisions.filter((d) => d.trigger === trigger && d.outcome !== 'run').map((d) => d.reason))].sort();
    expect(reasons('once')).toEqual(['duplicate']);
    expect(reasons('limited')).toEqual(['rate_limited']);
    expect(reasons('high')).toEqual(['below_threshold', 'condition_false']);

    // Order-dependent triggers: replaying each key's events in the order the replicas serialised them (seq) gives
    // exactly the recorded outcomes; a lost update would show as a gap or a repeat in seq, or a different outcome.
    const triggers = new Map(WATCH.triggers.map((t: TriggerSpec) => [t.name, t]));
    for (const name of ['crossing', 'jump', 'once', 'limited']) {
      const spec = triggers.get(name)!;
      for (let k = 0; k < KEYS; k++) {
        const mine = decisions.filter((d) => d.trigger === name && d.kpi === `k${k}`).sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
        expect(mine.map((d) => d.seq)).toEqual(Array.from({ length: EVENTS / KEYS }, (_, i) => i + 1));
        let state: TriggerState = EMPTY_STATE;
        const replayed = mine.map((d) => {
          const out = applyFilters(spec as StatefulFilters, { threshold: d.value, delta: d.value }, state, 0);
          state = out.state;
          return out.result.outcome === 'run' ? 'run' : (out.result as { reason: string }).reason;
        });
        expect({ name, key: k, outcomes: mine.map((d) => (d.outcome === 'run' ? 'run' : d.reason)) }).toEqual({ name, key: k, outcomes: replayed });
      }
    }

    // Every run decision is one stored start, each delivered to the executor once.
    const runIds = decisions.filter((d) => d.outcome === 'run').map((d) => d.run_id);
    expect(new Set(runIds).size).toBe(runIds.length);
    expect(Number((await dataSource.query(`SELECT count(*) AS n FROM workflow_run_requests`))[0].n)).toBe(runIds.length);
    await poll('every start delivered', async () =>
      Number((await dataSource.query(`SELECT count(*) AS n FROM workflow_run_requests WHERE delivery = 'delivered'`))[0].n) === runIds.length || undefined,
      120_000,
    );
  });
});
