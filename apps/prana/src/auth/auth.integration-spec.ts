// PRANA's BFF against a real oidc-provider (the dev IdP) in-process, and stand-ins for Core, Bucket and Karma.
import { StandInServer, TestBrowser } from '@pancha/testing';
import { decodeJwt } from 'jose';
import { randomUUID } from 'node:crypto';
import { standInBucket, startPranaHarness, type PranaHarness } from '../testing/prana-harness';

jest.setTimeout(60_000);

const core = new StandInServer((req) => ({ status: req.method === 'POST' ? 202 : 200, body: { path: req.path, query: Object.fromEntries(req.query) } }));
const bucket = standInBucket();
const karma = new StandInServer(() => ({ status: 201, body: { ok: true } }));
// Only the run controls: its /healthz is a 404, so /api/health still reports the executor down.
const executor = new StandInServer((req) => (/^\/api\/runs\//.test(req.path) ? { status: 202, body: { run_id: req.path.split('/')[3], status: 'running' } } : { status: 404, body: {} }));

describe('PRANA BFF (real oidc-provider in-process)', () => {
  let prana: PranaHarness;

  beforeAll(async () => {
    await Promise.all([core.start(), bucket.start(), karma.start(), executor.start()]);
    prana = await startPranaHarness({ CORE_URL: core.url, BUCKET_URL: bucket.url, KARMA_URL: karma.url, WORKFLOW_EXECUTOR_URL: executor.url, SESSION_IDLE_SECONDS: '600', SESSION_ABSOLUTE_SECONDS: '3600' });
  });
  afterAll(async () => {
    await prana?.close();
    await Promise.all([core.close(), bucket.close(), karma.close(), executor.close()]);
  });

  const signedIn = async (username: string, password: string): Promise<{ browser: TestBrowser; csrf: string }> => {
    const browser = new TestBrowser();
    const landed = await browser.signIn(prana.url, username, password);
    expect(landed).toEqual({ status: 302, landedAt: `${prana.url}/` });
    const session = await browser.json(`${prana.url}/api/session`);
    expect(session.status).toBe(200);
    return { browser, csrf: session.body.csrf_token };
  };

  describe('GET /api/session', () => {
    it('is 401 with the login URL before sign-in', async () => {
      const res = await new TestBrowser().json(`${prana.url}/api/session`);
      expect(res.status).toBe(401);
      expect(res.body).toEqual(expect.objectContaining({ error: 'unauthenticated', login_url: '/auth/login' }));
    });
  });

  describe('login → callback → session', () => {
    it('sends the browser to the provider with code + PKCE (S256), state and nonce', async () => {
      const login = await new TestBrowser().request(`${prana.url}/auth/login?return_to=%2Fruns`);
      expect(login.status).toBe(302);
      const authorize = new URL(login.headers.get('location') as string);
      expect(authorize.origin).toBe(prana.idp.issuer);
      expect(authorize.searchParams.get('response_type')).toBe('code');
      expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
      expect(authorize.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
      expect(authorize.searchParams.get('state')).toBeTruthy();
      expect(authorize.searchParams.get('nonce')).toBeTruthy();
    });

    it('signs in, lands on return_to and shows user, roles, permissions, CSRF token and expiry, but no token', async () => {
      const browser = new TestBrowser();
      const { landedAt, status } = await browser.signIn(prana.url, 'operator', 'operator-pass-1', '/runs?status=running');
      expect(status).toBe(302);
      expect(landedAt).toBe(`${prana.url}/runs?status=running`);

      const session = await browser.json(`${prana.url}/api/session`);
      expect(session.status).toBe(200);
      expect(session.body.user).toEqual({ sub: 'operator', username: 'operator', name: 'operator', roles: ['operator'] });
      expect(session.body.permissions).toEqual([
        'view:tasks', 'view:runs', 'view:workflows', 'view:audit', 'view:karma', 'view:events', 'submit:tasks', 'start:runs', 'operate:runs',
      ]);
      expect(session.body.products).toEqual(['*']);
      expect(typeof session.body.csrf_token).toBe('string');
      expect(Date.parse(session.body.expires_at)).toBeGreaterThan(Date.now());
      expect(JSON.stringify(session.body)).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
      const cookie = browser.cookie(prana.url, 'prana.sid') as string;
      expect(cookie).toBeTruthy();
      expect(cookie).not.toMatch(/eyJ/);
    });

    it('sets prana.sid httpOnly and SameSite=Lax', async () => {
      const res = await new TestBrowser().request(`${prana.url}/auth/login`);
      const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('prana.sid='));
      expect(setCookie).toMatch(/HttpOnly/i);
      expect(setCookie).toMatch(/SameSite=Lax/i);
    });

    it('refuses a wrong password at the provider: no session', async () => {
      const browser = new TestBrowser();
      await expect(browser.signIn(prana.url, 'operator', 'wrong')).resolves.toEqual(expect.objectContaining({ status: 401 }));
      expect((await browser.json(`${prana.url}/api/session`)).status).toBe(401);
    });

    it('refuses a callback whose state this browser never started (400, no session)', async () => {
      const browser = new TestBrowser();
      const res = await browser.json(`${prana.url}/auth/callback?code=abc&state=forged`);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('login_state');
      expect((await browser.json(`${prana.url}/api/session`)).status).toBe(401);
    });
  });

  describe('session fixation', () => {
    it('issues a new session id at sign-in; the cookie from before sign-in is not signed in', async () => {
      const browser = new TestBrowser();
      await browser.request(`${prana.url}/auth/login`);
      const before = browser.cookie(prana.url, 'prana.sid') as string;
      expect(before).toBeTruthy();
      await browser.signIn(prana.url, 'viewer', 'viewer-pass-1');
      const after = browser.cookie(prana.url, 'prana.sid') as string;
      expect(after).toBeTruthy();
      expect(after).not.toBe(before);

      // An attacker who planted `before` in the victim's browser holds nothing.
      const attacker = new TestBrowser();
      attacker.setCookie(prana.url, 'prana.sid', before);
      expect((await attacker.json(`${prana.url}/api/session`)).status).toBe(401);
      expect((await browser.json(`${prana.url}/api/session`)).status).toBe(200);
    });
  });

  describe('open redirects in return_to', () => {
    it.each(['//evil.com', 'https://evil.com', '/\\evil.com', '/\t/evil.com', 'evil.com', 'javascript:alert(1)', '/%5Cevil.com', '/.//evil.com', '/..//evil.com', '/%2e//evil.com'])(
      'return_to=%j lands on / (or stays on PRANA)',
      async (target) => {
        const browser = new TestBrowser();
        const { landedAt } = await browser.signIn(prana.url, 'viewer', 'viewer-pass-1', target);
        expect(new URL(landedAt).origin).toBe(prana.url);
        if (target !== '/%5Cevil.com') expect(landedAt).toBe(`${prana.url}/`);
      },
    );

    it('keeps a same-origin path with its query', async () => {
      const { landedAt } = await new TestBrowser().signIn(prana.url, 'viewer', 'viewer-pass-1', '/audit?trace=abc#top');
      expect(landedAt).toBe(`${prana.url}/audit?trace=abc#top`);
    });
  });

  describe('CSRF', () => {
    it('refuses a write without x-csrf-token (403 csrf) and lets it through with the session token', async () => {
      const { browser, csrf } = await signedIn('operator', 'operator-pass-1');
      const before = core.requests.length;
      const without = await browser.json(`${prana.url}/api/core/handle_task`, { method: 'POST', body: { input: 'x', user_id: 'operator' } });
      expect(without).toEqual({ status: 403, body: expect.objectContaining({ error: 'csrf' }) });
      const wrong = await browser.json(`${prana.url}/api/core/handle_task`, { method: 'POST', headers: { 'x-csrf-token': `${csrf}x` }, body: { input: 'x', user_id: 'operator' } });
      expect(wrong.status).toBe(403);
      expect(core.requests.length).toBe(before);

      const ok = await browser.json(`${prana.url}/api/core/handle_task`, { method: 'POST', headers: { 'x-csrf-token': csrf }, body: { input: 'x', user_id: 'operator' } });
      expect(ok.status).toBe(202);
    });

    it("refuses one session's token in another session", async () => {
      const a = await signedIn('operator', 'operator-pass-1');
      const b = await signedIn('operator', 'operator-pass-1');
      const res = await b.browser.json(`${prana.url}/api/core/handle_task`, { method: 'POST', headers: { 'x-csrf-token': a.csrf }, body: { input: 'x', user_id: 'u' } });
      expect(res.status).toBe(403);
    });

    it('checks every write whatever the spelling of its path (routing ignores case): /API/…, /AUTH/logout', async () => {
      const { browser, csrf } = await signedIn('operator', 'operator-pass-1');
      const before = core.requests.length;
      const cancel = await browser.json(`${prana.url}/API/core/runs/${randomUUID()}/cancel`, { method: 'POST', body: {} });
      expect(cancel).toEqual({ status: 403, body: expect.objectContaining({ error: 'csrf' }) });
      const mixed = await browser.json(`${prana.url}/Api/Core/handle_task`, { method: 'POST', body: { input: 'x', user_id: 'operator' } });
      expect(mixed.status).toBe(403);
      // A form-like body is refused before anything reads it, in any case too.
      const text = await browser.request(`${prana.url}/API/core/runs/${randomUUID()}/cancel`, { method: 'POST', headers: { 'x-csrf-token': csrf, 'content-type': 'text/plain' }, body: 'x' });
      expect(text.status).toBe(415);
      expect(core.requests.length).toBe(before);

      expect((await browser.json(`${prana.url}/AUTH/logout`, { method: 'POST' })).status).toBe(403);
      expect((await browser.json(`${prana.url}/api/session`)).status).toBe(200);
    });

    it("answers a body that is not JSON with 415 in PRANA's shape { error, message }", async () => {
      const { browser, csrf } = await signedIn('operator', 'operator-pass-1');
      const before = bucket.requests.length;
      const res = await browser.request(`${prana.url}/api/telemetry`, { method: 'POST', headers: { 'x-csrf-token': csrf, 'content-type': 'text/plain' }, body: 'x' });
      expect(res.status).toBe(415);
      expect(await res.json()).toEqual(expect.objectContaining({ error: 'unsupported_media_type', message: expect.stringContaining('text/plain') }));
      expect(bucket.requests.length).toBe(before);
    });

    it("POST /auth/logout needs it too, then ends the session and names the provider's logout URL", async () => {
      const { browser, csrf } = await signedIn('viewer', 'viewer-pass-1');
      expect((await browser.json(`${prana.url}/auth/logout`, { method: 'POST' })).status).toBe(403);
      const out = await browser.json(`${prana.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf-token': csrf } });
      expect(out.status).toBe(200);
      expect(out.body.logout_url).toMatch(new RegExp(`^${prana.idp.issuer}/`));
      expect((await browser.json(`${prana.url}/api/session`)).status).toBe(401);
    });
  });

  describe('expiry', () => {
    it('an idle session is over: 401 unauthenticated, and it stays over', async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      prana.clock.offsetMs = 601_000;
      try {
        const res = await browser.json(`${prana.url}/api/session`);
        expect(res.status).toBe(401);
        expect(res.body).toEqual(expect.objectContaining({ error: 'unauthenticated', login_url: '/auth/login' }));
      } finally {
        prana.clock.offsetMs = 0;
      }
      expect((await browser.json(`${prana.url}/api/session`)).status).toBe(401);
    });

    it('the first request after an idle expiry can start a sign-in: /auth/login is a 302 to the provider, /auth/callback a 400', async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      prana.clock.offsetMs = 601_000;
      try {
        const login = await browser.request(`${prana.url}/auth/login?return_to=%2Fruns`);
        expect(login.status).toBe(302);
        expect(new URL(login.headers.get('location') as string).origin).toBe(prana.idp.issuer);
      } finally {
        prana.clock.offsetMs = 0;
      }
      const other = await signedIn('viewer', 'viewer-pass-1');
      prana.clock.offsetMs = 601_000;
      try {
        const callback = await other.browser.json(`${prana.url}/auth/callback?code=abc&state=forged`);
        expect(callback).toEqual({ status: 400, body: expect.objectContaining({ error: 'login_state' }) });
      } finally {
        prana.clock.offsetMs = 0;
      }
      // The browser whose session idled out signs in again (the provider still knows it) and lands where it asked to.
      expect((await browser.follow(`${prana.url}/auth/login?return_to=%2Fruns`)).url).toBe(`${prana.url}/runs`);
      expect((await browser.json(`${prana.url}/api/session`)).status).toBe(200);
    });

    it('the session cookie is issued at sign-in only: a cookie the browser dropped is never handed back by a later response', async () => {
      // The browser e2e cleared its cookies while the console's /api/health was in flight; that response re-set
      // prana.sid (express-session `rolling`), and the reload came back signed in. No response but the sign-in's may set it.
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      const sid = browser.cookie(prana.url, 'prana.sid') as string;
      for (const url of ['/api/session', '/api/health', '/api/core/runs', '/', '/runs/x']) {
        const res = await browser.request(`${prana.url}${url}`);
        expect({ url, setCookie: res.headers.getSetCookie().filter((c) => c.startsWith('prana.sid=')) }).toEqual({ url, setCookie: [] });
      }
      // No Expires/Max-Age on the cookie: the server's idle and absolute limits decide, not the browser's clock.
      const fresh = new TestBrowser();
      const login = await fresh.request(`${prana.url}/auth/login`);
      expect(login.headers.getSetCookie().find((c) => c.startsWith('prana.sid='))).not.toMatch(/Expires=|Max-Age=/i);
      browser.clearCookie(prana.url, 'prana.sid');
      expect((await browser.json(`${prana.url}/api/session`)).status).toBe(401);
      expect(browser.cookie(prana.url, 'prana.sid')).toBeUndefined();
      // The session itself is still live on the server (nothing ended it): the old cookie still works.
      browser.setCookie(prana.url, 'prana.sid', sid);
      expect((await browser.json(`${prana.url}/api/session`)).status).toBe(200);
    });

    it('a busy session still ends at the absolute limit', async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      try {
        // Busy: a request every 500 s keeps it from idling out, until 3600 s after sign-in.
        for (const at of [500, 1000, 1500, 2000, 2500, 3000, 3500]) {
          prana.clock.offsetMs = at * 1000;
          expect((await browser.json(`${prana.url}/api/session`)).status).toBe(200);
        }
        prana.clock.offsetMs = 3601_000;
        expect((await browser.json(`${prana.url}/api/session`)).status).toBe(401);
      } finally {
        prana.clock.offsetMs = 0;
      }
    });
  });

  describe('RBAC at the BFF', () => {
    it('a viewer gets 403 forbidden on a write, naming the permission; nothing reaches Core', async () => {
      const { browser, csrf } = await signedIn('viewer', 'viewer-pass-1');
      const before = core.requests.length;
      const cancel = await browser.json(`${prana.url}/api/core/runs/${randomUUID()}/cancel`, { method: 'POST', headers: { 'x-csrf-token': csrf } });
      expect(cancel).toEqual({ status: 403, body: expect.objectContaining({ error: 'forbidden', permission: 'operate:runs' }) });
      const start = await browser.json(`${prana.url}/api/core/workflows/onboard/runs`, { method: 'POST', headers: { 'x-csrf-token': csrf }, body: { inputs: {} } });
      expect(start.body.permission).toBe('start:runs');
      expect(core.requests.length).toBe(before);
      expect((await browser.json(`${prana.url}/api/core/runs?status=running`)).status).toBe(200);
    });

    it("an operator may not enable workflows (admin's); an admin may", async () => {
      const op = await signedIn('operator', 'operator-pass-1');
      const refused = await op.browser.json(`${prana.url}/api/core/workflows/onboard/enable`, { method: 'POST', headers: { 'x-csrf-token': op.csrf }, body: {} });
      expect(refused.body).toEqual(expect.objectContaining({ error: 'forbidden', permission: 'admin:workflows' }));
      const admin = await signedIn('admin', 'admin-pass-1');
      const ok = await admin.browser.json(`${prana.url}/api/core/workflows/onboard/enable`, { method: 'POST', headers: { 'x-csrf-token': admin.csrf }, body: {} });
      expect(ok.status).toBe(202);
    });
  });

  describe('/api/core passes the person on', () => {
    it("sends Core the person's own access token (issuer, audience, roles), the query and the body; never the cookie", async () => {
      const { browser, csrf } = await signedIn('operator', 'operator-pass-1');
      const res = await browser.json(`${prana.url}/api/core/workflows/onboard/runs?dry=1`, {
        method: 'POST',
        headers: { 'x-csrf-token': csrf, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
        body: { inputs: { a: 1 } },
      });
      expect(res.status).toBe(202);
      const seen = core.requests[core.requests.length - 1];
      expect(seen.path).toBe('/workflows/onboard/runs');
      expect(seen.query.get('dry')).toBe('1');
      expect(seen.body).toEqual({ inputs: { a: 1 } });
      expect(seen.headers.cookie).toBeUndefined();
      expect(seen.headers.traceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-/);
      const claims = decodeJwt((seen.headers.authorization as string).replace(/^Bearer /, ''));
      expect(claims).toEqual(expect.objectContaining({ iss: prana.idp.issuer, aud: 'urn:pancha:api', sub: 'operator', roles: ['operator'] }));
    });

    it("sends cancel, retry and signals to Core with the person's own token (Core tells the executor who asked), not to the executor", async () => {
      const { browser, csrf } = await signedIn('operator', 'operator-pass-1');
      const runId = randomUUID();
      const executorBefore = executor.requests.length;
      for (const [action, body] of [['cancel', {}], ['retry', {}], ['signals/mentor_ok', { payload: { ok: true } }]] as const) {
        const res = await browser.json(`${prana.url}/api/core/runs/${runId}/${action}`, { method: 'POST', headers: { 'x-csrf-token': csrf }, body });
        expect(res).toEqual({ status: 202, body: { path: `/runs/${runId}/${action}`, query: {} } });
        const seen = core.requests[core.requests.length - 1];
        expect(seen.path).toBe(`/runs/${runId}/${action}`);
        expect(seen.body).toEqual(body);
        expect(seen.headers.cookie).toBeUndefined();
        expect(decodeJwt((seen.headers.authorization as string).replace(/^Bearer /, ''))).toEqual(
          expect.objectContaining({ iss: prana.idp.issuer, aud: 'urn:pancha:api', sub: 'operator', roles: ['operator'] }),
        );
      }
      expect(executor.requests.length).toBe(executorBefore);
      // A viewer is stopped at the BFF: nothing reaches Core.
      const viewer = await signedIn('viewer', 'viewer-pass-1');
      const coreBefore = core.requests.length;
      const refused = await viewer.browser.json(`${prana.url}/api/core/runs/${runId}/cancel`, { method: 'POST', headers: { 'x-csrf-token': viewer.csrf }, body: {} });
      expect(refused.status).toBe(403);
      expect(core.requests.length).toBe(coreBefore);
    });

    it('refuses paths PRANA does not pass on, and dot segments', async () => {
      const { browser } = await signedIn('admin', 'admin-pass-1');
      expect((await browser.json(`${prana.url}/api/core/internal/outbox`)).status).toBe(404);
      const before = core.requests.length;
      expect((await browser.json(`${prana.url}/api/core/runs/..%2f..%2fmetrics`)).status).toBe(400);
      expect(core.requests.length).toBe(before);
    });

    it('401 for the API without a session', async () => {
      expect((await new TestBrowser().json(`${prana.url}/api/core/runs`)).status).toBe(401);
    });
  });

  describe('/api/bucket and /api/karma', () => {
    it("reads Bucket with PRANA's service identity and names the acting user", async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      const res = await browser.json(`${prana.url}/api/bucket/audit/verify`);
      expect(res.status).toBe(200);
      const seen = bucket.requests[bucket.requests.length - 1];
      expect(seen.path).toBe('/audit/verify');
      expect(seen.headers['x-pancha-acting-user']).toBe('viewer');
      const claims = decodeJwt((seen.headers.authorization as string).slice(7));
      expect(claims).toEqual(expect.objectContaining({ iss: 'prana', sub: 'prana', aud: 'bucket' }));
      // People see every product (config/policy.yaml): the token is not narrowed.
      expect(claims.products).toBeUndefined();
    });

    it("reads any user's karma for people who see every product (Karma keeps no products)", async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      for (const path of ['/api/v1/karma/asha', '/v1/karma/asha/history?bucket=day', '/v1/q-table']) {
        const before = karma.requests.length;
        expect({ path, status: (await browser.json(`${prana.url}/api/karma${path}`)).status }).toEqual({ path, status: 201 });
        expect(karma.requests.at(-1)?.path).toBe(path.split('?')[0]);
        expect(karma.requests.length).toBe(before + 1);
      }
    });

    it("passes Karma's profiles and Core's karma events on whole to people who see every product", async () => {
      const { browser } = await signedIn('viewer', 'viewer-pass-1');
      const [karmaHandler, coreHandler] = [karma.handler, core.handler];
      const event = { event_id: 'karma:role_changed:755', type: 'karma.role_changed', subject: 'asha', publisher: 'karma', decisions: [], data: { user_id: 'asha', merit: 80 } };
      const stats = { since: '2026-11-27T10:00:00.000Z', by_type: { 'karma.role_changed': {} }, noisiest_keys: [{ workflow: 'w', trigger: 't', key: 'asha', events: 3 }] };
      karma.handler = () => ({ status: 200, body: { user_id: 'asha', q_values: { help: 0.5 } } });
      core.handler = (req) => ({ status: 200, body: req.path === '/events' ? { events: [event] } : req.path === '/events/stats' ? stats : event });
      try {
        expect(await browser.json(`${prana.url}/api/karma/api/v1/karma/asha`)).toEqual({ status: 200, body: { user_id: 'asha', q_values: { help: 0.5 } } });
        expect(await browser.json(`${prana.url}/api/core/events/karma:role_changed:755`)).toEqual({ status: 200, body: event });
        expect(await browser.json(`${prana.url}/api/core/events?type=karma.role_changed`)).toEqual({ status: 200, body: { events: [event] } });
        const coreBefore = core.requests.length;
        expect(await browser.json(`${prana.url}/api/core/events/stats`)).toEqual({ status: 200, body: stats });
        expect(core.requests.length).toBe(coreBefore + 1);
      } finally {
        [karma.handler, core.handler] = [karmaHandler, coreHandler];
      }
    });

    it('passes no writes to Bucket or Karma', async () => {
      const { browser, csrf } = await signedIn('admin', 'admin-pass-1');
      const before = bucket.requests.length;
      for (const method of ['DELETE', 'POST', 'PUT', 'PATCH']) {
        const res = await browser.json(`${prana.url}/api/bucket/audit/verify`, { method, headers: { 'x-csrf-token': csrf } });
        expect({ method, status: res.status, error: res.body.error }).toEqual({ method, status: 404, error: 'not_found' });
      }
      expect(bucket.requests.length).toBe(before);
      expect((await browser.json(`${prana.url}/api/bucket/core/write-event`, { method: 'POST', headers: { 'x-csrf-token': csrf }, body: {} })).status).toBe(404);
      expect((await browser.json(`${prana.url}/api/karma/v1/event`, { method: 'POST', headers: { 'x-csrf-token': csrf }, body: {} })).status).toBe(404);
    });
  });

  describe('POST /api/telemetry', () => {
    const RAW = {
      keystrokes: 9, mouse_moves: 30, mouse_velocity_peak: 700.5, mouse_velocity_avg: 120, scrolls: 1, clicks: 2, rapid_clicks: 0,
      tab_switches: 0, dwell_seconds: 12.5, idle_seconds: 0.4, visible: true, window_focused: true, panel_focused: true,
    };
    const packet = (state: string, t: number) => ({
      event_id: randomUUID(),
      user_id: 'someone-else',
      session_id: 's-1',
      cognitive_state: state,
      timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, t)).toISOString(),
      lesson_id: 'prana-console',
      system_type: 'ems',
      role: 'employee',
      active_seconds: 4,
      idle_seconds: 1,
      away_seconds: 0,
      focus_score: 70,
      raw_signals: RAW,
    });

    it('forwards to Bucket as the signed-in user (not the one in the packet) and reports state changes to Karma', async () => {
      const { browser, csrf } = await signedIn('operator', 'operator-pass-1');
      const karmaBefore = karma.requests.length;
      const packets = [packet('ON_TASK', 0), packet('ON_TASK', 5), packet('DEEP_FOCUS', 10)];
      const res = await browser.json(`${prana.url}/api/telemetry`, { method: 'POST', headers: { 'x-csrf-token': csrf }, body: { packets } });
      expect(res).toEqual({ status: 202, body: { accepted: 3, duplicates: 0 } });
      const ingest = bucket.requests.filter((r) => r.path === '/bucket/prana/ingest').pop() as { body: { packets: Array<Record<string, unknown>> }; headers: Record<string, string> };
      expect(ingest.body.packets.map((p) => [p.user_id, p.state, p.event_id])).toEqual(packets.map((p) => ['operator', p.cognitive_state, p.event_id]));
      // The original packet's fields reach Bucket as sent (only the user and the state's name change).
      expect(ingest.body.packets[0]).toEqual({
        event_id: packets[0].event_id, user_id: 'operator', session_id: 's-1', state: 'ON_TASK', timestamp: packets[0].timestamp, duration_ms: 5000,
        lesson_id: 'prana-console', system_type: 'ems', role: 'employee', active_seconds: 4, idle_seconds: 1, away_seconds: 0, focus_score: 70,
        raw_signals: RAW,
      });
      expect(decodeJwt(ingest.headers.authorization.slice(7)).iss).toBe('prana');
      const toKarma = karma.requests.slice(karmaBefore).map((r) => (r.body as { data: { action: string; user_id: string } }).data);
      expect(toKarma).toEqual([
        expect.objectContaining({ action: 'on_task', user_id: 'operator' }),
        expect.objectContaining({ action: 'deep_focus', user_id: 'operator' }),
      ]);
    });

    it('refuses bad packets with 422 naming the field, and sends nothing', async () => {
      const { browser, csrf } = await signedIn('operator', 'operator-pass-1');
      const before = bucket.requests.length;
      const res = await browser.json(`${prana.url}/api/telemetry`, { method: 'POST', headers: { 'x-csrf-token': csrf }, body: { packets: [{ ...packet('SLEEPY', 0) }] } });
      expect(res.status).toBe(422);
      expect(res.body.errors[0].field).toBe('packets[0].cognitive_state');
      expect(bucket.requests.length).toBe(before);
    });

    it.each([
      ['seconds not summing to 5.0', { active_seconds: 5, idle_seconds: 5 }, ['packets[0].active_seconds', 'packets[0].idle_seconds', 'packets[0].away_seconds']],
      ['a focus_score of 250', { focus_score: 250 }, ['packets[0].focus_score']],
      ['an unknown system_type', { system_type: 'school' }, ['packets[0].system_type']],
      ['a raw signal of the wrong kind', { raw_signals: { ...RAW, clicks: 'many' } }, ['packets[0].raw_signals.clicks']],
    ])('refuses a packet with %s (422 naming the fields) and sends nothing to Bucket', async (_name, extra, fields) => {
      const { browser, csrf } = await signedIn('operator', 'operator-pass-1');
      const before = bucket.requests.length;
      const res = await browser.json(`${prana.url}/api/telemetry`, { method: 'POST', headers: { 'x-csrf-token': csrf }, body: { packets: [{ ...packet('ON_TASK', 0), ...extra }] } });
      expect(res.status).toBe(422);
      expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([...fields].sort());
      expect(bucket.requests.length).toBe(before);
    });
  });

  describe('GET /api/health', () => {
    it('names each service up or down', async () => {
      const res = await new TestBrowser().json(`${prana.url}/api/health`);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body.services).sort()).toEqual(['bucket', 'core', 'executor', 'karma']);
      expect(res.body.services.executor).toBe('down');
    });
  });

  describe('the console', () => {
    it('answers any other GET with the SPA page (a 503 page naming the build step when not built), never under /api', async () => {
      const page = await new TestBrowser().request(`${prana.url}/runs/123`);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      expect(await page.text()).toMatch(/npm run build/);
      const api = await new TestBrowser().json(`${prana.url}/api/nothing-here`);
      expect(api.status).toBe(404);
      expect(api.body.error).toBe('not_found');
    });
  });
});
