/** enqueueAll: many messages in one statement, exactly as that many enqueue calls would have recorded them. */
import { Logger } from '@nestjs/common';
import { createTestDatabase, eventually, type TestDatabase } from '@pancha/testing';
import type { DataSource } from 'typeorm';
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
});
