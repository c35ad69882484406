/**
 * The whole stack, as users run it: four services as separate compiled processes on a real PostgreSQL,
 * one request to Core, then everything the issue promises: the executor's result, the Bucket row, the
 * Karma profile, service identity, JSON logs with trace ids, and one trace across four services as
 * captured by a local OTLP/JSON receiver.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { RequesterId, ServiceName } from '@pancha/contracts';
import { eventually, freePort, httpJson, poll, queryRows, startOtlpReceiver, testKeysAt, testServerUrl, type TestKeys } from '@pancha/testing';
import { startStack, RunningStack } from '@pancha/stack';

type Receiver = Awaited<ReturnType<typeof startOtlpReceiver>>;

// Per test: the root config's 30 s (a project's own testTimeout is ignored when every project runs) is no more than
// one of the polls below may take on a busy machine, as in the other stack e2e suites.
jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '../../..');
const SERVICES: ServiceName[] = ['karma', 'bucket', 'core', 'workflow-executor'];

describe('the Pancha stack, end to end', () => {
  let stack: RunningStack;
  let receiver: Receiver;
  let logDir: string;
  /** Tokens from the stack's own keys, a new one per request. */
  let keys: TestKeys;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    logDir = mkdtempSync(path.join(tmpdir(), 'pancha-e2e-logs-'));
    const ports = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await freePort()] as const)));
    stack = await startStack({
      rootDir: ROOT,
      dataDir: mkdtempSync(path.join(tmpdir(), 'pancha-e2e-data-')),
      databaseUrl: testServerUrl(),
      databasePrefix: `e2e_${randomBytes(3).toString('hex')}_`,
      ports,
      logDir,
      dropDatabasesOnStop: true,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '200',
        LOG_LEVEL: 'info',
        // This run asserts the HTTP hops; stack-nats.e2e-spec.ts covers JetStream (a NATS_URL of the test runner must not leak in).
        NATS_URL: '',
      },
      // The single-action path alone: no workflow manifests, so nothing else (workflow.registered) is on the chain.
      serviceEnv: { 'workflow-executor': { WORKFLOWS_DIR: mkdtempSync(path.join(tmpdir(), 'no-workflows-')) } },
    });
    keys = testKeysAt(stack.keysDir);
  }, 180000);

  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  }, 60000);

  let accepted: { task_id: string; trace_id: string; decision: string; status: string };

  // That Core does not wait for the executor is shown with an executor that never answers, in
  // apps/core/src/tasks/tasks.integration-spec.ts; a stopwatch here would only measure how busy the machine is.
  it('POST /handle_task answers 202 with task_id, trace_id and the decision, before the dispatch', async () => {
    const res = await httpJson('POST', `${stack.urls.core}/handle_task`, {
      input: 'create a task to review the auth module',
      user_id: 'u1',
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ decision: 'workflow', status: 'dispatching' });
    expect(res.body.task_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.trace_id).toMatch(/^[0-9a-f]{32}$/);
    accepted = res.body;
  });

  it('the executor runs the task adapter and Core shows the status and the Bucket timeline', async () => {
    const task = await poll('the task to be dispatched', async () => {
      const res = await httpJson('GET', `${stack.urls.core}/tasks/${accepted.task_id}`);
      const types = (res.body.timeline ?? []).map((e: { event_type: string }) => e.event_type);
      return res.status === 200 && res.body.status === 'dispatched_success' && types.includes('workflow_execution')
        ? res.body
        : undefined;
    });
    expect(task.trace_id).toBe(accepted.trace_id);
    expect(task.execution_result).toMatchObject({ success: true, task_status: 'CREATED' });
    const timelineTypes = task.timeline.map((e: { event_type: string }) => e.event_type);
    expect(timelineTypes).toEqual(expect.arrayContaining(['task_received', 'workflow_execution']));

    const tasks = await httpJson('GET', `${stack.urls['workflow-executor']}/api/tasks?user_id=u1`, undefined, await keys.mint(RequesterId.Core, 'workflow-executor'));
    expect(tasks.status).toBe(200);
    const rows = Array.isArray(tasks.body) ? tasks.body : tasks.body.tasks;
    expect(rows).toEqual(
      expect.arrayContaining([expect.objectContaining({ title: 'review the auth module', trace_id: accepted.trace_id })]),
    );
  });

  it('Bucket holds the workflow_execution event in PostgreSQL, hash-chained', async () => {
    // Core writes task_dispatched after the executor's reply: wait for all three events of the trace.
    const rows = await poll('the three Bucket events of the trace', async () => {
      const found = await queryRows<{ requester_id: string; event_type: string; event_data: Record<string, unknown> }>(
        stack.databaseUrls.bucket,
        `SELECT requester_id, event_type, event_data FROM bucket_entries WHERE trace_id = $1 ORDER BY seq`,
        [accepted.trace_id],
      );
      return found.length >= 3 ? found : undefined;
    });
    expect(rows.map((r) => r.event_type).sort()).toEqual(['task_dispatched', 'task_received', 'workflow_execution']);
    const wf = rows.find((r) => r.event_type === 'workflow_execution');
    expect(wf).toBeDefined();
    expect(wf?.requester_id).toBe('workflow_executor');
    expect(wf?.event_data).toMatchObject({
      event_type: 'workflow_execution',
      trace_id: accepted.trace_id,
      action_type: 'task',
      status: 'success',
    });
    expect(wf?.event_data.execution_result).toMatchObject({ success: true });
    const verify = await httpJson('GET', `${stack.urls.bucket}/audit/verify`, undefined, await keys.mint(RequesterId.Core, 'bucket'));
    expect(verify.status).toBe(200);
    // This trace is all the stack has done so far: the verifier walked exactly its three entries.
    expect(verify.body).toMatchObject({ ok: true, size: 3 });
  });

  it('Karma recorded the workflow_success life_event in its ledger and the profile reflects it', async () => {
    await poll('the workflow_success ledger entry', async () => {
      const [row] = await queryRows<{ n: number }>(
        stack.databaseUrls.karma,
        `SELECT count(*)::int AS n FROM karma_ledger WHERE user_id = 'u1' AND action = 'workflow_success'`,
      );
      return row.n >= 1 ? row.n : undefined;
    });
    const res = await httpJson('GET', `${stack.urls.karma}/api/v1/karma/u1`, undefined, await keys.mint(RequesterId.Core, 'karma'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ user_id: 'u1', role: 'learner' });
    // workflow_success is +2 DharmaPoints (apps/karma/src/config/karma.config.yaml); merit = Dharma × 1.
    expect(res.body.merit).toBeCloseTo(2, 6);
    expect(res.body.net_karma).toBeCloseTo(2, 6);
  });

  it('one trace holds spans from Core, Executor, Bucket and Karma, parented across every HTTP hop', async () => {
    // Spans arrive in batches, children often before their parents: wait until the trace is complete,
    // i.e. all four services are there and every parent a span names has arrived too.
    let latest: ReturnType<Receiver['spans']> = [];
    const spans = await poll('a complete trace from all four services', async () => {
      latest = receiver.spans().filter((s) => s.traceId === accepted.trace_id);
      const services = new Set(latest.map((s) => s.serviceName));
      const ids = new Set(latest.map((s) => s.spanId));
      const complete =
        SERVICES.every((s) => services.has(s)) &&
        latest.some((s) => s.serviceName === 'karma' && s.kind === SpanKind.SERVER) &&
        latest.every((s) => !s.parentSpanId || ids.has(s.parentSpanId));
      return complete ? latest : undefined;
    }).catch((error: Error) => {
      const dangling = latest.filter((s) => s.parentSpanId && !latest.some((p) => p.spanId === s.parentSpanId));
      throw new Error(`${error.message}; dangling parents: ${dangling.map((s) => `${s.serviceName}:${s.name}`).join(', ')}`);
    });
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const roots = spans.filter((s) => !s.parentSpanId);
    expect(roots).toHaveLength(1);
    expect(roots[0].serviceName).toBe('core');
    for (const s of spans) {
      if (s.parentSpanId) expect(byId.has(s.parentSpanId)).toBe(true);
    }
    // Every server span of a downstream service hangs under a client span of its caller.
    const SERVER = SpanKind.SERVER;
    const serverSpanOf = (svc: string) => spans.filter((s) => s.serviceName === svc && s.kind === SERVER);
    const callerOf = (s: { parentSpanId?: string }) => byId.get(s.parentSpanId ?? '')?.serviceName;
    expect(serverSpanOf('workflow-executor').map(callerOf)).toContain('core');
    expect(serverSpanOf('bucket').map(callerOf)).toEqual(expect.arrayContaining(['workflow-executor', 'core']));
    expect(serverSpanOf('karma').map(callerOf)).toContain('workflow-executor');
  });

  it('every service logs JSON lines that carry trace_id and span_id', async () => {
    // Another process writes these files: read until its lines are there (pino may still be flushing).
    await eventually(() => {
      for (const svc of SERVICES) {
        const lines = readFileSync(path.join(logDir, `${svc}.log`), 'utf8')
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l));
        const traced = lines.filter((l) => l.trace_id === accepted.trace_id);
        expect({ svc, traced: traced.length > 0 }).toEqual({ svc, traced: true });
        expect(traced[0].span_id).toMatch(/^[0-9a-f]{16}$/);
      }
    });
  });

  it('the outbox accounting of Core and the Executor balances: emitted = delivered + pending + dead, nothing dead', async () => {
    // One workflow task so far. Core: task_received and task_dispatched for Bucket, the execute call for the
    // executor. The executor: workflow_execution for Bucket, the life event for Karma.
    const expected = { core: 3, 'workflow-executor': 2 };
    for (const svc of ['core', 'workflow-executor'] as const) {
      const stats = await poll(`${svc} outbox drained`, async () => {
        // A reader each service's policy names: PRANA on Core, Core on the executor.
        const reader = svc === 'core' ? RequesterId.Prana : RequesterId.Core;
        const res = await httpJson('GET', `${stack.urls[svc]}/outbox/stats`, undefined, await keys.mint(reader, svc));
        return res.status === 200 && res.body.pending === 0 ? res.body : undefined;
      });
      expect({ svc, emitted: stats.emitted, delivered: stats.delivered, dead: stats.dead }).toEqual({
        svc,
        emitted: expected[svc],
        delivered: expected[svc],
        dead: 0,
      });
      expect(stats.emitted).toBe(stats.delivered + stats.pending + stats.dead);
    }
  });

  describe('service identity', () => {
    it('the executor can never read Bucket (403), and no or forged credentials are 401', async () => {
      const asExecutor = await keys.mint(RequesterId.WorkflowExecutor, 'bucket');
      expect((await httpJson('GET', `${stack.urls.bucket}/core/events?trace_id=${accepted.trace_id}`, undefined, asExecutor)).status).toBe(403);
      expect((await httpJson('GET', `${stack.urls.bucket}/core/events`)).status).toBe(401);
      const forged = asExecutor.replace(/\.[^.]+$/, '.' + Buffer.alloc(64, 7).toString('base64url'));
      expect((await httpJson('GET', `${stack.urls.bucket}/core/events`, undefined, forged)).status).toBe(401);
    });

    it('a body requester_id that differs from the token subject is 403 and stores nothing', async () => {
      const asCore = await keys.mint(RequesterId.Core, 'bucket');
      const eventId = '5b0f6d52-6a3c-4b47-9d2e-0c1f3e7a9b10';
      const res = await httpJson(
        'POST',
        `${stack.urls.bucket}/core/write-event`,
        { requester_id: 'workflow_executor', event_data: { event_id: eventId, event_type: 'forged' } },
        asCore,
      );
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('requester_mismatch');
      const [row] = await queryRows<{ n: number }>(
        stack.databaseUrls.bucket,
        'SELECT count(*)::int AS n FROM bucket_entries WHERE event_id = $1',
        [eventId],
      );
      expect(row.n).toBe(0);
    });
  });

  describe('graceful degradation: a service that is down is caught up with when it returns', () => {
    it('with the executor, Bucket and Karma down, Core still accepts; everything arrives after they return', async () => {
      await stack.stopService('workflow-executor');
      await stack.stopService('bucket');
      await stack.stopService('karma');
      const res = await httpJson('POST', `${stack.urls.core}/handle_task`, {
        input: 'create a task to rotate the signing keys',
        user_id: 'u2',
        // A product-scoped task: the executor's workflow_execution event must be accepted by Bucket too.
        product: 'shop',
      });
      expect(res.status).toBe(202);
      // A product's task is shown only to a reader whose products name it (anonymous callers get 404): read as PRANA.
      const view = await httpJson('GET', `${stack.urls.core}/tasks/${res.body.task_id}`, undefined, await keys.mint(RequesterId.Prana, 'core'));
      expect(view.status).toBe(200);
      expect(view.body).toMatchObject({ status: 'dispatching', timeline: [], timeline_error: 'bucket_unavailable' });

      await stack.startService('karma');
      await stack.startService('bucket');
      await stack.startService('workflow-executor');
      const done = await poll(
        'the dispatch and both timeline events after the restart',
        async () => {
          const r = await httpJson('GET', `${stack.urls.core}/tasks/${res.body.task_id}`, undefined, await keys.mint(RequesterId.Prana, 'core'));
          const types = (r.body.timeline ?? []).map((e: { event_type: string }) => e.event_type);
          return r.body.status === 'dispatched_success' && types.includes('task_received') && types.includes('workflow_execution')
            ? r.body
            : undefined;
        },
        60000,
      );
      expect(done.execution_result).toMatchObject({ success: true, task_status: 'CREATED' });
      await poll('karma to catch up', async () => {
        const r = await httpJson('GET', `${stack.urls.karma}/api/v1/karma/u2`, undefined, await keys.mint(RequesterId.Core, 'karma'));
        return r.status === 200 && r.body.merit > 0 ? r.body : undefined;
      }, 60000);
    }, 120000);
  });

  it('bad input is a 422 naming each field and a body over 256 KiB is a 413, never a 5xx', async () => {
    const bad = await httpJson('POST', `${stack.urls.core}/handle_task`, { input: '', tags: 'x' });
    expect(bad.status).toBe(422);
    const fields = bad.body.errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['input', 'user_id', 'tags']));
    const big = await httpJson('POST', `${stack.urls.core}/handle_task`, { input: 'x'.repeat(300 * 1024), user_id: 'u1' });
    expect(big.status).toBe(413);
  });
});
