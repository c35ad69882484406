import type { ServiceName, TokenSource } from '@pancha/contracts';
import { SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { DEFAULT_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS, TOKEN_ALGORITHM } from './governance.constants';
import { KeyStore } from './key-store';

export interface TokenIssuerOptions {
  /** Token lifetime in seconds, 1..120 (default 60). */
  ttlSeconds?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

export interface TokenClaims {
  /** Narrows what the receiver lets this token see; the policy's products still bound it. */
  products?: string[];
}

/**
 * Signs this service's short-lived EdDSA tokens (iss = sub = our requester id, aud = the target service).
 * Every call mints a new token with its own jti: receivers refuse a jti they have seen on a write (replay
 * protection), so a token is never shared between two requests. Signing costs tens of microseconds.
 */
export class TokenIssuer implements TokenSource {
  private readonly ttlSeconds: number;
  private readonly now: () => number;

  constructor(
    private readonly keys: KeyStore,
    options: TokenIssuerOptions = {},
  ) {
    const ttl = options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) {
      throw new Error(`token TTL must be an integer from 1 to ${MAX_TOKEN_TTL_SECONDS} seconds, got ${ttl}`);
    }
    this.ttlSeconds = ttl;
    this.now = options.now ?? Date.now;
  }

  tokenFor(audience: ServiceName, claims: TokenClaims = {}): Promise<string> {
    return this.issue(audience, claims);
  }

  async issue(audience: ServiceName, claims: TokenClaims = {}): Promise<string> {
    const products = claims.products === undefined ? undefined : normaliseProducts(claims.products);
    const nowSeconds = Math.floor(this.now() / 1000);
    const exp = nowSeconds + this.ttlSeconds;
    const jwt = new SignJWT(products === undefined ? {} : { products })
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: 'JWT' })
      .setIssuer(this.keys.self)
      .setSubject(this.keys.self)
      .setAudience(audience)
      .setIssuedAt(nowSeconds)
      .setExpirationTime(exp)
      .setJti(randomUUID());
    return jwt.sign(this.keys.privateKey);
  }
}

function normaliseProducts(products: string[]): string[] {
  if (!Array.isArray(products) || products.some((p) => typeof p !== 'string' || p.trim() === '')) {
    throw new Error('products must be a list of non-empty product names');
  }
  return [...new Set(products.map((p) => p.trim()))].sort();
}
