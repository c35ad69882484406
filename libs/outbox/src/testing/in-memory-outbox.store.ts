import type { EntityManager } from 'typeorm';
import type { OutboxStatus } from '../outbox-entry.entity';
import type { OutboxStatusCount } from '../outbox-stats';
import type { OutboxTransition } from '../outbox-transition';
import {
  type ClaimedOutboxEntry,
  type ClaimRequest,
  type DeadLetterHook,
  OutboxStore,
  type SettledOutboxEntry,
} from '../outbox.store';

export interface InMemoryOutboxRow {
  id: string;
  seq: number;
  topic: string;
  messageKey: string;
  orderingKey: string | null;
  payload: unknown;
  headers: Record<string, string>;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: number;
  lockedUntil: number | null;
  lease: string | null;
  lastError: string | null;
  deliveredAt: number | null;
}

/**
 * Test double with the semantics of PgOutboxStore's SQL (due/lease/topic filter, enqueue order, one row per
 * ordering key at a time, lease-checked renewal and completion, dead row and dead letter together) over a
 * manual clock, so the relay's state machine can be exercised thousands of times without a database.
 * The dead-letter hook gets a stand-in manager; a hook that throws leaves the row as it was.
 */
export class InMemoryOutboxStore extends OutboxStore {
  now = 0;
  readonly rows = new Map<string, InMemoryOutboxRow>();
  readonly deadLetters = new Map<string, { reason: string; attempts: number }>();
  /** When set, claim() rejects with it (simulates the database being unreachable). */
  failClaimsWith?: Error;
  /** Statements run, by kind (the relay's round-trip budget). */
  readonly statements = { claim: 0, renew: 0, settle: 0, bury: 0, release: 0, prune: 0 };
  private seq = 0;

  /** Mirrors INSERT … ON CONFLICT (topic, message_key) DO NOTHING; returns whether a row was added. */
  insert(
    topic: string,
    messageKey: string,
    payload: unknown,
    headers: Record<string, string> = {},
    orderingKey: string | null = null,
  ): boolean {
    for (const row of this.rows.values()) {
      if (row.topic === topic && row.messageKey === messageKey) return false;
    }
    const seq = ++this.seq;
    const id = `m${seq}`;
    this.rows.set(id, {
      id,
      seq,
      topic,
      messageKey,
      orderingKey,
      payload,
      headers,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: this.now,
      deliveredAt: null,
      lockedUntil: null,
      lease: null,
      lastError: null,
    });
    return true;
  }

  /** Whether the claim query could take this row now, for these topics. */
  claimable(row: InMemoryOutboxRow, topics: readonly string[]): boolean {
    if (!this.dueAndFree(row) || !topics.includes(row.topic)) return false;
    if (row.orderingKey === null) return true;
    for (const other of this.rows.values()) {
      if (other.orderingKey === row.orderingKey && other.status === 'pending' && other.seq < row.seq) return false;
    }
    return true;
  }

  async claim(request: ClaimRequest): Promise<ClaimedOutboxEntry[]> {
    this.statements.claim++;
    if (this.failClaimsWith) throw this.failClaimsWith;
    const heads = [...this.rows.values()]
      .filter((r) => this.claimable(r, request.topics))
      .sort((a, b) => a.seq - b.seq)
      .slice(0, request.limit);
    const due = [...heads, ...heads.flatMap((head) => this.followers(head, request))].sort((a, b) => a.seq - b.seq);
    return due.map((row) => {
      row.lockedUntil = this.now + request.leaseMs;
      row.lease = request.lease;
      return {
        id: row.id,
        topic: row.topic,
        messageKey: row.messageKey,
        orderingKey: row.orderingKey,
        payload: row.payload,
        headers: { ...row.headers },
        attempts: row.attempts,
        lease: request.lease,
      };
    });
  }

  /** Pending, due and not leased by anyone (a lapsed lease counts as none). */
  private dueAndFree(row: InMemoryOutboxRow): boolean {
    return row.status === 'pending' && row.nextAttemptAt <= this.now && (row.lockedUntil === null || row.lockedUntil < this.now);
  }

