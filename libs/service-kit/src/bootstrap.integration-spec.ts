// A start that fails (the port taken, a module's start hook refusing, a module that cannot be built) leaves nothing
// open: not the rate limit's Redis client, not the database pool, not a message transport. Otherwise the process that
// tried to start (a service's main.ts that logs and exits, a test that expects the refusal) can never exit on its own.
import { Injectable, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Server, type CustomTransportStrategy } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { ThrottlerStorage } from '@nestjs/throttler';
import { InjectDataSource } from '@nestjs/typeorm';
import { RequesterId } from '@pancha/contracts';
import { createTestDatabase, eventually, type TestDatabase } from '@pancha/testing';
import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server as NetServer } from 'node:net';
import type { DataSource } from 'typeorm';
import { bootstrapService, startService } from './bootstrap';
import { BaseServiceConfig, validateEnv } from './config/env.validation';
import { testKeysDir } from './edge.test-helpers';
import { RateLimitModule } from './rate-limit/rate-limit.module';
import { RateLimitStorage } from './rate-limit/rate-limit.storage';
import { ServiceKitModule } from './service-kit.module';

jest.setTimeout(60_000);

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const keysDir = testKeysDir();
let db: TestDatabase;
/** A port some other process is listening on. */
let taken: NetServer;

/** Every Redis client that was asked to connect, whoever made it. */
const redisConnects = jest.spyOn(Redis.prototype, 'connect');
const redisClients = () => redisConnects.mock.contexts as Redis[];

/** What the probe module saw and does: set by each test. */
const probe: { dataSource?: DataSource; storage?: ThrottlerStorage; failAtBootstrap?: Error; failAtShutdown?: Error } = {};

@Injectable()
class Probe implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@InjectDataSource() dataSource: DataSource, storage: ThrottlerStorage) {
    probe.dataSource = dataSource;
    probe.storage = storage;
  }

  onApplicationBootstrap(): void {
    if (probe.failAtBootstrap) throw probe.failAtBootstrap;
  }

  onApplicationShutdown(): void {
    if (probe.failAtShutdown) throw probe.failAtShutdown;
  }
}

/** Stands in for a message transport (the JetStream consumer): a listening socket from listen() until close(). */
class SocketTransport extends Server implements CustomTransportStrategy {
  readonly socket = createServer();

  listen(callback: () => void): void {
    this.socket.listen(0, '127.0.0.1', callback);
  }

  async close(): Promise<void> {
    if (this.socket.listening) await new Promise((resolve) => this.socket.close(resolve));
  }

  on(): never {
    throw new Error('no events');
  }

  unwrap<T>(): T {
    return this.socket as T;
  }
}

/** A transport whose close never finishes (JetStream's, closed while it was still subscribing, did that). */
class StuckTransport extends Server implements CustomTransportStrategy {
  listen(callback: () => void): void {
    callback();
  }

  close(): Promise<void> {
    return new Promise(() => undefined);
  }

  on(): never {
    throw new Error('no events');
  }

  unwrap<T>(): T {
    throw new Error('nothing to unwrap');
  }
}

function serviceConfig(env: Record<string, string> = {}): BaseServiceConfig {
  return validateEnv(BaseServiceConfig, {
    DATABASE_URL: db.url,
    PANCHA_KEYS_DIR: keysDir,
    LOG_LEVEL: 'silent',
    REDIS_URL,
    RATE_LIMIT_KEY_PREFIX: `test:${randomBytes(6).toString('hex')}:`,
    HOST: '127.0.0.1',
    ...env,
  });
}

function appModule(config: BaseServiceConfig) {
  @Module({
    imports: [ServiceKitModule.forRoot({ service: 'core', self: RequesterId.Core, config, database: { entities: [], migrations: [] } })],
    providers: [Probe],
  })
  class ProbeAppModule {}
  return ProbeAppModule;
}

