/**
 * enqueueAll: many messages in one statement, exactly as that many enqueue calls would have recorded them; inStatement:
 * the same rows as CTEs of a producer's own single statement.
 */
import { Logger } from '@nestjs/common';
import { createTestDatabase, eventually, type TestDatabase } from '@pancha/testing';
import type { DataSource } from 'typeorm';
import { PgOutboxStore } from './pg-outbox.store';
import { openOutboxDataSource, recordingHandler, relayOn } from './testing/outbox-test-kit';

jest.setTimeout(60_000);

describe('OutboxService.enqueueAll', () => {
  let db: TestDatabase;
  let dataSource: DataSource;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    db = await createTestDatabase('outbox_enqueue_all');
    dataSource = await openOutboxDataSource(db.url);
    await dataSource.runMigrations();
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  it('inserts every message in the given order with one statement; a key repeated is kept once; ordered delivery holds', async () => {
    const seen = recordingHandler('run-event');
    const { relay, outbox } = relayOn(dataSource, [seen.handler], { enabled: false });
    const statements: string[] = [];
    await dataSource.transaction(async (manager) => {
      const query = manager.query.bind(manager);
      manager.query = ((sql: string, params?: unknown[]) => {
        statements.push(sql);
        return query(sql, params);
      }) as typeof manager.query;
      await outbox.enqueueAll(manager, [
        { topic: 'run-event', messageKey: 'a', payload: { n: 1 }, orderingKey: 'run-1' },
        { topic: 'run-event', messageKey: 'b', payload: { n: 2 }, orderingKey: 'run-1' },
        { topic: 'run-event', messageKey: 'solo', payload: { n: 3 } },
        { topic: 'run-event', messageKey: 'a', payload: { n: 4 }, orderingKey: 'run-1' },
      ]);
    });
    expect(statements).toHaveLength(1);
    const rows: { message_key: string; ordering_key: string | null; payload: { n: number } }[] = await dataSource.query(
      `SELECT message_key, ordering_key, payload FROM outbox ORDER BY seq`,
    );
    expect(rows).toEqual([
      { message_key: 'a', ordering_key: 'run-1', payload: { n: 1 } },
      { message_key: 'b', ordering_key: 'run-1', payload: { n: 2 } },
      { message_key: 'solo', ordering_key: null, payload: { n: 3 } },
    ]);
    relay.start();
    await eventually(() => expect(seen.calls).toHaveLength(3));
    const run1 = seen.calls.filter((m) => m.orderingKey === 'run-1').map((m) => m.messageKey);
    expect(run1).toEqual(['a', 'b']);
    await relay.stop();
  });

  describe('inStatement', () => {
    beforeAll(async () => {
      await dataSource.query(`CREATE TABLE owned_things (id text PRIMARY KEY, size int NOT NULL)`);
      await dataSource.query(`INSERT INTO owned_things VALUES ('taken', 1)`);
    });

    const write = (outbox: ReturnType<typeof relayOn>['outbox'], things: { id: string; size: number | null }[], messages: Parameters<typeof outbox.inStatement>[0]) => {
      const part = outbox.inStatement(messages, 2, 'SELECT id FROM mine');
      const sql = `WITH mine AS (
          INSERT INTO owned_things SELECT t.id, t.size FROM jsonb_to_recordset($1::jsonb) AS t(id text, size int) ON CONFLICT DO NOTHING RETURNING id
        ), ${part.ctes} SELECT id FROM mine`;
      return { part, run: () => dataSource.query(sql, [JSON.stringify(things), ...part.params]) as Promise<{ id: string }[]> };
    };

    /** A relay that has made its first claim (nothing yet) and sleeps through its ten-minute poll: only a poke wakes it. */
    const sleepingRelay = async (topic: string) => {
      const seen = recordingHandler(topic);
      const { relay, outbox } = relayOn(dataSource, [seen.handler], { enabled: false, pollIntervalMs: 600_000, lingerMs: 0 });
      const claims = jest.spyOn(PgOutboxStore.prototype, 'claim');
      relay.start();
      await eventually(() => expect(claims).toHaveBeenCalledTimes(1));
      await claims.mock.results[0].value;
      return { seen, relay, outbox, claims };
    };

    it("stores the messages of the rows the caller's statement stored, and those without an owner, in order; committed() wakes the relay", async () => {
      const { seen, relay, outbox, claims } = await sleepingRelay('owned');
      const { part, run } = write(
        outbox,
        [
          { id: 'new-1', size: 1 },
          { id: 'taken', size: 2 },
          { id: 'new-2', size: 3 },
        ],
        [
          { topic: 'owned', messageKey: 'm-new-1', payload: { n: 1 }, owner: 'new-1', orderingKey: 'things' },
          { topic: 'owned', messageKey: 'm-taken', payload: { n: 2 }, owner: 'taken', orderingKey: 'things' },
          { topic: 'owned', messageKey: 'm-free', payload: { n: 3 } },
          { topic: 'owned', messageKey: 'm-new-2', payload: { n: 4 }, owner: 'new-2', orderingKey: 'things' },
        ],
      );
      expect((await run()).map((r) => r.id).sort()).toEqual(['new-1', 'new-2']);
      const rows: { message_key: string; ordering_key: string | null }[] = await dataSource.query(
        `SELECT message_key, ordering_key FROM outbox WHERE topic = 'owned' ORDER BY seq`,
      );
      expect(rows).toEqual([
        { message_key: 'm-new-1', ordering_key: 'things' },
        { message_key: 'm-free', ordering_key: null },
        { message_key: 'm-new-2', ordering_key: 'things' },
      ]);
      part.committed();
      await eventually(() => expect(seen.calls.map((m) => m.messageKey).sort()).toEqual(['m-free', 'm-new-1', 'm-new-2']));
      expect(seen.calls.filter((m) => m.orderingKey === 'things').map((m) => m.messageKey)).toEqual(['m-new-1', 'm-new-2']);
      claims.mockRestore();
      await relay.stop();
    });

    it('inTransactionStatement: the messages of a statement inside a transaction wake the relay when it commits', async () => {
      const { seen, relay, outbox, claims } = await sleepingRelay('in-tx');
      expect(() => outbox.inTransactionStatement(dataSource.manager, [], 1)).toThrow(/inside the producer transaction/);
      await dataSource.transaction(async (manager) => {
        const part = outbox.inTransactionStatement(manager, [{ topic: 'in-tx', messageKey: 'm-1', payload: { n: 1 } }], 2);
        await manager.query(`WITH mine AS (INSERT INTO owned_things VALUES ($1, 5) RETURNING id), ${part.ctes} SELECT id FROM mine`, ['in-tx-1', ...part.params]);
        // Still inside the transaction: the relay has not been woken to claim a row it could not see.
        expect(claims).toHaveBeenCalledTimes(1);
      });
      await eventually(() => expect(seen.calls.map((m) => m.messageKey)).toEqual(['m-1']));
      claims.mockRestore();
      await relay.stop();
    });

    it('stores no message when the statement fails', async () => {
      const { outbox } = relayOn(dataSource, [recordingHandler('failing').handler], { enabled: false });
      const { run } = write(outbox, [{ id: 'bad', size: null }], [
        { topic: 'failing', messageKey: 'm-bad', payload: {}, owner: 'bad' },
        { topic: 'failing', messageKey: 'm-free', payload: {} },
      ]);
      await expect(run()).rejects.toThrow(/null value in column "size"/);
      expect(await dataSource.query(`SELECT 1 FROM outbox WHERE topic = 'failing'`)).toHaveLength(0);
    });
  });
});
