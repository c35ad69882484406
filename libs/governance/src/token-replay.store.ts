/** One use of a service token, as the guard (or a message consumer) presents it to the replay store. */
export interface TokenUse {
  /** The token's `iss` (a requester id): jti values are only unique per issuer. */
  issuer: string;
  jti: string;
  /** When the token stops being accepted anyway (exp plus the clock tolerance); the record may go then. */
  expiresAt: Date;
  /**
   * What this use is bound to when one legitimate delivery may present the same token more than once: a
   * JetStream message's stream sequence (its redeliveries share it). HTTP uses have none: one token, one write.
   */
  binding?: string;
}

/**
 * Remembers the `jti` of every token used for a write until the token expires, so a captured token cannot
 * be replayed (ISSUE-6 finding 7). `claim` is atomic across every replica sharing the store.
 */
export abstract class TokenReplayStore {
  /**
   * Records the use; true when this is the first use of the token (or a use with the same non-empty
   * binding as the first), false when the token was already used for something else: a replay.
   */
  abstract claim(use: TokenUse): Promise<boolean>;
}

/**
 * One process only: for tests and tools that build GovernanceModule without a database. Services use
 * service-kit's PostgreSQL store, which every replica shares.
 */
export class InMemoryTokenReplayStore extends TokenReplayStore {
  private readonly seen = new Map<string, { expiresAt: number; binding?: string }>();
  private sweptAt = 0;

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  async claim(use: TokenUse): Promise<boolean> {
    const now = this.now();
    if (now - this.sweptAt >= 1000) {
      this.sweptAt = now;
      for (const [key, entry] of this.seen) if (entry.expiresAt <= now) this.seen.delete(key);
    }
    const key = `${use.issuer}\u0000${use.jti}`;
    const first = this.seen.get(key);
    if (!first || first.expiresAt <= now) {
      this.seen.set(key, { expiresAt: use.expiresAt.getTime(), binding: use.binding });
      return true;
    }
    return first.binding !== undefined && first.binding === use.binding;
  }
}
