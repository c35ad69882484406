import session, { type SessionData, type Store } from 'express-session';
import type { Redis } from 'ioredis';

/** Session ids that were ended (sign-out, expiry, a refused refresh, a new id at sign-in) and stay ended. */
export interface Revocations {
  revoke(sid: string): Promise<void>;
  isRevoked(sid: string): Promise<boolean>;
}

/** Per process (the memory session store is per process too); forgotten after `ttlMs()`. */
export class MemoryRevocations implements Revocations {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly now: () => number,
    private readonly ttlMs: () => number,
  ) {}

  async revoke(sid: string): Promise<void> {
    const now = this.now();
    for (const [id, end] of this.until) if (end <= now) this.until.delete(id);
    this.until.set(sid, now + this.ttlMs());
  }

  async isRevoked(sid: string): Promise<boolean> {
    const end = this.until.get(sid);
    return end !== undefined && end > this.now();
  }
}

/** In Redis beside the sessions (`<prefix>revoked:<sid>`), so every replica refuses an id any replica ended. */
export class RedisRevocations implements Revocations {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  async revoke(sid: string): Promise<void> {
    await this.redis.set(`${this.prefix}revoked:${sid}`, '1', 'EX', this.ttlSeconds);
  }

  async isRevoked(sid: string): Promise<boolean> {
    return (await this.redis.exists(`${this.prefix}revoked:${sid}`)) === 1;
  }
}

type Callback = (err?: unknown) => void;

/**
 * A session store in which an ended session stays ended. express-session saves a request's whole session when
 * its response ends; a request that began before the sign-out (a live stream ending minutes later, a slow
 * proxied call) wrote the destroyed session back, and the old cookie was signed in again. Here `destroy`
 * records the id as revoked first, and the id is never read, written or touched again. The mark outlives any
 * session (SESSION_ABSOLUTE_SECONDS), so whatever a late write could still put back is never read.
 */
export class RevocableStore extends session.Store {
  constructor(
    private readonly inner: Store,
    private readonly revocations: Revocations,
  ) {
    super();
  }

  override get(sid: string, callback: (err: unknown, session?: SessionData | null) => void): void {
    this.revocations.isRevoked(sid).then(
      (revoked) => (revoked ? callback(null, null) : this.inner.get(sid, callback)),
      (err: unknown) => callback(err),
    );
  }

  override set(sid: string, sess: SessionData, callback?: Callback): void {
    const done = callback ?? (() => undefined);
    this.revocations.isRevoked(sid).then(
      (revoked) => {
        if (revoked) return done();
        this.inner.set(sid, sess, (err?: unknown) => {
          if (err) return done(err);
          // Revoked while this write was on its way: take it out again (it would never be read, but need not linger).
          this.revocations.isRevoked(sid).then(
            (late) => (late ? this.inner.destroy(sid, () => done()) : done()),
            (lateErr: unknown) => done(lateErr),
          );
        });
      },
      (err: unknown) => done(err),
    );
  }

  override destroy(sid: string, callback?: Callback): void {
    const done = callback ?? (() => undefined);
    this.revocations.revoke(sid).then(
      () => this.inner.destroy(sid, done),
      (err: unknown) => done(err),
    );
  }

  override touch(sid: string, sess: SessionData, callback?: () => void): void {
    const done = callback ?? (() => undefined);
    this.revocations.isRevoked(sid).then(
      (revoked) => (revoked || !this.inner.touch ? done() : this.inner.touch(sid, sess, done)),
      () => done(),
    );
  }
}
