// The executor as clients of the original one see it (SPEC §2), against receivers that check their contracts:
// the original payloads are accepted (WhatsApp `phone`), nothing claims SENT that only went to the capture
// outbox, and no event it emits is one Bucket or Karma would refuse (an over-long action_type is refused up
// front; an oversized or unstorable provider answer is bounded in the event).
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  BUCKET_WRITE_EVENTS_ROUTES,
  FIELD_LIMITS,
  KarmaEventRequestDto,
  LifeEventDataDto,
  MAX_BODY_BYTES,
  MAX_JSON_DEPTH,
  REQUESTER_IDS,
  RequesterId,
  WriteEventRequestDto,
} from '@pancha/contracts';
import { ensureKeyPairs, loadKeyStore, TokenIssuer } from '@pancha/governance';
import { configureApp, findUnstorableJson, validateEnv } from '@pancha/service-kit';
import { createTestDatabase, eventually, type TestDatabase } from '@pancha/testing';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { AppModule } from '../app.module';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { RecordingServer, type RecordedRequest } from '../testing/recording-server';

jest.setTimeout(60_000);

/** What a receiver checks before storing: the body limit, storable JSON, its DTOs (from libs/contracts). */
function refusal(body: unknown, dtos: (new () => object)[], pick: (b: Record<string, unknown>) => unknown[]): string | null {
  if (Buffer.byteLength(JSON.stringify(body)) > MAX_BODY_BYTES) return 'body too large';
  const unstorable = findUnstorableJson(body, MAX_JSON_DEPTH);
  if (unstorable.length) return JSON.stringify(unstorable);
  const parts = pick(body as Record<string, unknown>);
  const errors = dtos.flatMap((dto, i) => validateSync(plainToInstance(dto, parts[i])));
  return errors.length ? errors.map((e) => e.property).join(', ') : null;
}

/** Stand-ins that answer 422 exactly when the real receiver would. */
const bucket = new RecordingServer((req) => {
  const problem = refusal(req.body, [WriteEventRequestDto], (b) => [b]);
  return problem ? { status: 422, body: { code: 'validation_failed', message: problem } } : { status: 201, body: { success: true } };
});
const karma = new RecordingServer((req) => {
  const problem = refusal(req.body, [KarmaEventRequestDto, LifeEventDataDto], (b) => [b, b.data]);
  return problem ? { status: 422, body: { code: 'validation_failed', message: problem } } : { status: 200, body: { status: 'success' } };
});
/** An OpenAI-compatible provider whose answer is 300 000 characters long and contains a U+0000. */
const HUGE_REPLY = `start ${String.fromCharCode(0)} ${'x'.repeat(300_000)} end`;
const ai = new RecordingServer(() => ({
  status: 200,
  body: { id: 'chatcmpl-1', model: 'stand-in', choices: [{ message: { role: 'assistant', content: HUGE_REPLY } }] },
}));

