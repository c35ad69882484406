// Sessions in Redis (REDIS_URL, as replicas run): the stored session lives no longer than the BFF's idle and
// absolute limits, and a session the store dropped (its TTL lapsed) is signed out.
import { TestBrowser } from '@pancha/testing';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { startPranaHarness, type PranaHarness } from '../testing/prana-harness';

jest.setTimeout(60_000);

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const PREFIX = `test:prana:sess:${randomBytes(6).toString('hex')}:`;

describe('PRANA sessions in Redis', () => {
  let prana: PranaHarness;
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    prana = await startPranaHarness({ REDIS_URL, SESSION_REDIS_PREFIX: PREFIX, SESSION_IDLE_SECONDS: '600', SESSION_ABSOLUTE_SECONDS: '3600' });
  });
  afterAll(async () => {
    await prana?.close();
    const keys = await redis.keys(`${PREFIX}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  /** The session id inside the signed cookie `s:<id>.<signature>`. */
  const sidOf = (browser: TestBrowser): string => decodeURIComponent(browser.cookie(prana.url, 'prana.sid') as string).replace(/^s:/, '').replace(/\.[^.]+$/, '');

  it("keeps a signed-in session no longer than the idle limit, and no longer than what is left of the absolute one", async () => {
    const browser = new TestBrowser();
    await browser.signIn(prana.url, 'viewer', 'viewer-pass-1');
    const key = `${PREFIX}${sidOf(browser)}`;
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
    try {
      // 3300 s on, kept busy: 300 s of the absolute limit are left, fewer than the idle 600.
      for (const at of [500, 1000, 1500, 2000, 2500, 3000, 3300]) {
        prana.clock.offsetMs = at * 1000;
        expect((await browser.json(`${prana.url}/api/session`)).status).toBe(200);
      }
      const left = await redis.ttl(key);
      expect(left).toBeGreaterThan(290);
      expect(left).toBeLessThanOrEqual(300);
    } finally {
      prana.clock.offsetMs = 0;
    }
  });

  it('a session the store dropped (what its TTL does) is signed out, and no response brings the cookie back', async () => {
    const browser = new TestBrowser();
    await browser.signIn(prana.url, 'operator', 'operator-pass-1');
    expect((await browser.json(`${prana.url}/api/session`)).status).toBe(200);
    expect(await redis.del(`${PREFIX}${sidOf(browser)}`)).toBe(1);
    const res = await browser.request(`${prana.url}/api/session`);
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie().filter((c) => c.startsWith('prana.sid='))).toEqual([]);
    expect((await browser.json(`${prana.url}/api/core/runs`)).status).toBe(401);
  });
});
