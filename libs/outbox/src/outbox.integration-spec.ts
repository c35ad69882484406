import { type INestApplication, Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SpanKind } from '@opentelemetry/api';
import { createTestDatabase, eventually, type TestDatabase } from '@pancha/testing';
import { currentTraceId, getTracer, installInMemoryTracing } from '@pancha/trace-context';
import request from 'supertest';
import { DataSource } from 'typeorm';
import {
  OUTBOX_ENTITIES,
  OUTBOX_MIGRATIONS,
  OutboxDeliveryError,
  type OutboxHandler,
  type OutboxMessage,
  OutboxModule,
  type OutboxOptions,
  OutboxRelay,
  OutboxService,
  PgOutboxStore,
} from './index';

const tracing = installInMemoryTracing();
jest.setTimeout(30_000);

interface Row {
  id: string;
  topic: string;
  message_key: string;
  payload: unknown;
  headers: Record<string, string>;
  status: string;
  attempts: number;
  last_error: string | null;
  delivered_at: Date | null;
  locked_until: Date | null;
  lease_token: string | null;
}

const fast: Partial<OutboxOptions> = {
  enabled: true,
  pollIntervalMs: 20,
  baseDelayMs: 1,
  maxDelayMs: 5,
  deliveryTimeoutMs: 2000,
  leaseMs: 60_000,
  shutdownTimeoutMs: 2000,
};

