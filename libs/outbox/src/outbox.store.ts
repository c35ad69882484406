import type { EntityManager } from 'typeorm';
import type { OutboxStatusCount } from './outbox-stats';
import type { OutboxTransition } from './outbox-transition';

/** A pending row this relay has leased for delivery. */
export interface ClaimedOutboxEntry {
  id: string;
  topic: string;
  messageKey: string;
  orderingKey: string | null;
  payload: unknown;
  headers: Record<string, string>;
  attempts: number;
  /**
   * The claim's token. Renewing and completing require it, so a relay whose lease ran out cannot overwrite the
   * outcome recorded by the relay that claimed the row after it.
   */
  lease: string;
  /** When the row was enqueued (delivery latency is measured from here); stores that do not know leave it unset. */
  createdAt?: Date;
}

export interface ClaimRequest {
  /** Most rows to take, not counting the rows that follow a key's earliest one (orderedTopics). */
  limit: number;
  leaseMs: number;
  /** Only rows of these topics (the ones this process has handlers for); the rest wait for a process that has. */
  topics: readonly string[];
  /** Written on every row taken; one per claim. */
  lease: string;
  /**
   * Topics whose handler takes a key's consecutive rows in one ordered batch (OutboxHandler.ordersBatch): with each
   * ordering key's earliest pending row of such a topic, the claim also takes the rows right after it (same key, same
   * topic, due, unleased), up to `keyRun` rows of the key in all, so one delivery carries them in order. Default none.
   */
  orderedTopics?: readonly string[];
  /** Most rows of one ordering key per claim (≤ the handler's batch size, so a key's rows always share one batch). */
  keyRun?: number;
}

/** A delivered or to-be-retried row: recorded in batches. */
export interface SettledOutboxEntry {
  entry: ClaimedOutboxEntry;
  transition: Extract<OutboxTransition, { kind: 'delivered' | 'retry' }>;
}

/** Runs inside the dead-letter transaction (the handler's onDeadLetter). */
export type DeadLetterHook = (manager: EntityManager) => Promise<void>;

/**
 * Persistence the relay needs. PostgreSQL in production (PgOutboxStore); the property test drives the same
 * relay over an in-memory implementation.
 */
export abstract class OutboxStore {
  /**
   * Leases up to `limit` due pending rows of `topics` in enqueue order, skipping rows other relays hold and
   * rows whose ordering key has an earlier row still pending (unless this claim takes that row too: orderedTopics).
   * One statement; the rows come back in enqueue order.
   */
  abstract claim(request: ClaimRequest): Promise<ClaimedOutboxEntry[]>;
  /** Pushes back the lease expiry of these rows while they are still ours. One statement. */
  abstract renew(entries: readonly ClaimedOutboxEntry[], leaseMs: number): Promise<void>;
  /** Records delivered and retry outcomes whose lease is still ours, in one statement; returns the ids recorded. */
  abstract settle(entries: readonly SettledOutboxEntry[]): Promise<Set<string>>;
  /**
   * Marks the row dead and writes its dead letter, then runs `hook`, all in one transaction. False (and nothing
   * changed) when the lease was lost. If the hook throws, everything rolls back and the error propagates.
   */
  abstract bury(
    entry: ClaimedOutboxEntry,
    transition: Extract<OutboxTransition, { kind: 'dead' }>,
    hook?: DeadLetterHook,
  ): Promise<boolean>;
  /** Gives back rows claimed but not started (shutdown), so another relay can take them at once. */
  abstract release(entries: readonly ClaimedOutboxEntry[]): Promise<void>;
  abstract countByTopicAndStatus(): Promise<OutboxStatusCount[]>;
  /** Deletes up to `limit` delivered rows delivered more than `olderThanMs` ago, oldest first; returns how many. */
  abstract pruneDelivered(olderThanMs: number, limit: number): Promise<number>;
}
