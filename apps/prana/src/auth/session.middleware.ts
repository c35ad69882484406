import { doubleCsrf } from 'csrf-csrf';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import session, { type SessionData, type Store } from 'express-session';
import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock';
import type { PranaConfig } from '../config/env.validation';
import { MemoryRevocations, RedisRevocations, RevocableStore } from './revocable-store';
import './session-data';

export const SESSION_COOKIE = 'prana.sid';
export const CSRF_COOKIE = 'prana.csrf';
export const CSRF_HEADER = 'x-csrf-token';

export interface SessionParts {
  /** cookie parsing, express-session, idle/absolute expiry, CSRF on writes: mounted in this order. */
  middleware: RequestHandler[];
  /** A CSRF token bound to the current session (the cookie is set on the response). */
  csrfToken(req: Request, res: Response): string;
  store: Store;
}

/**
 * Sessions with tokens held server-side: express-session (connect-redis when REDIS_URL is set, so every
 * replica sees every session; memory otherwise), the cookie `prana.sid` (httpOnly, SameSite=Lax, Secure
 * over https, set only when a session id is issued), idle and absolute expiry checked against the injected clock, ended
 * session ids that stay ended (RevocableStore), and double-submit CSRF tokens (csrf-csrf) bound to the session id
 * for every request that is not a GET, HEAD or OPTIONS (every write under /api, and /auth/logout).
 */
export function sessionParts(config: PranaConfig, clock: Clock, redis?: Redis): SessionParts {
  const secrets = config.SESSION_SECRET?.length ? config.SESSION_SECRET : [randomBytes(32).toString('base64url')];
  // An ended session id stays ended: a response that ends after the sign-out must not write the session back.
  const revocations = redis
    ? new RedisRevocations(redis, config.SESSION_REDIS_PREFIX, config.SESSION_ABSOLUTE_SECONDS)
    : new MemoryRevocations(() => clock.now(), () => config.SESSION_ABSOLUTE_SECONDS * 1000);
  const store: Store = new RevocableStore(redis ? redisStore(redis, config, clock) : new session.MemoryStore(), revocations);
  const secure = (config.PRANA_PUBLIC_URL ?? '').startsWith('https:');

  // The cookie is set when a session id is issued (a sign-in starting, then the new id at the callback) and
  // never again: no `rolling`, and no Max-Age/Expires (with an expiry, express-session re-sends the cookie on
  // every response that touches the session, and each request touches last_seen_at). A re-sent cookie on the
  // response to a request that was in flight when the browser dropped its cookie put the dropped cookie back:
  // the browser e2e cleared its cookies, reloaded and was still signed in. Idle and absolute expiry are the
  // server's (the `expiry` step below, and the store's TTL), not the browser's clock.
  const sessions = session({
    name: SESSION_COOKIE,
    secret: secrets,
    store,
    resave: false,
    saveUninitialized: false,
    rolling: false,
    proxy: config.TRUST_PROXY !== 'false' ? true : undefined,
    cookie: { httpOnly: true, sameSite: 'lax', secure: secure ? true : 'auto', path: '/' },
  });

  const { generateCsrfToken, validateRequest } = doubleCsrf({
    getSecret: () => secrets,
    getSessionIdentifier: (req) => req.sessionID ?? '',
    cookieName: CSRF_COOKIE,
    cookieOptions: { httpOnly: true, sameSite: 'strict', secure, path: '/' },
    getCsrfTokenFromRequest: (req) => req.headers[CSRF_HEADER],
  });

  const cookies: RequestHandler = (req, _res, next) => {
    (req as Request & { cookies: Record<string, string | undefined> }).cookies ??= parseCookies(req.headers.cookie ?? '');
    next();
  };

  /**
   * An expired session is ended before anything reads it and the request goes on with a new, empty one (not
   * saved, no cookie, unless a sign-in starts in it): it counts as signed out, and /auth/login still works.
   */
  const expiry: RequestHandler = (req, _res, next) => {
    const s = req.session;
    if (!s?.user) return next();
    const now = clock.now();
    const idle = now - (s.last_seen_at ?? 0) > config.SESSION_IDLE_SECONDS * 1000;
    const absolute = now - (s.created_at ?? 0) > config.SESSION_ABSOLUTE_SECONDS * 1000;
    if (idle || absolute) {
      s.regenerate((err: unknown) => next(err));
      return;
    }
    s.last_seen_at = now;
    next();
  };

  const csrf: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    if (!needsCsrf(req)) return next();
    if (req.session?.user && validateRequest(req)) return next();
    res.status(403).json({ error: 'csrf', message: `a write needs the ${CSRF_HEADER} header from GET /api/session` });
  };

  return {
    middleware: [cookies, sessions, expiry, csrf],
    // A CSRF cookie bound to an earlier session (one that idled out, and the browser signed in again) is replaced,
    // not an error: refusing it made every GET /api/session of the new session a 403 until the browser closed.
    csrfToken: (req, res) => generateCsrfToken(req, res, { overwrite: false, validateOnReuse: false }),
    store,
  };
}

/** `a=1; b=2` → { a: '1', b: '2' } (the first of repeated names wins, as browsers send the most specific first). */
export function parseCookies(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 1) continue;
    const name = part.slice(0, eq).trim();
    if (name in out) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      out[name] = decodeURIComponent(value);
    } catch {
      out[name] = value;
    }
  }
  return out;
}

/**
 * Every request but GET, HEAD and OPTIONS, whatever its path: routing ignores case (`/API/…`, `/AUTH/logout`
 * reach the same handlers), so a check by path would be one spelling away from skipped. Nothing that changes
 * state is a GET (the sign-in callback is one, guarded by state and PKCE instead).
 */
function needsCsrf(req: Request): boolean {
  return !['GET', 'HEAD', 'OPTIONS'].includes(req.method);
}

/**
 * Seconds a stored session may still live: until the earlier of its idle and absolute ends (a sign-in in
 * progress, not yet signed in, gets the idle limit). Redis drops the key then, whatever the cookie says.
 */
export function sessionTtlSeconds(sess: Partial<SessionData>, config: PranaConfig, now: number): number {
  if (!sess.created_at) return config.SESSION_IDLE_SECONDS;
  const idleEnd = (sess.last_seen_at ?? sess.created_at) + config.SESSION_IDLE_SECONDS * 1000;
  const absoluteEnd = sess.created_at + config.SESSION_ABSOLUTE_SECONDS * 1000;
  return Math.max(1, Math.ceil((Math.min(idleEnd, absoluteEnd) - now) / 1000));
}

function redisStore(redis: Redis, config: PranaConfig, clock: Clock): Store {
  // connect-redis 7 ships CommonJS and ESM; the class is its default export.
  type Options = { client: Redis; prefix: string; ttl: (sess: Partial<SessionData>) => number };
  const RedisStore = (require('connect-redis') as { default: new (o: Options) => Store }).default;
  return new RedisStore({ client: redis, prefix: config.SESSION_REDIS_PREFIX, ttl: (sess) => sessionTtlSeconds(sess, config, clock.now()) });
}
