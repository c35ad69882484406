import { Injectable, Logger } from '@nestjs/common';
import * as oidc from 'openid-client';
import { PranaConfig } from '../config/env.validation';
import { Clock } from '../clock';
import { rolesFromClaims } from './permissions';
import type { PendingLogin, SessionTokens, SessionUser } from './session-data';

/** A refresh happens this long before the access token expires, so a proxied call never carries a dying token. */
const REFRESH_MARGIN_MS = 30_000;

/** The OIDC relying party: authorization code with PKCE, state and nonce; refresh; RP-initiated logout. */
@Injectable()
export class OidcClientService {
  private readonly logger = new Logger(OidcClientService.name);
  private configuration?: Promise<oidc.Configuration>;

  constructor(
    private readonly config: PranaConfig,
    private readonly clock: Clock,
  ) {}

  get redirectUri(): string {
    return `${this.publicUrl}/auth/callback`;
  }

  get publicUrl(): string {
    return (this.config.PRANA_PUBLIC_URL ?? `http://127.0.0.1:${this.config.PORT ?? this.config.PRANA_PORT ?? 4200}`).replace(/\/+$/, '');
  }

  /** Discovery once, retried on the next call when the provider was not reachable (it may start after PRANA). */
  discover(): Promise<oidc.Configuration> {
    if (!this.configuration) {
      const issuer = new URL(this.config.OIDC_ISSUER ?? '');
      const internal = this.config.OIDC_INTERNAL_URL?.replace(/\/+$/, '');
      const insecure = issuer.protocol === 'http:' || internal?.startsWith('http:') === true;
      // The well-known URL of the issuer, fetched at the internal address; the issuer it names is checked below.
      const discovery = internal ? new URL(`${issuer.href.replace(/\/+$/, '')}/.well-known/openid-configuration`) : issuer;
      this.configuration = oidc
        .discovery(discovery, this.config.OIDC_CLIENT_ID, this.config.OIDC_CLIENT_SECRET, undefined, {
          ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}),
          timeout: 10,
          // Server-side calls (discovery, token, JWKS) go to the internal address; the browser keeps the issuer's.
          ...(internal ? { [oidc.customFetch]: (url: string, init: RequestInit) => fetch(rebase(url, issuer.origin, internal), init) } : {}),
        })
        .then((configuration) => {
          const named = configuration.serverMetadata().issuer;
          if (named.replace(/\/+$/, '') !== issuer.href.replace(/\/+$/, '')) throw new Error(`the provider names itself ${named}, not OIDC_ISSUER ${issuer.href}`);
          return configuration;
        })
        .catch((error: Error) => {
          this.configuration = undefined;
          this.logger.warn(`OIDC discovery at ${issuer.href} failed: ${error.message}`);
          throw error;
        });
    }
    return this.configuration;
  }

  async begin(returnTo: string): Promise<{ url: string; pending: PendingLogin }> {
    const configuration = await this.discover();
    const pending: PendingLogin = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      code_verifier: oidc.randomPKCECodeVerifier(),
      return_to: returnTo,
      started_at: this.clock.now(),
    };
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: this.redirectUri,
      scope: this.config.OIDC_SCOPES,
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.code_verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
      ...(this.config.OIDC_RESOURCE ? { resource: this.config.OIDC_RESOURCE } : {}),
    });
    return { url: url.href, pending };
  }

  /** Exchanges the code (state, nonce and PKCE checked by openid-client) and reads who signed in. */
  async complete(callbackUrl: URL, pending: PendingLogin): Promise<{ user: SessionUser; tokens: SessionTokens }> {
    const configuration = await this.discover();
    const response = await oidc.authorizationCodeGrant(configuration, callbackUrl, {
      pkceCodeVerifier: pending.code_verifier,
      expectedState: pending.state,
      expectedNonce: pending.nonce,
      idTokenExpected: true,
    });
    const claims = (response.claims() ?? {}) as Record<string, unknown>;
    const accessClaims = decodeJwtPayload(response.access_token);
    let roles = rolesFromClaims(claims, this.config.OIDC_ROLES_CLAIM);
    if (roles.length === 0 && accessClaims) roles = rolesFromClaims(accessClaims, this.config.OIDC_ROLES_CLAIM);
    const sub = String(claims.sub);
    const username = stringClaim(claims.preferred_username) ?? stringClaim(accessClaims?.preferred_username) ?? stringClaim(claims.email) ?? sub;
    return {
      user: { sub, username, name: stringClaim(claims.name) ?? username, roles },
      tokens: this.tokensOf(response),
    };
  }

  /** The tokens, refreshed first when the access token is about to expire; undefined when that is impossible. */
  async fresh(tokens: SessionTokens): Promise<SessionTokens | undefined> {
    if (tokens.expires_at - REFRESH_MARGIN_MS > this.clock.now()) return tokens;
    if (!tokens.refresh_token) return undefined;
    try {
      const configuration = await this.discover();
      const response = await oidc.refreshTokenGrant(configuration, tokens.refresh_token);
      const next = this.tokensOf(response);
      return { ...next, refresh_token: next.refresh_token ?? tokens.refresh_token, id_token: next.id_token ?? tokens.id_token };
    } catch (error) {
      this.logger.warn(`token refresh failed: ${(error as Error).message}`);
      return undefined;
    }
  }

  /** The provider's end-session URL (RP-initiated logout), when it has one. */
  async logoutUrl(idToken: string | undefined): Promise<string | undefined> {
    try {
      const configuration = await this.discover();
      if (!configuration.serverMetadata().end_session_endpoint) return undefined;
      return oidc.buildEndSessionUrl(configuration, {
        ...(idToken ? { id_token_hint: idToken } : {}),
        post_logout_redirect_uri: `${this.publicUrl}/`,
      }).href;
    } catch {
      return undefined;
    }
  }

  private tokensOf(response: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): SessionTokens {
    const expiresIn = response.expiresIn() ?? 300;
    return {
      access_token: response.access_token,
      refresh_token: response.refresh_token,
      id_token: response.id_token,
      expires_at: this.clock.now() + expiresIn * 1000,
    };
  }
}

/** `url` with the issuer's origin replaced by the internal base URL (other URLs unchanged). */
function rebase(url: string, issuerOrigin: string, internal: string): string {
  return url.startsWith(issuerOrigin) ? `${internal}${url.slice(issuerOrigin.length)}` : url;
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The payload of a JWT access token, unverified: only read for display when the ID token lacks the roles. */
function decodeJwtPayload(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
