import { type Anonymous, RequesterId } from '@pancha/contracts';
import { ALL_PRODUCTS } from './governance.constants';
import { forbidden } from './governance.exception';
import type { TokenUse } from './token-replay.store';

/** A person, signed in with the organisation's OIDC provider: `user:<username>`. */
export type UserSubject = `user:${string}`;

/** A person behind a request, from their verified access token. */
export interface VerifiedUser {
  /** The provider's subject. */
  sub: string;
  /** preferred_username, else sub: what audit entries name. */
  username: string;
  roles: string[];
}

/** Who made the request, as established by the guard (never by the request body). */
export interface VerifiedRequester {
  /** A service, anonymous, or a person (`user:<username>`, with `user` set). */
  id: RequesterId | Anonymous | UserSubject;
  user?: VerifiedUser;
  /** Effective products (policy ∩ token claim); contains "*" when every product is visible. */
  products: string[];
  /** The token's jti; absent for anonymous requests. */
  tokenId?: string;
  /** When the token stops being accepted (exp + clock tolerance); absent for anonymous requests. */
  tokenExpiresAt?: Date;
}

/**
 * The use of the requester's token a write claims (single-use tokens, see TokenReplayStore); undefined for a request
 * without a token id (anonymous). The guard claims it for most writes; a @ClaimTokenWithWrite() handler claims it
 * with its write.
 */
export function writeTokenOf(requester: VerifiedRequester): TokenUse | undefined {
  if (requester.tokenId === undefined || requester.tokenExpiresAt === undefined) return undefined;
  return { issuer: requester.id, jti: requester.tokenId, expiresAt: requester.tokenExpiresAt };
}

/** What audit and run records name as the actor: `user:<username>` for a person, else the requester id. */
export function actorOf(requester: VerifiedRequester): string {
  return requester.user ? `user:${requester.user.username}` : requester.id;
}

/**
 * Who an action is recorded for: the person or service Core acted for when Core forwards `claimed` (Core takes it
 * from its own verified caller with actorOf), else the caller itself. Only Core's service token may name someone
 * else: a person or any other service could otherwise record an action in another's name (403).
 */
export function actingFor(requester: VerifiedRequester, claimed: string | undefined): string {
  if (claimed === undefined) return actorOf(requester);
  if (requester.id !== RequesterId.Core) {
    throw forbidden(`only ${RequesterId.Core} may name the actor of a change; ${actorOf(requester)} sent actor ${JSON.stringify(claimed)}`);
  }
  return claimed;
}

/** Whether `requester` may see data of `product` (product isolation, T9). */
export function canAccessProduct(requester: VerifiedRequester, product: string): boolean {
  return requester.products.includes(ALL_PRODUCTS) || requester.products.includes(product);
}

/** Product filter for queries: undefined = no restriction, else the only products to return. */
export function productFilter(requester: VerifiedRequester): string[] | undefined {
  return requester.products.includes(ALL_PRODUCTS) ? undefined : [...requester.products];
}

/**
 * The product a write acts for when it names `product` or none: as named; for a requester restricted to exactly one
 * product and naming none, that one (what it writes must stay readable to it: a product-less run is visible only to
 * requesters that see every product). `ambiguous` when a requester restricted to several names none: the caller must
 * name one (a 422). Whether a named product is allowed is checked apart (canAccessProduct).
 */
export function impliedProduct(requester: VerifiedRequester, product: string | undefined): { product?: string } | { ambiguous: string[] } {
  if (product !== undefined) return { product };
  const allowed = productFilter(requester);
  if (!allowed) return {};
  return allowed.length === 1 ? { product: allowed[0] } : { ambiguous: allowed };
}

/** What a 422 says when a requester restricted to several products names none (impliedProduct's `ambiguous`). */
export function productRequired(requesterId: string, allowed: readonly string[]): string {
  return allowed.length === 0
    ? `requester ${requesterId} acts for no product`
    : `product is required: requester ${requesterId} acts for several products (${allowed.join(', ')}); name the one this is for`;
}
