import { Logger } from '@nestjs/common';
import { DataSource, type Logger as TypeOrmLogger, type QueryRunner } from 'typeorm';
import type { OutboxHandler, OutboxMessage } from '../outbox-handler.interface';
import { OutboxRelay } from '../outbox-relay.service';
import type { OutboxOptions } from '../outbox.options';
import { OutboxService } from '../outbox.service';
import { OutboxDeadLetterEntity } from '../outbox-dead-letter.entity';
import { OutboxEntryEntity } from '../outbox-entry.entity';
import { OUTBOX_MIGRATIONS } from '../migrations/outbox-migrations';
import { PgOutboxStore } from '../pg-outbox.store';

/** Test helpers for the outbox suites (not part of the library's API). */

/** A fast relay: tiny delays, a lease short enough to see expire in a test. */
export const FAST_RELAY: Partial<OutboxOptions> = {
  enabled: true,
  pollIntervalMs: 20,
  baseDelayMs: 1,
  maxDelayMs: 5,
  deliveryTimeoutMs: 5000,
  shutdownTimeoutMs: 2000,
};

/** A DataSource of its own (its own pool, like another process), optionally recording every SQL statement. */
export async function openOutboxDataSource(url: string, statements?: string[]): Promise<DataSource> {
  const logger: TypeOrmLogger | undefined = statements && {
    logQuery: (query: string) => void statements.push(query.replace(/\s+/g, ' ').trim()),
    logQueryError: () => undefined,
    logQuerySlow: () => undefined,
    logSchemaBuild: () => undefined,
    logMigration: () => undefined,
    log: () => undefined,
  };
  const dataSource = new DataSource({
    type: 'postgres',
    url,
    entities: [OutboxEntryEntity, OutboxDeadLetterEntity],
    migrations: OUTBOX_MIGRATIONS,
    synchronize: false,
    logging: statements ? ['query', 'error'] : ['error'],
    logger,
  });
  return dataSource.initialize();
}

/**
 * Heap pages of `outbox` the runner's transaction has read so far. These are the backend's own counters, not yet
 * flushed to the statistics and including its earlier statements: compare two readings.
 */
export async function outboxPagesRead(runner: QueryRunner): Promise<number> {
  const [{ n }] = (await runner.query(`SELECT pg_stat_get_xact_blocks_fetched('outbox'::regclass)::int AS n`)) as { n: number }[];
  return n;
}

export interface RecordingHandler {
  handler: OutboxHandler;
  calls: OutboxMessage[];
}

export function recordingHandler(
  topic: string,
  behaviour: (message: OutboxMessage, call: number) => Promise<void> | void = () => undefined,
): RecordingHandler {
  const calls: OutboxMessage[] = [];
  return {
    calls,
    handler: {
      topic,
      async deliver(message) {
        calls.push(message);
        await behaviour(message, calls.length);
      },
    },
  };
}

/** A relay (started unless enabled: false) and an OutboxService over one DataSource. */
export function relayOn(
  dataSource: DataSource,
  handlers: OutboxHandler[],
  options: Partial<OutboxOptions> = {},
): { relay: OutboxRelay; outbox: OutboxService } {
  const store = new PgOutboxStore(dataSource);
  const relay = new OutboxRelay(store, handlers, { ...FAST_RELAY, ...options });
  if (options.enabled !== false) relay.start();
  return { relay, outbox: new OutboxService(relay, store) };
}

/** What an outbox suite shares between its tests (see outboxSuite). */
export interface OutboxSuite {
  /** The suite's migrated DataSource (set before the first test). */
  dataSource: DataSource;
  /** Relays to stop after each test. */
  relays: OutboxRelay[];
  /** Opens another pool on the suite's database (as another process would), closed after the suite. */
  openPool(): Promise<DataSource>;
}

/**
 * Registers a suite's database life with Jest: created (by `createDatabase`, e.g. `() => createTestDatabase(name)`)
 * and migrated before the suite, relays stopped and the outbox tables emptied after each test, pools closed and the
 * database dropped after the suite.
 */
export function outboxSuite(createDatabase: () => Promise<{ url: string; drop(): Promise<void> }>): OutboxSuite {
  let database: { url: string; drop(): Promise<void> } | undefined;
  const extra: DataSource[] = [];
  const suite = {
    relays: [],
    async openPool() {
      const pool = await openOutboxDataSource((database as { url: string }).url);
      extra.push(pool);
      return pool;
    },
  } as unknown as OutboxSuite;
  beforeAll(async () => {
    Logger.overrideLogger(false);
    database = await createDatabase();
    suite.dataSource = await openOutboxDataSource(database.url);
    await suite.dataSource.runMigrations();
  });
  afterEach(async () => {
    await Promise.all(suite.relays.map((r) => r.stop()));
    suite.relays = [];
    await suite.dataSource.query(`TRUNCATE outbox, outbox_dead_letter`);
  });
  afterAll(async () => {
    for (const ds of extra) await ds.destroy();
    await suite.dataSource?.destroy();
    await database?.drop();
  });
  return suite;
}
