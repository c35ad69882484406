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
 * Token uses remembered until their tokens expire. In memory, one process: the fast path in front of a shared store.
 * Sweeping walks the uses in the order remembered, which is nearly expiry order (tokens live 60 s by default, 120 s
 * at most), and stops at the first live one, so a sweep costs what it removes, not the whole map (a guard sees
 * hundreds of tokens a second). A use held back behind a longer-lived one goes a little later; lookups ignore it.
 */
class RememberedUses {
  private readonly uses = new Map<string, { expiresAt: number; binding?: string }>();
  private sweptAt = 0;

  constructor(private readonly now: () => number) {}

  /** The first use of this token, while the token lives. */
  first(use: TokenUse): { binding?: string } | undefined {
    const now = this.now();
    if (now - this.sweptAt >= 1000) {
      this.sweptAt = now;
      for (const [key, entry] of this.uses) {
        if (entry.expiresAt > now) break;
        this.uses.delete(key);
      }
    }
    const entry = this.uses.get(keyOf(use));
    return entry && entry.expiresAt > now ? entry : undefined;
  }

  remember(use: TokenUse): void {
    const key = keyOf(use);
    this.uses.delete(key);
    this.uses.set(key, { expiresAt: use.expiresAt.getTime(), binding: use.binding });
  }
}

function keyOf(use: TokenUse): string {
  return `${use.issuer}\u0000${use.jti}`;
}

/**
 * One process only: for tests and tools that build GovernanceModule without a database. Services use
 * service-kit's PostgreSQL store, which every replica shares.
 */
export class InMemoryTokenReplayStore extends TokenReplayStore {
  private readonly uses: RememberedUses;

  constructor(now: () => number = Date.now) {
    super();
    this.uses = new RememberedUses(now);
  }

  async claim(use: TokenUse): Promise<boolean> {
    const first = this.uses.first(use);
    if (!first) {
      this.uses.remember(use);
      return true;
    }
    return first.binding !== undefined && first.binding === use.binding;
  }
}

/**
 * The write tokens this process's @ClaimTokenWithWrite() handlers have claimed (or found claimed): the guard refuses
 * them before the handler runs, so a replay to the same replica costs no work. Only a cache of the shared claims: a
 * token it has not seen is claimed, or refused, by the write.
 */
export class WrittenTokens {
  private readonly uses: RememberedUses;

  constructor(now: () => number = Date.now) {
    this.uses = new RememberedUses(now);
  }

  has(use: TokenUse): boolean {
    return this.uses.first(use) !== undefined;
  }

  remember(use: TokenUse): void {
    this.uses.remember(use);
  }
}