const waitFor = (predicate: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> =>
  eventually(async () => expect(await predicate()).toBe(true), { timeoutMs, intervalMs: 10 });

function handler(topic: string, behaviour: (m: OutboxMessage, call: number) => Promise<void> | void = () => undefined) {
  const calls: OutboxMessage[] = [];
  const h: OutboxHandler = {
    topic,
    async deliver(message) {
      calls.push(message);
      await behaviour(message, calls.length);
    },
  };
  return { handler: h, calls };
}

async function newDataSource(url: string): Promise<DataSource> {
  const ds = new DataSource({
    type: 'postgres',
    url,
    entities: OUTBOX_ENTITIES,
    migrations: OUTBOX_MIGRATIONS,
    synchronize: false,
    logging: ['error'],
  });
  return ds.initialize();
}

describe('outbox over PostgreSQL', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let relays: OutboxRelay[] = [];
  const extraDataSources: DataSource[] = [];

  const start = (handlers: OutboxHandler[], options: Partial<OutboxOptions> = {}, ds = dataSource) => {
    const store = new PgOutboxStore(ds);
    const relay = new OutboxRelay(store, handlers, { ...fast, ...options });
    relays.push(relay);
    if (options.enabled !== false) relay.start();
    return { relay, outbox: new OutboxService(relay, store) };
  };
  const rows = (): Promise<Row[]> => dataSource.query(`SELECT * FROM outbox ORDER BY seq`);
  const row = async (key: string): Promise<Row> =>
    (await dataSource.query(`SELECT * FROM outbox WHERE message_key = $1`, [key]))[0];
  const deadLetters = (): Promise<(Row & { reason: string })[]> => dataSource.query(`SELECT * FROM outbox_dead_letter`);

  beforeAll(async () => {
    Logger.overrideLogger(false);
    db = await createTestDatabase('outbox');
    dataSource = await newDataSource(db.url);
    await dataSource.runMigrations();
  });

  afterEach(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    relays = [];
    await dataSource.query(`TRUNCATE outbox, outbox_dead_letter`);
  });

  afterAll(async () => {
    for (const ds of extraDataSources) await ds.destroy();
    await dataSource?.destroy();
    await db?.drop();
  });

  describe('migration', () => {
    it('creates both tables with the unique (topic, message_key), the claim and retention indexes and the claim function, and down removes them', async () => {
      const indexes: { indexname: string }[] = await dataSource.query(
        `SELECT indexname FROM pg_indexes WHERE tablename = 'outbox' ORDER BY indexname`,
      );
      expect(indexes.map((i) => i.indexname)).toEqual([
        'IDX_outbox_delivered_at',
        'IDX_outbox_pending_ordering_key',
        'IDX_outbox_pending_seq',
        'PK_outbox',
        'UQ_outbox_topic_message_key',
      ]);
      // The entities mirror the hand-written SQL: a generated migration would have nothing to do.
      const drift = await dataSource.driver.createSchemaBuilder().log();
      expect(drift.upQueries.map((q) => q.query)).toEqual([]);
      const plannedOnce = {
        language: 'plpgsql',
        config: ['enable_sort=off', 'enable_seqscan=off', 'enable_hashjoin=off', 'enable_mergejoin=off', 'plan_cache_mode=force_generic_plan'],
      };
      const claimFunctions = async () =>
        (await dataSource.query(
          `SELECT p.oid::regprocedure::text AS signature, l.lanname AS language, p.proconfig AS config
           FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.proname = 'outbox_claim' ORDER BY p.pronargs`,
        )) as { signature: string; language: string; config: string[] }[];
      // The four-argument claim stays beside the one with key runs, for a relay of the previous release.
      await expect(claimFunctions()).resolves.toEqual([
        { signature: 'outbox_claim(integer,integer,text[],uuid)', ...plannedOnce },
        // Its runs' ranks need a (tiny) sort, which enable_sort = off prices out of the range where JIT stays off.
        { signature: 'outbox_claim(integer,integer,text[],uuid,text[],integer)', ...plannedOnce, config: [...plannedOnce.config, 'jit=off'] },
      ]);
      // Only a pending row holds a lease: the relay's statements on leased rows rely on it.
      const leaseCheck = `SELECT 1 FROM pg_constraint WHERE conname = 'CHK_outbox_lease_only_while_pending' AND convalidated`;
      await expect(dataSource.query(leaseCheck)).resolves.toHaveLength(1);
      await expect(
        dataSource.query(
          `INSERT INTO outbox (id, topic, message_key, payload, status, attempts, next_attempt_at, created_at, lease_token)
           VALUES (gen_random_uuid(), 't', 'leased-but-delivered', '{}', 'delivered', 1, now(), now(), gen_random_uuid())`,
        ),
      ).rejects.toThrow(/CHK_outbox_lease_only_while_pending/);
      await dataSource.undoLastMigration();
      await expect(dataSource.query(leaseCheck)).resolves.toHaveLength(0);
      // Half of each page is left for the rows' next versions (the lease is then a heap-only update).
      const fillfactor = async () =>
        ((await dataSource.query(`SELECT reloptions FROM pg_class WHERE relname = 'outbox'`)) as { reloptions: string[] | null }[])[0]
          .reloptions;
      await expect(fillfactor()).resolves.toEqual(['fillfactor=50']);
      await dataSource.undoLastMigration();
      await expect(fillfactor()).resolves.toBeNull();
      // The key-run migration's down drops the claim with key runs; the one before puts the SQL function back.
      await dataSource.undoLastMigration();
      await expect(claimFunctions()).resolves.toEqual([{ signature: 'outbox_claim(integer,integer,text[],uuid)', ...plannedOnce }]);
      await dataSource.undoLastMigration();
      await expect(claimFunctions()).resolves.toEqual([{ signature: 'outbox_claim(integer,integer,text[],uuid)', language: 'sql', config: ['enable_sort=off'] }]);
      for (let i = 4; i < OUTBOX_MIGRATIONS.length; i++) await dataSource.undoLastMigration();
      const left: unknown[] = await dataSource.query(
        `SELECT table_name FROM information_schema.tables WHERE table_name IN ('outbox', 'outbox_dead_letter')`,
      );
      expect(left).toEqual([]);
      await expect(dataSource.query(`SELECT to_regproc('outbox_claim') AS claim`)).resolves.toEqual([{ claim: null }]);
      await dataSource.runMigrations();
      await expect(rows()).resolves.toEqual([]);
    });
  });

  describe('enqueue', () => {
    it('delivers nothing when the producer transaction rolls back', async () => {
      const { handler: h, calls } = handler('t');
      const { relay, outbox } = start([h], { enabled: false });
      await expect(
        dataSource.transaction(async (manager) => {
          await outbox.enqueue(manager, { topic: 't', messageKey: 'k1', payload: { n: 1 } });
          throw new Error('state change failed');
        }),
      ).rejects.toThrow('state change failed');
      expect(await relay.drainOnce()).toBe(0);
      expect(calls).toHaveLength(0);
      expect(await rows()).toEqual([]);
    });

    it('refuses to run outside a transaction, so a message can never outlive a failed state change', async () => {
      const { outbox } = start([]);
      await expect(outbox.enqueue(dataSource.manager, { topic: 't', messageKey: 'k', payload: {} })).rejects.toThrow(
        /inside the producer transaction/,
      );
      expect(await rows()).toEqual([]);
    });

    it('after commit, delivers once at once (no poll wait) with the payload and the trace of the enqueuing span', async () => {
      const { handler: h, calls } = handler('t', () => {
        deliveredInTrace = currentTraceId();
      });
      let deliveredInTrace: string | undefined;
      // A minute between polls: once the first (empty) round is over, only the post-commit poke can explain a
      // delivery within the wait below.
      const claim = jest.spyOn(PgOutboxStore.prototype, 'claim');
      const { outbox } = start([h], { pollIntervalMs: 60_000 });
      await waitFor(() => claim.mock.calls.length === 1);
      await claim.mock.results[0].value;
      claim.mockRestore();
      tracing.reset();
      const producerTraceId = await getTracer().startActiveSpan('POST /handle_task', async (span) => {
        await dataSource.transaction((m) => outbox.enqueue(m, { topic: 't', messageKey: 'k1', payload: { task: 'x', n: 1 } }));
        span.end();
        return span.spanContext().traceId;
      });
      await waitFor(async () => (await row('k1')).status === 'delivered');

      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({ topic: 't', messageKey: 'k1', orderingKey: null, payload: { task: 'x', n: 1 }, attempts: 0 });
      expect(calls[0].headers.traceparent).toMatch(new RegExp(`^00-${producerTraceId}-[0-9a-f]{16}-01$`));
      expect(deliveredInTrace).toBe(producerTraceId);
      const span = tracing.spans().find((s) => s.name === 'outbox deliver t');
      expect(span?.kind).toBe(SpanKind.PRODUCER);
      expect(span?.spanContext().traceId).toBe(producerTraceId);

      const stored = await row('k1');
      expect(stored).toMatchObject({ status: 'delivered', attempts: 1, locked_until: null, lease_token: null });
      expect(stored.delivered_at).toBeInstanceOf(Date);
      expect(stored.headers.traceparent).toBe(calls[0].headers.traceparent);
    });

    it('keeps the first of two messages with the same (topic, message_key)', async () => {
      const { handler: h, calls } = handler('t');
      const { outbox } = start([h], { enabled: false });
      await dataSource.transaction((m) => outbox.enqueue(m, { topic: 't', messageKey: 'same', payload: { v: 1 } }));
      await dataSource.transaction((m) => outbox.enqueue(m, { topic: 't', messageKey: 'same', payload: { v: 2 } }));
      await dataSource.transaction((m) => outbox.enqueue(m, { topic: 'other', messageKey: 'same', payload: { v: 3 } }));
      expect((await rows()).map((r) => [r.topic, r.payload])).toEqual([
        ['t', { v: 1 }],
        ['other', { v: 3 }],
      ]);
      expect(calls).toHaveLength(0);
    });

    it('a message enqueued twice is delivered once, with the first payload', async () => {
      const { handler: h, calls } = handler('t');
      const { relay, outbox } = start([h], { enabled: false });
      await dataSource.transaction((m) => outbox.enqueue(m, { topic: 't', messageKey: 'same', payload: { v: 1 } }));
      await dataSource.transaction((m) => outbox.enqueue(m, { topic: 't', messageKey: 'same', payload: { v: 2 } }));
      expect(await relay.drainOnce()).toBe(1);
      await dataSource.transaction((m) => outbox.enqueue(m, { topic: 't', messageKey: 'same', payload: { v: 3 } }));
      expect(await relay.drainOnce()).toBe(0);
      expect(calls.map((c) => c.payload)).toEqual([{ v: 1 }]);
    });
  });

  describe('relay', () => {
    it('retries a handler that fails twice and then succeeds: delivered with attempts 3', async () => {
      const { handler: h, calls } = handler('t', (_m, call) => {
        if (call <= 2) throw new OutboxDeliveryError(`HTTP 503 (call ${call})`, { retryable: true });
      });
      const { outbox } = start([h]);
      await dataSource.transaction((m) => outbox.enqueue(m, { topic: 't', messageKey: 'k', payload: {} }));
      await waitFor(async () => (await row('k')).status === 'delivered');
      expect(await row('k')).toMatchObject({ status: 'delivered', attempts: 3, last_error: 'HTTP 503 (call 2)' });
      expect(calls.map((c) => c.attempts)).toEqual([0, 1, 2]);
    });

    it('moves a message that always fails retryably to the dead letter after maxAttempts, with its reason', async () => {
      const { handler: h, calls } = handler('t', () => {
        throw new Error('connect ECONNREFUSED 10.0.0.7:8003');
      });
      const { outbox } = start([h], { maxAttempts: 4 });
      await dataSource.transaction((m) => outbox.enqueue(m, { topic: 't', messageKey: 'k', payload: { a: 1 } }));
      await waitFor(async () => (await row('k')).status === 'dead');
      const dead = await row('k');
      expect(dead).toMatchObject({ attempts: 4, locked_until: null });
      expect(calls).toHaveLength(4);
      expect(await deadLetters()).toEqual([
        expect.objectContaining({
          id: dead.id,
          topic: 't',
          message_key: 'k',
          payload: { a: 1 },
          attempts: 4,
          reason: 'max_attempts_exceeded: connect ECONNREFUSED 10.0.0.7:8003',
        }),
      ]);
    });

    it('dead-letters a non-retryable failure at once', async () => {
      const { handler: h, calls } = handler('t', () => {
        throw new OutboxDeliveryError('HTTP 422 missing_recipient', { retryable: false });
      });
      const { outbox } = start([h]);
      await dataSource.transaction((m) => outbox.enqueue(m, { topic: 't', messageKey: 'k', payload: {} }));
      await waitFor(async () => (await row('k')).status === 'dead');
      expect(calls).toHaveLength(1);
      expect((await row('k')).attempts).toBe(1);
      expect((await deadLetters()).map((d) => d.reason)).toEqual(['non_retryable: HTTP 422 missing_recipient']);
    });

    it('schedules a retry within the backoff cap and does not claim the row before it is due', async () => {
      const { handler: h, calls } = handler('t', () => {
        throw new Error('down');
      });
      const { relay, outbox } = start([h], { baseDelayMs: 30_000, maxDelayMs: 30_000 });
      await dataSource.transaction((m) => outbox.enqueue(m, { topic: 't', messageKey: 'k', payload: {} }));
      await waitFor(async () => (await row('k')).attempts === 1);
      const [{ ok }] = await dataSource.query(
        `SELECT next_attempt_at >= created_at AND next_attempt_at <= now() + interval '30 seconds' AS ok FROM outbox`,
      );
      expect(ok).toBe(true);
      // Full jitter may draw almost nothing, so pin the due time to make "not before" observable.
      await dataSource.query(`UPDATE outbox SET next_attempt_at = now() + interval '1 hour'`);
      expect(await relay.drainOnce()).toBe(0);
      expect(calls).toHaveLength(1);
      await dataSource.query(`UPDATE outbox SET next_attempt_at = now()`);
      await waitFor(() => calls.length === 2);
    });

    it('two relays on separate pools over one table deliver each of 200 messages exactly once', async () => {
      const seen = new Map<string, number>();
      const deliver = async (m: OutboxMessage) => {
        seen.set(m.messageKey, (seen.get(m.messageKey) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, Math.random() * 3));
      };
      const second = await newDataSource(db.url);
      extraDataSources.push(second);
      const a = handler('t', deliver);
      const b = handler('t', deliver);
      const { outbox } = start([a.handler], { batchSize: 7, concurrency: 4, pollIntervalMs: 5 });
      start([b.handler], { batchSize: 7, concurrency: 4, pollIntervalMs: 5 }, second);
      for (let tx = 0; tx < 10; tx++) {
        await dataSource.transaction(async (m) => {
          for (let i = 0; i < 20; i++) {
            await outbox.enqueue(m, { topic: 't', messageKey: `m${tx * 20 + i}`, payload: { i: tx * 20 + i } });
          }
        });
      }
      await waitFor(async () => {
        const [{ n }] = await dataSource.query(`SELECT count(*)::int AS n FROM outbox WHERE status = 'delivered'`);
        return n === 200;
      }, 20_000);
      expect(seen.size).toBe(200);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
      expect(a.calls.length + b.calls.length).toBe(200);
      expect((await rows()).every((r) => r.attempts === 1)).toBe(true);
    });
  });
});

