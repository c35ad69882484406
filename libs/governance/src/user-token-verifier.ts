import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { CLOCK_TOLERANCE_SECONDS } from './governance.constants';
import { PolicyService } from './policy.service';
import { TokenVerificationError } from './token-verifier.service';
import type { VerifiedRequester, VerifiedUser } from './verified-requester';

/** Where people's tokens come from: the organisation's OIDC provider (OIDC_* settings). */
export interface UserTokenSettings {
  /** The provider's issuer URL exactly as it appears in `iss`. */
  OIDC_ISSUER?: string;
  /** The audience people's access tokens must carry for the Pancha API. */
  OIDC_AUDIENCE?: string;
  /** Claim with the roles; dotted for nested claims (Keycloak: realm_access.roles). Default `roles`. */
  OIDC_ROLES_CLAIM?: string;
  /** The JWKS URL, when it is not the one the provider's discovery document names. */
  OIDC_JWKS_URI?: string;
}

/** Signature algorithms accepted on people's tokens: asymmetric only (a shared secret would let anyone holding it mint). */
const USER_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export interface UserTokenVerifierOptions {
  issuer: string;
  audience: string;
  rolesClaim?: string;
  jwksUri?: string;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/**
 * Verifies a person's access token (a JWT from the organisation's OIDC provider) against the provider's
 * JWKS, fetched and cached by jose (keys rotate without a restart): signature, issuer, audience, expiry.
 * The roles claim then maps to operations through the policy's `people` section (done by the guard).
 */
export class UserTokenVerifier {
  private jwks?: Promise<JWTVerifyGetKey>;
  private readonly now: () => number;
  private readonly rolesClaim: string;

  constructor(
    private readonly options: UserTokenVerifierOptions,
    private readonly policy: PolicyService,
  ) {
    this.now = options.now ?? Date.now;
    this.rolesClaim = options.rolesClaim ?? 'roles';
  }

  /** From the app's settings; undefined when no provider is configured (people's tokens are then refused). */
  static fromSettings(settings: UserTokenSettings, policy: PolicyService): UserTokenVerifier | undefined {
    const issuer = settings.OIDC_ISSUER?.trim();
    const audience = settings.OIDC_AUDIENCE?.trim();
    if (!issuer || !audience) return undefined;
    return new UserTokenVerifier({ issuer, audience, rolesClaim: settings.OIDC_ROLES_CLAIM?.trim() || undefined, jwksUri: settings.OIDC_JWKS_URI?.trim() || undefined }, policy);
  }

  /** Whether a token claims to come from the provider (its `iss`, unverified: it only picks the verifier). */
  claims(token: string): boolean {
    try {
      return decodeJwt(token).iss === this.options.issuer;
    } catch {
      return false;
    }
  }

  async verify(token: string): Promise<VerifiedRequester & { user: VerifiedUser }> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await this.keySet(), {
        algorithms: USER_TOKEN_ALGORITHMS,
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['iss', 'sub', 'aud', 'exp'],
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      if (err instanceof TokenVerificationError) throw err;
      throw new TokenVerificationError(`user token: ${describe(err)}`);
    }
    const sub = String(payload.sub);
    const username = typeof payload.preferred_username === 'string' && /^[\w.@-]{1,120}$/.test(payload.preferred_username) ? payload.preferred_username : sub;
    const user: VerifiedUser = { sub, username, roles: rolesOf(payload, this.rolesClaim) };
    return { id: `user:${username}`, user, products: this.policy.peopleProducts() };
  }

  private keySet(): Promise<JWTVerifyGetKey> {
    if (!this.jwks) {
      this.jwks = this.discoverJwksUri().then(
        (uri) => createRemoteJWKSet(new URL(uri), { timeoutDuration: 5000, cooldownDuration: 30_000 }),
        (error: Error) => {
          this.jwks = undefined;
          throw new TokenVerificationError(`user token: the provider's keys cannot be fetched (${error.message})`);
        },
      );
    }
    return this.jwks;
  }

  private async discoverJwksUri(): Promise<string> {
    if (this.options.jwksUri) return this.options.jwksUri;
    const url = `${this.options.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    const doc = (await res.json()) as { jwks_uri?: unknown; issuer?: unknown };
    if (doc.issuer !== this.options.issuer) throw new Error(`discovery names issuer ${String(doc.issuer)}, expected ${this.options.issuer}`);
    if (typeof doc.jwks_uri !== 'string') throw new Error(`${url} names no jwks_uri`);
    return doc.jwks_uri;
  }
}

function rolesOf(payload: JWTPayload, claimPath: string): string[] {
  let value: unknown = payload;
  for (const key of claimPath.split('.')) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (err instanceof errors.JWKSNoMatchingKey) return 'signed with a key the provider does not publish';
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} invalid: ${err.message}`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not accepted';
  if (err instanceof errors.JOSEError) return `invalid token: ${err.message}`;
  return 'invalid token';
}
