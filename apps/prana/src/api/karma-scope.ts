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

/** Karma's profile reads, which carry `q_values`: the profile and the user stats (the profile plus counts). */
const KARMA_PROFILE_PATHS = [KARMA_USER_PATHS[0], KARMA_USER_PATHS[2]];

/**
 * What a restricted person gets of a Karma answer they may read (their own): the profile and the user stats without
 * `q_values`, the learner row of the Q-table (`v1/q-table` is refused them: the Q-table learns from everyone, so its
 * rows are no one's own). Anything else, and everything for people who see every product, as Karma answered it.
 */
export function karmaAnswerScoped(products: readonly string[], path: string, body: unknown): unknown {
  if (products.includes(ALL_PRODUCTS) || !isRecord(body) || !('q_values' in body)) return body;
  if (!KARMA_PROFILE_PATHS.some((pattern) => pattern.test(path))) return body;
  const { q_values: _learnerRow, ...rest } = body;
  return rest;
}

/** A Core event as `GET /events/:id` (with `data`) or an item of `GET /events` (without) shows it. */
export interface CoreEventSeen {
  type?: unknown;
  publisher?: unknown;
  subject?: unknown;
  data?: unknown;
}

/**
 * Karma's events in Core's router (docs/events.md): a `karma.*` type (the policy's `events:` section keeps Karma to
 * those) or Karma as the publisher. They carry no product (Karma keeps none), so Core shows them to every reader.
 */
export function isKarmaEvent(event: CoreEventSeen): boolean {
  return (typeof event.type === 'string' && event.type.toLowerCase().startsWith('karma.')) || event.publisher === 'karma';
}

/** The users a Core event names: its `subject` (Karma's user) and, when the read has the data, `data.user_id`. */
function usersOf(event: CoreEventSeen): string[] {
  const users = typeof event.subject === 'string' ? [event.subject] : [];
  if (isRecord(event.data) && typeof event.data.user_id === 'string') users.push(event.data.user_id);
  return users;
}

/**
 * What `karmaReadRefusal` is for Karma's reads, for Core's events: a restricted person reads a karma event only when
 * every user it names is them (`karma.role_changed` names the user in `subject` and `data.user_id`); any other karma
 * event, one naming no user included, is a 403 `karma_outside_products`. Other events are Core's to scope.
 */
export function karmaEventRefusal(products: readonly string[], username: string, event: CoreEventSeen): PranaException | undefined {
  if (products.includes(ALL_PRODUCTS) || !isKarmaEvent(event)) return undefined;
  const users = usersOf(event);
  const other = users.find((u) => u !== username);
  if (users.length > 0 && other === undefined) return undefined;
  return karmaReadRefusal(products, username, other);
}

/**
 * A page of `GET /events` without the karma events a restricted person may not read. The page may come out shorter
 * than `limit`, even empty, with Core's `next_cursor` unchanged: paging goes on where Core's page ended.
 */
export function karmaEventsPageScoped(products: readonly string[], username: string, page: Record<string, unknown>): Record<string, unknown> {
  if (products.includes(ALL_PRODUCTS) || !Array.isArray(page.events)) return page;
  return { ...page, events: page.events.filter((e: unknown) => !isRecord(e) || karmaEventRefusal(products, username, e) === undefined) };
}

/**
 * `GET /events/stats` for a restricted person: the counts (by type, by trigger) stay, but a key among
 * `noisiest_keys` of a trigger that karma events reach may be a user's name (`key: event.data.user_id`), so those
 * keys go unless the key is the person's own. `karmaTriggers` are the `<workflow>/<trigger>` karma events were routed
 * to; undefined when they could not be told, and then every key but the person's own goes.
 */
export function karmaEventStatsScoped(products: readonly string[], username: string, stats: Record<string, unknown>, karmaTriggers: ReadonlySet<string> | undefined): Record<string, unknown> {
  if (products.includes(ALL_PRODUCTS) || !Array.isArray(stats.noisiest_keys)) return stats;
  const keys = stats.noisiest_keys.filter((k: unknown) => {
    if (!isRecord(k)) return false;
    if (k.key === username) return true;
    return karmaTriggers !== undefined && !karmaTriggers.has(`${String(k.workflow)}/${String(k.trigger)}`);
  });
  return { ...stats, noisiest_keys: keys };
}

/** The event types of `GET /events/stats`'s `by_type` that are Karma's. */
export function karmaEventTypes(stats: Record<string, unknown>): string[] {
  return isRecord(stats.by_type) ? Object.keys(stats.by_type).filter((type) => isKarmaEvent({ type })) : [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
