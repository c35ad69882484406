import { Logger, type OnApplicationShutdown } from '@nestjs/common';
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
 */
export class RateLimitStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimitStorage');
  private failing = false;

  private constructor(
    private readonly inner: ThrottlerStorage & { onApplicationShutdown?: () => void },
    private readonly redis?: Redis,
  ) {}

  /**
   * Resolves once Redis is ready, or has refused the first connection, or the connect timeout has passed: the
   * service then starts listening. Without the wait, every hit in the first moments after a start was uncounted
   * (commands never queue, and the connection was still being made), so a replica that had just started let a
   * burst through whole.
   */
  static async create(settings: RateLimitStorageSettings): Promise<RateLimitStorage> {
    if (!settings.REDIS_URL) return new RateLimitStorage(new ThrottlerStorageService());
    const connectTimeoutMs = settings.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    const redis = new Redis(settings.REDIS_URL, {
      keyPrefix: settings.RATE_LIMIT_KEY_PREFIX,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 1000,
      connectTimeout: connectTimeoutMs,
    });
    const storage = new RateLimitStorage(new ThrottlerStorageRedisService(redis), redis);
    const settled = new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        redis.off('ready', done);
        redis.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, connectTimeoutMs);
      redis.once('ready', done);
      redis.once('error', done);
    });
    redis.on('error', (error: Error) => storage.degraded(error));
    redis.on('ready', () => storage.recovered());
    await settled;
    return storage;
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
