import { randomUUID } from 'node:crypto';
// The event router on Core's public port: the real app on PostgreSQL, a stand-in executor serving the catalog and
// taking run starts, a stand-in Bucket taking the audit entries.
import { CORE_EVENTS_BATCH_ROUTE, RequesterId, type WorkflowCatalog, EXECUTOR_RUN_STARTS_ROUTE } from '@pancha/contracts';
import { installInMemoryTracing } from '@pancha/trace-context';
import { holdTable, httpJson, poll, type ServiceWithDatabase, StandInServer } from '@pancha/testing';
import { parseManifest, type WorkflowManifest } from '@pancha/workflow-manifest';
import { DataSource } from 'typeorm';
import { EventRouterService } from './event-router.service';
import { WorkflowCatalogService } from '../workflows/workflow-catalog.service';
import { bootCoreSpec } from '../testing/core-test-app';

jest.setTimeout(90_000);
// A recording tracer, as `register` installs in a real process: each event's span has a trace the test can follow.
const tracing = installInMemoryTracing();

function manifest(text: string): WorkflowManifest {
  const parsed = parseManifest(text);
  if (!parsed.manifest) throw new Error(JSON.stringify(parsed));
  return parsed.manifest;
}

const ESCALATE = manifest(`
name: escalate
version: 1.1.0
inputs: { type: object, required: [component], properties: { component: { type: string } } }
security: { actions: [task] }
triggers:
  - name: critical
    event: test_quality.healing_required
    key: event.data.component
    if: event.data.severity == "CRITICAL"
    dedup: { window: 1h }
    inputs: { component: "{{ event.data.component }}" }
steps: [{ id: a, action: task, with: { title: x } }]
`);
const LEARN = manifest(`
name: learn
version: 1.1.0
security: { actions: [task] }
triggers:
  - name: warning
    event: test_quality.healing_required
    if: event.data.severity == "WARNING"
    inputs: { component: "{{ event.data.component }}" }
steps: [{ id: a, action: task, with: { title: x } }]
`);
const KPI = manifest(`
name: kpi-watch
version: 1.0.0
inputs: { type: object, required: [value], properties: { value: { type: number } } }
security: { actions: [task] }
triggers:
  - name: crossing
    event: kpi.*
    key: event.data.metric
    threshold: { field: event.data.value, above: 100, on: crossing }
    inputs: { value: "{{ event.data.value }}" }
  - name: quiet
    event: kpi.metric_updated
    key: event.data.metric
    # Long enough that one batch (its events evaluated one after another, each at its own clock reading) is a burst
    # even on a starved machine (the window edges are unit-tested with a fake clock in libs/event-router).
    debounce: { quiet: 5s }
    inputs: { value: "{{ event.data.value }}" }
steps: [{ id: a, action: task, with: { title: x } }]
`);
const OFF = manifest(`
name: switched-off
version: 1.0.0
security: { actions: [task] }
triggers: [{ event: system.critical_error }]
steps: [{ id: a, action: task, with: { title: x } }]
`);

// Two workflows that start each other when they complete, and one that alerts on any failure (its own included).
const PING = manifest(`
name: ping
version: 1.0.0
security: { actions: [task] }
triggers: [{ event: workflow.completed, if: 'event.data.workflow == "pong"' }]
steps: [{ id: a, action: task, with: { title: x } }]
`);
const PONG = manifest(`
name: pong
version: 1.0.0
security: { actions: [task] }
triggers: [{ event: workflow.completed, if: 'event.data.workflow == "ping"' }]
steps: [{ id: a, action: task, with: { title: x } }]
`);
const ALERT = manifest(`
name: alert-on-failure
version: 1.0.0
security: { actions: [task] }
triggers: [{ event: workflow.failed, inputs: { failed: "{{ event.data.workflow }}" } }]
steps: [{ id: a, action: task, with: { title: x } }]
`);

const PINNED = `
name: pinned
version: 1.0.0
inputs: { type: object, required: [n], properties: { n: { type: number } } }
security: { actions: [task] }
triggers:
  - name: later
    event: pin.changed
    key: event.data.item
    # Never quiet on its own during the suite: a test makes the start due (its due_at) when it wants it made.
    debounce: { quiet: 1h }
    inputs: { n: "{{ event.data.n }}" }
steps: [{ id: a, action: task, with: { title: x } }]
`;
const PINNED_1 = manifest(PINNED);
const PINNED_2 = manifest(PINNED.replace('version: 1.0.0', 'version: 2.0.0'));
const PINNED_3 = manifest(PINNED.replace('version: 1.0.0', 'version: 3.0.0'));

const version = (m: WorkflowManifest, retired = false) => ({ version: m.version, present: true, deprecated: false, retired, manifest: m as unknown as Record<string, unknown> });
const entry = (m: WorkflowManifest, enabled = true) => ({ name: m.name, enabled, default_version: m.version, versions: [version(m)] });
// A test changes it (a new default version, a retired one), then has Core fetch it again.
let pinned: WorkflowCatalog['workflows'][number] = entry(PINNED_1);
const executor = new StandInServer((req) => {
  if (req.path === '/api/workflows/catalog') {
    const catalog: WorkflowCatalog = { revision: 'r1', workflows: [entry(ESCALATE), entry(LEARN), entry(KPI), entry(OFF, false), pinned, entry(PING), entry(PONG), entry(ALERT)] };
    return { status: 200, body: catalog };
  }
  if (req.method === 'POST' && req.path === '/api/runs') return { status: 202, body: { run_id: (req.body as { run_id: string }).run_id } };
  return { status: 404, body: { code: 'not_found' } };
});
executor.speaksBatch(EXECUTOR_RUN_STARTS_ROUTE, '/api/runs');
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

