/**
 * The relay owns dead-lettering: when it gives up on a dispatch, the task becomes dispatch_dead in the very
 * transaction that writes the dead letter, so nobody ever sees one without the other (before, the handler
 * marked the task in a transaction of its own, ahead of the relay's dead letter).
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { REQUESTER_IDS } from '@pancha/contracts';
import { ensureKeyPairs } from '@pancha/governance';
import { configureApp, validateEnv } from '@pancha/service-kit';
import { createTestDatabase, eventually, queryRows, type TestDatabase } from '@pancha/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { AppModule } from '../../app.module';
import { CoreConfig } from '../../config/env.validation';

jest.setTimeout(60_000);

interface StandIn {
  url: string;
  calls: { path: string; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

/** A downstream that records each JSON call and answers `reply(path)`. */
async function standIn(reply: (path: string) => { status: number; body: unknown }): Promise<StandIn> {
  const calls: StandIn['calls'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      calls.push({ path: req.url ?? '/', body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
      const { status, body } = reply(req.url ?? '/');
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('a dispatch the relay gives up on', () => {
  const keysDir = mkdtempSync(path.join(tmpdir(), 'core-dead-keys-'));
  let executorStatus = 400;
  let executor: StandIn;
  let bucket: StandIn;
  let db: TestDatabase;
  let app: INestApplication;

  /** The task and its dead letter, read together in one snapshot from outside Core. */
  const taskAndDeadLetter = async (taskId: string) =>
    (
      await queryRows<{ status: string; reason: string | null; dead_letter: string | null }>(
        db.url,
        `SELECT t.status, t.execution_result->>'reason' AS reason, d.reason AS dead_letter
         FROM tasks t LEFT JOIN outbox_dead_letter d ON d.topic = 'workflow-executor.execute' AND d.message_key = t.task_id::text
         WHERE t.task_id = $1`,
        [taskId],
      )
    )[0];

  beforeAll(async () => {
    ensureKeyPairs(keysDir, REQUESTER_IDS);
    process.env.PANCHA_KEYS_DIR = keysDir;
    executor = await standIn(() =>
      executorStatus === 400
        ? { status: 400, body: { status: 'failed', reason: 'missing_workflow_payload' } }
        : { status: executorStatus, body: { code: 'unavailable', message: 'down' } },
    );
    bucket = await standIn(() => ({ status: 201, body: { success: true, event_id: 'e', seq: 1, hash: 'h' } }));
    db = await createTestDatabase('core_dead_letter');
    const config = validateEnv(CoreConfig, {
      DATABASE_URL: db.url,
      PANCHA_KEYS_DIR: keysDir,
      LOG_LEVEL: 'silent',
      WORKFLOW_EXECUTOR_URL: executor.url,
      BUCKET_URL: bucket.url,
      WORKFLOW_TIMEOUT: '0.5',
      OUTBOX_POLL_INTERVAL_MS: '20',
      OUTBOX_BASE_DELAY_MS: '10',
      OUTBOX_MAX_DELAY_MS: '20',
      OUTBOX_MAX_ATTEMPTS: '3',
    });
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] }).compile();
    app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
    configureApp(app);
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
    await executor?.close();
    await bucket?.close();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('is marked dispatch_dead in the dead-letter transaction: never before its dead letter exists', async () => {
    executorStatus = 400;
    // Hold writes to the dead-letter table (reads still work): the relay's dead-letter transaction waits on it.
    const locker = new Client({ connectionString: db.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE outbox_dead_letter IN EXCLUSIVE MODE');

      const res = await request(app.getHttpServer()).post('/handle_task').send({ input: 'todo: rotate keys', user_id: 'u-dead' }).expect(202);
      const taskId = res.body.task_id as string;
      await eventually(() => expect(executor.calls.filter((c) => c.body.trace_id === res.body.trace_id)).toHaveLength(1));
      // The relay has judged the 400 and is now waiting to write the dead letter...
      await eventually(async () => {
        const waiting = await queryRows<{ n: number }>(
          db.url,
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%outbox_dead_letter%'`,
        );
        expect(waiting[0].n).toBe(1);
      });
      // ...so the task must not say dead yet.
      expect(await taskAndDeadLetter(taskId)).toEqual({ status: 'dispatching', reason: null, dead_letter: null });

      await locker.query('ROLLBACK');
      await eventually(async () => expect((await taskAndDeadLetter(taskId)).status).toBe('dispatch_dead'));
      const after = await taskAndDeadLetter(taskId);
      expect(after.dead_letter).toMatch(/^non_retryable: workflow-executor answered 400/);
      expect(after.reason).toBe(after.dead_letter);
      // Its Bucket event was enqueued in the same transaction and goes out.
      await eventually(() =>
        expect(bucket.calls.some((c) => (c.body.event_data as { event_type?: string; task_id?: string })?.event_type === 'task_dispatch_dead' && (c.body.event_data as { task_id?: string }).task_id === taskId)).toBe(true),
      );
    } finally {
      await locker.end();
    }
  });

  it('is marked dispatch_dead with the dead letter when its retries are used up', async () => {
    executorStatus = 503;
    const res = await request(app.getHttpServer()).post('/handle_task').send({ input: 'todo: renew the certificate', user_id: 'u-dead-2' }).expect(202);
    const taskId = res.body.task_id as string;
    await eventually(async () => expect((await taskAndDeadLetter(taskId)).status).toBe('dispatch_dead'));
    const after = await taskAndDeadLetter(taskId);
    expect(after.dead_letter).toMatch(/^max_attempts_exceeded: /);
    expect(after.reason).toBe(after.dead_letter);
    expect(executor.calls.filter((c) => c.body.trace_id === res.body.trace_id)).toHaveLength(3);
  });
});