describe('workflow-executor: the original contract, honestly reported, deliverable events', () => {
  let db: TestDatabase;
  let keysDir: string;
  let app: INestApplication;
  let dataSource: DataSource;

  /** A token per request: tokens live 60 s, and a receiver that refuses replayed jtis would refuse a reused one. */
  const coreToken = () => new TokenIssuer(loadKeyStore(RequesterId.Core, process.env)).tokenFor('workflow-executor');
  const execute = async (body: object) =>
    request(app.getHttpServer()).post('/api/workflow/execute').set('authorization', `Bearer ${await coreToken()}`).send(body);
  const outbox = async (query: Record<string, string>) =>
    request(app.getHttpServer()).get('/api/outbox').query(query).set('authorization', `Bearer ${await coreToken()}`);
  const BATCH_ROUTES = new Set<string>(Object.values(BUCKET_WRITE_EVENTS_ROUTES));
  /**
   * The single writes of the trace's events. Events that leave in one claim are sent to the batch route first, which
   * these stand-ins answer like a single write (not a batch answer), so the client writes them one by one again.
   */
  const sentTo = (server: RecordingServer, traceId: string): RecordedRequest[] =>
    server.requests.filter((r) => !BATCH_ROUTES.has(r.path) && JSON.stringify(r.body).includes(`"trace_id":"${traceId}"`));
  const rowsOf = async (table: string, traceId: string): Promise<number> =>
    (await dataSource.query(`SELECT count(*)::int AS n FROM ${table} WHERE ${table === 'outbox' ? 'message_key' : 'trace_id'} = $1`, [traceId]))[0].n;

  /** Both events of a trace delivered: nothing pending, nothing dead-lettered. */
  async function delivered(traceId: string): Promise<void> {
    await eventually(async () => {
      const rows: { status: string }[] = await dataSource.query(`SELECT status FROM outbox WHERE message_key = $1`, [traceId]);
      expect(rows.map((r) => r.status)).toEqual(['delivered', 'delivered']);
    });
    expect(await dataSource.query(`SELECT reason FROM outbox_dead_letter WHERE message_key = $1`, [traceId])).toEqual([]);
  }

  beforeAll(async () => {
    db = await createTestDatabase('executor_original');
    keysDir = mkdtempSync(path.join(tmpdir(), 'executor-original-keys-'));
    ensureKeyPairs(keysDir, [...REQUESTER_IDS]);
    await Promise.all([bucket.start(), karma.start(), ai.start()]);
    process.env.PANCHA_KEYS_DIR = keysDir;
    const env: Record<string, string | undefined> = {
      ...process.env,
      DATABASE_URL: db.url,
      LOG_LEVEL: 'silent',
      BUCKET_URL: bucket.url,
      KARMA_URL: karma.url,
      WORKFLOW_EVENTS_ENABLED: 'true',
      WORKFLOW_BEHAVIORAL_TRACKING: 'true',
      OUTBOX_POLL_INTERVAL_MS: '50',
      OUTBOX_BASE_DELAY_MS: '50',
      OUTBOX_MAX_DELAY_MS: '200',
      AI_BASE_URL: `${ai.url}/v1`,
      AI_MODEL: 'stand-in',
      NATS_URL: '',
    };
    // No SMTP server and no WhatsApp account: email and whatsapp go to the capture outbox.
    for (const name of ['SMTP_URL', 'WHATSAPP_PHONE_NUMBER_ID', 'WHATSAPP_ACCESS_TOKEN', 'AI_API_KEY']) delete env[name];
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(validateEnv(WorkflowExecutorConfig, env))] }).compile();
    app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
    configureApp(app);
    await app.init();
    dataSource = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all([bucket.close(), karma.close(), ai.close()]);
    await db?.drop();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('takes the original WhatsApp payload (`phone`), says CAPTURED everywhere it is shown, and both events are accepted', async () => {
    // Example 2 of the original integration, byte for byte.
    const res = await execute({
      trace_id: 'notif_456',
      decision: 'workflow',
      data: { workflow_type: 'workflow', payload: { action_type: 'whatsapp', user_id: 'user123', phone: '+91XXXXXXXXXX', message: 'Your lesson is ready' } },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      trace_id: 'notif_456',
      status: 'success',
      execution_result: { success: true, whatsapp_message_id: expect.any(String), status: 'CAPTURED', transport: 'capture' },
    });
    const listed = await outbox({ trace_id: 'notif_456' });
    expect(listed.body.messages).toEqual([
      expect.objectContaining({ channel: 'whatsapp', recipient: '+91XXXXXXXXXX', body: 'Your lesson is ready', status: 'CAPTURED', transport: 'capture' }),
    ]);
    await delivered('notif_456');
    const [event] = sentTo(bucket, 'notif_456');
    expect((event.body as { event_data: { execution_result: unknown } }).event_data.execution_result).toEqual(res.body.execution_result);
    expect(JSON.stringify(sentTo(bucket, 'notif_456')) + JSON.stringify(listed.body)).not.toContain('SENT');
  });

  it('takes the original task payload and the original email fields; a captured email is CAPTURED too', async () => {
    const task = await execute({
      trace_id: 'task_123',
      decision: 'workflow',
      data: { workflow_type: 'workflow', payload: { action_type: 'task', user_id: 'user123', title: 'Review code', description: 'Review authentication module' } },
    });
    expect(task.body).toMatchObject({ trace_id: 'task_123', status: 'success', execution_result: { success: true, task_status: 'CREATED' } });
    const email = await execute({
      trace_id: 'mail_789',
      decision: 'workflow',
      data: { workflow_type: 'workflow', payload: { action_type: 'email', user_id: 'user123', recipient: 'ravi@example.com', subject: 'Class', body: 'At 7' } },
    });
    expect(email.body.execution_result).toEqual({ success: true, message_id: expect.any(String), status: 'CAPTURED', transport: 'capture' });
    await delivered('task_123');
    await delivered('mail_789');
  });

  it('refuses an over-long action_type up front (422, nothing executed or stored) instead of dead-lettering its Karma event', async () => {
    const res = await execute({
      trace_id: 'too-long',
      decision: 'workflow',
      data: { workflow_type: 'workflow', payload: { action_type: 'x'.repeat(FIELD_LIMITS.context + 1), user_id: 'user123' } },
    });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'data.payload', messages: [expect.stringContaining('payload.action_type must be at most 64')] }] });
    expect(await rowsOf('executions', 'too-long')).toBe(0);
    expect(await rowsOf('outbox', 'too-long')).toBe(0);
    const longest = await execute({
      trace_id: 'long-enough',
      decision: 'workflow',
      data: { workflow_type: 'workflow', payload: { action_type: 'x'.repeat(FIELD_LIMITS.actionType), user_id: 'user123' } },
    });
    expect(longest.body).toMatchObject({ status: 'failed', execution_result: { error_code: 'unsupported_action_type' } });
    await delivered('long-enough');
  });

  it('returns a huge AI answer whole, and records it in Bucket cut to size and named as cut', async () => {
    const res = await execute({ trace_id: 'ai-huge', decision: 'workflow', data: { workflow_type: 'workflow', payload: { action_type: 'ai', user_id: 'user123', prompt: 'talk' } } });
    expect(res.status).toBe(200);
    expect(res.body.execution_result.response).toBe(HUGE_REPLY.replace(String.fromCharCode(0), '\ufffd'));
    await delivered('ai-huge');
    const { execution_result } = (sentTo(bucket, 'ai-huge')[0].body as { event_data: { execution_result: Record<string, unknown> } }).event_data;
    expect(execution_result).toMatchObject({ success: true, request_id: 'chatcmpl-1', model: 'stand-in', truncated_fields: ['response'] });
    expect(execution_result.response).toBe(res.body.execution_result.response.slice(0, FIELD_LIMITS.resultText));
  });
});