/** The resources of this process (sockets, servers, timers) by kind, e.g. { TCPWRAP: 3, Timeout: 1 }. */
function openResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** Resolves once this process holds no more than `before` of any kind: what the boot opened has been closed. */
async function nothingLeftOpenSince(before: Record<string, number>): Promise<void> {
  await eventually(
    () => {
      const now = openResources();
      const more = Object.keys(now).filter((kind) => now[kind] > (before[kind] ?? 0));
      expect(Object.fromEntries(more.map((kind) => [kind, `${before[kind] ?? 0} → ${now[kind]}`]))).toEqual({});
    },
    { what: 'the failed start to close what it opened' },
  );
}

beforeAll(async () => {
  db = await createTestDatabase('boot_failure');
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
});
beforeEach(() => {
  redisConnects.mockClear();
  delete probe.dataSource;
  delete probe.storage;
  delete probe.failAtBootstrap;
  delete probe.failAtShutdown;
});
afterAll(async () => {
  await new Promise((resolve) => taken.close(resolve));
  await db?.drop();
  rmSync(keysDir, { recursive: true, force: true });
});

describe('bootstrapService, when the start fails after every module was built', () => {
  it('rejects with EADDRINUSE when the port is taken, and closes the Redis client, the database pool and the transports', async () => {
    const before = openResources();
    const transport = new SocketTransport();
    const config = serviceConfig({ PORT: String((taken.address() as AddressInfo).port) });

    await expect(
      bootstrapService(appModule(config), {
        defaultPort: 0,
        config,
        microservices: (app) => app.connectMicroservice({ strategy: transport }),
      }),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });

    expect(redisClients()).toHaveLength(1);
    expect(probe.dataSource?.isInitialized).toBe(false);
    expect(transport.socket.listening).toBe(false);
    await eventually(() => expect(redisClients().map((redis) => redis.status)).toEqual(['end']));
    await nothingLeftOpenSince(before);
  });

  it("closes them when a module's start hook fails, and rejects with that hook's error", async () => {
    const before = openResources();
    probe.failAtBootstrap = new Error('the probe refuses to start');
    const config = serviceConfig();

    await expect(bootstrapService(appModule(config), { defaultPort: 0, config })).rejects.toBe(probe.failAtBootstrap);

    expect(probe.dataSource?.isInitialized).toBe(false);
    await eventually(() => expect(redisClients().map((redis) => redis.status)).toEqual(['end']));
    await nothingLeftOpenSince(before);
  });

  it('rejects with the reason it did not start, not with an error of the close that followed', async () => {
    probe.failAtBootstrap = new Error('the probe refuses to start');
    probe.failAtShutdown = new Error('the probe fails to close as well');
    const config = serviceConfig();

    await expect(bootstrapService(appModule(config), { defaultPort: 0, config })).rejects.toBe(probe.failAtBootstrap);

    // A shutdown hook that throws ends Nest's close there (the root module's hooks run first): what the modules after
    // it opened is the test's to close.
    await probe.dataSource?.destroy();
    (probe.storage as RateLimitStorage).onApplicationShutdown();
  });
});

describe('startService', () => {
  it('rejects with the failure even when the close that follows never finishes', async () => {
    const app = (await Test.createTestingModule({}).compile()).createNestApplication({ bodyParser: false, logger: false });

    await expect(
      startService(app, {
        port: (taken.address() as AddressInfo).port,
        host: '127.0.0.1',
        microservices: (a) => a.connectMicroservice({ strategy: new StuckTransport() }),
        closeTimeoutMs: 100,
      }),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe('a module that cannot be built after the rate limit was', () => {
  it('leaves no Redis client open (Nest calls no hook of a module that failed to build)', async () => {
    const before = openResources();
    const config = serviceConfig();
    class AfterTheLimiter {}
    const refused = new Error('refused while the modules are built');
    const building = Test.createTestingModule({
      imports: [RateLimitModule.forRoot('core', config)],
      providers: [
        {
          provide: AfterTheLimiter,
          inject: [ThrottlerStorage],
          useFactory: () => {
            throw refused;
          },
        },
      ],
    }).compile();

    await expect(building).rejects.toBe(refused);
    await eventually(() => expect(redisClients().map((redis) => redis.status).filter((status) => status !== 'end')).toEqual([]));
    await nothingLeftOpenSince(before);
  });
});