describe('Core event router', () => {
  let core: ServiceWithDatabase;
  let dataSource: DataSource;

  const as = async (who: RequesterId | 'anonymous', method: string, route: string, body?: unknown) =>
    httpJson(method, `${core.url}${route}`, body, who === 'anonymous' ? undefined : await core.keys.mint(who, 'core'));
  const publish = (body: unknown, who: RequesterId = RequesterId.Operator) => as(who, 'POST', '/events', body);
  const count = async (sql: string, params: unknown[] = []): Promise<number> => Number((await dataSource.query(sql, params))[0].n);
  const startsFor = (runId: string) => executor.requests.filter((r) => r.method === 'POST' && r.path === '/api/runs' && (r.body as { run_id: string }).run_id === runId);

  beforeAll(async () => {
    core = await bootCoreSpec({
      name: 'core_events',
      executor,
      bucket,
      env: { LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', EVENTS_DEFERRED_POLL_MS: '50', EVENTS_MAX_CHAIN_DEPTH: '3' },
    });
    dataSource = core.dataSource;
  });

  afterAll(() => core?.close());

  describe('POST /events', () => {
    it('a CRITICAL healing_required starts the escalation workflow, says why learn did not start, and the executor gets the start', async () => {
      const res = await publish({ id: 'tm-1', type: 'test_quality.healing_required', source: 'tests', data: { component: 'checkout', severity: 'CRITICAL' } });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({
        event_id: 'tm-1',
        runs: [{ workflow: 'escalate', version: '1.1.0', trigger: 'critical' }],
        skipped: [{ workflow: 'learn', trigger: 'warning', reason: 'condition_false' }],
        deferred: [],
      });
      const runId = res.body.runs[0].run_id;
      const start = await poll('the start at the executor', async () => startsFor(runId)[0]);
      expect(start.body).toMatchObject({ workflow: 'escalate', inputs: { component: 'checkout' }, trace_id: res.body.trace_id, actor: 'operator' });
      expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE run_id = $1 AND source = 'event:tm-1'`, [runId])).toBe(1);
    });

    it('a WARNING starts the learning workflow; a repeat of the CRITICAL within the dedup window starts nothing and says duplicate', async () => {
      const warning = await publish({ type: 'test_quality.healing_required', data: { component: 'checkout', severity: 'WARNING' } });
      expect(warning.body.runs).toMatchObject([{ workflow: 'learn' }]);
      const repeat = await publish({ id: 'tm-2', type: 'test_quality.healing_required', data: { component: 'checkout', severity: 'CRITICAL' } });
      expect(repeat.status).toBe(202);
      expect(repeat.body.runs).toEqual([]);
      expect(repeat.body.skipped).toEqual(
        expect.arrayContaining([expect.objectContaining({ workflow: 'escalate', trigger: 'critical', reason: 'duplicate' })]),
      );
      // Another key is not a duplicate.
      const other = await publish({ type: 'test_quality.healing_required', data: { component: 'payments', severity: 'CRITICAL' } });
      expect(other.body.runs).toMatchObject([{ workflow: 'escalate' }]);
    });

    it('the same id twice starts nothing the second time and answers the first decision', async () => {
      const before = await count(`SELECT count(*) AS n FROM workflow_run_requests`);
      // A retry resends the same event (another content under the same id is a 409: events-repeats.integration-spec.ts).
      const again = await publish({ id: 'tm-1', type: 'test_quality.healing_required', source: 'tests', data: { component: 'checkout', severity: 'CRITICAL' } });
      expect(again.status).toBe(202);
      expect(again.body).toMatchObject({ event_id: 'tm-1', replayed: true, runs: [{ workflow: 'escalate' }] });
      expect(await count(`SELECT count(*) AS n FROM workflow_run_requests`)).toBe(before);
      expect(await count(`SELECT count(*) AS n FROM events WHERE event_id = 'tm-1'`)).toBe(1);
    });

    it('a bad event is a 422 naming each field, and nothing is stored or sent', async () => {
      const [events, outbox] = [await count(`SELECT count(*) AS n FROM events`), await count(`SELECT count(*) AS n FROM outbox`)];
      const res = await publish({ type: 'test_quality.healing_required', time: 'yesterday', data: { severity: 'LOUD', failing_tests: -1 } });
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('event_invalid');
      expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['data.component', 'data.failing_tests', 'data.severity', 'time']);
      const batch = await publish([{ type: 'kpi.metric_updated', data: { metric: 'a', value: 1 } }, { type: 'kpi.metric_updated', data: { metric: 'b' } }, { data: {} }]);
      expect(batch.status).toBe(422);
      expect(batch.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['[1].data.value', '[2].type']);
      expect(await count(`SELECT count(*) AS n FROM events`)).toBe(events);
      expect(await count(`SELECT count(*) AS n FROM outbox`)).toBe(outbox);
    });

    it('text PostgreSQL cannot store (a NUL) or nesting past the limit is event_invalid too, named as the other checks name fields', async () => {
      const [events, outbox] = [await count(`SELECT count(*) AS n FROM events`), await count(`SELECT count(*) AS n FROM outbox`)];
      const batch = await publish([{ type: 'kpi.metric_updated', data: { metric: 'a', value: 1 } }, { type: 'kpi.metric_updated', data: { metric: 'b\u0000', value: 1 } }]);
      expect(batch.status).toBe(422);
      expect(batch.body).toMatchObject({ code: 'event_invalid', message: 'invalid event: [1].data.metric', errors: [{ field: '[1].data.metric' }] });
      let deep: unknown = 1;
      for (let i = 0; i < 40; i++) deep = { d: deep };
      const nested = await publish({ type: 'kpi.metric_updated', data: { metric: 'c', value: 1, deep } });
      expect(nested.status).toBe(422);
      expect(nested.body.code).toBe('event_invalid');
      expect(await count(`SELECT count(*) AS n FROM events`)).toBe(events);
      expect(await count(`SELECT count(*) AS n FROM outbox`)).toBe(outbox);
    });

    it('a time PostgreSQL cannot hold (year 0, 30 February), or the id stats (GET /events/stats), is a 422 naming it; a batch holding one is refused whole', async () => {
      const [events, outbox] = [await count(`SELECT count(*) AS n FROM events`), await count(`SELECT count(*) AS n FROM outbox`)];
      for (const id of ['stats', 'STATS']) {
        // Routes match case-insensitively: GET /events/STATS is the statistics too.
        const reserved = await publish({ id, type: 'kpi.metric_updated', data: { metric: 'y0', value: 1 } });
        expect([reserved.status, reserved.body.errors?.[0]?.field]).toEqual([422, 'id']);
      }
      for (const time of ['0000-06-01T00:00:00Z', '2026-02-30T10:00:00Z', '-010000-01-01T00:00:00Z']) {
        const res = await publish({ type: 'kpi.metric_updated', time, data: { metric: 'y0', value: 1 } });
        expect(res.status).toBe(422);
        expect(res.body.errors).toEqual([{ field: 'time', messages: [expect.stringContaining('real date between years 0001 and 9999')] }]);
      }
      const batch = await publish([
        { id: 'y0-ok', type: 'kpi.metric_updated', data: { metric: 'y0', value: 1 } },
        { id: 'y0-bad', type: 'kpi.metric_updated', time: '0000-01-01T00:00:00Z', data: { metric: 'y0', value: 1 } },
      ]);
      expect(batch.status).toBe(422);
      expect(batch.body.errors.map((e: { field: string }) => e.field)).toEqual(['[1].time']);
      expect(await count(`SELECT count(*) AS n FROM events`)).toBe(events);
      expect(await count(`SELECT count(*) AS n FROM outbox`)).toBe(outbox);
    });

    it('a key longer than 200 characters keys its filter state by its sha256: each long key keeps its own state', async () => {
      const metric = (c: string) => c.repeat(4_800);
      const decide = async (id: string, m: string) => {
        expect((await publish({ id, type: 'kpi.long_key', data: { metric: m, value: 150 } })).status).toBe(202);
        const read = await as(RequesterId.Operator, 'GET', `/events/${id}`);
        return read.body.decisions.find((d: { trigger: string }) => d.trigger === 'crossing');
      };
      const first = await decide('long-key-1', metric('a'));
      expect(first).toMatchObject({ outcome: 'run', key: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
      // Still above the line: the same long key remembers it crossed already.
      expect(await decide('long-key-2', metric('a'))).toMatchObject({ outcome: 'skipped', key: first.key });
      const other = await decide('long-key-3', metric('b'));
      expect(other).toMatchObject({ outcome: 'run' });
      expect(other.key).not.toBe(first.key);
    });

    it('who may publish which types is policy: karma may publish karma.* but not kpi.*, anonymous nothing', async () => {
      expect((await publish({ type: 'kpi.metric_updated', data: { metric: 'a', value: 1 } }, RequesterId.Karma)).status).toBe(403);
      expect((await publish({ type: 'karma.role_changed', data: { user_id: 'u1', role: 'mentor' } }, RequesterId.Karma)).status).toBe(202);
      expect((await as('anonymous', 'POST', '/events', { type: 'karma.role_changed', data: { user_id: 'u1', role: 'x' } })).status).toBe(401);
    });

    it('reading events needs a verified token with read: anonymous gets 401, a publisher without read 403', async () => {
      const accepted = await publish({ type: 'karma.role_changed', data: { user_id: 'u-read', role: 'mentor' } }, RequesterId.Karma);
      expect(accepted.status).toBe(202);
      const id = (accepted.body as { event_id: string }).event_id;
      for (const route of ['/events', `/events/${id}`, '/events/stats']) {
        const anonymous = await as('anonymous', 'GET', route);
        expect({ route, status: anonymous.status }).toEqual({ route, status: 401 });
        expect({ route, status: (await as(RequesterId.Karma, 'GET', route)).status }).toEqual({ route, status: 403 });
        expect({ route, status: (await as(RequesterId.Operator, 'GET', route)).status }).toEqual({ route, status: 200 });
      }
    });

    it('a disabled workflow and inputs its schema refuses are recorded skips, not errors', async () => {
      const off = await publish({ type: 'system.critical_error', data: { service: 'core', message: 'boom' } });
      expect(off.status).toBe(202);
      expect(off.body.skipped).toEqual([expect.objectContaining({ workflow: 'switched-off', reason: 'workflow_disabled' })]);
      const unknownType = await publish({ type: 'custom.thing', data: 'anything' });
      expect(unknownType.status).toBe(202);
      expect(unknownType.body).toMatchObject({ runs: [], skipped: [] });
    });

    it('threshold on: crossing starts one run per crossing, and a batch answers each event', async () => {
      const values = [50, 150, 160, 90, 120];
      const res = await publish(values.map((value) => ({ type: 'kpi.threshold_breach', data: { metric: 'latency', value, threshold: 100 } })));
      expect(res.status).toBe(202);
      const outcome = res.body.events.map((e: { runs: unknown[]; skipped: { reason: string }[] }) => (e.runs.length > 0 ? 'run' : e.skipped[0].reason));
      expect(outcome).toEqual(['below_threshold', 'run', 'below_threshold', 'below_threshold', 'run']);
    });

    it('debounce: a burst of one key starts one run, from its last event, once the key is quiet; earlier events say superseded', async () => {
      const burst = [1, 2, 3].map((value) => ({ type: 'kpi.metric_updated', data: { metric: 'queue', value } }));
      const res = await publish(burst);
      const ids: string[] = res.body.events.map((e: { event_id: string }) => e.event_id);
      expect(res.body.events.map((e: { deferred: { reason: string }[] }) => e.deferred.map((d) => d.reason))).toEqual([['debounced'], ['debounced'], ['debounced']]);
      const last = await poll('the debounced start made', async () => {
        const view = await as(RequesterId.Operator, 'GET', `/events/${ids[2]}`);
        return view.body.decisions.find((d: { trigger: string; outcome: string }) => d.trigger === 'quiet' && d.outcome === 'run');
      });
      await poll('the start at the executor', async () => startsFor(last.run_id)[0]);
      expect(startsFor(last.run_id)[0].body).toMatchObject({ inputs: { value: 3 } });
      // Made, it says so alone: why it waited (reason, due_at) is gone.
      expect([last.reason, last.due_at]).toEqual([undefined, undefined]);
      for (const id of ids.slice(0, 2)) {
        const view = await as(RequesterId.Operator, 'GET', `/events/${id}`);
        expect(view.body.decisions.find((d: { trigger: string }) => d.trigger === 'quiet')).toMatchObject({ outcome: 'skipped', reason: 'debounced' });
      }
      expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE workflow = 'kpi-watch' AND inputs->>'value' IN ('1', '2', '3')`)).toBe(1);
    });
  });

  describe('POST /events/batch (the pillars\' outboxes)', () => {
    const batch = (events: unknown[], who: RequesterId | 'anonymous' = RequesterId.Karma) => as(who, 'POST', CORE_EVENTS_BATCH_ROUTE, { events });

    it('answers each event as POST /events would alone: a bad or forbidden event fails alone, the others are routed', async () => {
      const res = await batch([
        { body: { id: 'kb-1', type: 'karma.role_changed', data: { user_id: 'u-b1', role: 'mentor' } } },
        { body: { id: 'kb-2', type: 'karma.role_changed', data: { user_id: 'u-b2' } } },
        { body: { id: 'kb-3', type: 'kpi.metric_updated', data: { metric: 'a', value: 1 } } },
        { body: 'not an event' },
        { body: { id: 'kb-5', type: 'karma.role_changed', data: { user_id: 'u-b5', role: 'steward' } } },
      ]);
      expect(res.status).toBe(200);
      expect(res.body.results.map((r: { status: number }) => r.status)).toEqual([202, 422, 403, 422, 202]);
      expect(res.body.results[0].body).toMatchObject({ event_id: 'kb-1', runs: [], skipped: [] });
      expect(res.body.results[1].body).toMatchObject({ code: 'event_invalid', errors: [expect.objectContaining({ field: 'data.role' })] });
      expect(res.body.results[2].body).toMatchObject({ code: 'publish_forbidden', message: expect.stringContaining('kpi.metric_updated') });
      expect(await count(`SELECT count(*) AS n FROM events WHERE event_id IN ('kb-1', 'kb-2', 'kb-3', 'kb-5')`)).toBe(2);
      // A redelivery of the batch routes nothing again and says so per event.
      const again = await batch([{ body: { id: 'kb-1', type: 'karma.role_changed', data: { user_id: 'u-b1', role: 'mentor' } } }]);
      expect(again.body.results).toEqual([expect.objectContaining({ status: 202, replayed: true, body: expect.objectContaining({ event_id: 'kb-1', replayed: true }) })]);
      expect(await count(`SELECT count(*) AS n FROM events WHERE event_id = 'kb-1'`)).toBe(1);
    });

    it('each event continues the trace its item carries, and starts its runs as a single publish would', async () => {
      const traceIds = ['0af7651916cd43dd8448eb211c80319c', '1bf7651916cd43dd8448eb211c80319d'];
      const res = await batch(
        traceIds.map((traceId, i) => ({
          body: { id: `kb-t${i}`, type: 'test_quality.healing_required', data: { component: `batch-${i}`, severity: 'WARNING' } },
          traceparent: `00-${traceId}-b7ad6b7169203331-01`,
        })),
        RequesterId.Operator,
      );
      expect(res.body.results.map((r: { status: number }) => r.status)).toEqual([202, 202]);
      for (const [i, traceId] of traceIds.entries()) {
        const accepted = res.body.results[i].body;
        expect(accepted).toMatchObject({ event_id: `kb-t${i}`, trace_id: traceId, runs: [{ workflow: 'learn' }] });
        const start = await poll('the start at the executor', async () => startsFor(accepted.runs[0].run_id)[0]);
        expect(start.body).toMatchObject({ trace_id: traceId, inputs: { component: `batch-${i}` } });
      }
    });

    it('an item whose body PostgreSQL cannot store (a NUL) is that item\'s 422 naming the field; its neighbour is routed', async () => {
      const res = await batch([
        { body: { id: 'kb-nul', type: 'karma.role_changed', data: { user_id: 'u-\u0000', role: 'mentor' } } },
        { body: { id: 'kb-after-nul', type: 'karma.role_changed', data: { user_id: 'u-b9', role: 'mentor' } } },
      ]);
      expect(res.status).toBe(200);
      expect(res.body.results.map((r: { status: number }) => r.status)).toEqual([422, 202]);
      expect(res.body.results[0].body.errors).toEqual([expect.objectContaining({ field: 'data.user_id' })]);
      expect(await count(`SELECT count(*) AS n FROM events WHERE event_id IN ('kb-nul', 'kb-after-nul')`)).toBe(1);
    });

    it('refuses a malformed envelope whole (422), and anonymous callers (401)', async () => {
      expect((await batch([])).status).toBe(422);
      expect((await as(RequesterId.Karma, 'POST', CORE_EVENTS_BATCH_ROUTE, { events: 'x' })).status).toBe(422);
      expect((await batch([{ body: { type: 'karma.role_changed', data: { user_id: 'u', role: 'r' } } }], 'anonymous')).status).toBe(401);
    });
  });

  describe('reading the trail', () => {
    it('GET /events/:id shows the event and each decision; every event reached Bucket with what it started and why not', async () => {
      const view = await as(RequesterId.Operator, 'GET', '/events/tm-2');
      expect(view.status).toBe(200);
      expect(view.body).toMatchObject({ event_id: 'tm-2', type: 'test_quality.healing_required', publisher: 'operator', data: { component: 'checkout' } });
      expect(view.body.decisions).toEqual(
        expect.arrayContaining([expect.objectContaining({ workflow: 'escalate', key: 'checkout', outcome: 'skipped', reason: 'duplicate' })]),
      );
      expect((await as(RequesterId.Operator, 'GET', '/events/nope')).status).toBe(404);
      const audit = await poll('the audit entry at Bucket', async () =>
        bucket.requests.find((r) => (r.body as { event_data?: { routed_event_id?: string } }).event_data?.routed_event_id === 'tm-2'),
      );
      expect(audit.path).toBe('/core/write-event');
      expect(audit.body).toMatchObject({
        requester_id: 'bhiv_core',
        event_data: { event_type: 'event_routed', type: 'test_quality.healing_required', runs: [], skipped: expect.arrayContaining([expect.objectContaining({ reason: 'duplicate' })]) },
      });
    });

    it('GET /events pages newest first by type and since, without repeating or losing an event', async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await as(RequesterId.Operator, 'GET', `/events?type=kpi.threshold_breach&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.status).toBe(200);
        seen.push(...page.body.events.map((e: { event_id: string }) => e.event_id));
        cursor = page.body.next_cursor;
      } while (cursor);
      expect(seen).toHaveLength(5);
      expect(new Set(seen).size).toBe(5);
      const future = await as(RequesterId.Operator, 'GET', `/events?since=${new Date(Date.now() + 60_000).toISOString()}`);
      expect(future.body.events).toEqual([]);
      expect((await as(RequesterId.Operator, 'GET', '/events?cursor=garbage')).body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'cursor' }] });
      // Times JavaScript reads and PostgreSQL refuses: a 422 naming the parameter, never a 500.
      const feb30 = Buffer.from(JSON.stringify(['2026-02-30 10:00:00+00', 'x'])).toString('base64url');
      for (const query of ['since=-010000-01-01T00:00:00Z', 'since=2026-02-30', `cursor=${feb30}`]) {
        const res = await as(RequesterId.Operator, 'GET', `/events?${query}`);
        expect([res.status, res.body.errors?.[0]?.field]).toEqual([422, query.split('=')[0]]);
      }
      expect((await as(RequesterId.Operator, 'GET', '/events/stats?since=0000-01-01T00:00:00Z')).status).toBe(422);
    });

    it('a query parameter a read route does not define is a 400 naming it: a typo in a filter would have answered unfiltered', async () => {
      const cases: [string, string[], string][] = [
        ['/events?stauts=skipped', ['stauts'], 'GET /events takes type, since, limit, cursor'],
        ['/events?type=kpi.threshold_breach&typ=x&Since=2026-01-01', ['typ', 'Since'], 'GET /events takes type, since, limit, cursor'],
        // `pancha events stats --window 24h` sends since; GET /workflows/stats is the route that takes window.
        ['/events/stats?window=1h', ['window'], 'GET /events/stats takes since'],
        ['/events/tm-2?verbose=1', ['verbose'], 'GET /events/:event_id takes none'],
      ];
      for (const [route, fields, takes] of cases) {
        const res = await as(RequesterId.Operator, 'GET', route);
        expect({ route, status: res.status, code: res.body.code, fields: res.body.errors?.map((e: { field: string }) => e.field) }).toEqual({ route, status: 400, code: 'bad_request', fields });
        expect(res.body.message).toContain(takes);
      }
      const window = await as(RequesterId.Operator, 'GET', '/events/stats?window=1h');
      expect(window.body.errors[0].messages[0]).toMatch(/takes since .*not window/);
      // The documented ones still answer; a filter given twice is a 422 naming it, not a silent empty page.
      expect((await as(RequesterId.Operator, 'GET', `/events?type=kpi.threshold_breach&since=2000-01-01T00:00:00Z&limit=1`)).body.events).toHaveLength(1);
      expect((await as(RequesterId.Operator, 'GET', `/events/stats?since=2000-01-01T00:00:00Z`)).status).toBe(200);
      for (const query of ['type=kpi.threshold_breach&type=kpi.metric_updated', 'limit=1&limit=1', 'since=2000-01-01T00:00:00Z&since=2000-01-01T00:00:00Z']) {
        const res = await as(RequesterId.Operator, 'GET', `/events?${query}`);
        expect([query, res.status, res.body.errors?.[0]?.field, res.body.errors?.[0]?.messages?.[0]]).toEqual([query, 422, query.split('=')[0], 'is given more than once']);
      }
      const twice = await as(RequesterId.Operator, 'GET', '/events/stats?since=2000-01-01T00:00:00Z&since=2000-01-01T00:00:00Z');
      expect([twice.status, twice.body.errors?.[0]?.field]).toEqual([422, 'since']);
    });

    it('GET /events/stats counts received, matched, runs and skips by reason, per type and trigger, and the noisiest keys', async () => {
      const stats = await as(RequesterId.Operator, 'GET', '/events/stats');
      expect(stats.status).toBe(200);
      const events = await count(`SELECT count(*) AS n FROM events`);
      expect(stats.body.received).toBe(events);
      expect(stats.body.by_type['kpi.threshold_breach']).toMatchObject({ received: 5, runs_started: 2, skipped: { below_threshold: 3 } });
      expect(stats.body.by_trigger['escalate/critical']).toMatchObject({ runs_started: 2, skipped: { duplicate: 1 } });
      expect(stats.body.skipped.workflow_disabled).toBe(1);
      expect(stats.body.noisiest_keys[0]).toEqual(expect.objectContaining({ events: expect.any(Number) }));
    });
  });

  describe('chains of runs started by one another\'s ends', () => {
    const runEnd = (type: 'workflow.completed' | 'workflow.failed', runId: string, workflow: string) =>
      publish({ id: `${runId}:${type}`, type, data: { run_id: runId, root_run_id: runId, workflow, version: '1.0.0' } }, RequesterId.WorkflowExecutor);

    it('a workflow that alerts on any failure is not started by its own run\'s failure (self_triggered), only by another workflow\'s', async () => {
      const first = await runEnd('workflow.failed', randomUUID(), 'payments');
      expect(first.body.runs).toEqual([expect.objectContaining({ workflow: 'alert-on-failure' })]);
      const own = await runEnd('workflow.failed', first.body.runs[0].run_id, 'alert-on-failure');
      expect(own.status).toBe(202);
      expect(own.body.runs).toEqual([]);
      expect(own.body.skipped).toEqual([expect.objectContaining({ workflow: 'alert-on-failure', reason: 'self_triggered' })]);
    });

    it('a run end whose data.user_id is only whitespace starts a run for its subject (Karma refuses a blank user)', async () => {
      const runId = randomUUID();
      const res = await publish({ id: `${runId}:blank`, type: 'workflow.failed', subject: runId, data: { run_id: runId, workflow: 'payments', version: '1.0.0', user_id: '   ' } }, RequesterId.WorkflowExecutor);
      expect(await dataSource.query(`SELECT user_id FROM workflow_run_requests WHERE run_id = $1`, [res.body.runs[0].run_id])).toEqual([{ user_id: runId }]);
    });

    it('two workflows that start each other stop after EVENTS_MAX_CHAIN_DEPTH runs (chain_too_deep); each event records its depth', async () => {
      let end = await runEnd('workflow.completed', randomUUID(), 'pong');
      const started: string[] = [];
      for (let hop = 0; end.body.runs.length > 0 && hop < 10; hop++) {
        const run = end.body.runs[0];
        started.push(run.workflow);
        end = await runEnd('workflow.completed', run.run_id, run.workflow);
      }
      expect(started).toEqual(['ping', 'pong', 'ping']);
      expect(end.body.skipped).toEqual(
        expect.arrayContaining([expect.objectContaining({ workflow: 'pong', reason: 'chain_too_deep', detail: expect.stringContaining('EVENTS_MAX_CHAIN_DEPTH 3') })]),
      );
      const depths = await dataSource.query(`SELECT chain_depth FROM events WHERE type = 'workflow.completed' ORDER BY received_at`);
      expect(depths.map((r: { chain_depth: number }) => r.chain_depth)).toEqual([0, 1, 2, 3]);
      // A run started some other way begins a chain of its own.
      expect((await runEnd('workflow.completed', randomUUID(), 'ping')).body.runs).toEqual([expect.objectContaining({ workflow: 'pong' })]);
    });
  });

  describe('whose events a caller sees, and whose ids', () => {
    const narrowed = (method: string, route: string) => core.keys.mint(RequesterId.Operator, 'core', { products: ['p1'] }).then((token) => httpJson(method, `${core.url}${route}`, undefined, token));

    beforeAll(async () => {
      for (const [id, data] of [
        ['scope-p2', { user_id: 'alice', product: 'p2', ssn: '123-45-6789' }],
        ['scope-p1', { user_id: 'bob', product: 'p1' }],
        ['scope-none', { user_id: 'carol' }],
      ] as const) {
        expect((await publish({ id, type: 'scope.ping', data })).status).toBe(202);
      }
    });

    it('a token narrowed to products reads only their events and events without a product: another product\'s is a 404, and absent from lists and counts', async () => {
      expect((await narrowed('GET', '/events/scope-p2')).status).toBe(404);
      expect(await narrowed('GET', '/events/scope-p2').then((res) => JSON.stringify(res.body))).not.toContain('123-45-6789');
      expect((await narrowed('GET', '/events/scope-p1')).body).toMatchObject({ event_id: 'scope-p1', data: { product: 'p1' } });
      expect((await narrowed('GET', '/events/scope-none')).status).toBe(200);
      const listed = await narrowed('GET', '/events?type=scope.ping');
      expect(listed.body.events.map((e: { event_id: string }) => e.event_id).sort()).toEqual(['scope-none', 'scope-p1']);
      expect((await narrowed('GET', '/events/stats')).body.by_type['scope.ping']).toMatchObject({ received: 2 });
      // A token that sees every product sees all three.
      expect((await as(RequesterId.Operator, 'GET', '/events/scope-p2')).body).toMatchObject({ data: { ssn: '123-45-6789' } });
      expect((await as(RequesterId.Operator, 'GET', '/events/stats')).body.by_type['scope.ping']).toMatchObject({ received: 3 });
    });

    it('an id another publisher sent first is a 409 that tells nothing of that event; its row stays the first publisher\'s and the publisher\'s own retry is a replay', async () => {
      const taken = await publish({ id: 'scope-p2', type: 'scope.ping', data: { user_id: 'mallory' } }, RequesterId.Prana);
      expect(taken.status).toBe(409);
      expect(taken.body).toMatchObject({ code: 'event_id_conflict' });
      const [{ trace_id: theirs }] = await dataSource.query(`SELECT trace_id FROM events WHERE event_id = 'scope-p2'`);
      expect(JSON.stringify(taken.body)).not.toContain(theirs);
      expect(taken.body).not.toHaveProperty('runs');
      // The array form is one transaction: its other event is not stored either.
      const array = await publish([{ id: 'scope-fresh-1', type: 'scope.ping', data: {} }, { id: 'scope-p2', type: 'scope.ping', data: {} }], RequesterId.Prana);
      expect(array.status).toBe(409);
      expect(await count(`SELECT count(*) AS n FROM events WHERE event_id = 'scope-fresh-1'`)).toBe(0);
      // The pillars' batch answers per event: the reused id fails alone, its neighbour is routed.
      const batch = await as(RequesterId.Karma, 'POST', CORE_EVENTS_BATCH_ROUTE, {
        events: [
          { body: { id: 'scope-fresh-2', type: 'karma.role_changed', data: { user_id: 'u-s2', role: 'mentor' } } },
          { body: { id: 'scope-p2', type: 'karma.role_changed', data: { user_id: 'u-s3', role: 'mentor' } } },
        ],
      });
      expect(batch.body.results.map((r: { status: number }) => r.status)).toEqual([202, 409]);
      expect(await dataSource.query(`SELECT publisher, type FROM events WHERE event_id IN ('scope-p2', 'scope-fresh-2') ORDER BY event_id`)).toEqual([
        { publisher: 'karma', type: 'karma.role_changed' },
        { publisher: 'operator', type: 'scope.ping' },
      ]);
      const retry = await publish({ id: 'scope-p2', type: 'scope.ping', data: { user_id: 'alice', product: 'p2', ssn: '123-45-6789' } });
      expect(retry.body).toMatchObject({ event_id: 'scope-p2', replayed: true });
    });

    it('a request reusing another publisher\'s id fails alone inside the group commit: the requests beside it commit in the same transaction', async () => {
      const router = core.app.get(EventRouterService);
      const isolated = jest.spyOn((router as unknown as { logger: { warn: (...args: unknown[]) => void } }).logger, 'warn');
      const held = await holdTable(dataSource, 'events');
      let replies: Awaited<ReturnType<typeof publish>>[];
      try {
        const first = publish({ id: 'scope-g0', type: 'scope.ping', data: {} });
        await held.waiting('INSERT INTO events');
        const reusing = publish([{ id: 'scope-g1', type: 'scope.ping', data: {} }, { id: 'scope-p2', type: 'scope.ping', data: {} }], RequesterId.Prana);
        const beside = publish({ id: 'scope-g2', type: 'scope.ping', data: {} }, RequesterId.Prana);
        await poll('both requests queued for the next commit', async () => router.queued === 2 || undefined);
        await held.release();
        replies = await Promise.all([first, reusing, beside]);
      } catch (error) {
        await held.release();
        throw error;
      }
      expect(replies.map((r) => r.status)).toEqual([202, 409, 202]);
      expect(await dataSource.query(`SELECT event_id FROM events WHERE event_id IN ('scope-g0', 'scope-g1', 'scope-g2') ORDER BY event_id`)).toEqual([
        { event_id: 'scope-g0' },
        { event_id: 'scope-g2' },
      ]);
      expect(isolated).not.toHaveBeenCalled();
      isolated.mockRestore();
    });

    it('a cursor whose id PostgreSQL cannot hold as text (a NUL) is a 422 naming the cursor, not a 500', async () => {
      const nul = Buffer.from(JSON.stringify(['2026-01-01 00:00:00+00', 'a\u0000'])).toString('base64url');
      const res = await as(RequesterId.Operator, 'GET', `/events?cursor=${nul}`);
      expect([res.status, res.body.errors?.[0]?.field]).toEqual([422, 'cursor']);
    });
  });

  it('concurrent events share one commit, each answered after it and each in its own trace; a repeated id in the group is a replay', async () => {
    // Hold the table: the first event's transaction waits on the lock, and the events after it queue for the next commit.
    const held = await holdTable(dataSource, 'events');
    const router = core.app.get(EventRouterService);
    let answered = 0;
    const send = (id: string) =>
      publish({ id, type: 'test_quality.healing_required', data: { component: `c-${id}`, severity: 'CRITICAL' } }).then((r) => (answered++, r));
    const first = send('gc-0');
    await held.waiting('INSERT INTO events');
    const rest = ['gc-1', 'gc-2', 'gc-1', 'gc-3'].map(send);
    await poll('four events queued for the next commit', async () => router.queued === 4 || undefined);
    expect(answered).toBe(0);
    await held.release();
    const replies = await Promise.all([first, ...rest]);
    expect(replies.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
    // The repeat of gc-1 in the same group started nothing and answers the first one's decision. The two requests
    // travel on separate connections, so either may reach the router first: exactly one of them is the replay.
    const [original, repeat] = [replies[1], replies[3]].sort((a, b) => Number(a.body.replayed === true) - Number(b.body.replayed === true));
    expect(original.body.replayed).toBeUndefined();
    expect(repeat.body).toMatchObject({ event_id: 'gc-1', replayed: true, runs: [{ run_id: original.body.runs[0].run_id }] });
    const ids = ['gc-0', 'gc-1', 'gc-2', 'gc-3'];
    const rows = (await dataSource.query(`SELECT event_id, trace_id, xmin::text AS tx FROM events WHERE event_id = ANY($1)`, [ids])) as { event_id: string; trace_id: string; tx: string }[];
    const txOf = new Map(rows.map((r) => [r.event_id, r.tx]));
    expect(new Set(ids.slice(1).map((id) => txOf.get(id))).size).toBe(1);
    expect(txOf.get('gc-0')).not.toBe(txOf.get('gc-1'));
    for (const id of ids) expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE source = $1`, [`event:${id}`])).toBe(1);
    // Each event's run start and audit entry continue its own trace, though three committed in one transaction.
    for (const row of rows) {
      const runId = replies.find((r) => r.body.event_id === row.event_id)!.body.runs[0].run_id as string;
      const messages = (await dataSource.query(`SELECT message_key, headers FROM outbox WHERE message_key = $1 OR payload->'event_data'->>'routed_event_id' = $2`, [
        runId,
        row.event_id,
      ])) as { message_key: string; headers: { traceparent?: string } }[];
      expect(messages).toHaveLength(2);
      for (const m of messages) expect(m.headers.traceparent).toMatch(new RegExp(`^00-${row.trace_id}-`));
    }
  });

  describe('POST /events: an array is one transaction', () => {
    const healing = (id: string) => ({ id, type: 'test_quality.healing_required', data: { component: id, severity: 'WARNING' } });

    it('answers 202 with one answer per event, in order, each routed in its own span and trace; a repeated id in the array is a replay', async () => {
      const traceIds = ['2af7651916cd43dd8448eb211c80319c', '3bf7651916cd43dd8448eb211c80319d'];
      tracing.reset();
      const res = await publish([
        { ...healing('arr-1'), traceparent: `00-${traceIds[0]}-b7ad6b7169203331-01` },
        { ...healing('arr-2'), traceparent: `00-${traceIds[1]}-b7ad6b7169203331-01` },
        healing('arr-1'),
      ]);
      expect(res.status).toBe(202);
      const [first, second, repeat] = res.body.events;
      expect(res.body.events.map((e: { event_id: string }) => e.event_id)).toEqual(['arr-1', 'arr-2', 'arr-1']);
      expect([first, second]).toMatchObject([
        { trace_id: traceIds[0], runs: [{ workflow: 'learn' }] },
        { trace_id: traceIds[1], runs: [{ workflow: 'learn' }] },
      ]);
      expect(first.replayed).toBeUndefined();
      expect(repeat).toMatchObject({ replayed: true, trace_id: traceIds[0], runs: [{ run_id: first.runs[0].run_id }] });
      expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE source IN ('event:arr-1', 'event:arr-2')`)).toBe(2);
      const spans = tracing.spans().filter((s) => s.name === 'event.route test_quality.healing_required');
      expect(spans.map((s) => s.attributes['pancha.event.id']).sort()).toEqual(['arr-1', 'arr-1', 'arr-2']);
      // Each event's run start is sent from its own span, in its own trace.
      for (const [i, traceId] of traceIds.entries()) {
        const span = spans.find((s) => s.attributes['pancha.event.id'] === res.body.events[i].event_id && s.spanContext().traceId === traceId);
        expect(span).toBeDefined();
        const [message] = (await dataSource.query(`SELECT headers FROM outbox WHERE message_key = $1`, [res.body.events[i].runs[0].run_id])) as { headers: { traceparent: string } }[];
        expect(message.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-${span?.spanContext().spanId}-`));
      }
    });

    it('a transaction that fails on one event stores none of the array\'s events and starts nothing (500); a request that shared its group commits', async () => {
      // PostgreSQL refuses one event's decisions, the last write of the group's transaction (after its run starts and messages).
      await dataSource.query(`CREATE FUNCTION test_refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$`);
      await dataSource.query(`CREATE TRIGGER test_refuse_event BEFORE UPDATE ON events FOR EACH ROW WHEN (NEW.event_id = 'tx-bad') EXECUTE FUNCTION test_refuse_event()`);
      try {
        // Hold the table so that a concurrent request and the array queue for the same commit.
        const held = await holdTable(dataSource, 'events');
        let replies: Awaited<ReturnType<typeof publish>>[];
        try {
          const router = core.app.get(EventRouterService);
          const first = publish(healing('tx-0'));
          await held.waiting('INSERT INTO events');
          const other = publish(healing('tx-other'));
          await poll('the other request queued for the next commit', async () => router.queued === 1 || undefined);
          const array = publish([healing('tx-1'), healing('tx-bad'), healing('tx-2')]);
          await poll('the array queued for the next commit', async () => router.queued > 1 || undefined);
          await held.release();
          replies = await Promise.all([first, array, other]);
        } catch (error) {
          await held.release();
          throw error;
        }
        const [a, b, c] = replies;
        expect([a.status, b.status, c.status]).toEqual([202, 500, 202]);
        expect(b.body).toMatchObject({ code: 'internal_error' });
        const ids = ['tx-1', 'tx-bad', 'tx-2'];
        expect(await count(`SELECT count(*) AS n FROM events WHERE event_id = ANY($1)`, [ids])).toBe(0);
        expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE source = ANY($1)`, [ids.map((id) => `event:${id}`)])).toBe(0);
        expect(
          await count(`SELECT count(*) AS n FROM outbox WHERE payload->'inputs'->>'component' = ANY($1) OR payload->'event_data'->>'routed_event_id' = ANY($1)`, [ids]),
        ).toBe(0);
        expect(await count(`SELECT count(*) AS n FROM events WHERE event_id IN ('tx-0', 'tx-other')`)).toBe(2);
        expect(await count(`SELECT count(*) AS n FROM workflow_run_requests WHERE source = 'event:tx-other'`)).toBe(1);
      } finally {
        await dataSource.query(`DROP TRIGGER IF EXISTS test_refuse_event ON events`);
        await dataSource.query(`DROP FUNCTION IF EXISTS test_refuse_event()`);
      }
      // Nothing of it was stored: the same array is routed whole once PostgreSQL takes it.
      const again = await publish([healing('tx-1'), healing('tx-bad'), healing('tx-2')]);
      expect(again.status).toBe(202);
      expect(again.body.events.map((e: { replayed?: boolean; runs: unknown[] }) => [e.replayed, e.runs.length])).toEqual([
        [undefined, 1],
        [undefined, 1],
        [undefined, 1],
      ]);
    });
  });

  describe('deferred starts', () => {
    const catalog = () => core.app.get(WorkflowCatalogService);
    const decisionOf = async (eventId: string) =>
      (await as(RequesterId.Operator, 'GET', `/events/${eventId}`)).body.decisions.find((d: { workflow: string }) => d.workflow === 'pinned');
    const made = (eventId: string) => poll(`the deferred start of ${eventId} made`, async () => {
      const decision = await decisionOf(eventId);
      return decision.outcome === 'deferred' ? undefined : decision;
    });
    const makeDue = (eventId: string) => dataSource.query(`UPDATE event_deferred_starts SET due_at = now() WHERE event_id = $1`, [eventId]);
    const setPinned = async (next: typeof pinned) => {
      pinned = next;
      await catalog().sync();
      expect(catalog().get('pinned')?.default_version).toBe(next.default_version);
    };

    it('runs the version whose trigger matched the event, though another became the default meanwhile', async () => {
      const res = await publish({ id: 'pin-1', type: 'pin.changed', data: { item: 'a', n: 1 } });
      expect(res.body.deferred).toEqual([expect.objectContaining({ workflow: 'pinned', reason: 'debounced' })]);
      await setPinned({ ...pinned, default_version: '2.0.0', versions: [version(PINNED_1), version(PINNED_2)] });
      await makeDue('pin-1');
      const decision = await made('pin-1');
      expect(decision).toMatchObject({ outcome: 'run', version: '1.0.0' });
      const [request] = await dataSource.query(`SELECT version FROM workflow_run_requests WHERE run_id = $1`, [decision.run_id]);
      expect(request.version).toBe('1.0.0');
      const start = await poll('the start at the executor', async () => startsFor(decision.run_id)[0]);
      expect(start.body).toMatchObject({ workflow: 'pinned', version: '1.0.0', inputs: { n: 1 } });
    });

    it('a version retired before its start was due is a skip that names it', async () => {
      const res = await publish({ id: 'pin-2', type: 'pin.changed', data: { item: 'b', n: 2 } });
      expect(res.body.deferred).toEqual([expect.objectContaining({ workflow: 'pinned' })]);
      expect(await decisionOf('pin-2')).toMatchObject({ outcome: 'deferred', version: '2.0.0' });
      await setPinned({ ...pinned, default_version: '1.0.0', versions: [version(PINNED_1), version(PINNED_2, true)] });
      await makeDue('pin-2');
      expect(await made('pin-2')).toMatchObject({ outcome: 'skipped', reason: 'workflow_disabled', detail: expect.stringContaining('pinned@2.0.0 is retired') });
    });

    it('a start stored before starts kept their version runs the default version when due', async () => {
      await publish({ id: 'pin-3', type: 'pin.changed', data: { item: 'c', n: 3 } });
      expect(await decisionOf('pin-3')).toMatchObject({ outcome: 'deferred', version: '1.0.0' });
      await dataSource.query(`UPDATE event_deferred_starts SET version = NULL WHERE event_id = 'pin-3'`);
      await setPinned({ ...pinned, default_version: '3.0.0', versions: [version(PINNED_1), version(PINNED_2, true), version(PINNED_3)] });
      await makeDue('pin-3');
      expect(await made('pin-3')).toMatchObject({ outcome: 'run', version: '3.0.0' });
    });
  });
});
