// The rate-limit counters in Redis count from the first request after a start, and fail open without Redis.
import { randomBytes } from 'node:crypto';
import { RateLimitStorage } from './rate-limit.storage';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const opened: RateLimitStorage[] = [];

async function open(url: string): Promise<RateLimitStorage> {
  // The product waits 2 s for Redis at start; a starved test machine may take longer to connect.
  const storage = await RateLimitStorage.create({ REDIS_URL: url, RATE_LIMIT_KEY_PREFIX: `test:${randomBytes(6).toString('hex')}:`, connectTimeoutMs: 30_000 });
  opened.push(storage);
  return storage;
}

afterEach(() => {
  for (const storage of opened.splice(0)) storage.onApplicationShutdown();
});

describe('RateLimitStorage with REDIS_URL', () => {
  it('counts the very first hits after it is created (the connection is ready before the service listens)', async () => {
    const storage = await open(REDIS_URL);
    const hits = [];
    for (let i = 0; i < 3; i++) hits.push((await storage.increment('k', 60_000, 2, 60_000, 'anonymous')).totalHits);
    expect(hits).toEqual([1, 2, 3]);
    expect((await storage.increment('k', 60_000, 2, 60_000, 'anonymous')).isBlocked).toBe(true);
  });

  it('two storages on one Redis count one key together', async () => {
    const prefix = `test:${randomBytes(6).toString('hex')}:`;
    const [a, b] = await Promise.all([0, 1].map(() => RateLimitStorage.create({ REDIS_URL, RATE_LIMIT_KEY_PREFIX: prefix, connectTimeoutMs: 30_000 })));
    opened.push(a, b);
    await a.increment('k', 60_000, 10, 60_000, 'anonymous');
    expect((await b.increment('k', 60_000, 10, 60_000, 'anonymous')).totalHits).toBe(2);
  });

  it('starts without Redis and lets hits through uncounted (fails open)', async () => {
    const storage = await open('redis://127.0.0.1:1');
    expect(storage.shared).toBe(true);
    const record = await storage.increment('k', 60_000, 1, 60_000, 'anonymous');
    expect(record).toEqual(expect.objectContaining({ totalHits: 0, isBlocked: false }));
  });
});