@Injectable()
class ReceiptHandler implements OutboxHandler {
  readonly topic = 'receipt';
  async deliver(): Promise<void> {
    return undefined;
  }
}

@Injectable()
class RejectingHandler implements OutboxHandler {
  readonly topic = 'rejected';
  async deliver(message: OutboxMessage): Promise<void> {
    throw new OutboxDeliveryError(`HTTP 400 for ${message.messageKey}`, { retryable: false });
  }
}

@Injectable()
class FlakyHandler implements OutboxHandler {
  readonly topic = 'flaky';
  async deliver(): Promise<void> {
    throw new OutboxDeliveryError('HTTP 503', { retryable: true });
  }
}

describe('OutboxModule in a Nest application', () => {
  let db: TestDatabase;
  let app: INestApplication;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    db = await createTestDatabase('outbox_module');
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: db.url,
          entities: OUTBOX_ENTITIES,
          migrations: OUTBOX_MIGRATIONS,
          migrationsRun: true,
          synchronize: false,
          logging: ['error'],
        }),
        OutboxModule.forRoot({
          handlers: [ReceiptHandler, RejectingHandler, FlakyHandler],
          // flaky rows stay pending for a minute after their first failure
          relay: { pollIntervalMs: 20, baseDelayMs: 60_000, maxDelayMs: 60_000 },
        }),
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('GET /outbox/stats counts every row once, by status and topic, and emitted = delivered + pending + dead', async () => {
    const outbox = app.get(OutboxService);
    const dataSource = app.get(DataSource);
    expect(app.get(OutboxRelay).isRunning).toBe(true);

    await dataSource.transaction(async (m) => {
      for (let i = 0; i < 5; i++) await outbox.enqueue(m, { topic: 'receipt', messageKey: `r${i}`, payload: { i } });
      for (let i = 0; i < 3; i++) await outbox.enqueue(m, { topic: 'rejected', messageKey: `x${i}`, payload: { i } });
      for (let i = 0; i < 2; i++) await outbox.enqueue(m, { topic: 'flaky', messageKey: `f${i}`, payload: { i } });
      await outbox.enqueue(m, { topic: 'unknown', messageKey: 'u0', payload: {} });
    });
    await waitFor(async () => {
      const [{ n }] = await dataSource.query(
        `SELECT count(*)::int AS n FROM outbox WHERE status <> 'pending' OR (topic = 'flaky' AND attempts = 1)`,
      );
      return n === 10;
    });

    const res = await request(app.getHttpServer()).get('/outbox/stats').expect(200);
    expect(res.body).toEqual({
      emitted: 11,
      delivered: 5,
      pending: 3,
      dead: 3,
      by_topic: {
        receipt: { emitted: 5, delivered: 5, pending: 0, dead: 0 },
        rejected: { emitted: 3, delivered: 0, pending: 0, dead: 3 },
        flaky: { emitted: 2, delivered: 0, pending: 2, dead: 0 },
        // No handler in this process: it waits for one that has it.
        unknown: { emitted: 1, delivered: 0, pending: 1, dead: 0 },
      },
    });

    // The same numbers straight from the rows.
    const byStatus: { status: string; n: number }[] = await dataSource.query(
      `SELECT status, count(*)::int AS n FROM outbox GROUP BY status`,
    );
    for (const { status, n } of byStatus) expect(res.body[status]).toBe(n);
    const [{ dead }] = await dataSource.query(`SELECT count(*)::int AS dead FROM outbox_dead_letter`);
    expect(res.body.dead).toBe(dead);
    expect(res.body.emitted).toBe(res.body.delivered + res.body.pending + res.body.dead);
  });

  it('stops the relay when the application closes', async () => {
    const relay = app.get(OutboxRelay);
    await app.close();
    expect(relay.isRunning).toBe(false);
    app = undefined as unknown as INestApplication;
  });
});
