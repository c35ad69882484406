import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { ThrottlerStorageService, type ThrottlerStorage } from '@nestjs/throttler';
import Redis from 'ioredis';

const CONNECT_TIMEOUT_MS = 2000;

type StorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

export interface RateLimitStorageSettings {
  REDIS_URL?: string;
  RATE_LIMIT_KEY_PREFIX: string;
  /** Longest wait for the Redis connection at start (default 2 s; a test on a starved machine waits longer). */
  connectTimeoutMs?: number;
}

/**
 * The counters behind every rate limit of a service. With REDIS_URL: in Redis (one Lua script per hit,
 * @nest-lab/throttler-storage-redis), so every replica counts against the same limit. Without: in this
 * process (@nestjs/throttler's own storage).
 *
 * Fails open: when Redis is unreachable a hit is not counted (and is allowed) instead of failing the request;
 * the rate limit protects the service, it must not be the reason it is down. Commands never queue while
 * Redis is away, so a request never waits on it.
 *
 * In a Nest app the connection is opened by onModuleInit, not while the modules are built: Nest calls no hook of
 * an app whose modules failed to build (a database role refused, a failing migration), so a client opened then was
 * never closed and held the process that tried to start. From onModuleInit on, the app's close() ends it, whatever
 * stage the start failed at.
 */
export class RateLimitStorage implements ThrottlerStorage, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimitStorage');
  private failing = false;
  private connecting?: Promise<void>;

  private constructor(
    private readonly inner: ThrottlerStorage & { onApplicationShutdown?: () => void },
    private readonly redis?: Redis,
    private readonly connectTimeoutMs = CONNECT_TIMEOUT_MS,
  ) {}

  /** The storage, its Redis connection not opened yet: `connect()` (onModuleInit, in a Nest app) opens it. */
  static unconnected(settings: RateLimitStorageSettings): RateLimitStorage {
    if (!settings.REDIS_URL) return new RateLimitStorage(new ThrottlerStorageService());
    const connectTimeoutMs = settings.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    const redis = new Redis(settings.REDIS_URL, {
      keyPrefix: settings.RATE_LIMIT_KEY_PREFIX,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 1000,
      connectTimeout: connectTimeoutMs,
    });
    const storage = new RateLimitStorage(new ThrottlerStorageRedisService(redis), redis, connectTimeoutMs);
    redis.on('error', (error: Error) => storage.degraded(error));
    redis.on('ready', () => storage.recovered());
    return storage;
  }

  /** The storage with its connection settled (`connect()`): for use outside a Nest app. */
  static async create(settings: RateLimitStorageSettings): Promise<RateLimitStorage> {
    const storage = RateLimitStorage.unconnected(settings);
    await storage.connect();
    return storage;
  }

  /**
   * Resolves once Redis is ready, or has refused the first connection, or the connect timeout has passed, or the
   * storage was shut down meanwhile: the service then starts listening. Without the wait, every hit in the first
   * moments after a start was uncounted (commands never queue, and the connection was still being made), so a replica
   * that had just started let a burst through whole. Once only; without REDIS_URL there is nothing to wait for.
   */
  connect(): Promise<void> {
    const redis = this.redis;
    if (!redis) return Promise.resolve();
    this.connecting ??= new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        redis.off('ready', done);
        redis.off('error', done);
        redis.off('end', done);
        resolve();
      };
      const timer = setTimeout(done, this.connectTimeoutMs);
      redis.once('ready', done);
      redis.once('error', done);
      redis.once('end', done);
      // Refused or timed out: ioredis keeps retrying in the background, and the 'error' above ends the wait.
      redis.connect().catch(() => undefined);
    });
    return this.connecting;
  }

  onModuleInit(): Promise<void> {
    return this.connect();
  }

  get shared(): boolean {
    return this.redis !== undefined;
  }

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<StorageRecord> {
    try {
      return await this.inner.increment(key, ttl, limit, blockDuration, throttlerName);
    } catch (error) {
      this.degraded(error as Error);
      return { totalHits: 0, timeToExpire: Math.ceil(ttl / 1000), isBlocked: false, timeToBlockExpire: 0 };
    }
  }

  /** Also when the start failed before or while the connection was made (ioredis ends a client in any state). */
  onApplicationShutdown(): void {
    this.inner.onApplicationShutdown?.();
    this.redis?.disconnect(false);
  }

  private degraded(error: Error): void {
    if (this.failing) return;
    this.failing = true;
    this.logger.warn(`rate-limit storage unavailable, requests are not being counted: ${error.message}`);
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.logger.log('rate-limit storage available again');
  }
}
