/**
 * The executor with NATS_URL set: a finished execution's Bucket and Karma events leave through the outbox as
 * JetStream messages (the same bodies as the HTTP hops, a bearer token for each audience, the trace in the
 * headers), and with NATS down they stay pending in the outbox while the executor keeps answering.
 */
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { RequesterId, type ServiceName } from '@pancha/contracts';
import { loadKeyStore, PolicyService, TokenVerifier } from '@pancha/governance';
import { createTestStream, headerRecord, testNatsUrl, type TestStream } from '@pancha/nats-transport';
import { validateEnv } from '@pancha/service-kit';
import { installInMemoryTracing } from '@pancha/trace-context';
import { bootService, createTestDatabase, createTestKeys, eventually, type TestDatabase, type TestKeys } from '@pancha/testing';
import { AckPolicy, type JsMsg } from 'nats';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { AppModule } from '../app.module';
import { WorkflowExecutorConfig } from '../config/env.validation';

jest.setTimeout(60_000);
// Spans are recorded as in a service (register), so the relay's trace reaches the message headers.
installInMemoryTracing();

const NATS_URL = testNatsUrl();
if (!NATS_URL) console.warn('[workflow-executor] NATS_URL is unset: skipping the JetStream publishing tests');
const describeNats = NATS_URL ? describe : describe.skip;

const EXECUTE = '/api/workflow/execute';

interface Harness {
  app: INestApplication;
  db: TestDatabase;
  dataSource: DataSource;
  /** `Bearer <a new Core token>`: one per request. */
  coreBearer(): Promise<string>;
}

async function buildExecutor(keys: TestKeys, nats: Record<string, string>): Promise<Harness> {
  const db = await createTestDatabase('executor_nats');
  Object.assign(process.env, { PANCHA_KEYS_DIR: keys.dir, OUTBOX_POLL_INTERVAL_MS: '50', OUTBOX_BASE_DELAY_MS: '50', OUTBOX_MAX_DELAY_MS: '200' });
  const env = {
    ...process.env,
    DATABASE_URL: db.url,
    LOG_LEVEL: 'silent',
    // Nothing listens here: any HTTP delivery attempt would fail and show up as a retry.
    BUCKET_URL: 'http://127.0.0.1:9',
    KARMA_URL: 'http://127.0.0.1:9',
    // No workflow manifests: registering them would publish workflow.registered events ahead of the one asserted.
    WORKFLOWS_DIR: path.join(tmpdir(), 'no-workflows-here'),
    ...nats,
  };
  for (const name of ['SMTP_URL', 'WHATSAPP_PHONE_NUMBER_ID', 'WHATSAPP_ACCESS_TOKEN', 'AI_BASE_URL', 'AI_MODEL', 'AI_API_KEY']) {
    delete (env as Record<string, string | undefined>)[name];
  }
  const { app } = await bootService(AppModule.forRoot(validateEnv(WorkflowExecutorConfig, env)));
  return { app, db, dataSource: app.get(DataSource), coreBearer: () => keys.bearer(RequesterId.Core, 'workflow-executor') };
}

const taskWorkflow = (traceId: string, userId: string) => ({
  trace_id: traceId,
  decision: 'workflow',
  data: { workflow_type: 'workflow', payload: { action_type: 'task', title: 'ship the NATS transport', user_id: userId } },
});

