import type { ServiceName, TokenSource } from '@pancha/contracts';
import { SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
  TOKEN_ALGORITHM,
  TOKEN_REFRESH_MARGIN_SECONDS,
} from './governance.constants';
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

interface CachedToken {
  token: string;
  exp: number;
}

/**
 * Signs this service's short-lived EdDSA tokens (iss = sub = our requester id, aud = the target service).
 * One token per audience (and products claim) is reused until 15 s before it expires.
 */
export class TokenIssuer implements TokenSource {
  private readonly ttlSeconds: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, CachedToken>();

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
    const key = `${audience}|${products?.join(',') ?? '*'}`;
    const nowSeconds = Math.floor(this.now() / 1000);
    const cached = this.cache.get(key);
    if (cached && cached.exp - nowSeconds > TOKEN_REFRESH_MARGIN_SECONDS) return cached.token;

    const exp = nowSeconds + this.ttlSeconds;
    const jwt = new SignJWT(products === undefined ? {} : { products })
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: 'JWT' })
      .setIssuer(this.keys.self)
      .setSubject(this.keys.self)
      .setAudience(audience)
      .setIssuedAt(nowSeconds)
      .setExpirationTime(exp)
      .setJti(randomUUID());
    const token = await jwt.sign(this.keys.privateKey);
    this.cache.set(key, { token, exp });
    return token;
  }
}

function normaliseProducts(products: string[]): string[] {
  if (!Array.isArray(products) || products.some((p) => typeof p !== 'string' || p.trim() === '')) {
    throw new Error('products must be a list of non-empty product names');
  }
  return [...new Set(products.map((p) => p.trim()))].sort();
}
