/**
 * The relay's cost per delivery: one claim statement per round (up to batchSize rows) and outcomes recorded in
 * batches, never one statement per row. It is meant to carry hundreds of rows per second.
 */
import { Logger } from '@nestjs/common';
import { createTestDatabase, eventually, type TestDatabase } from '@pancha/testing';
import type { DataSource } from 'typeorm';
import { openOutboxDataSource, recordingHandler, relayOn } from './testing/outbox-test-kit';

jest.setTimeout(60_000);

describe('outbox relay round trips', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let relayDataSource: DataSource;
  const statements: string[] = [];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    db = await createTestDatabase('outbox_round_trips');
    dataSource = await openOutboxDataSource(db.url);
    await dataSource.runMigrations();
    relayDataSource = await openOutboxDataSource(db.url, statements);
    statements.length = 0; // the connection's own start-up queries
  });

  afterEach(async () => {
    await dataSource.query(`TRUNCATE outbox, outbox_dead_letter`);
    statements.length = 0;
  });

  afterAll(async () => {
    await relayDataSource?.destroy();
    await dataSource?.destroy();
    await db?.drop();
  });

  it('delivers 400 rows with one claim per batch and a handful of rows per outcome statement', async () => {
    const rows = 400;
    const { outbox } = relayOn(dataSource, [], { enabled: false });
    for (let tx = 0; tx < rows / 100; tx++) {
      await dataSource.transaction(async (manager) => {
        for (let i = 0; i < 100; i++) {
          await outbox.enqueue(manager, { topic: 't', messageKey: `m${tx * 100 + i}`, payload: { i } });
        }
      });
    }
    const sink = recordingHandler('t');
    // A long poll interval: every claim after the first is one the relay made because the last was full.
    const { relay } = relayOn(relayDataSource, [sink.handler], { batchSize: 50, concurrency: 16, pollIntervalMs: 60_000 });
    try {
      await eventually(async () => {
        const [{ n }] = await dataSource.query(`SELECT count(*)::int AS n FROM outbox WHERE status = 'delivered'`);
        expect(n).toBe(rows);
      }, 30_000);
    } finally {
      await relay.stop();
    }
    expect(sink.calls).toHaveLength(rows);

    const count = (pattern: RegExp): number => statements.filter((s) => pattern.test(s)).length;
    const claims = count(/WITH picked AS/);
    const settles = count(/status = CASE WHEN v\.delay_ms IS NULL/);
    const renewals = count(/SET locked_until = now\(\) \+ \(\$3::int/);
    // 8 full batches, then the one that found nothing left.
    expect(claims).toBeLessThanOrEqual(rows / 50 + 1);
    // Group commit: whatever finished while the previous statement ran is recorded by the next one.
    expect(settles).toBeLessThanOrEqual(rows / 4);
    // Nothing else: no statement per row, no transaction per delivery.
    expect(statements.length).toBe(claims + settles + renewals);
  });

  it('with a batching handler, records each batch of rows with one outcome statement', async () => {
    const rows = 400;
    const { outbox } = relayOn(dataSource, [], { enabled: false });
    await dataSource.transaction(async (manager) => {
      for (let i = 0; i < rows; i++) await outbox.enqueue(manager, { topic: 't', messageKey: `b${i}`, payload: { i } });
    });
    const batches: number[] = [];
    const handler = {
      ...recordingHandler('t').handler,
      deliverBatch: async (messages: readonly unknown[]) => {
        batches.push(messages.length);
        return messages.map(() => ({ ok: true as const }));
      },
    };
    const { relay } = relayOn(relayDataSource, [handler], { batchSize: 50, maxBatch: 50, concurrency: 16, pollIntervalMs: 60_000 });
    try {
      await eventually(async () => {
        const [{ n }] = await dataSource.query(`SELECT count(*)::int AS n FROM outbox WHERE status = 'delivered'`);
        expect(n).toBe(rows);
      }, 30_000);
    } finally {
      await relay.stop();
    }
    expect(batches.reduce((a, b) => a + b, 0)).toBe(rows);
    expect(batches).toEqual(Array(rows / 50).fill(50));
    const settles = statements.filter((s) => /status = CASE WHEN v\.delay_ms IS NULL/.test(s)).length;
    // One statement per batch at most (batches that finish together share one).
    expect(settles).toBeLessThanOrEqual(batches.length);
  });
});
