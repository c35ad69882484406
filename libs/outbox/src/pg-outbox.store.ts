import type { DataSource, QueryResult } from 'typeorm';
import type { OutboxStatus } from './outbox-entry.entity';
import type { OutboxStatusCount } from './outbox-stats';
import type { OutboxTransition } from './outbox-transition';
import { type ClaimedOutboxEntry, OutboxStore } from './outbox.store';

interface ClaimedRow {
  id: string;
  topic: string;
  message_key: string;
  payload: unknown;
  headers: Record<string, string> | null;
  attempts: number;
  lease: string;
}

// The row lock is held only for this statement: the lease (locked_until) is what keeps other relays away
// during the network call, so no transaction stays open while a downstream is slow.
const CLAIM_SQL = `
  UPDATE outbox SET locked_until = now() + ($2::int * interval '1 millisecond')
  WHERE id IN (
    SELECT id FROM outbox
    WHERE status = 'pending' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
    ORDER BY created_at
    FOR UPDATE SKIP LOCKED
    LIMIT $1
  )
  RETURNING id, topic, message_key, payload, headers, attempts, locked_until::text AS lease`;

// locked_until::text round-trips at full microsecond precision, which a JS Date would not.
const OWNED = `id = $1 AND status = 'pending' AND locked_until = $2::timestamptz`;

const DELIVERED_SQL = `
  UPDATE outbox SET status = 'delivered', attempts = $3, delivered_at = now(), locked_until = NULL
  WHERE ${OWNED}`;

const RETRY_SQL = `
  UPDATE outbox SET attempts = $3, last_error = $4, locked_until = NULL,
    next_attempt_at = now() + ($5::int * interval '1 millisecond')
  WHERE ${OWNED}`;

// One statement, hence one transaction: the row is never dead without its dead letter, or the reverse.
const DEAD_SQL = `
  WITH dead AS (
    UPDATE outbox SET status = 'dead', attempts = $3, last_error = $4, locked_until = NULL
    WHERE ${OWNED}
    RETURNING id, topic, message_key, payload, headers, attempts
  )
  INSERT INTO outbox_dead_letter (id, topic, message_key, payload, headers, attempts, reason, failed_at)
  SELECT id, topic, message_key, payload, headers, attempts, $4, now() FROM dead
  ON CONFLICT (id) DO NOTHING
  RETURNING id`;

export class PgOutboxStore extends OutboxStore {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  async claim(limit: number, leaseMs: number): Promise<ClaimedOutboxEntry[]> {
    const { records } = await this.run(CLAIM_SQL, [limit, leaseMs]);
    return (records as ClaimedRow[]).map((row) => ({
      id: row.id,
      topic: row.topic,
      messageKey: row.message_key,
      payload: row.payload,
      headers: row.headers ?? {},
      attempts: row.attempts,
      lease: row.lease,
    }));
  }

  async complete(entry: ClaimedOutboxEntry, transition: OutboxTransition): Promise<boolean> {
    const owned = [entry.id, entry.lease, transition.attempts];
    switch (transition.kind) {
      case 'delivered':
        return (await this.run(DELIVERED_SQL, owned)).affected === 1;
      case 'retry':
        return (await this.run(RETRY_SQL, [...owned, transition.error, transition.delayMs])).affected === 1;
      case 'dead':
        return (await this.run(DEAD_SQL, [...owned, transition.reason])).records.length === 1;
      default:
        return assertUnreachable(transition);
    }
  }

  async countByTopicAndStatus(): Promise<OutboxStatusCount[]> {
    const { records } = await this.run(
      `SELECT topic, status, count(*)::int AS count FROM outbox GROUP BY topic, status`,
      [],
    );
    return (records as { topic: string; status: OutboxStatus; count: number }[]).map((r) => ({
      topic: r.topic,
      status: r.status,
      count: Number(r.count),
    }));
  }

  private async run(sql: string, parameters: unknown[]): Promise<QueryResult> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return await runner.query(sql, parameters, true);
    } finally {
      await runner.release();
    }
  }
}

function assertUnreachable(value: never): never {
  throw new Error(`Unhandled outbox transition: ${JSON.stringify(value)}`);
}
