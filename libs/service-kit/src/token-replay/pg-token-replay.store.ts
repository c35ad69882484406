import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { tokenKey, TokenReplayStore, type TokenUse } from '@pancha/governance';
import type { DataSource, EntityManager } from 'typeorm';
import { GroupCommit, type GroupItemOutcome } from '../concurrency/group-commit';
import { GenericPlanConnection } from '../database/generic-plan-connection';
import { CreateUsedTokens1763650000000 } from './migrations/1763650000000-create-used-tokens';

/** Added to every service's migrations by buildDataSourceOptions. */
export const SERVICE_KIT_MIGRATIONS = [CreateUsedTokens1763650000000];

const PURGE_EVERY_MS = 60_000;

/** Claims per statement at most. */
const MAX_GROUP = 200;

/**
 * `claimed_tokens AS (…)`: a CTE inserting the uses in $`param` (tokenUsesParam) into used_tokens, returning (issuer,
 * jti) of those it claimed; a use whose jti is already there, committed or being inserted by another statement, is
 * not returned (ON CONFLICT DO NOTHING waits for that statement and loses to it). Inserted in (issuer, jti) order, so
 * two statements claiming some of the same tokens wait on each other in one direction only. For a writer that claims its
 * requests' tokens in the statement of their write, so a claim commits with the write it allowed, and only then.
 */
export function tokenClaimCte(param: number): string {
  return `claimed_tokens AS (
    INSERT INTO used_tokens (issuer, jti, expires_at, binding)
    SELECT u.issuer, u.jti, u.expires_at, u.binding FROM jsonb_to_recordset($${param}::jsonb) AS u(issuer text, jti text, expires_at timestamptz, binding text)
    ORDER BY u.issuer, u.jti
    ON CONFLICT (issuer, jti) DO NOTHING RETURNING issuer, jti
  )`;
}

/** tokenClaimCte's parameter. */
export function tokenUsesParam(uses: readonly TokenUse[]): string {
  return JSON.stringify(uses.map((u) => ({ issuer: u.issuer, jti: u.jti, expires_at: u.expiresAt.toISOString(), binding: u.binding ?? null })));
}

/** Claims one use in the caller's transaction (it commits, or rolls back, with the transaction): false for a replay. */
export async function claimTokenIn(manager: EntityManager, use: TokenUse): Promise<boolean> {
  const claimed = (await manager.query(`WITH ${tokenClaimCte(1)} SELECT jti FROM claimed_tokens`, [tokenUsesParam([use])])) as unknown[];
  return claimed.length === 1;
}

/**
 * Deletes the used_tokens rows of expired tokens, at most once a minute, when a claim tells it one happened: no timer,
 * no idle database traffic. For every writer of claims (PgTokenReplayStore, and a writer that claims with its write).
 */
export class UsedTokensPurge {
  private readonly logger = new Logger(UsedTokensPurge.name);
  private purgedAt: number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly now: () => number = Date.now,
  ) {
    this.purgedAt = now();
  }

  ifDue(): void {
    const now = this.now();
    if (now - this.purgedAt < PURGE_EVERY_MS) return;
    this.purgedAt = now;
    this.dataSource.query('DELETE FROM used_tokens WHERE expires_at < now()').catch((error: unknown) => {
      // Only housekeeping: the rows are retried a minute later.
      this.logger.warn(`could not purge expired used_tokens: ${(error as Error).message}`);
    });
  }
}

/**
 * The jti of every write token, in this service's own database (`used_tokens`), so every replica of the
 * service refuses a token any of them has seen. Claims are group-committed: those that arrive while a claim
 * statement runs share the next one, an `INSERT … ON CONFLICT DO NOTHING` of all their rows (one statement, so
 * atomic: the first use of a jti wins, here or on another replica, before the handler runs). Expired rows are
 * purged at most once a minute, by the claims themselves. The claim statement runs on a connection of its own,
 * planned once (GenericPlanConnection: its rows come from a JSON parameter, so there is nothing to plan per group).
 */
export class PgTokenReplayStore extends TokenReplayStore implements OnModuleDestroy {
  private readonly logger = new Logger(PgTokenReplayStore.name);
  private readonly connection: GenericPlanConnection;
  private readonly purge: UsedTokensPurge;
  private readonly group = new GroupCommit<TokenUse, boolean>((uses) => this.claimAll(uses), {
    maxBatch: MAX_GROUP,
    onIsolate: (size, error) => this.logger.warn({ msg: 'token claims failed together; claiming them one by one', size, error: (error as Error).message }),
  });

  constructor(
    private readonly dataSource: DataSource,
    now: () => number = Date.now,
  ) {
    super();
    this.connection = new GenericPlanConnection(dataSource);
    this.purge = new UsedTokensPurge(dataSource, now);
  }

  /** Gives the claims' connection back to the pool (before the data source closes). */
  async onModuleDestroy(): Promise<void> {
    await this.connection.close();
  }

  claim(use: TokenUse): Promise<boolean> {
    this.purge.ifDue();
    return this.group.submit(use);
  }

  private async claimAll(uses: readonly TokenUse[]): Promise<GroupItemOutcome<boolean>[]> {
    // One row per jti: a second use of a jti in the same group is a later use, decided below like any other.
    const first = new Map<string, number>();
    uses.forEach((use, i) => first.has(tokenKey(use)) || first.set(tokenKey(use), i));
    const rows = [...first.values()].map((i) => uses[i]);
    const inserted = await this.connection.query<{ issuer: string; jti: string }>(`WITH ${tokenClaimCte(1)} SELECT issuer, jti FROM claimed_tokens`, [
      tokenUsesParam(rows),
    ]);
    const won = new Set(inserted.map((row) => tokenKey(row)));
    const outcomes: GroupItemOutcome<boolean>[] = [];
    for (const [i, use] of uses.entries()) {
      if (first.get(tokenKey(use)) === i && won.has(tokenKey(use))) outcomes.push({ ok: true, result: true });
      else outcomes.push({ ok: true, result: use.binding !== undefined && (await this.sameBinding(use)) });
    }
    return outcomes;
  }

  /**
   * A redelivery of the same message presents the same token: allowed, however long after its first claim (a message
   * retried past the claim's expiry is still that message; refused as a replay it was dead-lettered and lost). A
   * separate statement, so it sees a row a concurrent first claim committed after the INSERT started.
   */
  private async sameBinding(use: TokenUse): Promise<boolean> {
    const rows = (await this.dataSource.query(
      'SELECT 1 FROM used_tokens WHERE issuer = $1 AND jti = $2 AND binding = $3',
      [use.issuer, use.jti, use.binding],
    )) as unknown[];
    return rows.length > 0;
  }
}
