import type { DataSource, QueryResult } from 'typeorm';
import type { OutboxStatus } from './outbox-entry.entity';
import type { OutboxStatusCount } from './outbox-stats';
import type { OutboxTransition } from './outbox-transition';
import {
  type ClaimedOutboxEntry,
  type ClaimRequest,
  type DeadLetterHook,
  OutboxStore,
  type SettledOutboxEntry,
} from './outbox.store';

interface ClaimedRow {
  id: string;
  seq: string;
  topic: string;
  message_key: string;
  ordering_key: string | null;
  payload: unknown;
  headers: Record<string, string> | null;
  created_at: Date;
}

interface AttemptsRow {
  id: string;
  attempts: number;
}

// The row locks are held only for this statement: the lease (locked_until, renewed while the relay works) is
// what keeps other relays away during the network call, so no transaction stays open while a downstream is
// slow. A row waits while an earlier row of its ordering key is pending (delivering, backing off, or of a topic
// only another process handles); enqueue makes "earlier" mean committed earlier (see OutboxService). The statement
// is the function outbox_claim (migrations OutboxClaimFunction1764900000000, OutboxClaimPlannedOnce1765100000000 and
// OutboxClaimKeyRuns1765200000000), which plans it without a sort so the claim reads the pending rows in seq order and
// stops at the batch whatever the table's statistics say, once per connection; with a head of an ordered topic it
// takes the key's next rows too (ClaimRequest.orderedTopics).
const CLAIM_SQL = `SELECT * FROM outbox_claim($1::int, $2::int, $3::text[], $4::uuid, $5::text[], $6::int)`;

// Statements on leased rows find them by primary key: `o.id = ANY($1)` is what the planner reads them by, and a held
// lease means pending (CHK_outbox_lease_only_while_pending), so no `status = 'pending'` here. That predicate made the
// planner walk the pending partial index instead: every pending row, and every entry a settled row left there until
// vacuum (migration OutboxLeaseOnlyWhilePending1765400000000).
const LEASED_ROWS = `o.id = ANY($1::uuid[]) AND o.id = v.id AND o.lease_token = v.lease`;

const RENEW_SQL = `
  UPDATE outbox o SET locked_until = now() + ($3::int * interval '1 millisecond')
  FROM unnest($1::uuid[], $2::uuid[]) AS v(id, lease)
  WHERE ${LEASED_ROWS}`;

const RELEASE_SQL = `
  UPDATE outbox o SET locked_until = NULL, lease_token = NULL
  FROM unnest($1::uuid[], $2::uuid[]) AS v(id, lease)
  WHERE ${LEASED_ROWS}`;

// Every delivered and retried row of a moment in one statement; a null delay means delivered. A delivered row
// keeps the error of its last failed attempt.
const SETTLE_SQL = `
  UPDATE outbox o SET
    status = CASE WHEN v.delay_ms IS NULL THEN 'delivered' ELSE 'pending' END,
    attempts = v.attempts,
    delivered_at = CASE WHEN v.delay_ms IS NULL THEN now() END,
    last_error = COALESCE(v.error, o.last_error),
    next_attempt_at = CASE WHEN v.delay_ms IS NULL THEN o.next_attempt_at
                           ELSE now() + (v.delay_ms * interval '1 millisecond') END,
    locked_until = NULL,
    lease_token = NULL
  FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::int[], $5::text[]) AS v(id, lease, attempts, delay_ms, error)
  WHERE ${LEASED_ROWS}
  RETURNING o.id`;

// The row is never dead without its dead letter, or the reverse; the handler's hook joins the same transaction.
const BURY_SQL = `
  WITH dead AS (
    UPDATE outbox SET status = 'dead', attempts = $3, last_error = $4, locked_until = NULL, lease_token = NULL
    WHERE id = $1 AND lease_token = $2::uuid AND status = 'pending'
    RETURNING id, topic, message_key, payload, headers, attempts
  )
  INSERT INTO outbox_dead_letter (id, topic, message_key, payload, headers, attempts, reason, failed_at)
  SELECT id, topic, message_key, payload, headers, attempts, $4, now() FROM dead
  ON CONFLICT (id) DO NOTHING
  RETURNING id`;

