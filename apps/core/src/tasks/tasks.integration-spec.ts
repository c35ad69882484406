// Core as users see it: the real app on a real PostgreSQL, with stand-in Executor and Bucket servers.
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { installInMemoryTracing } from '@pancha/trace-context';
import type { INestApplication } from '@nestjs/common';
import { BUCKET_WRITE_EVENTS_ROUTES, type BucketEntry, Decision, EXECUTOR_EXECUTE_BATCH_ROUTE, RequesterId, TaskStatus } from '@pancha/contracts';
import { validateEnv } from '@pancha/service-kit';
import {
  bootService,
  createTestDatabase,
  createTestKeys,
  deferred,
  eventually,
  holdTable,
  poll,
  type RecordedRequest,
  StandInServer,
  type TestDatabase,
} from '@pancha/testing';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { AppModule } from '../app.module';
import { CoreConfig } from '../config/env.validation';
import { WorkflowDispatchHandler } from './dispatch/workflow-dispatch.handler';
import { TaskAcceptWriter } from './task-accept.writer';
import { TaskEntity } from './task.entity';

// What `register` does in a real process: a recording tracer plus the http and undici instrumentations, so the
// incoming request gets a server span (its trace id is the task's trace_id) and outgoing calls (the service
// clients use undici) carry traceparent. Under Jest, require hooks never see `http` load, so the http
// instrumentation's patch is applied directly; undici's listens on diagnostics channels and needs no hook.
// Both outlive the file otherwise (undici's diagnostics channels and Node's own http module are shared by every test
// file of a Jest worker), and would trace later files' requests with this file's tracer: undone after the file.
installInMemoryTracing();
const undiciInstrumentation = new UndiciInstrumentation();
undiciInstrumentation.enable();
const httpInstrumentation = new HttpInstrumentation();
type ModuleDefinition = { name: string; patch?: (m: unknown, v?: string) => unknown; unpatch?: (m: unknown, v?: string) => void };
const httpDefinitions = (httpInstrumentation as unknown as { _modules: ModuleDefinition[] })._modules.filter((d) => d.name === 'http');
for (const definition of httpDefinitions) definition.patch?.(require('node:http'), process.versions.node);
afterAll(() => {
  undiciInstrumentation.disable();
  for (const definition of httpDefinitions) definition.unpatch?.(require('node:http'), process.versions.node);
});

jest.setTimeout(60_000);


// ---- Core under test ------------------------------------------------------------------------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TRACE_ID = /^[0-9a-f]{32}$/;

const keys = createTestKeys('core');
const executor = new StandInServer(() => ({ status: 500, body: {} }));
executor.speaksBatch(EXECUTOR_EXECUTE_BATCH_ROUTE, '/api/workflow/execute');
// Core's relay batches the events it finds pending together (task_received and task_dispatched often are).
const bucket = new StandInServer(() => ({ status: 500, body: {} })).speaksBatch(BUCKET_WRITE_EVENTS_ROUTES.core, '/core/write-event');
let executorMode: (req: RecordedRequest) => Promise<{ status: number; body: unknown }> | { status: number; body: unknown };

/** The stand-in executor's answer for a real workflow request (SPEC §2 success body). */
function executed(req: RecordedRequest, status: 'success' | 'failed' = 'success') {
  const body = req.body as { trace_id: string };
  return {
    status: 200,
    body: {
      trace_id: body.trace_id,
      status,
      execution_result: status === 'success' ? { success: true, task_id: 'exec-task-1', task_status: 'CREATED' } : { success: false, error_code: 'missing_task_title' },
    },
  };
}

