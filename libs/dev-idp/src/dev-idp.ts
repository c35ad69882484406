import Provider, { type InteractionDetails } from 'oidc-provider';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { authenticateDevUser, ensureDevUsers, type DevUser } from './dev-users';

/** A relying party the provider knows (PRANA's BFF). */
export interface DevIdpClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
}

export interface DevIdpOptions {
  /** Where dev-users.json and the provider's keys (<dataDir>/dev-idp) live. */
  dataDir: string;
  clients: DevIdpClient[];
  /** 0 = a free port. */
  port?: number;
  /** Address to listen on (default 127.0.0.1; a container: 0.0.0.0). */
  host?: string;
  /**
   * The issuer as browsers reach it, when it is not http://<host>:<port> (a container published on
   * localhost: http://localhost:4300 while listening on 0.0.0.0).
   */
  issuer?: string;
  /** The audience of the access tokens (the Pancha API), as OIDC_AUDIENCE: an absolute URI (RFC 8707). Default `urn:pancha:api`. */
  audience?: string;
  /** Claim carrying the roles, in ID and access tokens, as OIDC_ROLES_CLAIM. Default `roles`. */
  rolesClaim?: string;
  accessTokenTtlSeconds?: number;
  /** Users instead of dataDir/dev-users.json (tests). */
  users?: DevUser[];
}

export interface RunningDevIdp {
  issuer: string;
  port: number;
  users: DevUser[];
  usersFile?: string;
  /** Whether the users file was created by this start (print the passwords once). */
  usersCreated: boolean;
  close(): Promise<void>;
}

/** The API scope PRANA asks for: access tokens for the Pancha services carry it. */
export const PANCHA_API_SCOPE = 'pancha';
/** The default audience (resource indicator) of people's access tokens. */
export const PANCHA_API_AUDIENCE = 'urn:pancha:api';

/**
 * An OpenID Connect provider for development and tests, built on oidc-provider: authorization code with
 * PKCE, refresh tokens, JWT access tokens for the Pancha API audience with the roles claim, RP-initiated
 * logout, a plain login form for the users of dev-users.json. Its signing and cookie keys are kept under
 * <dataDir>/dev-idp so sessions and issued tokens survive a restart.
 */
