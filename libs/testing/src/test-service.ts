import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import { configureApp } from '@pancha/service-kit';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from './test-database';
import { createTestKeys, type TestKeys } from './test-keys';

export interface BootServiceOptions {
  /** Replace providers before compiling, e.g. `(b) => b.overrideProvider(Clock).useValue(clock)`. */
  override?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
  /** Attach message transports (e.g. connectJetStream); they start before the app listens, as in main.ts. */
  microservices?: (app: INestApplication) => unknown;
}

/** A service running in the test process the way main.ts runs it: its pipes, filters and body limits, on a real port. */
export interface TestService {
  app: INestApplication;
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

/**
 * The one way a test boots a Pancha service: the app's root module (built from its validated config) with the
 * same `configureApp` as production, listening on a free loopback port. One real listener matters: supertest on
 * an unbound server opens an ephemeral one per request, which resets connections under parallel load.
 */
export async function bootService(module: DynamicModule | Type<unknown>, options: BootServiceOptions = {}): Promise<TestService> {
  let builder = Test.createTestingModule({ imports: [module] });
  if (options.override) builder = options.override(builder);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication({ bodyParser: false, logger: false });
  configureApp(app);
  if (options.microservices) {
    options.microservices(app);
    await app.startAllMicroservices();
  }
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return { app, url, close: () => app.close() };
}

/** The environment a service under test sees: process.env with the harness's and the test's variables over it. */
export type ServiceEnv = Record<string, string | undefined>;

export interface ServiceWithDatabaseOptions extends BootServiceOptions {
  /**
   * The app's root module from the environment the harness assembled, validated as main.ts validates it, e.g.
   * `(env) => AppModule.forRoot(validateEnv(BucketConfig, env))`. The app passes it in: this lib imports no app.
   */
  module: (env: ServiceEnv) => DynamicModule | Type<unknown>;
  /**
   * A fresh database named after this (`t_<name>_<random>`), dropped by `close()`; or a database the test made
   * (several boots on one database), which the test drops.
   */
  database: string | TestDatabase;
  /** Keys the test made (shared with stand-ins or other services), which the test removes; by default a new set, removed by `close()`. */
  keys?: TestKeys;
  /** Variables over process.env and the harness's own (DATABASE_URL of the database, PANCHA_KEYS_DIR, LOG_LEVEL=silent). */
  env?: ServiceEnv;
}

/** A service on its own database, with the keys its callers sign with. */
export interface ServiceWithDatabase extends TestService {
  db: TestDatabase;
  keys: TestKeys;
  /** The app's TypeORM DataSource: rows as the service stored them. */
  readonly dataSource: DataSource;
  /** Closes the app, then drops the database and removes the keys the harness made (not those the test passed in). */
  close(): Promise<void>;
}

/**
 * The one way a spec starts a Pancha service on a real PostgreSQL: a database and keys of its own, the environment
 * main.ts would read, and `bootService`. A boot that fails leaves nothing behind (the spec's afterAll has nothing
 * to close).
 */
export async function bootServiceWithDatabase(options: ServiceWithDatabaseOptions): Promise<ServiceWithDatabase> {
  const { module, database, env, ...boot } = options;
  const ownDatabase = typeof database === 'string';
  const db = typeof database === 'string' ? await createTestDatabase(database) : database;
  const keys = options.keys ?? createTestKeys(db.name);
  const cleanUp = async () => {
    if (ownDatabase) await db.drop();
    if (!options.keys) keys.remove();
  };
  let service: TestService;
  try {
    service = await bootService(module({ ...process.env, DATABASE_URL: db.url, PANCHA_KEYS_DIR: keys.dir, LOG_LEVEL: 'silent', ...env }), boot);
  } catch (error) {
    await cleanUp();
    throw error;
  }
  return {
    ...service,
    db,
    keys,
    get dataSource() {
      return service.app.get(DataSource);
    },
    async close() {
      try {
        await service.close();
      } finally {
        await cleanUp();
      }
    },
  };
}

/**
 * The environment that sends a service's router events (its outbox) to a stand-in Core at `coreUrl`: over HTTP, not
 * NATS, polled and retried quickly, so a test waits on the delivery rather than on the relay's production pace.
 */
export function routerEventsTo(coreUrl: string): ServiceEnv {
  return { CORE_URL: coreUrl, NATS_URL: '', OUTBOX_POLL_INTERVAL_MS: '50', OUTBOX_BASE_DELAY_MS: '50', OUTBOX_MAX_DELAY_MS: '200' };
}
