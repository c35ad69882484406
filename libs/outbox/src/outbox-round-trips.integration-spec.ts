/**
 * The relay's cost per delivery: one claim statement per round (up to batchSize rows) and outcomes recorded in
 * batches, never one statement per row. It is meant to carry hundreds of rows per second.
 */
import { Logger } from '@nestjs/common';
import { createTestDatabase, eventually, type TestDatabase } from '@pancha/testing';
import type { DataSource } from 'typeorm';
import { openOutboxDataSource, outboxPagesRead, recordingHandler, relayOn } from './testing/outbox-test-kit';

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
    const claims = count(/outbox_claim\(/);
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

  it('a claim reads its batch of a large backlog, not the backlog, while the table has no statistics', async () => {
    // A young table under load: never analysed, 20,000 rows pending. The planner's guess without statistics
    // ("about a hundred pending rows") made the plain statement read every pending row's page and sort them
    // (4,034 heap pages here, 120 ms a claim in the events bench); the claim function reads them in seq order.
    await dataSource.query(`TRUNCATE outbox`);
    await dataSource.query(
      `INSERT INTO outbox (id, topic, message_key, payload) SELECT gen_random_uuid(), 't', 'p' || i, '{}' FROM generate_series(1, 20000) AS i`,
    );
    const runner = dataSource.createQueryRunner();
    await runner.startTransaction();
    try {
      const before = await outboxPagesRead(runner);
      const claimed: { seq: string }[] = await runner.query(`SELECT seq FROM outbox_claim(50, 30000, ARRAY['t'], gen_random_uuid())`);
      const pages = (await outboxPagesRead(runner)) - before;
      // The 50 earliest rows.
      const [{ first }] = await runner.query(`SELECT min(seq)::int AS first FROM outbox`);
      expect(claimed.map((r) => Number(r.seq)).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => first + i));
      // The plain statement read 4,034 pages of this table here; the claim reads its 50 rows' pages, twice.
      expect(pages).toBeLessThan(500);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  });

  it('a connection that first claimed from an empty table still reads only its batch of a large keyed backlog', async () => {
    // outbox_claim keeps one plan per connection. Made on an empty, unanalysed table, a plan left to the statistics
    // could scan the table for the ordering-key check (or sort it) and keep doing so at any size; the function allows
    // only the index walk.
    await dataSource.query(`TRUNCATE outbox`);
    const runner = dataSource.createQueryRunner();
    try {
      for (let i = 0; i < 8; i++) {
        await expect(runner.query(`SELECT seq FROM outbox_claim(50, 30000, ARRAY['t'], gen_random_uuid())`)).resolves.toEqual([]);
      }
      // 20,000 pending rows on 2,000 ordering keys, and as many delivered rows.
      await dataSource.query(`
        INSERT INTO outbox (id, topic, message_key, ordering_key, payload, status, delivered_at)
        SELECT gen_random_uuid(), 't', 'p' || i, 'k' || (i % 2000), '{}',
               CASE WHEN i <= 20000 THEN 'delivered' ELSE 'pending' END, CASE WHEN i <= 20000 THEN now() END
        FROM generate_series(1, 40000) AS i`);
      await runner.startTransaction();
      const before = await outboxPagesRead(runner);
      const claimed: { seq: string }[] = await runner.query(`SELECT seq FROM outbox_claim(50, 30000, ARRAY['t'], gen_random_uuid())`);
      const pages = (await outboxPagesRead(runner)) - before;
      // The first row of each of the first 50 keys: the 50 earliest pending rows, each key's first.
      const [{ first }] = await runner.query(`SELECT min(seq)::int AS first FROM outbox WHERE status = 'pending'`);
      expect(claimed.map((r) => Number(r.seq)).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => first + i));
      // A scan would read the table's 604 pages and more; the claim reads its 50 rows, about 360 page reads.
      expect(pages).toBeLessThan(500);
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }
  });
});