export async function startDevIdp(options: DevIdpOptions): Promise<RunningDevIdp> {
  const host = options.host ?? '127.0.0.1';
  const audience = options.audience ?? PANCHA_API_AUDIENCE;
  const rolesClaim = options.rolesClaim ?? 'roles';
  const ttl = options.accessTokenTtlSeconds ?? 900;
  const devUsers = options.users ? { users: options.users, file: undefined, created: false } : ensureDevUsers(options.dataDir);
  const users = devUsers.users;
  const keys = ensureProviderKeys(path.join(options.dataDir, 'dev-idp'));

  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = (options.issuer ?? `http://${host}:${port}`).replace(/\/+$/, '');
  const userOf = (sub: string) => users.find((u) => u.username === sub);
  const claimsOf = (user: DevUser) => ({ sub: user.username, name: user.username, preferred_username: user.username, [rolesClaim]: user.roles });

  const provider = new Provider(issuer, {
    clients: options.clients.map((c) => ({
      ...c,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys: [keys.signing] },
    cookies: { keys: keys.cookies },
    pkce: { required: () => true },
    scopes: ['openid', 'profile', 'roles', 'offline_access'],
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], roles: [rolesClaim] },
    // The BFF reads name and roles from the ID token; code flow alone would put them only in userinfo.
    conformIdTokenClaims: false,
    findAccount: (_ctx: unknown, sub: string) => {
      const user = userOf(sub);
      return user ? { accountId: sub, claims: () => claimsOf(user) } : undefined;
    },
    // Access tokens for the Pancha API carry who and which roles: Core and the executor authorise on them.
    extraTokenClaims: (_ctx: unknown, token: { kind: string; accountId?: string }) => {
      const user = token.kind === 'AccessToken' && token.accountId ? userOf(token.accountId) : undefined;
      return user ? { preferred_username: user.username, [rolesClaim]: user.roles } : undefined;
    },
    // A first-party console: no consent screen, every scope and the API granted.
    loadExistingGrant: async (ctx: GrantContext) => {
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      if (!ctx.oidc.session.accountId) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid profile roles offline_access');
      grant.addResourceScope(audience, PANCHA_API_SCOPE);
      await grant.save();
      return grant;
    },
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(t: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          if (resource !== audience) throw new Error(`unknown resource ${resource}`);
          return { scope: PANCHA_API_SCOPE, audience, accessTokenTTL: ttl, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    ttl: {
      AccessToken: ttl,
      IdToken: ttl,
      AuthorizationCode: 60,
      Interaction: 600,
      RefreshToken: 8 * 3600,
      Session: 8 * 3600,
      Grant: 8 * 3600,
    },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    renderError: (ctx: { type: string; body: string }, out: Record<string, string>) => {
      ctx.type = 'html';
      ctx.body = page('Sign-in error', `<p role="alert">${escapeHtml(out.error ?? 'error')}: ${escapeHtml(out.error_description ?? '')}</p>`);
    },
  });

  const callback = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(url.pathname);
    if (!match) {
      callback(req, res);
      return;
    }
    interaction(provider, users, req, res, match[2] === '/login').catch((error: Error) => {
      if (!res.headersSent) {
        res.writeHead(400, { 'content-type': 'text/html; charset=utf-8' });
        res.end(page('Sign-in error', `<p role="alert">${escapeHtml(error.message)}</p>`));
      }
    });
  });

  return {
    issuer,
    port,
    users,
    usersFile: devUsers.file,
    usersCreated: devUsers.created,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface GrantContext {
  oidc: {
    result?: { consent?: { grantId?: string } };
    session: { accountId?: string; grantIdFor(clientId: string): string | undefined };
    client: { clientId: string };
    provider: Provider & { Grant: Provider['Grant'] & { find(id: string): Promise<unknown> } };
  };
}

async function interaction(provider: Provider, users: DevUser[], req: IncomingMessage, res: ServerResponse, submitted: boolean): Promise<void> {
  const details: InteractionDetails = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    if (!submitted || req.method !== 'POST') return sendHtml(res, 200, loginForm(details.uid));
    const form = new URLSearchParams(await readBody(req));
    const user = authenticateDevUser(users, form.get('username') ?? '', form.get('password') ?? '');
    if (!user) return sendHtml(res, 401, loginForm(details.uid, 'Wrong username or password.'));
    await provider.interactionFinished(req, res, { login: { accountId: user.username } }, { mergeWithLastSubmission: false });
    return;
  }
  // Consent for a first-party client is implicit (loadExistingGrant); anything else ends the interaction.
  await provider.interactionFinished(req, res, { error: 'access_denied', error_description: `unsupported prompt ${details.prompt.name}` });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 16 * 1024) {
        reject(new Error('form too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    // No form-action: Chromium applies it to the whole redirect chain after the login POST, which ends at the
    // client's redirect_uri (PRANA, another origin), so `form-action 'self'` blocked every sign-in in Chromium.
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  });
  res.end(html);
}

function loginForm(uid: string, error?: string): string {
  return page(
    'Sign in to Pancha',
    `${error ? `<p role="alert" class="error">${escapeHtml(error)}</p>` : ''}
    <form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
      <label for="username">Username</label>
      <input id="username" name="username" required autofocus>
      <label for="password">Password</label>
      <input id="password" name="password" type="password" required>
      <button type="submit">Sign in</button>
    </form>
    <p class="hint">Development users are in .data/dev-users.json.</p>`,
  );
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>
body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1b1f24;display:flex;justify-content:center;padding-top:10vh;margin:0}
main{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15);width:min(22rem,90vw)}
label{display:block;margin-top:1rem;font-weight:600}input{width:100%;box-sizing:border-box;padding:.5rem;margin-top:.25rem;font-size:1rem}
button{margin-top:1.5rem;width:100%;padding:.6rem;font-size:1rem;background:#1f4fbf;color:#fff;border:0;border-radius:4px;cursor:pointer}
button:focus,input:focus{outline:3px solid #f0a500}.error{color:#a4000f}.hint{color:#4a5160;font-size:.85rem}
</style></head><body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

interface ProviderKeys {
  signing: Record<string, unknown>;
  cookies: string[];
}

/** RS256 signing key and cookie keys, generated once and kept (owner-only) so a restart keeps sessions and tokens valid. */
function ensureProviderKeys(dir: string): ProviderKeys {
  const file = path.join(dir, 'keys.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as ProviderKeys;
  mkdirSync(dir, { recursive: true });
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keys: ProviderKeys = {
    signing: { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' },
    cookies: [randomBytes(32).toString('base64url')],
  };
  writeFileSync(file, JSON.stringify(keys), { mode: 0o600 });
  chmodSync(file, 0o600);
  return keys;
}