function bucketHandler(req: RecordedRequest): { status: number; body: unknown } {
  if (req.method === 'POST' && req.path === '/core/write-event') {
    const { event_data } = req.body as { event_data: { event_id: string } };
    return { status: 201, body: { success: true, event_id: event_data.event_id, seq: bucket.requests.length, hash: 'h', replayed: false } };
  }
  if (req.method === 'GET' && req.path === '/core/events') {
    const traceId = req.query.get('trace_id');
    const events = writtenEvents()
      .filter((e) => e.trace_id === traceId)
      .map((event_data, i): BucketEntry => ({
        seq: i + 1,
        event_id: event_data.event_id as string,
        requester_id: 'bhiv_core',
        channel: 'core',
        event_type: event_data.event_type as string,
        trace_id: traceId,
        product: null,
        user_id: (event_data.user_id as string) ?? null,
        event_data: event_data as BucketEntry['event_data'],
        content_hash: 'c',
        prev_hash: 'p',
        hash: 'h',
        created_at: new Date().toISOString(),
      }));
    // Someone else's PRANA packet on the same trace (a caller chooses the traceparent it sends): Core must not show it.
    const foreign: BucketEntry = {
      ...(events[0] ?? { seq: 0, event_id: '0', content_hash: 'c', prev_hash: 'p', hash: 'h', created_at: new Date().toISOString() }),
      seq: events.length + 1,
      event_id: '7d1f4c2e-0000-4000-8000-000000000001',
      requester_id: 'prana',
      channel: 'prana',
      event_type: 'prana_packet',
      trace_id: traceId,
      product: 'secret-product',
      user_id: 'victim',
      event_data: { event_id: '7d1f4c2e-0000-4000-8000-000000000001', event_type: 'prana_packet', state: 'DEEP_FOCUS' },
    };
    return { status: 200, body: { events: [...events, foreign], next_after_seq: null } };
  }
  return { status: 404, body: { code: 'not_found' } };
}

function writtenEvents(): Record<string, unknown>[] {
  return bucket.requests
    .filter((r) => r.method === 'POST' && r.path === '/core/write-event')
    .map((r) => (r.body as { event_data: Record<string, unknown> }).event_data);
}

function executeCalls(traceId?: string): RecordedRequest[] {
  return executor.requests.filter(
    (r) => r.path === '/api/workflow/execute' && (!traceId || (r.body as { trace_id: string }).trace_id === traceId),
  );
}

interface RunningCore {
  app: INestApplication;
  db: TestDatabase;
  dataSource: DataSource;
  close(): Promise<void>;
}

async function startCore(env: Record<string, string>): Promise<RunningCore> {
  const db = await createTestDatabase('core');
  // WORKFLOW_TIMEOUT stays at its default (2 s): a shorter one times out healthy calls on a busy machine and
  // turns "called once" into "called twice". The test that needs a timeout holds the executor until it fires.
  const config = validateEnv(CoreConfig, {
    DATABASE_URL: db.url,
    PANCHA_KEYS_DIR: keys.dir,
    LOG_LEVEL: 'silent',
    WORKFLOW_EXECUTOR_URL: executor.url,
    BUCKET_URL: bucket.url,
    // Fast relay for tests: poll often, retry quickly (the outbox reads these from Core's config).
    OUTBOX_POLL_INTERVAL_MS: '50',
    OUTBOX_BASE_DELAY_MS: '50',
    OUTBOX_MAX_DELAY_MS: '200',
    OUTBOX_MAX_ATTEMPTS: '30',
    ...env,
  });
  const { app } = await bootService(AppModule.forRoot(config));
  return {
    app,
    db,
    dataSource: app.get(DataSource),
    async close() {
      await app.close();
      await db.drop();
    },
  };
}

async function taskRow(core: RunningCore, taskId: string): Promise<Record<string, unknown> | undefined> {
  const rows = (await core.dataSource.query('SELECT * FROM tasks WHERE task_id = $1', [taskId])) as Record<string, unknown>[];
  return rows[0];
}

async function counts(core: RunningCore): Promise<{ tasks: number; outbox: number }> {
  const [row] = (await core.dataSource.query(
    'SELECT (SELECT count(*) FROM tasks)::int AS tasks, (SELECT count(*) FROM outbox)::int AS outbox',
  )) as { tasks: number; outbox: number }[];
  return row;
}

function expectServiceToken(headers: IncomingHttpHeaders, audience: string): void {
  const auth = headers.authorization ?? '';
  expect(auth).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  const token = auth.slice('Bearer '.length);
  expect(decodeProtectedHeader(token).alg).toBe('EdDSA');
  expect(decodeJwt(token)).toMatchObject({ iss: 'bhiv_core', sub: 'bhiv_core', aud: audience });
}

beforeAll(async () => {
  process.env.PANCHA_KEYS_DIR = keys.dir;
  executor.handler = (req) => executorMode(req);
  bucket.handler = bucketHandler;
  await executor.start();
  await bucket.start();
});

