// Finding 9: anonymous traffic and failed authentications are rate limited per client (429 + Retry-After in
// the usual error shape), valid service tokens are not, and replicas sharing Redis share the limits.
import { createTestDatabase, type TestDatabase } from '@pancha/testing';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { startEdgeApp, testKeysDir, tokenAs, type EdgeTestApp } from '../edge.test-helpers';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const keysDir = testKeysDir();
let db: TestDatabase;
const running: EdgeTestApp[] = [];

async function start(env: Record<string, string>): Promise<EdgeTestApp> {
  const svc = await startEdgeApp({ databaseUrl: db.url, keysDir, env });
  running.push(svc);
  return svc;
}

beforeAll(async () => {
  db = await createTestDatabase('edge_rate');
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((svc) => svc.close()));
});
afterAll(async () => {
  await db?.drop();
  rmSync(keysDir, { recursive: true, force: true });
});

/** `n` requests at once; the status codes in order. */
async function burst(n: number, send: (i: number) => Promise<Response>): Promise<Response[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => send(i)));
}

const count = (responses: Response[], status: number) => responses.filter((r) => r.status === status).length;

/** A key prefix of its own, so runs never see each other's counters in the shared Redis. */
const redisEnv = (): Record<string, string> => ({ REDIS_URL, RATE_LIMIT_KEY_PREFIX: `test:${randomBytes(6).toString('hex')}:` });

describe('anonymous requests', () => {
  it('answer 429 rate_limited with Retry-After beyond the limit per client', async () => {
    const svc = await start({ RATE_LIMIT_ANONYMOUS_LIMIT: '20', RATE_LIMIT_ANONYMOUS_WINDOW_MS: '60000' });
    const responses = await burst(60, () => fetch(`${svc.url}/things`));
    expect(count(responses, 200)).toBe(20);
    expect(count(responses, 429)).toBe(40);
    const limited = responses.find((r) => r.status === 429)!;
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await limited.json()).toEqual({
      code: 'rate_limited',
      message: `too many requests without a credential from this client (limit 20 per 60 s); retry after ${retryAfter} s`,
      trace_id: null,
    });
  });

  it('are counted across every route of the service, writes included, and nothing is stored past the limit', async () => {
    const svc = await start({ RATE_LIMIT_ANONYMOUS_LIMIT: '10', RATE_LIMIT_ANONYMOUS_WINDOW_MS: '60000' });
    const stored = await svc.things();
    const reads = await burst(6, () => fetch(`${svc.url}/things`));
    const writes = await burst(10, (i) =>
      fetch(`${svc.url}/things`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `n${i}` }) }),
    );
    expect(count(reads, 200)).toBe(6);
    expect(count(writes, 201)).toBe(4);
    expect(count(writes, 429)).toBe(6);
    expect(await svc.things()).toBe(stored + 4);
  });

  it('do not hold back authenticated service callers, even from the same address', async () => {
    const svc = await start({ RATE_LIMIT_ANONYMOUS_LIMIT: '5', RATE_LIMIT_ANONYMOUS_WINDOW_MS: '60000' });
    const anonymous = await burst(10, () => fetch(`${svc.url}/things`));
    expect(count(anonymous, 429)).toBe(5);
    const tokens = await Promise.all(Array.from({ length: 40 }, () => tokenAs(keysDir)));
    const authenticated = await burst(40, (i) => fetch(`${svc.url}/things`, { headers: { authorization: `Bearer ${tokens[i]}` } }));
    expect(count(authenticated, 200)).toBe(40);
  });

  it('can be switched off with RATE_LIMIT_ANONYMOUS_LIMIT=0 (a load test driving anonymous traffic)', async () => {
    const svc = await start({ RATE_LIMIT_ANONYMOUS_LIMIT: '0' });
    expect(count(await burst(100, () => fetch(`${svc.url}/things`)), 200)).toBe(100);
  });
});

describe('failed authentications', () => {
  it('answer 401 up to the limit, then 429 rate_limited with Retry-After', async () => {
    const svc = await start({ RATE_LIMIT_AUTH_FAILURE_LIMIT: '10', RATE_LIMIT_AUTH_FAILURE_WINDOW_MS: '60000', RATE_LIMIT_AUTH_FAILURE_BLOCK_MS: '30000' });
    const responses = await burst(50, (i) => fetch(`${svc.url}/things`, { headers: { authorization: `Bearer forged.token.${i}` } }));
    expect(count(responses, 401)).toBe(10);
    expect(count(responses, 429)).toBe(40);
    const limited = responses.find((r) => r.status === 429)!;
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(await limited.json()).toEqual({
      code: 'rate_limited',
      message: `too many failed authentications from this client; retry after ${retryAfter} s`,
      trace_id: null,
    });
  });

  it('do not count valid tokens, nor touch the anonymous budget', async () => {
    const svc = await start({ RATE_LIMIT_AUTH_FAILURE_LIMIT: '3', RATE_LIMIT_ANONYMOUS_LIMIT: '3' });
    const tokens = await Promise.all(Array.from({ length: 20 }, () => tokenAs(keysDir)));
    expect(count(await burst(20, (i) => fetch(`${svc.url}/things`, { headers: { authorization: `Bearer ${tokens[i]}` } })), 200)).toBe(20);
    expect(count(await burst(3, () => fetch(`${svc.url}/things`)), 200)).toBe(3);
  });
});

describe('with REDIS_URL, replicas share the limits', () => {
  it('two instances count anonymous requests from one client together', async () => {
    const env = { ...redisEnv(), RATE_LIMIT_ANONYMOUS_LIMIT: '30', RATE_LIMIT_ANONYMOUS_WINDOW_MS: '60000' };
    const [a, b] = [await start(env), await start(env)];
    const responses = await burst(80, (i) => fetch(`${(i % 2 ? a : b).url}/things`));
    expect(count(responses, 200)).toBe(30);
    expect(count(responses, 429)).toBe(50);
    expect(responses.find((r) => r.status === 429)!.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('two instances count failed authentications together', async () => {
    const env = { ...redisEnv(), RATE_LIMIT_AUTH_FAILURE_LIMIT: '10' };
    const [a, b] = [await start(env), await start(env)];
    const responses = await burst(40, (i) => fetch(`${(i % 2 ? a : b).url}/things`, { headers: { authorization: 'Bearer nope' } }));
    expect(count(responses, 401)).toBe(10);
    expect(count(responses, 429)).toBe(30);
  });

  it('without Redis each instance counts on its own (what REDIS_URL changes)', async () => {
    const env = { RATE_LIMIT_ANONYMOUS_LIMIT: '30', RATE_LIMIT_ANONYMOUS_WINDOW_MS: '60000' };
    const [a, b] = [await start(env), await start(env)];
    const responses = await burst(80, (i) => fetch(`${(i % 2 ? a : b).url}/things`));
    expect(count(responses, 200)).toBe(60);
  });

  it('keeps serving when Redis is unreachable (fails open, nothing counted)', async () => {
    const svc = await start({ REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_ANONYMOUS_LIMIT: '5' });
    expect(count(await burst(20, () => fetch(`${svc.url}/things`)), 200)).toBe(20);
  });
});
