import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { REQUESTER_IDS, RequesterId } from '@pancha/contracts';
import { ensureKeyPairs, loadKeyStore, TokenIssuer } from '@pancha/governance';
import { configureApp, validateEnv } from '@pancha/service-kit';
import { bootServiceWithDatabase, createTestDatabase, type ServiceWithDatabase, type TestDatabase } from '@pancha/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DataSource } from 'typeorm';
import { AppModule } from '../app.module';
import { CoreConfig } from '../config/env.validation';
import type { StandInServer } from './stand-in-server';

/** Core as its HTTP specs run it: a fresh database, key pairs for every requester, and stand-ins for its peers. */
export interface CoreTestApp {
  /** The first replica. */
  app: INestApplication;
  /** Every replica, on the one database (as pods behind a load balancer). */
  replicas: INestApplication[];
  dataSource: DataSource;
  db: TestDatabase;
  /** A fresh PRANA service token for Core (one per request: writes refuse a used one). */
  pranaToken(claims?: { products?: string[] }): Promise<string>;
  /** Closes the replicas and the stand-ins, drops the database, removes the keys. */
  close(): Promise<void>;
}

export async function startCoreTestApp(options: {
  /** Names the database and the keys directory. */
  name: string;
  executor: StandInServer;
  bucket: StandInServer;
  replicas?: number;
}): Promise<CoreTestApp> {
  const keysDir = mkdtempSync(path.join(tmpdir(), `${options.name}-keys-`));
  ensureKeyPairs(keysDir, [...REQUESTER_IDS]);
  process.env.PANCHA_KEYS_DIR = keysDir;
  await Promise.all([options.executor.start(), options.bucket.start()]);
  const db = await createTestDatabase(options.name);
  const config = validateEnv(CoreConfig, {
    ...process.env,
    DATABASE_URL: db.url,
    LOG_LEVEL: 'silent',
    WORKFLOW_EXECUTOR_URL: options.executor.url,
    BUCKET_URL: options.bucket.url,
    NATS_URL: '',
  });
  const replicas: INestApplication[] = [];
  for (let i = 0; i < (options.replicas ?? 1); i++) {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] }).compile();
    const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
    configureApp(app);
    await app.init();
    replicas.push(app);
  }
  const issuer = new TokenIssuer(loadKeyStore(RequesterId.Prana, process.env));
  return {
    app: replicas[0],
    replicas,
    dataSource: replicas[0].get(DataSource),
    db,
    pranaToken: (claims = {}) => issuer.issue('core', claims),
    async close() {
      for (const app of replicas) await app.close();
      await Promise.all([options.executor.close(), options.bucket.close()]);
      await db.drop();
      rmSync(keysDir, { recursive: true, force: true });
    },
  };
}

/**
 * The environment Core's HTTP specs boot it with: a test database, its keys, stand-ins for the executor and Bucket,
 * and short intervals (catalog refresh, outbox polling and backoff) so a spec waits on conditions, not on defaults.
 * Specs add or override what they test.
 */
export function coreSpecEnv(options: { databaseUrl: string; keysDir: string; executorUrl: string; bucketUrl: string }): Record<string, string> {
  return {
    DATABASE_URL: options.databaseUrl,
    PANCHA_KEYS_DIR: options.keysDir,
    APP_ENV: 'test',
    LOG_LEVEL: 'silent',
    WORKFLOW_EXECUTOR_URL: options.executorUrl,
    BUCKET_URL: options.bucketUrl,
    WORKFLOW_CATALOG_REFRESH_MS: '100',
    AUDIT_WITNESS_INTERVAL_MS: '0',
    OUTBOX_POLL_INTERVAL_MS: '50',
    OUTBOX_BASE_DELAY_MS: '50',
    OUTBOX_MAX_DELAY_MS: '200',
    NATS_URL: '',
  };
}

/**
 * Core as its HTTP specs boot it: starts the executor and Bucket stand-ins (the spec keeps them, to shape answers and
 * read requests), then Core listening on a port, on a database and keys of its own, configured from coreSpecEnv with
 * the spec's `env` over it. close() takes it down in reverse: Core, the database and keys, the stand-ins. A boot that
 * fails closes what it started.
 */
export async function bootCoreSpec(options: {
  /** Names the database and the keys directory. */
  name: string;
  executor: StandInServer;
  bucket: StandInServer;
  /** What the spec adds to or overrides in coreSpecEnv. */
  env?: Record<string, string>;
}): Promise<ServiceWithDatabase> {
  const { executor, bucket } = options;
  const closeStandIns = async () => {
    await Promise.all([executor.close(), bucket.close()]);
  };
  let core: ServiceWithDatabase;
  try {
    await Promise.all([executor.start(), bucket.start()]);
    core = await bootServiceWithDatabase({
      database: options.name,
      // Only the harness's database and keys: Core sees coreSpecEnv, not process.env.
      module: ({ DATABASE_URL, PANCHA_KEYS_DIR }) =>
        AppModule.forRoot(
          validateEnv(CoreConfig, {
            ...coreSpecEnv({ databaseUrl: String(DATABASE_URL), keysDir: String(PANCHA_KEYS_DIR), executorUrl: executor.url, bucketUrl: bucket.url }),
            ...options.env,
          }),
        ),
    });
  } catch (error) {
    await closeStandIns();
    throw error;
  }
  return {
    app: core.app,
    url: core.url,
    db: core.db,
    keys: core.keys,
    dataSource: core.dataSource,
    async close() {
      try {
        await core.close();
      } finally {
        await closeStandIns();
      }
    },
  };
}