afterAll(async () => {
  await executor.stop();
  await bucket.stop();
  keys.remove();
});

beforeEach(() => {
  executorMode = (req) => executed(req);
});

describe('with workflow execution enabled', () => {
  let core: RunningCore;

  beforeAll(async () => {
    core = await startCore({});
  });

  afterAll(async () => {
    await core?.close();
  });

  describe('POST /handle_task', () => {
    it('answers 202 while the executor holds the call, then retries past its timeout and records the dispatch', async () => {
      // The executor answers nothing until the test opens the gate: Core's reply cannot have waited for it.
      const gate = deferred();
      executorMode = async (req) => {
        await gate.promise;
        return executed(req);
      };

      const res = await request(core.app.getHttpServer())
        .post('/handle_task')
        .send({ input: 'create a task to review the auth module', user_id: 'u-1', product: 'gurukul', tags: ['security'], agent: 'prana' });

      expect(res.status).toBe(202);
      expect(res.body).toEqual({ task_id: expect.stringMatching(UUID), trace_id: expect.stringMatching(TRACE_ID), decision: 'workflow', status: 'dispatching' });
      const { task_id, trace_id } = res.body as { task_id: string; trace_id: string };
      // Answered while every call to the executor was still open: none answered, none given up on yet.
      expect(executeCalls(trace_id).filter((c) => c.abandoned)).toEqual([]);

      // Core gives up on the held call after WORKFLOW_TIMEOUT; only then is the executor let go, and the retry succeeds.
      await eventually(() => expect(executeCalls(trace_id).some((c) => c.abandoned)).toBe(true), { what: 'Core to time out the held call' });
      gate.resolve();
      const row = await poll('status dispatched_success', async () => {
        const r = await taskRow(core, task_id);
        return r?.status === 'dispatched_success' ? r : undefined;
      });
      expect(executeCalls(trace_id).length).toBeGreaterThanOrEqual(2);
      expect(executeCalls(trace_id).at(-1)?.abandoned).toBe(false);
      expect(row).toMatchObject({
        trace_id,
        user_id: 'u-1',
        product: 'gurukul',
        agent: 'prana',
        tags: ['security'],
        decision: 'workflow',
        action_type: 'task',
        payload: { title: 'review the auth module', description: 'create a task to review the auth module' },
        decided_by: 'rule:task.create',
        execution_result: { success: true, task_id: 'exec-task-1', task_status: 'CREATED' },
      });

      const call = executeCalls(trace_id).at(-1) as RecordedRequest;
      expect(call.method).toBe('POST');
      expect(call.body).toEqual({
        trace_id,
        decision: 'workflow',
        data: {
          workflow_type: 'workflow',
          payload: {
            action_type: 'task',
            user_id: 'u-1',
            product: 'gurukul',
            trace_id,
            title: 'review the auth module',
            description: 'create a task to review the auth module',
          },
        },
      });
      expectServiceToken(call.headers, 'workflow-executor');
      expect(call.headers.traceparent).toMatch(new RegExp(`^00-${trace_id}-[0-9a-f]{16}-0[01]$`));
    });

    it('uses the W3C trace id of the request, and gives a second task on the same trace its own', async () => {
      const callerTrace = 'a'.repeat(32);
      const traceparent = `00-${callerTrace}-${'b'.repeat(16)}-01`;
      const first = await request(core.app.getHttpServer()).post('/handle_task').set('traceparent', traceparent).send({ input: 'hello', user_id: 'u-2' }).expect(202);
      expect(first.body.trace_id).toBe(callerTrace);
      const second = await request(core.app.getHttpServer()).post('/handle_task').set('traceparent', traceparent).send({ input: 'hello again', user_id: 'u-2' }).expect(202);
      expect(second.body.trace_id).toMatch(TRACE_ID);
      expect(second.body.trace_id).not.toBe(callerTrace);
    });

    it('gives a task with a token on a trace that already has one a trace of its own: the first try claimed the token, the second does not claim it again', async () => {
      const traceparent = `00-${'e'.repeat(32)}-${'b'.repeat(16)}-01`;
      await request(core.app.getHttpServer()).post('/handle_task').set('traceparent', traceparent).send({ input: 'hello', user_id: 'u-2' }).expect(202);
      const token = await keys.mint(RequesterId.Prana, 'core');
      const second = await request(core.app.getHttpServer())
        .post('/handle_task')
        .set('traceparent', traceparent)
        .set('authorization', `Bearer ${token}`)
        .send({ input: 'hello with a token', user_id: 'u-2' });
      expect(second.status).toBe(202);
      expect(second.body.trace_id).not.toBe('e'.repeat(32));
      const claims = (await core.dataSource.query('SELECT issuer FROM used_tokens WHERE jti = $1', [decodeJwt(token).jti])) as { issuer: string }[];
      expect(claims).toEqual([{ issuer: 'prana' }]);
    });

    it('writes task_received and task_dispatched to Bucket with Core’s token, and shows them as the timeline', async () => {
      const res = await request(core.app.getHttpServer())
        .post('/handle_task')
        .send({ input: 'email alice@example.com about the launch: it moves to Friday', user_id: 'u-3' })
        .expect(202);
      const { task_id, trace_id } = res.body as { task_id: string; trace_id: string };
      await poll('two Bucket events', () => writtenEvents().filter((e) => e.trace_id === trace_id).length >= 2);

      const writes = bucket.requests.filter(
        (r) => r.method === 'POST' && r.path === '/core/write-event' && (r.body as { event_data: { trace_id: string } }).event_data.trace_id === trace_id,
      );
      expect(writes).toHaveLength(2);
      for (const w of writes) {
        expect((w.body as { requester_id: string }).requester_id).toBe('bhiv_core');
        expectServiceToken(w.headers, 'bucket');
      }
      const received = writtenEvents().find((e) => e.trace_id === trace_id && e.event_type === 'task_received');
      expect(received).toEqual({
        event_id: expect.stringMatching(UUID),
        event_type: 'task_received',
        trace_id,
        task_id,
        user_id: 'u-3',
        decision: 'workflow',
        action_type: 'email',
        timestamp: expect.any(String),
      });
      const dispatched = writtenEvents().find((e) => e.trace_id === trace_id && e.event_type === 'task_dispatched');
      expect(dispatched).toMatchObject({ task_id, status: 'dispatched_success', execution_result: { success: true } });

      const view = await request(core.app.getHttpServer()).get(`/tasks/${task_id}`).expect(200);
      expect(view.body).toEqual({
        task_id,
        trace_id,
        user_id: 'u-3',
        product: null,
        decision: 'workflow',
        action_type: 'email',
        // One action, not a versioned workflow run.
        workflow: null,
        run_id: null,
        status: 'dispatched_success',
        agent_note: null,
        execution_result: { success: true, task_id: 'exec-task-1', task_status: 'CREATED' },
        created_at: expect.any(String),
        updated_at: expect.any(String),
        timeline: [
          expect.objectContaining({ event_type: 'task_received', trace_id }),
          expect.objectContaining({ event_type: 'task_dispatched', trace_id }),
        ],
      });
      const timelineRead = bucket.requests.find((r) => r.method === 'GET' && r.query.get('trace_id') === trace_id);
      expectServiceToken(timelineRead?.headers ?? {}, 'bucket');
    });

    it('stores a non-workflow decision as decided and sends nothing to the executor', async () => {
      const res = await request(core.app.getHttpServer()).post('/handle_task').send({ input: 'good morning', user_id: 'u-4' }).expect(202);
      expect(res.body).toMatchObject({ decision: 'respond', status: 'decided' });
      await poll('task_received', () => writtenEvents().some((e) => e.trace_id === res.body.trace_id));
      // Nothing for the executor was enqueued with the task, so nothing can reach it later either.
      const queued = (await core.dataSource.query(`SELECT topic FROM outbox WHERE strpos(payload::text, $1) > 0`, [res.body.trace_id])) as { topic: string }[];
      expect(queued.length).toBeGreaterThan(0); // the Bucket event: the query does find this task's rows
      expect(queued.filter((r) => r.topic === 'workflow-executor.execute')).toEqual([]);
      expect(executeCalls(res.body.trace_id)).toHaveLength(0);
      expect(await taskRow(core, res.body.task_id)).toMatchObject({ status: 'decided', action_type: null, payload: null });
    });

    it('delivers later when the executor is down at first (retry)', async () => {
      await executor.stop();
      try {
        const res = await request(core.app.getHttpServer()).post('/handle_task').send({ input: 'remind me to renew the domain', user_id: 'u-5' }).expect(202);
        const { task_id, trace_id } = res.body as { task_id: string; trace_id: string };
        await poll('two failed attempts', async () => {
          const [row] = (await core.dataSource.query(
            `SELECT attempts, last_error FROM outbox WHERE topic = 'workflow-executor.execute' AND message_key = $1`,
            [task_id],
          )) as { attempts: number; last_error: string | null }[];
          return row && row.attempts >= 2 ? row : undefined;
        });
        expect((await taskRow(core, task_id))?.status).toBe('dispatching');
        expect(executeCalls(trace_id)).toHaveLength(0);
      } finally {
        await executor.start();
      }
      const pending = (await core.dataSource.query(`SELECT message_key FROM outbox WHERE topic = 'workflow-executor.execute' AND status = 'pending'`)) as { message_key: string }[];
      for (const { message_key } of pending) {
        await poll(`task ${message_key} dispatched`, async () => (await taskRow(core, message_key))?.status === 'dispatched_success');
      }
    });

    it('retries a 409 execution_in_progress until the executor answers', async () => {
      // Counted per trace: a delivery of an earlier test's task arriving now must not use up this task's conflicts.
      const conflicts = new Map<string, number>();
      executorMode = (req) => {
        const trace = (req.body as { trace_id: string }).trace_id;
        const n = (conflicts.get(trace) ?? 0) + 1;
        conflicts.set(trace, n);
        return n <= 2 ? { status: 409, body: { code: 'execution_in_progress', message: 'busy', trace_id: null } } : executed(req);
      };
      const res = await request(core.app.getHttpServer()).post('/handle_task').send({ input: 'ask ai what a hash chain is', user_id: 'u-6' }).expect(202);
      await poll('dispatched_success', async () => (await taskRow(core, res.body.task_id))?.status === 'dispatched_success');
      expect(executeCalls(res.body.trace_id)).toHaveLength(3);
    });

    it('records dispatched_failed when the executor ran the action and it failed', async () => {
      executorMode = (req) => executed(req, 'failed');
      const res = await request(core.app.getHttpServer()).post('/handle_task').send({ input: 'whatsapp +15551234567 on my way', user_id: 'u-7' }).expect(202);
      const row = await poll('dispatched_failed', async () => {
        const r = await taskRow(core, res.body.task_id);
        return r?.status === 'dispatched_failed' ? r : undefined;
      });
      expect(row.execution_result).toEqual({ success: false, error_code: 'missing_task_title' });
    });

    it('marks the task dispatch_dead when the executor refuses it for good (4xx)', async () => {
      executorMode = (req) => ({ status: 400, body: { trace_id: (req.body as { trace_id: string }).trace_id, status: 'failed', reason: 'missing_workflow_payload' } });
      const res = await request(core.app.getHttpServer()).post('/handle_task').send({ input: 'todo: rotate keys', user_id: 'u-8' }).expect(202);
      const row = await poll('dispatch_dead', async () => {
        const r = await taskRow(core, res.body.task_id);
        return r?.status === 'dispatch_dead' ? r : undefined;
      });
      expect(executeCalls(res.body.trace_id)).toHaveLength(1);
      expect((row.execution_result as { reason: string }).reason).toMatch(/^non_retryable: workflow-executor answered 400/);
      const dead = (await core.dataSource.query(`SELECT reason FROM outbox_dead_letter WHERE message_key = $1`, [res.body.task_id])) as { reason: string }[];
      expect(dead).toHaveLength(1);
      await poll('task_dispatch_dead event', () => writtenEvents().some((e) => e.trace_id === res.body.trace_id && e.event_type === 'task_dispatch_dead'));
    });

    it('stores the tasks of concurrent requests in one commit, each answered after it and each message in its own trace', async () => {
      // Hold the table: the first request's transaction waits on the lock, and the requests after it queue for the next commit.
      const held = await holdTable(core.dataSource, 'tasks');
      const writer = core.app.get(TaskAcceptWriter);
      const send = (n: number) => request(core.app.getHttpServer()).post('/handle_task').send({ input: `good morning ${n}`, user_id: `u-group-${n}` });
      let answered = 0;
      const first = send(0).then((r) => (answered++, r));
      await held.waiting('INSERT INTO tasks (task_id');
      const rest = [1, 2, 3, 4, 5].map((n) => send(n).then((r) => (answered++, r)));
      await poll('five tasks queued for the next commit', () => writer.queued === 5);
      expect(answered).toBe(0);
      await held.release();
      const replies = await Promise.all([first, ...rest]);
      expect(replies.map((r) => r.status)).toEqual([202, 202, 202, 202, 202, 202]);
      const ids = replies.map((r) => (r.body as { task_id: string }).task_id);
      const rows = (await core.dataSource.query(`SELECT task_id, trace_id, xmin::text AS tx FROM tasks WHERE task_id = ANY($1)`, [ids])) as { task_id: string; trace_id: string; tx: string }[];
      expect(rows).toHaveLength(6);
      // Two commits: the first request's, then the five that queued behind it together.
      expect(new Set(rows.map((r) => r.tx)).size).toBe(2);
      const txOf = new Map(rows.map((r) => [r.task_id, r.tx]));
      expect(new Set(ids.slice(1).map((id) => txOf.get(id))).size).toBe(1);
      // Each task's Bucket event continues its own request's trace, though five committed in one transaction.
      const messages = (await core.dataSource.query(`SELECT message_key, headers FROM outbox WHERE message_key = ANY($1)`, [
        ids.map((id) => `task_received:${id}`),
      ])) as { message_key: string; headers: { traceparent?: string } }[];
      expect(messages).toHaveLength(6);
      for (const row of rows) {
        const message = messages.find((m) => m.message_key === `task_received:${row.task_id}`);
        expect(message?.headers.traceparent).toMatch(new RegExp(`^00-${row.trace_id}-`));
      }
    });

    it("stores a task whose agent note (a model's text, which the request's guard never saw) holds an unpaired surrogate", async () => {
      const writer = core.app.get(TaskAcceptWriter);
      const now = new Date();
      const task = Object.assign(new TaskEntity(), {
        taskId: randomUUID(),
        traceId: randomBytes(16).toString('hex'),
        userId: 'u-note',
        product: null,
        agent: null,
        input: 'hello',
        inputType: null,
        tags: [],
        decision: Decision.Respond,
        actionType: null,
        payload: null,
        decidedBy: 'llm',
        agentNote: 'payload.\ud800 is not a field',
        status: TaskStatus.Decided,
        executionResult: null,
        createdAt: now,
        updatedAt: now,
      });
      await writer.store({ tasks: [{ task, messages: [] }] });
      expect(await taskRow(core, task.taskId)).toMatchObject({ agent_note: 'payload.\ufffd is not a field', decided_by: 'llm', tags: [] });
    });

    it('answers 422 naming each bad field, and stores nothing', async () => {
      const before = await counts(core);
      const res = await request(core.app.getHttpServer())
        .post('/handle_task')
        .send({ input: '', user_id: 5, tags: ['ok', 3], input_type: 7 })
        .expect(422);
      expect(res.body.code).toBe('validation_failed');
      expect(res.body.trace_id).toMatch(TRACE_ID);
      expect((res.body.errors as { field: string }[]).map((e) => e.field).sort()).toEqual(['input', 'input_type', 'tags', 'user_id']);

      const tooLong = await request(core.app.getHttpServer()).post('/handle_task').send({ input: 'x'.repeat(10_001), user_id: 'u' }).expect(422);
      expect((tooLong.body.errors as { field: string }[]).map((e) => e.field)).toEqual(['input']);
      const missing = await request(core.app.getHttpServer()).post('/handle_task').send({}).expect(422);
      expect((missing.body.errors as { field: string }[]).map((e) => e.field).sort()).toEqual(['input', 'user_id']);
      const blank = await request(core.app.getHttpServer()).post('/handle_task').send({ input: '  \n\t', user_id: '   ' }).expect(422);
      expect((blank.body.errors as { field: string; messages: string[] }[]).map((e) => [e.field, e.messages])).toEqual([
        ['input', ['input must not be blank']],
        ['user_id', ['user_id must not be blank']],
      ]);
      expect(await counts(core)).toEqual(before);
    });

    it('answers 413 for a body over 256 KiB, and stores nothing', async () => {
      const before = await counts(core);
      const res = await request(core.app.getHttpServer())
        .post('/handle_task')
        .set('content-type', 'application/json')
        .send(JSON.stringify({ input: 'x'.repeat(300 * 1024), user_id: 'u' }))
        .expect(413);
      expect(res.body.code).toBe('payload_too_large');
      expect(await counts(core)).toEqual(before);
    });
  });

  describe('GET /tasks/:task_id', () => {
    it('still shows the task, with timeline_error, while Bucket is down', async () => {
      const res = await request(core.app.getHttpServer()).post('/handle_task').send({ input: 'hi', user_id: 'u-9' }).expect(202);
      await bucket.stop();
      try {
        const view = await request(core.app.getHttpServer()).get(`/tasks/${res.body.task_id}`).expect(200);
        expect(view.body).toMatchObject({ task_id: res.body.task_id, status: 'decided', timeline: [], timeline_error: 'bucket_unavailable' });
      } finally {
        await bucket.start();
      }
    });

    it('answers 404 for an unknown id and 422 for one that is not a uuid', async () => {
      const missing = await request(core.app.getHttpServer()).get('/tasks/0b7e1a52-5f0e-4c1c-9a55-1f1d3f2a9c11').expect(404);
      expect(missing.body).toMatchObject({ code: 'task_not_found' });
      const bad = await request(core.app.getHttpServer()).get('/tasks/not-a-uuid').expect(422);
      expect(bad.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'task_id', messages: ['task_id must be a UUID'] }] });
    });
  });

  it('GET /health answers', async () => {
    const res = await request(core.app.getHttpServer()).get('/health').expect(200);
    expect(res.body).toMatchObject({ status: 'ok', service: 'core' });
  });
});

