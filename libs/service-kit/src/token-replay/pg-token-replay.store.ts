import { Logger } from '@nestjs/common';
import { TokenReplayStore, type TokenUse } from '@pancha/governance';
import type { DataSource } from 'typeorm';
import { CreateUsedTokens1763650000000 } from './migrations/1763650000000-create-used-tokens';

/** Added to every service's migrations by buildDataSourceOptions. */
export const SERVICE_KIT_MIGRATIONS = [CreateUsedTokens1763650000000];

const PURGE_EVERY_MS = 60_000;

/**
 * The jti of every write token, in this service's own database (`used_tokens`), so every replica of the
 * service refuses a token any of them has seen. A claim is one INSERT … ON CONFLICT DO NOTHING in its own
 * transaction: the first use wins atomically, before the handler runs. Expired rows are purged at most
 * once a minute, by the claims themselves.
 */
export class PgTokenReplayStore extends TokenReplayStore {
  private readonly logger = new Logger(PgTokenReplayStore.name);
  private purgedAt = Date.now();

  constructor(
    private readonly dataSource: DataSource,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  async claim(use: TokenUse): Promise<boolean> {
    this.purgeIfDue();
    const inserted = (await this.dataSource.query(
      `INSERT INTO used_tokens (issuer, jti, expires_at, binding) VALUES ($1, $2, $3, $4)
       ON CONFLICT (issuer, jti) DO NOTHING RETURNING 1 AS first`,
      [use.issuer, use.jti, use.expiresAt, use.binding ?? null],
    )) as unknown[];
    if (inserted.length > 0) return true;
    if (use.binding === undefined) return false;
    // A redelivery of the same message presents the same token: allowed. A separate statement, so it sees
    // a row a concurrent first claim committed after this INSERT started.
    const rows = (await this.dataSource.query(
      'SELECT 1 FROM used_tokens WHERE issuer = $1 AND jti = $2 AND binding = $3 AND expires_at > now()',
      [use.issuer, use.jti, use.binding],
    )) as unknown[];
    return rows.length > 0;
  }

  private purgeIfDue(): void {
    const now = this.now();
    if (now - this.purgedAt < PURGE_EVERY_MS) return;
    this.purgedAt = now;
    this.dataSource.query('DELETE FROM used_tokens WHERE expires_at < now()').catch((error: unknown) => {
      // Only housekeeping: the rows are retried a minute later.
      this.logger.warn(`could not purge expired used_tokens: ${(error as Error).message}`);
    });
  }
}
