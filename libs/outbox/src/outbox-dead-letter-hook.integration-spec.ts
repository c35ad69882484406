/**
 * The relay owns dead-lettering: a handler's onDeadLetter runs inside the transaction that marks the row dead and
 * writes its dead letter, so the producer's own state (a task's dispatch_dead) and the dead letter are never
 * seen apart, and a hook that fails leaves neither.
 */
import { Logger } from '@nestjs/common';
import { createTestDatabase, eventually, type TestDatabase } from '@pancha/testing';
import type { DataSource, EntityManager } from 'typeorm';
import { OutboxDeliveryError } from './outbox-delivery.error';
import type { OutboxHandler, OutboxMessage } from './outbox-handler.interface';
import type { OutboxRelay } from './outbox-relay.service';
import type { OutboxService } from './outbox.service';
import { openOutboxDataSource, recordingHandler, relayOn } from './testing/outbox-test-kit';

jest.setTimeout(30_000);

interface Verdict {
  message_key: string;
  reason: string;
}

describe('OutboxHandler.onDeadLetter', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let relays: OutboxRelay[] = [];

  const deadLetters = (): Promise<{ message_key: string; reason: string }[]> =>
    dataSource.query(`SELECT message_key, reason FROM outbox_dead_letter ORDER BY message_key`);
  const verdicts = (): Promise<Verdict[]> => dataSource.query(`SELECT message_key, reason FROM verdicts ORDER BY message_key`);

  beforeAll(async () => {
    Logger.overrideLogger(false);
    db = await createTestDatabase('outbox_dead_letter_hook');
    dataSource = await openOutboxDataSource(db.url);
    await dataSource.runMigrations();
    await dataSource.query(`CREATE TABLE verdicts (message_key text PRIMARY KEY, reason text NOT NULL)`);
  });

  afterEach(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    relays = [];
    await dataSource.query(`TRUNCATE outbox, outbox_dead_letter, verdicts`);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  /** A handler that always fails with `error`, whose hook records the verdict (and may enqueue a follow-up). */
  function refusing(error: Error, onDead: (manager: EntityManager, message: OutboxMessage, reason: string, prepared?: unknown) => Promise<void>): OutboxHandler {
    return {
      topic: 'command',
      async deliver() {
        throw error;
      },
      onDeadLetter: onDead,
    };
  }

  it('runs inside the dead-letter transaction: its writes and follow-up messages commit with the dead letter', async () => {
    const seenInside: unknown[] = [];
    const late: { outbox?: OutboxService } = {}; // the relay needs the handler before the service exists
    const handler = refusing(new OutboxDeliveryError('HTTP 400 missing_workflow_payload', { retryable: false }), async (manager, message, reason) => {
      // Inside: the row is already dead and its dead letter written, in this uncommitted transaction...
      const [inside] = await manager.query(
        `SELECT o.status, d.reason FROM outbox o JOIN outbox_dead_letter d USING (id) WHERE o.id = $1`,
        [message.id],
      );
      // ...which nobody outside sees yet.
      const [outside] = await dataSource.query(`SELECT status FROM outbox WHERE id = $1`, [message.id]);
      seenInside.push(inside, outside);
      await manager.query(`INSERT INTO verdicts (message_key, reason) VALUES ($1, $2)`, [message.messageKey, reason]);
      await late.outbox?.enqueue(manager, { topic: 'notice', messageKey: `dead:${message.messageKey}`, payload: { reason } });
    });
    const notices = recordingHandler('notice');
    const started = relayOn(dataSource, [handler, notices.handler]);
    relays.push(started.relay);
    late.outbox = started.outbox;

    await dataSource.transaction((m) => started.outbox.enqueue(m, { topic: 'command', messageKey: 'c1', payload: {} }));

    await eventually(async () => expect(await verdicts()).toEqual([{ message_key: 'c1', reason: 'non_retryable: HTTP 400 missing_workflow_payload' }]));
    expect(seenInside).toEqual([{ status: 'dead', reason: 'non_retryable: HTTP 400 missing_workflow_payload' }, { status: 'pending' }]);
    expect(await deadLetters()).toEqual([{ message_key: 'c1', reason: 'non_retryable: HTTP 400 missing_workflow_payload' }]);
    // The follow-up enqueued by the hook is delivered too (the commit pokes the relay).
    await eventually(() => expect(notices.calls.map((c) => [c.messageKey, c.payload])).toEqual([['dead:c1', { reason: 'non_retryable: HTTP 400 missing_workflow_payload' }]]));
  });

  it('is called with the reason when retries are used up', async () => {
    const handler = refusing(new Error('connect ECONNREFUSED 10.0.0.7:8003'), async (manager, message, reason) => {
      await manager.query(`INSERT INTO verdicts (message_key, reason) VALUES ($1, $2)`, [message.messageKey, reason]);
    });
    const { relay, outbox } = relayOn(dataSource, [handler], { maxAttempts: 3 });
    relays.push(relay);
    await dataSource.transaction((m) => outbox.enqueue(m, { topic: 'command', messageKey: 'c2', payload: {} }));
    await eventually(async () => expect(await verdicts()).toEqual([{ message_key: 'c2', reason: 'max_attempts_exceeded: connect ECONNREFUSED 10.0.0.7:8003' }]));
    const [row] = await dataSource.query(`SELECT status, attempts FROM outbox WHERE message_key = 'c2'`);
    expect(row).toEqual({ status: 'dead', attempts: 3 });
    expect(await deadLetters()).toHaveLength(1);
  });

  it('beforeDeadLetter runs outside the transaction and hands its result to onDeadLetter; if it throws, nothing is recorded', async () => {
    let asks = 0;
    const openTransactions: number[] = [];
    const handler: OutboxHandler = {
      ...refusing(new OutboxDeliveryError('HTTP 422', { retryable: false }), async (manager, message, reason, prepared) => {
        await manager.query(`INSERT INTO verdicts (message_key, reason) VALUES ($1, $2)`, [message.messageKey, `${reason} | ${String(prepared)}`]);
      }),
      async beforeDeadLetter(message) {
        asks++;
        // No transaction of this message is open while it asks (the peer's answer may take seconds).
        const [{ n }] = await dataSource.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'idle in transaction' AND datname = current_database()`);
        openTransactions.push(n);
        if (asks === 1) throw new Error('peer down');
        return `asked about ${message.messageKey}`;
      },
    };
    const { relay, outbox } = relayOn(dataSource, [handler], { enabled: false });
    relays.push(relay);
    await dataSource.transaction((m) => outbox.enqueue(m, { topic: 'command', messageKey: 'c4', payload: {} }));

    await relay.drainOnce();
    const [afterFailure] = await dataSource.query(`SELECT status, last_error FROM outbox WHERE message_key = 'c4'`);
    expect(afterFailure).toEqual({ status: 'pending', last_error: 'on_dead_letter_failed: peer down; non_retryable: HTTP 422' });
    expect(await deadLetters()).toEqual([]);

    await dataSource.query(`UPDATE outbox SET next_attempt_at = now() WHERE message_key = 'c4'`);
    await relay.drainOnce();
    expect(await verdicts()).toEqual([{ message_key: 'c4', reason: 'non_retryable: HTTP 422 | asked about c4' }]);
    expect(openTransactions).toEqual([0, 0]);
  });

  it('when the hook fails, neither the dead letter nor its writes exist; the message is retried and buried later', async () => {
    let hookCalls = 0;
    const handler = refusing(new OutboxDeliveryError('HTTP 422', { retryable: false }), async (manager, message, reason) => {
      hookCalls++;
      await manager.query(`INSERT INTO verdicts (message_key, reason) VALUES ($1, $2)`, [message.messageKey, reason]);
      if (hookCalls === 1) throw new Error('task table locked');
    });
    const { relay, outbox } = relayOn(dataSource, [handler], { enabled: false });
    relays.push(relay);
    await dataSource.transaction((m) => outbox.enqueue(m, { topic: 'command', messageKey: 'c3', payload: {} }));

    await relay.drainOnce();
    const [afterFailure] = await dataSource.query(`SELECT status, attempts, last_error FROM outbox WHERE message_key = 'c3'`);
    expect(afterFailure).toEqual({ status: 'pending', attempts: 1, last_error: 'on_dead_letter_failed: task table locked; non_retryable: HTTP 422' });
    expect(await deadLetters()).toEqual([]);
    expect(await verdicts()).toEqual([]);

    await dataSource.query(`UPDATE outbox SET next_attempt_at = now() WHERE message_key = 'c3'`);
    await relay.drainOnce();
    expect(hookCalls).toBe(2);
    expect(await verdicts()).toEqual([{ message_key: 'c3', reason: 'non_retryable: HTTP 422' }]);
    expect(await deadLetters()).toEqual([{ message_key: 'c3', reason: 'non_retryable: HTTP 422' }]);
  });
});
