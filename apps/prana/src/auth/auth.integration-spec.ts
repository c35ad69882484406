import { TestBrowser } from '../testing/browser';
import { startPranaHarness, type PranaHarness } from '../testing/prana-harness';

jest.setTimeout(60_000);

describe('PRANA sign-in (real oidc-provider in-process)', () => {
  let prana: PranaHarness;

  beforeAll(async () => {
    prana = await startPranaHarness();
  });
  afterAll(async () => {
    await prana.close();
  });

  describe('GET /api/session', () => {
    it('is 401 with the login URL before sign-in', async () => {
      const res = await new TestBrowser().json(`${prana.url}/api/session`);
      expect(res.status).toBe(401);
      expect(res.body).toEqual(expect.objectContaining({ error: 'unauthenticated', login_url: '/auth/login' }));
    });
  });

  describe('login → callback → session', () => {
    it('signs in through the provider and shows the user, roles, permissions and a CSRF token', async () => {
      const browser = new TestBrowser();
      const login = await browser.request(`${prana.url}/auth/login?return_to=${encodeURIComponent('/runs?status=running')}`);
      expect(login.status).toBe(302);
      const authorize = new URL(login.headers.get('location') as string);
      expect(authorize.origin).toBe(prana.idp.issuer);
      expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
      expect(authorize.searchParams.get('code_challenge')).toBeTruthy();
      expect(authorize.searchParams.get('state')).toBeTruthy();
      expect(authorize.searchParams.get('nonce')).toBeTruthy();

      const browser2 = new TestBrowser();
      const { landedAt, status } = await browser2.signIn(prana.url, 'operator', 'operator-pass-1', '/runs?status=running');
      expect(status).toBe(302);
      expect(landedAt).toBe(`${prana.url}/runs?status=running`);

      const session = await browser2.json(`${prana.url}/api/session`);
      expect(session.status).toBe(200);
      expect(session.body.user).toEqual({ sub: 'operator', username: 'operator', name: 'operator', roles: ['operator'] });
      expect(session.body.permissions).toEqual(expect.arrayContaining(['view:runs', 'start:runs', 'operate:runs', 'submit:tasks']));
      expect(session.body.permissions).not.toContain('admin:workflows');
      expect(typeof session.body.csrf_token).toBe('string');
      expect(Date.parse(session.body.expires_at)).toBeGreaterThan(Date.now());
      // Tokens stay server-side: nothing in the body or cookies looks like one.
      expect(JSON.stringify(session.body)).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
    });

    it('refuses a wrong password at the provider (no session)', async () => {
      const browser = new TestBrowser();
      await expect(browser.signIn(prana.url, 'operator', 'wrong')).resolves.toEqual(expect.objectContaining({ status: 401 }));
      expect((await browser.json(`${prana.url}/api/session`)).status).toBe(401);
    });
  });
});
