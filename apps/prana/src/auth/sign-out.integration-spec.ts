// A sign-out stays a sign-out: requests that began before it (a live stream, a slow proxied call) end after it, and
// express-session saves a request's session when its response ends. That save must not bring the session back,
// in memory or in Redis (as replicas run).
import { deferred, poll, StandInServer, TestBrowser, type Deferred } from '@pancha/testing';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { startPranaHarness, type PranaHarness } from '../testing/prana-harness';

jest.setTimeout(60_000);

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const PREFIX = `test:prana:signout:${randomBytes(6).toString('hex')}:`;

/** Core's `/tasks/slow` answers when the test lets it; its change feed answers at once (the stream's watch). */
let slow: Deferred<void> | null = null;
const core = new StandInServer(async (req) => {
  if (req.path === '/tasks/slow' && slow) await slow.promise;
  if (req.path === '/runs') return { status: 200, body: { runs: [], next_cursor: null, next_updated_since: null } };
  return { status: 200, body: { path: req.path } };
});
const other = new StandInServer(() => ({ status: 200, body: {} }));

describe.each([
  ['in memory', {}],
  ['in Redis', { REDIS_URL, SESSION_REDIS_PREFIX: PREFIX }],
])('POST /auth/logout with requests in flight (sessions %s)', (_where, env: Record<string, string>) => {
  let prana: PranaHarness;

  beforeAll(async () => {
    await Promise.all([core.start(), other.start()]);
    prana = await startPranaHarness({
      ...env,
      CORE_URL: core.url,
      BUCKET_URL: other.url,
      KARMA_URL: other.url,
      WORKFLOW_EXECUTOR_URL: other.url,
      PRANA_STREAM_MAX_AGE_MS: '1500',
      PRANA_STREAM_POLL_MS: '200',
    });
  });
  afterAll(async () => {
    await prana?.close();
    await Promise.all([core.close(), other.close()]);
    if (env.REDIS_URL) {
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${PREFIX}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });

  const signedIn = async (): Promise<{ browser: TestBrowser; csrf: string; sid: string }> => {
    const browser = new TestBrowser();
    expect((await browser.signIn(prana.url, 'viewer', 'viewer-pass-1')).status).toBe(302);
    const session = await browser.json(`${prana.url}/api/session`);
    expect(session.status).toBe(200);
    return { browser, csrf: session.body.csrf_token, sid: browser.cookie(prana.url, 'prana.sid') as string };
  };

  /** Someone holding the old cookie (a copy the browser no longer has): what does PRANA say to it? */
  const withOldCookie = async (sid: string) => {
    const holder = new TestBrowser();
    holder.setCookie(prana.url, 'prana.sid', sid);
    return (await holder.json(`${prana.url}/api/session`)).status;
  };

  const signOut = async (browser: TestBrowser, csrf: string) => {
    const out = await browser.request(`${prana.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf-token': csrf } });
    expect(out.status).toBe(200);
  };

  it('a slow proxied GET answered after the sign-out does not sign the old cookie back in', async () => {
    const { browser, csrf, sid } = await signedIn();
    slow = deferred();
    const pending = browser.request(`${prana.url}/api/core/tasks/slow`);
    // Core has the request: the session was loaded before the sign-out below.
    await poll('the slow call at Core', () => core.requests.some((r) => r.path === '/tasks/slow') || undefined);
    await signOut(browser, csrf);
    expect(await withOldCookie(sid)).toBe(401);
    slow.resolve();
    expect((await pending).status).toBe(200);
    expect(await withOldCookie(sid)).toBe(401);
    slow = null;
  });

  it('a live stream that ends after the sign-out does not sign the old cookie back in', async () => {
    const { browser, csrf, sid } = await signedIn();
    const stream = await fetch(`${prana.url}/api/stream?topics=runs`, { headers: { cookie: `prana.sid=${sid}` } });
    expect(stream.status).toBe(200);
    const ended = stream.text();
    await signOut(browser, csrf);
    expect(await withOldCookie(sid)).toBe(401);
    await ended; // at PRANA_STREAM_MAX_AGE_MS
    expect(await withOldCookie(sid)).toBe(401);
  });
});