// Oldest delivered rows first, through the partial index IDX_outbox_delivered_at; rows another pruner is deleting
// are skipped, so two replicas pruning at once split the work.
export const PRUNE_SQL = `
  DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox
    WHERE status = 'delivered' AND delivered_at < now() - ($1::bigint * interval '1 millisecond')
    ORDER BY delivered_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED)`;

export class PgOutboxStore extends OutboxStore {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  async claim(request: ClaimRequest): Promise<ClaimedOutboxEntry[]> {
    if (request.topics.length === 0 || request.limit <= 0) return [];
    const { records } = await this.run(CLAIM_SQL, [
      request.limit,
      request.leaseMs,
      request.topics,
      request.lease,
      request.orderedTopics ?? [],
      request.keyRun ?? 1,
    ]);
    // UPDATE … RETURNING does not keep the CTE's order.
    return (records as (ClaimedRow & AttemptsRow)[])
      .sort((a, b) => compareSeq(a.seq, b.seq))
      .map((row) => ({
        id: row.id,
        topic: row.topic,
        messageKey: row.message_key,
        orderingKey: row.ordering_key,
        payload: row.payload,
        headers: row.headers ?? {},
        attempts: row.attempts,
        lease: request.lease,
        createdAt: row.created_at,
      }));
  }

  async renew(entries: readonly ClaimedOutboxEntry[], leaseMs: number): Promise<void> {
    if (entries.length === 0) return;
    await this.run(RENEW_SQL, [entries.map((e) => e.id), entries.map((e) => e.lease), leaseMs]);
  }

  async release(entries: readonly ClaimedOutboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.run(RELEASE_SQL, [entries.map((e) => e.id), entries.map((e) => e.lease)]);
  }

  async settle(entries: readonly SettledOutboxEntry[]): Promise<Set<string>> {
    if (entries.length === 0) return new Set();
    const { records } = await this.run(SETTLE_SQL, [
      entries.map((s) => s.entry.id),
      entries.map((s) => s.entry.lease),
      entries.map((s) => s.transition.attempts),
      entries.map((s) => (s.transition.kind === 'retry' ? s.transition.delayMs : null)),
      entries.map((s) => (s.transition.kind === 'retry' ? s.transition.error : null)),
    ]);
    return new Set((records as { id: string }[]).map((r) => r.id));
  }

  async bury(
    entry: ClaimedOutboxEntry,
    transition: Extract<OutboxTransition, { kind: 'dead' }>,
    hook?: DeadLetterHook,
  ): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      const runner = manager.queryRunner;
      if (!runner) throw new Error('PgOutboxStore.bury: the transaction has no query runner');
      const { records } = await runner.query(BURY_SQL, [entry.id, entry.lease, transition.attempts, transition.reason], true);
      // Lease lost: nothing was changed, and the hook must not run for a row another relay now owns.
      if (records.length !== 1) return false;
      await hook?.(manager);
      return true;
    });
  }

  async countByTopicAndStatus(): Promise<OutboxStatusCount[]> {
    const { records } = await this.run(`SELECT topic, status, count(*)::int AS count FROM outbox GROUP BY topic, status`, []);
    return (records as { topic: string; status: OutboxStatus; count: number }[]).map((r) => ({
      topic: r.topic,
      status: r.status,
      count: Number(r.count),
    }));
  }

  async pruneDelivered(olderThanMs: number, limit: number): Promise<number> {
    const { affected } = await this.run(PRUNE_SQL, [olderThanMs, limit]);
    return affected ?? 0;
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

/** bigint seqs as text: shorter is smaller, then lexical. */
function compareSeq(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