  /** The rows right after a head of an ordered topic that the claim takes with it (outbox_claim's key runs). */
  private followers(head: InMemoryOutboxRow, request: ClaimRequest): InMemoryOutboxRow[] {
    if (head.orderingKey === null || !(request.orderedTopics ?? []).includes(head.topic)) return [];
    const next = [...this.rows.values()]
      .filter((r) => r.orderingKey === head.orderingKey && r.status === 'pending' && r.seq > head.seq)
      .sort((a, b) => a.seq - b.seq);
    const taken: InMemoryOutboxRow[] = [];
    for (const row of next) {
      if (taken.length >= (request.keyRun ?? 1) - 1) break;
      if (row.topic !== head.topic || !this.dueAndFree(row)) break;
      taken.push(row);
    }
    return taken;
  }

  async renew(entries: readonly ClaimedOutboxEntry[], leaseMs: number): Promise<void> {
    this.statements.renew++;
    for (const entry of entries) {
      const row = this.owned(entry);
      if (row) row.lockedUntil = this.now + leaseMs;
    }
  }

  async release(entries: readonly ClaimedOutboxEntry[]): Promise<void> {
    this.statements.release++;
    for (const entry of entries) {
      const row = this.owned(entry);
      if (row) {
        row.lockedUntil = null;
        row.lease = null;
      }
    }
  }

  async settle(entries: readonly SettledOutboxEntry[]): Promise<Set<string>> {
    this.statements.settle++;
    const recorded = new Set<string>();
    for (const { entry, transition } of entries) {
      const row = this.owned(entry);
      if (!row) continue;
      row.attempts = transition.attempts;
      row.lockedUntil = null;
      row.lease = null;
      if (transition.kind === 'delivered') {
        row.status = 'delivered';
        row.deliveredAt = this.now;
      } else {
        row.lastError = transition.error;
        row.nextAttemptAt = this.now + transition.delayMs;
      }
      recorded.add(row.id);
    }
    return recorded;
  }

  async bury(
    entry: ClaimedOutboxEntry,
    transition: Extract<OutboxTransition, { kind: 'dead' }>,
    hook?: DeadLetterHook,
  ): Promise<boolean> {
    this.statements.bury++;
    const row = this.owned(entry);
    if (!row) return false;
    await hook?.({} as EntityManager);
    row.attempts = transition.attempts;
    row.lockedUntil = null;
    row.lease = null;
    row.status = 'dead';
    row.lastError = transition.reason;
    this.deadLetters.set(row.id, { reason: transition.reason, attempts: transition.attempts });
    return true;
  }

  async countByTopicAndStatus(): Promise<OutboxStatusCount[]> {
    const counts = new Map<string, OutboxStatusCount>();
    for (const row of this.rows.values()) {
      const key = `${row.topic}\u0000${row.status}`;
      const entry = counts.get(key) ?? { topic: row.topic, status: row.status, count: 0 };
      entry.count++;
      counts.set(key, entry);
    }
    return [...counts.values()];
  }

  async pruneDelivered(olderThanMs: number, limit: number): Promise<number> {
    this.statements.prune++;
    const old = [...this.rows.values()]
      .filter((row) => row.status === 'delivered' && row.deliveredAt !== null && row.deliveredAt < this.now - olderThanMs)
      .sort((a, b) => (a.deliveredAt as number) - (b.deliveredAt as number))
      .slice(0, limit);
    for (const row of old) this.rows.delete(row.id);
    return old.length;
  }

  /** Earliest time a row of `topics` becomes claimable, or undefined when none will (without new rows). */
  nextDueAt(topics: readonly string[]): number | undefined {
    let next: number | undefined;
    for (const row of this.rows.values()) {
      if (row.status !== 'pending' || !topics.includes(row.topic)) continue;
      if (row.orderingKey !== null && this.blockedByEarlier(row)) continue;
      const at = Math.max(row.nextAttemptAt, row.lockedUntil === null ? 0 : row.lockedUntil + 1);
      next = next === undefined ? at : Math.min(next, at);
    }
    return next;
  }

  private blockedByEarlier(row: InMemoryOutboxRow): boolean {
    for (const other of this.rows.values()) {
      if (other.orderingKey === row.orderingKey && other.status === 'pending' && other.seq < row.seq) return true;
    }
    return false;
  }

  private owned(entry: ClaimedOutboxEntry): InMemoryOutboxRow | undefined {
    const row = this.rows.get(entry.id);
    return row && row.status === 'pending' && row.lease === entry.lease ? row : undefined;
  }
}
