import type { INestApplication } from '@nestjs/common';
import { RequesterId } from '@pancha/contracts';
import { validateEnv } from '@pancha/service-kit';
import { bootService, createTestDatabase, createTestKeys, StandInServer, type TestDatabase, type TestKeys } from '@pancha/testing';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { AppModule } from '../app.module';
import { WorkflowExecutorConfig } from '../config/env.validation';

jest.setTimeout(60_000);

/** No SMTP, WhatsApp or AI provider, and both event flags off: nothing may leave the executor. */
describe('workflow-executor without providers, events disabled', () => {
  let db: TestDatabase;
  let keys: TestKeys;
  let app: INestApplication;
  let dataSource: DataSource;
  const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));
  const karma = new StandInServer(() => ({ status: 200, body: { status: 'success' } }));
  /** A token of its own per request, as Core mints them. */
  const bearer = () => keys.bearer(RequesterId.Core, 'workflow-executor');

  const execute = async (traceId: string, payload: Record<string, unknown>) =>
    request(app.getHttpServer())
      .post('/api/workflow/execute')
      .set('authorization', await bearer())
      .send({ trace_id: traceId, decision: 'workflow', data: { workflow_type: 'workflow', payload } });

  const outbox = async (query: Record<string, string> = {}) =>
    request(app.getHttpServer()).get('/api/outbox').query(query).set('authorization', await bearer());

  beforeAll(async () => {
    db = await createTestDatabase('executor_capture');
    keys = createTestKeys('executor');
    await Promise.all([bucket.start(), karma.start()]);
    Object.assign(process.env, { PANCHA_KEYS_DIR: keys.dir, OUTBOX_POLL_INTERVAL_MS: '50' });
    const env = {
      ...process.env,
      DATABASE_URL: db.url,
      LOG_LEVEL: 'silent',
      BUCKET_URL: bucket.url,
      KARMA_URL: karma.url,
      WORKFLOW_EVENTS_ENABLED: 'false',
      WORKFLOW_BEHAVIORAL_TRACKING: 'false',
    };
    for (const name of ['SMTP_URL', 'WHATSAPP_PHONE_NUMBER_ID', 'WHATSAPP_ACCESS_TOKEN', 'AI_BASE_URL', 'AI_MODEL', 'AI_API_KEY']) {
      delete (env as Record<string, string | undefined>)[name];
    }
    ({ app } = await bootService(AppModule.forRoot(validateEnv(WorkflowExecutorConfig, env))));
    dataSource = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all([bucket.stop(), karma.stop()]);
    await db?.drop();
    keys?.remove();
  });

  it('email goes to the capture outbox, says so, and is listed at GET /api/outbox', async () => {
    const res = await execute('t-cap-mail', { action_type: 'email', recipient: 'ravi@example.com', subject: 'Hi', body: 'Body', user_id: 'u1' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      trace_id: 't-cap-mail',
      status: 'success',
      execution_result: { success: true, message_id: expect.stringMatching(/^[0-9a-f-]{36}$/), status: 'CAPTURED', transport: 'capture' },
    });
    const list = await outbox({ channel: 'email' });
    expect(list.status).toBe(200);
    expect(list.body.messages).toEqual([
      {
        id: res.body.execution_result.message_id,
        channel: 'email',
        status: 'CAPTURED',
        transport: 'capture',
        recipient: 'ravi@example.com',
        subject: 'Hi',
        body: 'Body',
        trace_id: 't-cap-mail',
        product: null,
        created_at: expect.any(String),
      },
    ]);
  });

  it('whatsapp goes to the capture outbox with transport "capture"', async () => {
    const res = await execute('t-cap-wa', { action_type: 'whatsapp', recipient: '+919800000002', message: 'Class at 7', trace_id: 't-cap-wa-inner' });
    expect(res.body.execution_result).toEqual({
      success: true,
      whatsapp_message_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: 'CAPTURED',
      transport: 'capture',
    });
    const list = await outbox({ trace_id: 't-cap-wa-inner' });
    expect(list.body.messages).toEqual([
      expect.objectContaining({ id: res.body.execution_result.whatsapp_message_id, channel: 'whatsapp', recipient: '+919800000002', subject: null, body: 'Class at 7' }),
    ]);
  });

  it('a failed email captures nothing', async () => {
    await execute('t-cap-fail', { action_type: 'email', recipient: 'x@example.com', subject: 'no body' });
    expect((await outbox({ trace_id: 't-cap-fail' })).body.messages).toEqual([]);
  });

  it('ai fails with provider_not_configured', async () => {
    const res = await execute('t-cap-ai', { action_type: 'ai', prompt: 'hello', user_id: 'u1' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      trace_id: 't-cap-ai',
      status: 'failed',
      execution_result: { success: false, error_code: 'provider_not_configured', message: expect.any(String) },
    });
  });

  it('GET /api/outbox needs read permission', async () => {
    await request(app.getHttpServer()).get('/api/outbox').expect(401);
  });

  it('enqueues and sends no event to Bucket or Karma when both flags are off', async () => {
    const res = await execute('t-cap-task', { action_type: 'task', title: 't', user_id: 'u1' });
    expect(res.body.status).toBe('success');
    // Events leave only through the outbox, written in the execution's own transaction: an empty outbox after
    // the reply means nothing can ever be sent for it, so there is nothing to wait for.
    const rows: { n: number }[] = await dataSource.query(`SELECT count(*)::int AS n FROM outbox`);
    expect(rows[0].n).toBe(0);
    expect(bucket.requests).toEqual([]);
    expect(karma.requests).toEqual([]);
  });
});
