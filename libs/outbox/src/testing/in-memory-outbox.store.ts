import type { OutboxStatus } from '../outbox-entry.entity';
import type { OutboxStatusCount } from '../outbox-stats';
import type { OutboxTransition } from '../outbox-transition';
import { type ClaimedOutboxEntry, OutboxStore } from '../outbox.store';

export interface InMemoryOutboxRow {
  id: string;
  topic: string;
  messageKey: string;
  payload: unknown;
  headers: Record<string, string>;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: number;
  lockedUntil: number | null;
  lease: string | null;
  lastError: string | null;
  createdSeq: number;
}

/**
 * Test double with the semantics of PgOutboxStore's SQL (due/lease filter, oldest first, lease-checked
 * completion, dead row and dead letter together) over a manual clock, so the relay's state machine can be
 * exercised thousands of times without a database.
 */
export class InMemoryOutboxStore extends OutboxStore {
  now = 0;
  readonly rows = new Map<string, InMemoryOutboxRow>();
  readonly deadLetters = new Map<string, { reason: string; attempts: number }>();
  /** When set, claim() rejects with it (simulates the database being unreachable). */
  failClaimsWith?: Error;
  private seq = 0;
  private leases = 0;

  /** Mirrors INSERT … ON CONFLICT (topic, message_key) DO NOTHING; returns whether a row was added. */
  insert(topic: string, messageKey: string, payload: unknown, headers: Record<string, string> = {}): boolean {
    for (const row of this.rows.values()) {
      if (row.topic === topic && row.messageKey === messageKey) return false;
    }
    const id = `m${++this.seq}`;
    this.rows.set(id, {
      id,
      topic,
      messageKey,
      payload,
      headers,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: this.now,
      lockedUntil: null,
      lease: null,
      lastError: null,
      createdSeq: this.seq,
    });
    return true;
  }

  async claim(limit: number, leaseMs: number): Promise<ClaimedOutboxEntry[]> {
    if (this.failClaimsWith) throw this.failClaimsWith;
    const due = [...this.rows.values()]
      .filter(
        (r) => r.status === 'pending' && r.nextAttemptAt <= this.now && (r.lockedUntil === null || r.lockedUntil < this.now),
      )
      .sort((a, b) => a.createdSeq - b.createdSeq)
      .slice(0, limit);
    return due.map((row) => {
      row.lockedUntil = this.now + leaseMs;
      row.lease = `lease-${++this.leases}`;
      return {
        id: row.id,
        topic: row.topic,
        messageKey: row.messageKey,
        payload: row.payload,
        headers: { ...row.headers },
        attempts: row.attempts,
        lease: row.lease,
      };
    });
  }

  async complete(entry: ClaimedOutboxEntry, transition: OutboxTransition): Promise<boolean> {
    const row = this.rows.get(entry.id);
    if (!row || row.status !== 'pending' || row.lease !== entry.lease) return false;
    row.attempts = transition.attempts;
    row.lockedUntil = null;
    row.lease = null;
    switch (transition.kind) {
      case 'delivered':
        row.status = 'delivered';
        break;
      case 'retry':
        row.lastError = transition.error;
        row.nextAttemptAt = this.now + transition.delayMs;
        break;
      case 'dead':
        row.status = 'dead';
        row.lastError = transition.reason;
        this.deadLetters.set(row.id, { reason: transition.reason, attempts: transition.attempts });
        break;
    }
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

  /** Earliest time a pending row becomes due, or undefined when nothing is pending. */
  nextDueAt(): number | undefined {
    let next: number | undefined;
    for (const row of this.rows.values()) {
      if (row.status !== 'pending') continue;
      const at = Math.max(row.nextAttemptAt, row.lockedUntil === null ? 0 : row.lockedUntil + 1);
      next = next === undefined ? at : Math.min(next, at);
    }
    return next;
  }
}
