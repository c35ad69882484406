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
    const entry = this.uses.get(tokenKey(use));
    return entry && entry.expiresAt > now ? entry : undefined;
  }

  get size(): number {
    return this.uses.size;
  }

  remember(use: TokenUse): void {
    const key = tokenKey(use);
    this.uses.delete(key);
    this.uses.set(key, { expiresAt: use.expiresAt.getTime(), binding: use.binding });
  }
}

/** A token's identity among its uses: jti values are only unique per issuer. */
export function tokenKey(use: { issuer: string; jti: string }): string {
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
 * The write tokens this process's guard let through to @ClaimTokenWithWrite() handlers, until they expire: taken at
 * once (check and add in one step), so a second use of a token on this replica is refused before its handler runs,
 * however close behind the first. The shared claim is the handler's, with its write; this is the fast path in front.
 */
export class TakenTokens {
  private readonly uses: RememberedUses;

  constructor(now: () => number = Date.now) {
    this.uses = new RememberedUses(now);
  }

  /** False when this process has already taken the token. */
  take(use: TokenUse): boolean {
    if (this.uses.first(use)) return false;
    this.uses.remember(use);
    return true;
  }

  /** Tokens held, expired ones not yet swept included. */
  get size(): number {
    return this.uses.size;
  }
}