describe('executor events over JetStream', () => {
  let keys: TestKeys;

  beforeAll(() => {
    keys = createTestKeys('executor-nats');
  });

  afterAll(() => keys?.remove());

  describeNats('with NATS up', () => {
    let h: Harness;
    let stream: TestStream;

    async function receive(service: ServiceName): Promise<JsMsg> {
      const jsm = await stream.nc.jetstreamManager();
      await jsm.consumers.add(stream.settings.stream, {
        durable_name: service,
        filter_subject: `${stream.settings.subjectPrefix}.${service}.>`,
        ack_policy: AckPolicy.Explicit,
      });
      // The relay publishes after the execute call has answered: a ceiling for a busy machine (eventually's), not a pace.
      const msg = await (await stream.nc.jetstream().consumers.get(stream.settings.stream, service)).next({ expires: 20_000 });
      if (!msg) throw new Error(`nothing published for ${service}`);
      msg.ack();
      return msg;
    }

    beforeAll(async () => {
      stream = await createTestStream(NATS_URL as string, 'EXEC');
      h = await buildExecutor(keys, stream.env);
    });

    afterAll(async () => {
      await h?.app.close();
      await h?.db.drop();
      await stream?.delete();
    });

    it('publishes the workflow_execution event for Bucket and the life event for Karma, signed and traced', async () => {
      const res = await request(h.app.getHttpServer())
        .post(EXECUTE)
        .set('authorization', await h.coreBearer())
        .send(taskWorkflow('t-nats-1', 'u-nats'));
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('success');

      const policy = PolicyService.fromEnv({});
      for (const [service, receiver] of [['bucket', RequesterId.Bucket], ['karma', RequesterId.Karma]] as const) {
        const msg = await receive(service);
        const headers = headerRecord(msg.headers);
        const body = JSON.parse(msg.string());
        if (service === 'bucket') {
          expect(msg.subject).toBe(`${stream.settings.subjectPrefix}.bucket.workflow-event`);
          expect(headers['nats-msg-id']).toBe('bucket.workflow-event:t-nats-1');
          expect(body).toMatchObject({
            requester_id: 'workflow_executor',
            event_data: { event_type: 'workflow_execution', trace_id: 't-nats-1', action_type: 'task', status: 'success', user_id: 'u-nats' },
          });
        } else {
          expect(msg.subject).toBe(`${stream.settings.subjectPrefix}.karma.life-event`);
          expect(headers['nats-msg-id']).toBe('karma.life-event:t-nats-1');
          expect(body).toMatchObject({ type: 'life_event', source: 'workflow_executor', data: { user_id: 'u-nats', action: 'workflow_success' } });
        }
        expect(headers['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
        // A token for this very receiver, from the executor.
        const token = headers['authorization'].replace(/^Bearer /, '');
        const requester = await new TokenVerifier(loadKeyStore(receiver, { PANCHA_KEYS_DIR: keys.dir }), policy, service).verify(token);
        expect(requester.id).toBe(RequesterId.WorkflowExecutor);
      }

      await eventually(async () => {
        const rows: { topic: string; status: string; attempts: number }[] = await h.dataSource.query(
          `SELECT topic, status, attempts FROM outbox WHERE message_key = 't-nats-1' ORDER BY topic`,
        );
        expect(rows).toEqual([
          { topic: 'bucket.workflow-event', status: 'delivered', attempts: 1 },
          { topic: 'karma.life-event', status: 'delivered', attempts: 1 },
        ]);
      });
    });
  });

  describe('with NATS down', () => {
    let h: Harness;

    beforeAll(async () => {
      h = await buildExecutor(keys, { NATS_URL: 'nats://127.0.0.1:1', NATS_STREAM: 'UNREACHABLE' });
    });

    afterAll(async () => {
      await h?.app.close();
      await h?.db.drop();
    });

    it('still executes and answers, and keeps the events pending in the outbox (retrying)', async () => {
      const res = await request(h.app.getHttpServer())
        .post(EXECUTE)
        .set('authorization', await h.coreBearer())
        .send(taskWorkflow('t-nats-down', 'u-down'));
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('success');
      await eventually(async () => {
        const rows: { status: string; attempts: number; last_error: string }[] = await h.dataSource.query(
          `SELECT status, attempts, last_error FROM outbox WHERE message_key = 't-nats-down'`,
        );
        expect(rows).toHaveLength(2);
        for (const row of rows) {
          expect(row.status).toBe('pending');
          expect(row.attempts).toBeGreaterThanOrEqual(1);
          expect(row.last_error).toMatch(/jetstream publish to unreachable\.(bucket|karma)\..* failed: NATS is not connected/);
        }
      }, 30_000);
    });
  });
});
