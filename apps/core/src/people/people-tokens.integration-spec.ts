// People's access tokens at Core: a real oidc-provider (the dev IdP) publishes its JWKS; tokens come from a real
// sign-in (authorization code + PKCE through openid-client) or are signed with the provider's own key to make
// them expired or for another audience, or with another key (forged). Core runs for real on PostgreSQL.
import { RequesterId, type WorkflowCatalog } from '@pancha/contracts';
import { startDevIdp, type RunningDevIdp } from '@pancha/dev-idp';
import { freePort, httpJson, poll, type ServiceWithDatabase, StandInServer, TestBrowser } from '@pancha/testing';
import { parseManifest } from '@pancha/workflow-manifest';
import { generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { DataSource } from 'typeorm';
import { bootCoreSpec } from '../testing/core-test-app';

jest.setTimeout(90_000);

const AUDIENCE = 'urn:pancha:api';
type SigningKey = Awaited<ReturnType<typeof importJWK>>;
const ONBOARD = parseManifest(`
name: onboard
version: 1.0.0
inputs: { type: object }
security: { actions: [task] }
steps: [{ id: a, action: task, with: { title: x } }]
`).manifest!;

const executor = new StandInServer((req) => {
  if (req.path === '/api/workflows/catalog') {
    const catalog: WorkflowCatalog = {
      revision: 'r1',
      workflows: [
        {
          name: 'onboard',
          enabled: true,
          default_version: '1.0.0',
          versions: [{ version: '1.0.0', present: true, deprecated: false, retired: false, manifest: ONBOARD as unknown as Record<string, unknown> }],
        },
      ],
    };
    return { status: 200, body: catalog };
  }
  if (req.method === 'POST' && req.path === '/api/runs') return { status: 202, body: { run_id: (req.body as { run_id: string }).run_id } };
  if (req.method === 'POST' && /^\/api\/runs\/[^/]+\/cancel$/.test(req.path)) return { status: 202, body: { run_id: 'x', status: 'cancelled' } };
  if (req.method === 'GET' && req.path === '/api/runs') return { status: 200, body: { runs: [], next_cursor: null } };
  if (req.method === 'POST' && req.path === '/api/workflows/onboard/disable') return { status: 200, body: { name: 'onboard', enabled: false } };
  return { status: 404, body: { code: 'not_found' } };
});
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

describe("Core with people's tokens (OIDC_ISSUER)", () => {
  let core: ServiceWithDatabase;
  let idp: RunningDevIdp;
  let dataDir: string;
  let signingKey: SigningKey;
  let kid: string;
  const realTokens = new Map<string, string>();
  let callbackPort: number;

  /** A token signed by the provider's own key: only the claims differ from a real one. */
  const providerToken = async (claims: Record<string, unknown>, options: { exp?: number; aud?: string; key?: SigningKey; iss?: string } = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ roles: ['operator'], preferred_username: 'mallory', ...claims })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' })
      .setIssuer(options.iss ?? idp.issuer)
      .setSubject(String(claims.sub ?? 'mallory'))
      .setAudience(options.aud ?? AUDIENCE)
      .setIssuedAt(now - 60)
      .setExpirationTime(options.exp ?? now + 600)
      .sign(options.key ?? signingKey);
  };

  /** Signs in at the provider as a relying party would (what PRANA does) and returns the access token. */
  const signIn = async (username: string, password: string): Promise<string> => {
    const port = callbackPort;
    const redirectUri = `http://127.0.0.1:${port}/cb`;
    const config = await oidc.discovery(new URL(idp.issuer), 'test-rp', 'secret', undefined, { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile roles',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      resource: AUDIENCE,
    });
    // The redirect target: the browser stops there, the test reads the code from the URL.
    const callback = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => callback.listen(port, '127.0.0.1', resolve));
    try {
      const browser = new TestBrowser();
      const form = await browser.follow(url.href);
      const action = /<form method="post" action="([^"]+)"/.exec(await form.res.text())?.[1] as string;
      let res = await browser.request(new URL(action, form.url).href, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username, password }).toString(),
      });
      let current = new URL(action, form.url).href;
      while (res.status >= 300 && res.status < 400) {
        current = new URL(res.headers.get('location') as string, current).href;
        if (current.startsWith(redirectUri)) break;
        res = await browser.request(current);
      }
      const tokens = await oidc.authorizationCodeGrant(config, new URL(current), { pkceCodeVerifier: verifier, expectedState: state });
      return tokens.access_token;
    } finally {
      callback.close();
    }
  };

  const asUser = (token: string | undefined, method: string, route: string, body?: unknown) => httpJson(method, `${core.url}${route}`, body, token);

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'core-people-'));
    const users = [
      { username: 'admin', password: 'a-pass', roles: ['admin'] },
      { username: 'operator', password: 'o-pass', roles: ['operator'] },
      { username: 'viewer', password: 'v-pass', roles: ['viewer'] },
      { username: 'nobody', password: 'n-pass', roles: [] },
    ];
    callbackPort = await freePort();
    idp = await startDevIdp({
      dataDir,
      users,
      audience: AUDIENCE,
      clients: [{ client_id: 'test-rp', client_secret: 'secret', redirect_uris: [`http://127.0.0.1:${callbackPort}/cb`] }],
    });
    const stored = JSON.parse(readFileSync(path.join(dataDir, 'dev-idp', 'keys.json'), 'utf8')) as { signing: JWK & { kid: string } };
    kid = stored.signing.kid;
    signingKey = (await importJWK(stored.signing, 'RS256')) as SigningKey;

    core = await bootCoreSpec({
      name: 'core_people',
      executor,
      bucket,
      env: { OIDC_ISSUER: idp.issuer, OIDC_AUDIENCE: AUDIENCE, RATE_LIMIT_AUTH_FAILURE_LIMIT: '0' },
    });
    for (const u of users) realTokens.set(u.username, await signIn(u.username, u.password));
  });

  afterAll(async () => {
    await core?.close();
    await idp?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('a real sign-in', () => {
    it("an operator's token starts a run, recorded with the person as actor", async () => {
      const res = await asUser(realTokens.get('operator'), 'POST', '/workflows/onboard/runs', { user_id: 'u1', inputs: {} });
      expect(res.status).toBe(202);
      const start = await poll('the start at the executor', async () =>
        executor.requests.find((r) => r.method === 'POST' && r.path === '/api/runs' && (r.body as { run_id: string }).run_id === res.body.run_id),
      );
      expect(start.body).toMatchObject({ actor: 'user:operator' });
      const rows: { actor: string }[] = await core.app.get(DataSource).query(`SELECT actor FROM workflow_run_requests WHERE run_id = $1`, [res.body.run_id]);
      expect(rows).toEqual([{ actor: 'user:operator' }]);
    });

    it("a viewer's token reads (200) but may not start, cancel or submit (403), and nothing reaches the executor", async () => {
      const viewer = realTokens.get('viewer');
      expect((await asUser(viewer, 'GET', '/runs')).status).toBe(200);
      const before = executor.requests.filter((r) => r.method === 'POST').length;
      const start = await asUser(viewer, 'POST', '/workflows/onboard/runs', { user_id: 'u1', inputs: {} });
      expect([start.status, start.body.code]).toEqual([403, 'forbidden']);
      expect(start.body.message).toMatch(/user:viewer \(roles viewer\) may not start on core/);
      const cancel = await asUser(viewer, 'POST', '/runs/7a1d3c1e-0f3b-4a55-9d6f-0d2b9c1f4e11/cancel');
      expect(cancel.status).toBe(403);
      expect((await asUser(viewer, 'POST', '/handle_task', { input: 'review the auth module', user_id: 'u1' })).status).toBe(403);
      expect(executor.requests.filter((r) => r.method === 'POST').length).toBe(before);
    });

    it('the same token may be used again (people are not held to single-use service tokens)', async () => {
      const operator = realTokens.get('operator');
      expect((await asUser(operator, 'POST', '/runs/7a1d3c1e-0f3b-4a55-9d6f-0d2b9c1f4e11/cancel')).status).toBe(202);
      expect((await asUser(operator, 'POST', '/runs/7a1d3c1e-0f3b-4a55-9d6f-0d2b9c1f4e11/cancel')).status).toBe(202);
    });

    it('a person without a known role gets 403 even for reads', async () => {
      expect((await asUser(realTokens.get('nobody'), 'GET', '/runs')).status).toBe(403);
    });

    it('an admin may do what an operator may, and admin operations', async () => {
      expect((await asUser(realTokens.get('admin'), 'POST', '/workflows/onboard/runs', { user_id: 'u1', inputs: {} })).status).toBe(202);
    });

    it("an admin's disable reaches the executor in the person's name (actor user:admin, which it records and sends to Bucket)", async () => {
      const res = await asUser(realTokens.get('admin'), 'POST', '/workflows/onboard/disable', { reason: 'maintenance' });
      expect(res.status).toBe(200);
      const sent = executor.requests.filter((r) => r.method === 'POST' && r.path === '/api/workflows/onboard/disable');
      expect(sent.map((r) => r.body)).toEqual([{ reason: 'maintenance', actor: 'user:admin' }]);
    });
  });

  describe('refused tokens: 401 unauthenticated', () => {
    it('a forged token (right issuer and kid, another key)', async () => {
      const { privateKey } = await generateKeyPair('RS256');
      const res = await asUser(await providerToken({ sub: 'admin', roles: ['admin'] }, { key: privateKey }), 'GET', '/runs');
      expect([res.status, res.body.code]).toEqual([401, 'unauthenticated']);
      expect(res.body.message).toMatch(/signature/);
    });

    it('an expired token', async () => {
      const res = await asUser(await providerToken({}, { exp: Math.floor(Date.now() / 1000) - 120 }), 'GET', '/runs');
      expect(res.status).toBe(401);
      expect(res.body.message).toMatch(/expired/);
    });

    it('a token for another audience', async () => {
      const res = await asUser(await providerToken({}, { aud: 'urn:other:api' }), 'GET', '/runs');
      expect(res.status).toBe(401);
      expect(res.body.message).toMatch(/aud/);
    });

    it('a token of another issuer is not a person at all (no such peer)', async () => {
      const res = await asUser(await providerToken({}, { iss: 'http://127.0.0.1:1/evil' }), 'GET', '/runs');
      expect(res.status).toBe(401);
    });

    it('a valid provider-signed token with the right claims is accepted (the refusals above are about the one difference)', async () => {
      expect((await asUser(await providerToken({ sub: 'mallory' }), 'GET', '/runs')).status).toBe(200);
    });
  });

  describe('service tokens and anonymous callers work as before', () => {
    it('a service token still starts runs with the service as actor', async () => {
      const res = await httpJson('POST', `${core.url}/workflows/onboard/runs`, { user_id: 'u1', inputs: {} }, await core.keys.mint(RequesterId.Prana, 'core'));
      expect(res.status).toBe(202);
    });

    it('anonymous /handle_task stays possible where the policy says so', async () => {
      expect((await httpJson('POST', `${core.url}/handle_task`, { input: 'review the auth module', user_id: 'u1' })).status).toBe(202);
    });
  });
});
