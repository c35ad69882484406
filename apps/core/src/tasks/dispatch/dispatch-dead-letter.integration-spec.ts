/**
 * The relay owns dead-lettering: when it gives up on a dispatch, the task becomes dispatch_dead in the very
 * transaction that writes the dead letter, so nobody ever sees one without the other (before, the handler
 * marked the task in a transaction of its own, ahead of the relay's dead letter).
 */
import type { INestApplication } from '@nestjs/common';
import { EXECUTOR_EXECUTE_BATCH_ROUTE } from '@pancha/contracts';
import { validateEnv } from '@pancha/service-kit';
import { bootService, createTestDatabase, createTestKeys, eventually, queryRows, StandInServer, type RecordedRequest, type TestDatabase } from '@pancha/testing';
import { Client } from 'pg';
import request from 'supertest';
import { AppModule } from '../../app.module';
import { CoreConfig } from '../../config/env.validation';

jest.setTimeout(60_000);

/** The JSON body of a call a stand-in received. */
const bodyOf = (req: RecordedRequest) => (req.body ?? {}) as Record<string, unknown>;

describe('a dispatch the relay gives up on', () => {
  const keys = createTestKeys('core-dead');
  let executorStatus = 400;
  const executor = new StandInServer(() =>
    executorStatus === 400
      ? { status: 400, body: { status: 'failed', reason: 'missing_workflow_payload' } }
      : { status: executorStatus, body: { code: 'unavailable', message: 'down' } },
  );
  executor.speaksBatch(EXECUTOR_EXECUTE_BATCH_ROUTE, '/api/workflow/execute');
  const bucket = new StandInServer(() => ({ status: 201, body: { success: true, event_id: 'e', seq: 1, hash: 'h' } }));
  let db: TestDatabase;
  let app: INestApplication;
  const executeCalls = (traceId: string) => executor.requests.filter((r) => bodyOf(r).trace_id === traceId);

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
    process.env.PANCHA_KEYS_DIR = keys.dir;
    await executor.start();
    await bucket.start();
    db = await createTestDatabase('core_dead_letter');
    // WORKFLOW_TIMEOUT stays at its default: a short one times out healthy calls on a busy machine, and a timeout
    // is retried, which would add calls these tests count.
    const config = validateEnv(CoreConfig, {
      DATABASE_URL: db.url,
      PANCHA_KEYS_DIR: keys.dir,
      LOG_LEVEL: 'silent',
      WORKFLOW_EXECUTOR_URL: executor.url,
      BUCKET_URL: bucket.url,
      OUTBOX_POLL_INTERVAL_MS: '20',
      OUTBOX_BASE_DELAY_MS: '10',
      OUTBOX_MAX_DELAY_MS: '20',
      OUTBOX_MAX_ATTEMPTS: '3',
    });
    ({ app } = await bootService(AppModule.forRoot(config)));
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
    await executor.stop();
    await bucket.stop();
    keys.remove();
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
      await eventually(() => expect(executeCalls(res.body.trace_id)).toHaveLength(1));
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
        expect(
          bucket.requests.some((r) => {
            const event = bodyOf(r).event_data as { event_type?: string; task_id?: string } | undefined;
            return event?.event_type === 'task_dispatch_dead' && event.task_id === taskId;
          }),
        ).toBe(true),
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
    expect(executeCalls(res.body.trace_id)).toHaveLength(3);
  });
});
