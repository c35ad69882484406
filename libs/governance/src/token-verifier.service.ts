import type { RequesterId, ServiceName } from '@pancha/contracts';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { CLOCK_TOLERANCE_SECONDS, MAX_TOKEN_TTL_SECONDS, TOKEN_ALGORITHM } from './governance.constants';
import { KeyStore } from './key-store';
import { PolicyService } from './policy.service';
import type { VerifiedRequester } from './verified-requester';

/** Why a token was refused; the guard turns it into 401 `unauthenticated`. */
export class TokenVerificationError extends Error {}

export interface TokenVerifierOptions {
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/**
 * Verifies bearer tokens addressed to this service: EdDSA only, issuer = subject = a pinned peer, signature
 * by that peer's pinned key, aud = this service, exp and iat present with a lifetime of at most 120 s, jti
 * present, 5 s clock tolerance. Nothing in the token is trusted before the signature checks out, except
 * `iss`, which only selects the pinned key to check against.
 */
export class TokenVerifier {
  private readonly now: () => number;

  constructor(
    private readonly keys: KeyStore,
    private readonly policy: PolicyService,
    private readonly audience: ServiceName,
    options: TokenVerifierOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  async verify(token: string): Promise<VerifiedRequester & { id: RequesterId }> {
    let issuer: unknown;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== TOKEN_ALGORITHM) throw new TokenVerificationError(`algorithm ${String(header.alg)} is not accepted`);
      issuer = decodeJwt(token).iss;
    } catch (err) {
      if (err instanceof TokenVerificationError) throw err;
      throw new TokenVerificationError('malformed token');
    }
    if (typeof issuer !== 'string') throw new TokenVerificationError('token has no issuer');
    const key = this.keys.peerKey(issuer);
    if (!key) throw new TokenVerificationError(`issuer "${issuer}" is not a trusted peer`);

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [TOKEN_ALGORITHM],
        issuer,
        subject: issuer,
        audience: this.audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        maxTokenAge: MAX_TOKEN_TTL_SECONDS,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      throw new TokenVerificationError(describeJoseError(err));
    }

    const { iat, exp, jti } = payload as Required<Pick<JWTPayload, 'iat' | 'exp' | 'jti'>>;
    if (exp - iat > MAX_TOKEN_TTL_SECONDS) {
      throw new TokenVerificationError(`token lifetime ${exp - iat} s exceeds ${MAX_TOKEN_TTL_SECONDS} s`);
    }
    if (iat > this.now() / 1000 + CLOCK_TOLERANCE_SECONDS) throw new TokenVerificationError('token issued in the future');
    if (typeof jti !== 'string' || jti === '') throw new TokenVerificationError('token has no jti');
    // Stored as used_tokens.jti (varchar(255)), in the statement of a write that may carry other requests' rows too.
    if (!STORABLE_JTI.test(jti)) throw new TokenVerificationError('token jti must be at most 255 visible ASCII characters');

    const claim = payload.products;
    if (claim !== undefined && (!Array.isArray(claim) || claim.some((p) => typeof p !== 'string'))) {
      throw new TokenVerificationError('products claim must be a list of strings');
    }
    const id = issuer as RequesterId;
    return {
      id,
      products: this.policy.effectiveProducts(id, claim as string[] | undefined),
      tokenId: jti,
      // Past this instant the token is refused anyway, so its jti need not be remembered longer.
      tokenExpiresAt: new Date((exp + CLOCK_TOLERANCE_SECONDS) * 1000),
    };
  }
}

const STORABLE_JTI = /^[\x21-\x7e]{1,255}$/;

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} invalid: ${err.message}`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not accepted';
  if (err instanceof errors.JOSEError) return `invalid token: ${err.message}`;
  return 'invalid token';
}