describe('dispatches delivered together (POST /api/workflow/execute-batch)', () => {
  let core: RunningCore;

  beforeAll(async () => {
    // One relay worker: while it waits on the executor, the tasks accepted meanwhile queue up and go out together.
    // The executor holds that first call until the test has submitted the others; at the default WORKFLOW_TIMEOUT
    // (2 s) a busy machine can take longer than that to accept four tasks, and Core would give up on the held call
    // and send the ones queued so far without the rest. Nothing here waits for a timeout, so the test allows a long one.
    core = await startCore({ OUTBOX_CONCURRENCY: '1', WORKFLOW_TIMEOUT: '30', OUTBOX_DELIVERY_TIMEOUT_MS: '40000' });
  });

  afterAll(async () => {
    await core?.close();
  });

  it('sends the queued dispatches in one request, records each answer, and dead-letters only the one refused', async () => {
    const gate = deferred();
    const held = { trace: '' };
    executorMode = async (req) => {
      const body = req.body as { trace_id: string; data: { payload: { description?: string } } };
      if (body.trace_id === held.trace) await gate.promise;
      if (body.data.payload.description?.includes('poisoned')) return { status: 400, body: { trace_id: body.trace_id, status: 'failed', reason: 'missing_workflow_payload' } };
      return executed(req);
    };
    const submit = async (input: string) =>
      (await request(core.app.getHttpServer()).post('/handle_task').send({ input, user_id: 'u-batch' }).expect(202)).body as { task_id: string; trace_id: string };

    const first = await submit('create a task to hold the relay');
    held.trace = first.trace_id;
    await eventually(() => expect(executeCalls(first.trace_id)).toHaveLength(1), { what: 'the first dispatch to reach the executor' });
    const queued: { task_id: string; trace_id: string }[] = [];
    for (const input of ['create a task to a', 'create a task to b', 'create a task to poisoned c', 'create a task to d']) queued.push(await submit(input));
    gate.resolve();

    const statusOf = async (taskId: string) => (await taskRow(core, taskId))?.status;
    await eventually(async () => {
      expect(await Promise.all(queued.map((t) => statusOf(t.task_id)))).toEqual(['dispatched_success', 'dispatched_success', 'dispatch_dead', 'dispatched_success']);
    }, { what: 'every queued dispatch recorded' });
    expect(await statusOf(first.task_id)).toBe('dispatched_success');

    const traces = queued.map((t) => t.trace_id);
    const batches = executor.requests.filter((r) => r.path === EXECUTOR_EXECUTE_BATCH_ROUTE);
    const together = batches.find((b) => (b.body as { events: { body: { trace_id: string } }[] }).events.some((e) => traces.includes(e.body.trace_id)));
    expect((together?.body as { events: { body: { trace_id: string }; traceparent?: string }[] }).events.map((e) => e.body.trace_id)).toEqual(traces);
    // Each item carries its own task's trace, so the executor continues four traces, not one.
    for (const event of (together?.body as { events: { body: { trace_id: string }; traceparent?: string }[] }).events) {
      expect(event.traceparent).toMatch(new RegExp(`^00-${event.body.trace_id}-[0-9a-f]{16}-0[01]$`));
    }
    // The refused one was tried once and is dead alone; nothing else was sent twice.
    for (const trace of traces) expect(executeCalls(trace)).toHaveLength(1);
    const dead = (await core.dataSource.query(`SELECT message_key FROM outbox_dead_letter`)) as { message_key: string }[];
    expect(dead.map((d) => d.message_key)).toEqual([queued[2].task_id]);
    await poll('the four outcome events in Bucket', () => writtenEvents().filter((e) => traces.includes(e.trace_id as string) && /^task_dispatch/.test(e.event_type as string)).length === 4);

    // A relay that died after the executor answered but before it marked the rows delivered sends the batch again:
    // the executor replays its answers and Core, finding the outcomes recorded, changes and enqueues nothing.
    const before = (await core.dataSource.query(`SELECT task_id, status, updated_at FROM tasks WHERE task_id = ANY($1) ORDER BY task_id`, [queued.map((t) => t.task_id)])) as unknown[];
    const outboxBefore = (await counts(core)).outbox;
    const rows = (await core.dataSource.query(`SELECT id::text, topic, message_key, payload, headers FROM outbox WHERE topic = 'workflow-executor.execute' AND message_key = ANY($1)`, [
      queued.map((t) => t.task_id),
    ])) as { id: string; topic: string; message_key: string; payload: unknown; headers: Record<string, string> }[];
    expect(rows).toHaveLength(4);
    const again = await core.app.get(WorkflowDispatchHandler).deliverBatch(
      rows.map((r) => ({ id: r.id, topic: r.topic, messageKey: r.message_key, orderingKey: null, payload: r.payload, headers: r.headers, attempts: 1 })),
    );
    // The refused one is refused again (its task stays dispatch_dead); the three others replay.
    expect(again.filter((r) => r.ok)).toHaveLength(3);
    expect(await core.dataSource.query(`SELECT task_id, status, updated_at FROM tasks WHERE task_id = ANY($1) ORDER BY task_id`, [queued.map((t) => t.task_id)])).toEqual(before);
    expect((await counts(core)).outbox).toBe(outboxBefore);
  });
});

