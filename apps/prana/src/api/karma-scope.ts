import { HttpStatus } from '@nestjs/common';
import { ALL_PRODUCTS } from '@pancha/governance';
import { PranaException } from '../prana.exception';

/**
 * Karma's per-user reads and the user each one reads: the profile, the ledger history and head, the stats.
 * Case-insensitive and with an optional trailing slash, as Karma's router matches them.
 */
const KARMA_USER_PATHS = [/^\/api\/v1\/karma\/([^/]+)\/?$/i, /^\/v1\/karma\/([^/]+)\/(?:history|head)\/?$/i, /^\/v1\/stats\/user\/([^/]+)\/?$/i];

/** The user a Karma path (without its query) reads, or undefined when it is not one of the per-user reads. */
export function karmaPathUser(path: string): string | undefined {
  for (const pattern of KARMA_USER_PATHS) {
    const m = pattern.exec(path);
    if (!m) continue;
    try {
      return decodeURIComponent(m[1]);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Karma keeps no products: a user's ledger mixes what they did in every product, and the Q-table learns from
 * everyone. People restricted to some products (config/policy.yaml `people.products`) therefore read their own
 * karma only; any other user, or a Karma read that names no user, is a 403 `karma_outside_products`. People who
 * see every product read any user's karma. `user` is the user the read is about (undefined: none, or not one).
 */
export function karmaReadRefusal(products: readonly string[], username: string, user: string | undefined): PranaException | undefined {
  if (products.includes(ALL_PRODUCTS)) return undefined;
  if (user !== undefined && user === username) return undefined;
  const scope = products.join(', ') || 'none';
  return new PranaException(
    HttpStatus.FORBIDDEN,
    'karma_outside_products',
    `Karma keeps no products, so people restricted to products (${scope}) may read only their own karma (${username})` +
      (user === undefined ? '' : `, not ${user}'s`),
    { products: [...products], user_id: user ?? null },
  );
}
