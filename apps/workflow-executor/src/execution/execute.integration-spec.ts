import type { INestApplication } from '@nestjs/common';
import { RequesterId } from '@pancha/contracts';
import { validateEnv } from '@pancha/service-kit';
import {
  bootService,
  createTestDatabase,
  createTestKeys,
  deferred,
  eventually,
  type RecordedRequest,
  StandInServer,
  type TestDatabase,
  type TestKeys,
} from '@pancha/testing';
import { importSPKI, jwtVerify } from 'jose';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { AppModule } from '../app.module';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { startSmtpSink } from '../testing/smtp-sink';

jest.setTimeout(60_000);

const EXECUTE = '/api/workflow/execute';
// Long enough that a real provider call (SMTP, HTTP stand-ins) completes on a busy machine; the timeout test
// holds its provider call forever, so the timeout fires whatever this is.
const TIMEOUT_MS = 3000;

describe('workflow-executor with providers configured', () => {
  let db: TestDatabase;
  let keys: TestKeys;
  let app: INestApplication;
  let dataSource: DataSource;
  let smtp: Awaited<ReturnType<typeof startSmtpSink>>;

  let bucketReply: (req: RecordedRequest) => { status: number; body: unknown } = () => ({ status: 201, body: { success: true } });
  const bucket = new StandInServer((req) => bucketReply(req));
  const karma = new StandInServer(() => ({ status: 200, body: { status: 'success' } }));
  const whatsapp = new StandInServer((req) => {
    const to = (req.body as { to?: string }).to;
    if (to === 'reject') return { status: 400, body: { error: { message: '(#100) Invalid parameter', type: 'OAuthException' } } };
    return { status: 200, body: { messaging_product: 'whatsapp', contacts: [{ wa_id: to }], messages: [{ id: `wamid.${to}` }] } };
  });
  let aiCalls = 0;
  /** The AI provider holds a `slow` prompt until the test opens this gate. */
  let aiGate = deferred();
  const ai = new StandInServer(async (req) => {
    const prompt = (req.body as { messages: { content: string }[] }).messages[0].content;
    if (prompt === 'hang') return 'hang';
    if (prompt === 'slow') await aiGate.promise;
    // A reply PostgreSQL's jsonb cannot hold as it is: a NUL and a lone surrogate (JSON.stringify escapes both).
    const content = prompt === 'unstorable' ? 'a\u0000b\ud800c' : `echo: ${prompt}`;
    return {
      status: 200,
      body: { id: `chatcmpl-${++aiCalls}`, model: 'stand-in-model', choices: [{ message: { role: 'assistant', content } }] },
    };
  });

  /** A token of its own per request (tokens live 60 s; a write may refuse a jti it has seen). */
  const bearer = (requester: RequesterId = RequesterId.Core) => keys.bearer(requester, 'workflow-executor');
  const execute = async (body: object, requester: RequesterId = RequesterId.Core) =>
    request(app.getHttpServer()).post(EXECUTE).set('authorization', await bearer(requester)).send(body);

  const workflow = (traceId: string, payload: Record<string, unknown>) => ({
    trace_id: traceId,
    decision: 'workflow',
    data: { workflow_type: 'workflow', payload },
  });

  async function taskCount(traceId: string): Promise<number> {
    const rows: { n: number }[] = await dataSource.query(`SELECT count(*)::int AS n FROM tasks WHERE trace_id = $1`, [traceId]);
    return rows[0].n;
  }

  beforeAll(async () => {
    db = await createTestDatabase('executor');
    keys = createTestKeys('executor');
    await Promise.all([bucket.start(), karma.start(), whatsapp.start(), ai.start()]);
    smtp = await startSmtpSink();
    Object.assign(process.env, {
      PANCHA_KEYS_DIR: keys.dir,
      OUTBOX_POLL_INTERVAL_MS: '50',
      OUTBOX_BASE_DELAY_MS: '50',
      OUTBOX_MAX_DELAY_MS: '300',
    });
    const env = {
      ...process.env,
      DATABASE_URL: db.url,
      APP_ENV: 'test',
      LOG_LEVEL: 'silent',
      ADAPTER_TIMEOUT_MS: String(TIMEOUT_MS),
      BUCKET_URL: bucket.url,
      KARMA_URL: karma.url,
      SMTP_URL: `smtp://mailer:s3cret@127.0.0.1:${smtp.port}`,
      EMAIL_FROM: 'Pancha <noreply@pancha.test>',
      WHATSAPP_API_BASE_URL: `${whatsapp.url}/v21.0`,
      WHATSAPP_PHONE_NUMBER_ID: '1234567890',
      WHATSAPP_ACCESS_TOKEN: 'wa-token-secret',
      AI_BASE_URL: `${ai.url}/v1`,
      AI_API_KEY: 'sk-test-secret',
      AI_MODEL: 'stand-in-model',
      // These tests watch the HTTP hops to Bucket and Karma; the JetStream path has its own suite.
      NATS_URL: '',
    };
    ({ app } = await bootService(AppModule.forRoot(validateEnv(WorkflowExecutorConfig, env))));
    dataSource = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    aiGate.resolve();
    await Promise.all([bucket.stop(), karma.stop(), whatsapp.stop(), ai.stop(), smtp?.close()]);
    await db?.drop();
    keys?.remove();
  });

  describe('GET /healthz', () => {
    it('names the service and environment', async () => {
      const res = await request(app.getHttpServer()).get('/healthz').expect(200);
      expect(res.body).toEqual({ status: 'ok', service: 'workflow-executor', environment: 'test', timestamp: expect.any(String) });
    });
  });

  describe('POST /api/workflow/execute: access', () => {
    it('401 without a token', async () => {
      const res = await request(app.getHttpServer()).post(EXECUTE).send(workflow('t-anon', { action_type: 'task', title: 'x' }));
      expect(res.status).toBe(401);
      expect(await taskCount('t-anon')).toBe(0);
    });

    it.each([RequesterId.WorkflowExecutor, RequesterId.Bucket])('403 for %s, which may not execute', async (requester) => {
      const res = await execute(workflow(`t-403-${requester}`, { action_type: 'task', title: 'x' }), requester);
      expect(res.status).toBe(403);
      expect(await taskCount(`t-403-${requester}`)).toBe(0);
    });

    it('422 for an unknown decision, naming the field', async () => {
      const res = await execute({ trace_id: 't-422', decision: 'launch', data: { payload: { action_type: 'task', title: 'x' } } });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ code: 'validation_failed', errors: [expect.objectContaining({ field: 'decision' })] });
      expect(await taskCount('t-422')).toBe(0);
    });

    it('422 for a non-string action_type', async () => {
      const res = await execute(workflow('t-422b', { action_type: 5 }));
      expect(res.status).toBe(422);
      expect(res.body.errors).toEqual([expect.objectContaining({ field: 'data.payload' })]);
    });
  });

  describe('decision handling', () => {
    it.each(['respond', 'task', 'insight', 'fallback'])('%s → 200 skipped, nothing executed', async (decision) => {
      const traceId = `t-skip-${decision}`;
      const res = await execute({ trace_id: traceId, decision, data: { payload: { action_type: 'task', title: 'x' } } });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ trace_id: traceId, status: 'skipped', reason: 'decision_not_workflow' });
      expect(await taskCount(traceId)).toBe(0);
      const rows: unknown[] = await dataSource.query(`SELECT 1 FROM executions WHERE trace_id = $1`, [traceId]);
      expect(rows).toHaveLength(0);
    });

    it.each([undefined, { workflow_type: 'workflow' }])('workflow without a payload (data=%j) → 400 missing_workflow_payload', async (data) => {
      const res = await execute({ trace_id: 't-nopayload', decision: 'workflow', ...(data ? { data } : {}) });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ trace_id: 't-nopayload', status: 'failed', reason: 'missing_workflow_payload' });
      const rows: unknown[] = await dataSource.query(`SELECT 1 FROM executions WHERE trace_id = 't-nopayload'`);
      expect(rows).toHaveLength(0);
    });
  });

  describe('POST /api/workflow/execute-batch', () => {
    const executeBatch = async (events: object[], requester: RequesterId = RequesterId.Core) =>
      request(app.getHttpServer()).post('/api/workflow/execute-batch').set('authorization', await bearer(requester)).send({ events });

    it('answers each request as the single route would, in order: executed, replayed, 400, 422 and skipped side by side', async () => {
      const first = await execute(workflow('t-batch-seen', { action_type: 'task', title: 'seen before' }));
      expect(first.status).toBe(200);
      const res = await executeBatch([
        { body: workflow('t-batch-new', { action_type: 'task', title: 'batched', user_id: 'user-batch' }) },
        { body: workflow('t-batch-seen', { action_type: 'task', title: 'seen before' }) },
        { body: { trace_id: 't-batch-nopayload', decision: 'workflow' } },
        { body: { trace_id: 't-batch-bad', decision: 'nonsense' } },
        { body: { trace_id: 't-batch-skip', decision: 'respond' } },
      ]);
      expect(res.status).toBe(200);
      expect(res.body.results).toEqual([
        {
          status: 200,
          body: { trace_id: 't-batch-new', status: 'success', execution_result: expect.objectContaining({ success: true, task_status: 'CREATED' }) },
        },
        { status: 200, body: first.body },
        { status: 400, body: { trace_id: 't-batch-nopayload', status: 'failed', reason: 'missing_workflow_payload' } },
        { status: 422, body: expect.objectContaining({ code: 'validation_failed', errors: [expect.objectContaining({ field: 'decision' })] }) },
        { status: 200, body: { trace_id: 't-batch-skip', status: 'skipped', reason: 'decision_not_workflow' } },
      ]);
      expect(await taskCount('t-batch-new')).toBe(1);
      expect(await taskCount('t-batch-seen')).toBe(1);
      const rows: { trace_id: string }[] = await dataSource.query(`SELECT trace_id FROM executions WHERE trace_id = ANY($1) ORDER BY trace_id`, [
        ['t-batch-new', 't-batch-seen', 't-batch-nopayload', 't-batch-bad', 't-batch-skip'],
      ]);
      expect(rows.map((r) => r.trace_id)).toEqual(['t-batch-new', 't-batch-seen']);
    });

    it('a batch delivered again (the relay died after the executor committed, before it recorded the answers) executes nothing twice', async () => {
      const events = ['t-batch-again-1', 't-batch-again-2'].map((t) => ({ body: workflow(t, { action_type: 'task', title: `again ${t}`, user_id: 'user-again' }) }));
      const first = await executeBatch(events);
      const second = await executeBatch(events);
      expect(second.status).toBe(200);
      expect(second.body.results).toEqual(first.body.results);
      expect(await taskCount('t-batch-again-1')).toBe(1);
      expect(await taskCount('t-batch-again-2')).toBe(1);
      // One workflow_execution event per execution reaches Bucket, however many times the batch came.
      await eventually(() => expect(bucket.requests.filter((r) => ['t-batch-again-1', 't-batch-again-2'].includes(bodyTrace(r) ?? '')).length).toBe(2));
      const outbox: { n: number }[] = await dataSource.query(
        `SELECT count(*)::int AS n FROM outbox WHERE payload->'event_data'->>'trace_id' = ANY($1)`,
        [['t-batch-again-1', 't-batch-again-2']],
      );
      expect(outbox[0].n).toBe(2);
    });

    it('claims and records the executions of a batch in shared statements, not one transaction per request', async () => {
      const traces = [1, 2, 3, 4, 5, 6].map((n) => `t-batch-group-${n}`);
      const res = await executeBatch(traces.map((t) => ({ body: workflow(t, { action_type: 'task', title: `grouped ${t}`, user_id: 'user-group' }) })));
      expect(res.body.results.map((r: { status: number }) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
      // xmin is the transaction that last wrote a row: the first request's claim and completion go alone (nothing was
      // waiting yet), the five that arrived meanwhile share the next claim and the next completion.
      const rows: { tx: string; status: string }[] = await dataSource.query(`SELECT xmin::text AS tx, status FROM executions WHERE trace_id = ANY($1)`, [traces]);
      expect(rows.map((r) => r.status)).toEqual(Array(6).fill('success'));
      expect(new Set(rows.map((r) => r.tx)).size).toBeLessThanOrEqual(2);
      const tasks: { tx: string }[] = await dataSource.query(`SELECT xmin::text AS tx FROM tasks WHERE trace_id = ANY($1)`, [traces]);
      expect(tasks).toHaveLength(6);
      // Each task commits with its execution's completion.
      expect(new Set(tasks.map((t) => t.tx))).toEqual(new Set(rows.map((r) => r.tx)));
    });

    it('holds a batch to the same token and operation as the single route: 401 without one, 403 for a reader', async () => {
      const body = { events: [{ body: workflow('t-batch-denied', { action_type: 'task', title: 'x' }) }] };
      expect((await request(app.getHttpServer()).post('/api/workflow/execute-batch').send(body)).status).toBe(401);
      expect((await executeBatch(body.events, RequesterId.Prana)).status).toBe(403);
      expect(await taskCount('t-batch-denied')).toBe(0);
    });

    it('refuses a malformed envelope whole with a 422 naming it', async () => {
      const res = await request(app.getHttpServer()).post('/api/workflow/execute-batch').set('authorization', await bearer()).send({ events: [] });
      expect(res.status).toBe(422);
      expect(JSON.stringify(res.body)).toContain('events');
    });
  });

  describe('task adapter', () => {
    it('creates a task row and reports it, listed at GET /api/tasks', async () => {
      const res = await execute(
        workflow('t-task-1', { action_type: 'task', title: 'Call Ravi', description: 'about the course', user_id: 'user-7', product: 'gurukul' }),
      );
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        trace_id: 't-task-1',
        status: 'success',
        execution_result: { success: true, task_id: expect.any(String), task_status: 'CREATED', reference: expect.stringMatching(/^TASK-[0-9A-F]{8}$/) },
      });
      const list = await request(app.getHttpServer()).get('/api/tasks').query({ user_id: 'user-7' }).set('authorization', await bearer());
      expect(list.status).toBe(200);
      expect(list.body.tasks).toEqual([
        {
          task_id: res.body.execution_result.task_id,
          user_id: 'user-7',
          title: 'Call Ravi',
          description: 'about the course',
          status: 'CREATED',
          trace_id: 't-task-1',
          product: 'gurukul',
          created_at: expect.any(String),
        },
      ]);
    });

    it('uses payload.trace_id for the records when given', async () => {
      const res = await execute(workflow('t-task-outer', { action_type: 'task', title: 'x', trace_id: 't-task-inner' }));
      expect(res.body.trace_id).toBe('t-task-outer');
      expect(await taskCount('t-task-inner')).toBe(1);
    });

    it('missing title → 200 failed missing_task_title, no row', async () => {
      const res = await execute(workflow('t-task-notitle', { action_type: 'task', description: 'd' }));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        trace_id: 't-task-notitle',
        status: 'failed',
        execution_result: { success: false, error_code: 'missing_task_title', message: expect.any(String) },
      });
      expect(await taskCount('t-task-notitle')).toBe(0);
    });

    it('GET /api/tasks needs read permission', async () => {
      await request(app.getHttpServer()).get('/api/tasks').expect(401);
      const res = await request(app.getHttpServer()).get('/api/tasks').set('authorization', await bearer(RequesterId.Karma));
      expect(res.status).toBe(403);
    });
  });

  describe('action type', () => {
    it.each([
      [{}, 'missing_action_type'],
      [{ action_type: '' }, 'missing_action_type'],
      [{ action_type: 'teleport' }, 'unsupported_action_type'],
    ])('%j → %s', async (payload, code) => {
      const traceId = `t-action-${code}-${JSON.stringify(payload).length}`;
      const res = await execute(workflow(traceId, payload));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ trace_id: traceId, status: 'failed', execution_result: { success: false, error_code: code } });
    });
  });

  describe('idempotency per trace_id', () => {
    it('a repeat returns the identical body and executes nothing', async () => {
      const body = workflow('t-idem', { action_type: 'task', title: 'once', user_id: 'user-idem' });
      const first = await execute(body);
      const second = await execute(body);
      const third = await execute(workflow('t-idem', { action_type: 'task', title: 'different body, same trace' }));
      expect(first.status).toBe(200);
      expect(second.status).toBe(200);
      expect(second.body).toEqual(first.body);
      expect(third.body).toEqual(first.body);
      expect(await taskCount('t-idem')).toBe(1);
      await eventually(() => expect(bucket.requests.filter((r) => bodyTrace(r) === 't-idem')).toHaveLength(1));
    });

    it('concurrent duplicates execute once: while the one execution runs, the others are 409 execution_in_progress', async () => {
      const body = workflow('t-concurrent', { action_type: 'ai', prompt: 'slow' });
      const before = ai.requests.length;
      // The provider holds the one execution until the four duplicates have had their answer.
      aiGate = deferred();
      let answered = 0;
      const pending = Array.from({ length: 5 }, () =>
        execute(body).then((reply) => {
          answered += 1;
          return reply;
        }),
      );
      await eventually(() => expect(answered).toBe(4), { what: 'the duplicates to be answered while the first runs' });
      expect(ai.requests.length - before).toBe(1);
      aiGate.resolve();
      const replies = await Promise.all(pending);
      const ok = replies.filter((r) => r.status === 200);
      const busy = replies.filter((r) => r.status === 409);
      expect(ok).toHaveLength(1);
      expect(busy).toHaveLength(4);
      for (const r of busy) expect(r.body).toMatchObject({ code: 'execution_in_progress' });
      expect(ok[0].body.execution_result).toMatchObject({ success: true, response: 'echo: slow' });
      expect(ai.requests.length - before).toBe(1);
      const later = await execute(body);
      expect(later.body).toEqual(ok[0].body);
      expect(ai.requests.length - before).toBe(1);
    });

    it('concurrent duplicate tasks create exactly one row', async () => {
      const body = workflow('t-concurrent-task', { action_type: 'task', title: 'race' });
      const replies = await Promise.all(Array.from({ length: 8 }, () => execute(body)));
      expect(replies.every((r) => r.status === 200 || r.status === 409)).toBe(true);
      expect(await taskCount('t-concurrent-task')).toBe(1);
    });

    it('a running execution whose lease ran out (crashed process) is closed as adapter_timeout, not re-executed', async () => {
      await dataSource.query(
        `INSERT INTO executions (trace_id, status, action_type, request, started_at)
         VALUES ('t-crashed', 'running', 'task', $1::jsonb, now() - interval '1 hour')`,
        [JSON.stringify(workflow('t-crashed', { action_type: 'task', title: 'x', user_id: 'user-crash' }))],
      );
      const res = await execute(workflow('t-crashed', { action_type: 'task', title: 'x' }));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        trace_id: 't-crashed',
        status: 'failed',
        execution_result: { success: false, error_code: 'adapter_timeout', message: expect.any(String) },
      });
      expect(await taskCount('t-crashed')).toBe(0);
      expect((await execute(workflow('t-crashed', { action_type: 'task', title: 'x' }))).body).toEqual(res.body);
      await eventually(() => expect(bucket.requests.some((r) => bodyTrace(r) === 't-crashed')).toBe(true));
      await eventually(() => expect(karma.requests.some((r) => lifeEvent(r)?.user_id === 'user-crash')).toBe(true));
    });

    it('a running execution within its lease → 409 execution_in_progress', async () => {
      await dataSource.query(
        `INSERT INTO executions (trace_id, status, action_type, request) VALUES ('t-busy', 'running', 'task', '{}'::jsonb)`,
      );
      const res = await execute(workflow('t-busy', { action_type: 'task', title: 'x' }));
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ code: 'execution_in_progress', message: expect.any(String) });
      expect(await taskCount('t-busy')).toBe(0);
    });
  });

  describe('email adapter over SMTP', () => {
    it('sends a real SMTP message with the configured credentials', async () => {
      const res = await execute(
        workflow('t-mail', { action_type: 'email', recipient: 'ravi@example.com', subject: 'Your course', body: 'Namaste Ravi,\nwelcome.' }),
      );
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        trace_id: 't-mail',
        status: 'success',
        execution_result: { success: true, message_id: expect.stringMatching(/^<.+>$/), status: 'SENT', transport: 'smtp' },
      });
      const mail = smtp.messages.find((m) => m.data.includes('Subject: Your course'));
      expect(mail).toBeDefined();
      expect(mail?.to).toEqual(['RCPT TO:<ravi@example.com>']);
      expect(mail?.from).toContain('noreply@pancha.test');
      const plain = mail?.auth.find((line) => line.startsWith('AUTH PLAIN '));
      expect(Buffer.from(plain?.slice('AUTH PLAIN '.length) ?? '', 'base64').toString()).toBe('\0mailer\0s3cret');
      expect(mail?.data).toContain('Namaste Ravi,');
      expect(mail?.data).toMatch(/^X-Pancha-Trace-Id: t-mail$/im);
      expect(mail?.data).toContain(`Message-ID: ${res.body.execution_result.message_id}`);
    });

    it.each([
      [{ subject: 's', body: 'b' }, 'missing_recipient'],
      [{ recipient: 'a@b.c', body: 'b' }, 'missing_subject'],
      [{ recipient: 'a@b.c', subject: 's' }, 'missing_body'],
    ])('%j → %s and nothing is sent', async (fields, code) => {
      const before = smtp.messages.length;
      const res = await execute(workflow(`t-mail-${code}`, { action_type: 'email', ...fields }));
      expect(res.body).toMatchObject({ status: 'failed', execution_result: { success: false, error_code: code } });
      expect(smtp.messages.length).toBe(before);
    });
  });

  describe('whatsapp adapter over the Cloud API', () => {
    it('posts the text message with the bearer token and returns the provider message id', async () => {
      const res = await execute(workflow('t-wa', { action_type: 'whatsapp', recipient: '+919800000001', message: 'Class at 6' }));
      expect(res.status).toBe(200);
      expect(res.body.execution_result).toEqual({
        success: true,
        whatsapp_message_id: 'wamid.+919800000001',
        status: 'SENT',
        transport: 'whatsapp_cloud_api',
      });
      const call = whatsapp.requests.at(-1);
      expect(call).toMatchObject({ method: 'POST', path: '/v21.0/1234567890/messages' });
      expect(call?.headers.authorization).toBe('Bearer wa-token-secret');
      expect(call?.body).toEqual({ messaging_product: 'whatsapp', to: '+919800000001', type: 'text', text: { body: 'Class at 6' } });
    });

    it('a provider error → adapter_execution_failed with its message and no secret', async () => {
      const res = await execute(workflow('t-wa-reject', { action_type: 'whatsapp', recipient: 'reject', message: 'm' }));
      expect(res.body).toMatchObject({
        status: 'failed',
        execution_result: { success: false, error_code: 'adapter_execution_failed', message: expect.stringContaining('HTTP 400') },
      });
      expect(res.body.execution_result.message).toContain('Invalid parameter');
      expect(JSON.stringify(res.body)).not.toContain('wa-token-secret');
    });

    it.each([
      [{ message: 'm' }, 'missing_recipient'],
      [{ recipient: '+91' }, 'missing_message'],
    ])('%j → %s and nothing is sent', async (fields, code) => {
      const before = whatsapp.requests.length;
      const res = await execute(workflow(`t-wa-${code}`, { action_type: 'whatsapp', ...fields }));
      expect(res.body).toMatchObject({ status: 'failed', execution_result: { error_code: code } });
      expect(whatsapp.requests.length).toBe(before);
    });
  });

  describe('ai adapter over an OpenAI-compatible API', () => {
    it('returns the completion, its id and model', async () => {
      const res = await execute(workflow('t-ai', { action_type: 'ai', prompt: 'Summarise karma' }));
      expect(res.body).toEqual({
        trace_id: 't-ai',
        status: 'success',
        execution_result: { success: true, request_id: expect.stringMatching(/^chatcmpl-/), response: 'echo: Summarise karma', model: 'stand-in-model' },
      });
      const call = ai.requests.at(-1);
      expect(call).toMatchObject({ method: 'POST', path: '/v1/chat/completions' });
      expect(call?.headers.authorization).toBe('Bearer sk-test-secret');
      expect(call?.body).toEqual({ model: 'stand-in-model', messages: [{ role: 'user', content: 'Summarise karma' }] });
    });

    it("stores and answers a reply holding U+0000 and a lone surrogate with both made U+FFFD (the action happened: no 500)", async () => {
      const res = await execute(workflow('t-ai-unstorable', { action_type: 'ai', prompt: 'unstorable' }));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'success', execution_result: { success: true, response: 'a\ufffdb\ufffdc' } });
      const rows: { status: string; response: string }[] = await dataSource.query(
        `SELECT status, result->>'response' AS response FROM executions WHERE trace_id = $1`,
        ['t-ai-unstorable'],
      );
      expect(rows).toEqual([{ status: 'success', response: 'a\ufffdb\ufffdc' }]);
    });

    it('missing prompt → missing_prompt', async () => {
      const res = await execute(workflow('t-ai-noprompt', { action_type: 'ai' }));
      expect(res.body).toMatchObject({ status: 'failed', execution_result: { error_code: 'missing_prompt' } });
    });

    it('a provider that never answers → adapter_timeout after ADAPTER_TIMEOUT_MS, and the call is abandoned', async () => {
      const started = Date.now();
      const res = await execute(workflow('t-ai-hang', { action_type: 'ai', prompt: 'hang' }));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        status: 'failed',
        execution_result: { success: false, error_code: 'adapter_timeout', message: `the action did not complete within ${TIMEOUT_MS} ms` },
      });
      // A timer never fires early: the executor waited the configured time (a floor, which load cannot break) ...
      expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      // ... and then let the provider call go instead of leaving it open.
      const hung = ai.requests.filter((r) => (r.body as { messages: { content: string }[] }).messages[0].content === 'hang');
      expect(hung).toHaveLength(1);
      await eventually(() => expect(hung[0].abandoned).toBe(true));
    });
  });

  describe('events to Bucket and Karma (outbox)', () => {
    let bucketPem: string;
    let karmaPem: string;
    beforeAll(() => {
      const pub = keys.publicKeyPem(RequesterId.WorkflowExecutor);
      bucketPem = pub;
      karmaPem = pub;
    });

    async function assertServiceToken(req: RecordedRequest, audience: string, pem: string): Promise<void> {
      const header = req.headers.authorization ?? '';
      expect(header).toMatch(/^Bearer /);
      const { payload } = await jwtVerify(header.slice(7), await importSPKI(pem, 'EdDSA'), { audience });
      expect(payload).toMatchObject({ iss: 'workflow_executor', sub: 'workflow_executor' });
    }

    it('delivers the workflow_execution event and the life event after the reply, with service tokens', async () => {
      const res = await execute(workflow('t-events', { action_type: 'task', title: 'evented', user_id: 'user-ev', product: 'gurukul' }));
      expect(res.status).toBe(200);
      const toBucket = await eventually(() => {
        const found = bucket.requests.find((r) => bodyTrace(r) === 't-events');
        expect(found).toBeDefined();
        return found as RecordedRequest;
      });
      expect(toBucket).toMatchObject({ method: 'POST', path: '/workflow/write-event' });
      expect(toBucket.body).toEqual({
        requester_id: 'workflow_executor',
        event_data: {
          event_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          event_type: 'workflow_execution',
          trace_id: 't-events',
          action_type: 'task',
          status: 'success',
          execution_result: res.body.execution_result,
          timestamp: expect.any(String),
          product: 'gurukul',
          user_id: 'user-ev',
        },
      });
      await assertServiceToken(toBucket, 'bucket', bucketPem);

      const toKarma = await eventually(() => {
        const found = karma.requests.find((r) => lifeEvent(r)?.user_id === 'user-ev');
        expect(found).toBeDefined();
        return found as RecordedRequest;
      });
      expect(toKarma).toMatchObject({ method: 'POST', path: '/v1/event/' });
      expect(toKarma.body).toEqual({
        type: 'life_event',
        source: 'workflow_executor',
        data: {
          event_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          user_id: 'user-ev',
          action: 'workflow_success',
          context: { trace_id: 't-events', action_type: 'task' },
        },
      });
      await assertServiceToken(toKarma, 'karma', karmaPem);
    });

    it('reports a failed execution to Karma as workflow_failure; no user_id → no life event', async () => {
      await execute(workflow('t-events-fail', { action_type: 'email', user_id: 'user-fail' }));
      await execute(workflow('t-events-nouser', { action_type: 'task', title: 'anonymous' }));
      await eventually(() => expect(karma.requests.find((r) => lifeEvent(r)?.user_id === 'user-fail')?.body).toMatchObject({ data: { action: 'workflow_failure' } }));
      await eventually(() => expect(bucket.requests.some((r) => bodyTrace(r) === 't-events-nouser')).toBe(true));
      // No life event was even enqueued (same transaction as the execution), so none can arrive later.
      const queued: { topic: string }[] = await dataSource.query(`SELECT topic FROM outbox WHERE strpos(payload::text, 't-events-nouser') > 0`);
      expect(queued.map((r) => r.topic)).toEqual(['bucket.workflow-event']);
      expect(karma.requests.some((r) => (lifeEvent(r)?.context as { trace_id?: string })?.trace_id === 't-events-nouser')).toBe(false);
    });

    it('keeps retrying while Bucket is down, reusing the event_id, and delivers when it is back; the reply never waits', async () => {
      bucket.down = true;
      const res = await execute(workflow('t-events-down', { action_type: 'task', title: 'while bucket is down' }));
      // Answered while Bucket cannot take the event: the reply did not wait for its delivery.
      expect(res.status).toBe(200);
      const atReply: { status: string }[] = await dataSource.query(
        `SELECT status FROM outbox WHERE topic = 'bucket.workflow-event' AND message_key = 't-events-down'`,
      );
      expect(atReply).toEqual([{ status: 'pending' }]);
      await eventually(async () => {
        const rows: { attempts: number }[] = await dataSource.query(
          `SELECT attempts FROM outbox WHERE topic = 'bucket.workflow-event' AND message_key = 't-events-down'`,
        );
        expect(rows[0].attempts).toBeGreaterThanOrEqual(2);
      });
      bucket.down = false;
      const delivered = await eventually(() => {
        const found = bucket.requests.filter((r) => bodyTrace(r) === 't-events-down');
        expect(found).toHaveLength(1);
        return found[0];
      });
      const stored: { payload: { event_data: { event_id: string } }; status: string }[] = await dataSource.query(
        `SELECT payload, status FROM outbox WHERE topic = 'bucket.workflow-event' AND message_key = 't-events-down'`,
      );
      expect((delivered.body as { event_data: { event_id: string } }).event_data.event_id).toBe(stored[0].payload.event_data.event_id);
      await eventually(async () => {
        const rows: { status: string }[] = await dataSource.query(
          `SELECT status FROM outbox WHERE topic = 'bucket.workflow-event' AND message_key = 't-events-down'`,
        );
        expect(rows[0].status).toBe('delivered');
      });
    });

    it('a 409 from Bucket (event_id reused with other content) is not retried', async () => {
      bucketReply = (req) =>
        bodyTrace(req) === 't-events-409' ? { status: 409, body: { code: 'event_conflict', message: 'different content' } } : { status: 201, body: { success: true } };
      try {
        await execute(workflow('t-events-409', { action_type: 'task', title: 'conflict' }));
        await eventually(async () => {
          const rows: { reason: string; attempts: number }[] = await dataSource.query(
            `SELECT reason, attempts FROM outbox_dead_letter WHERE topic = 'bucket.workflow-event' AND message_key = 't-events-409'`,
          );
          expect(rows).toHaveLength(1);
          expect(rows[0].attempts).toBe(1);
          expect(rows[0].reason).toMatch(/^non_retryable/);
        });
        expect(bucket.requests.filter((r) => bodyTrace(r) === 't-events-409')).toHaveLength(1);
      } finally {
        bucketReply = () => ({ status: 201, body: { success: true } });
      }
    });
  });
});

function bodyTrace(req: RecordedRequest): string | undefined {
  return (req.body as { event_data?: { trace_id?: string } } | undefined)?.event_data?.trace_id;
}

function lifeEvent(req: RecordedRequest): Record<string, unknown> | undefined {
  return (req.body as { data?: Record<string, unknown> } | undefined)?.data;
}