describe('with ENABLE_WORKFLOW_EXECUTION=false', () => {
  let core: RunningCore;

  beforeAll(async () => {
    core = await startCore({ ENABLE_WORKFLOW_EXECUTION: 'false' });
  });

  afterAll(async () => {
    await core?.close();
  });

  it('stores the workflow as dispatch_skipped and never calls the executor', async () => {
    const res = await request(core.app.getHttpServer()).post('/handle_task').send({ input: 'create a task to deploy', user_id: 'u-10' }).expect(202);
    expect(res.body).toMatchObject({ decision: 'workflow', status: 'dispatch_skipped' });
    // Nothing for the executor was enqueued (below), so nothing can be sent later; once task_received
    // reached Bucket the relay has been through this task's messages.
    await poll('task_received', () => writtenEvents().some((e) => e.trace_id === res.body.trace_id));
    expect(executeCalls(res.body.trace_id)).toHaveLength(0);
    expect(await taskRow(core, res.body.task_id)).toMatchObject({ status: 'dispatch_skipped', action_type: 'task' });
    const queued = (await core.dataSource.query(`SELECT count(*)::int AS n FROM outbox WHERE topic = 'workflow-executor.execute'`)) as { n: number }[];
    expect(queued[0].n).toBe(0);
  });
});
