import type { OutboxStatusCount } from './outbox-stats';
import type { OutboxTransition } from './outbox-transition';

/** A pending row this relay has leased for delivery. */
export interface ClaimedOutboxEntry {
  id: string;
  topic: string;
  messageKey: string;
  payload: unknown;
  headers: Record<string, string>;
  attempts: number;
  /**
   * Opaque proof of the claim. Completing requires it, so a relay whose lease ran out cannot overwrite the
   * outcome recorded by the relay that claimed the row after it.
   */
  lease: string;
}

/**
 * Persistence the relay needs. PostgreSQL in production (PgOutboxStore); the property test drives the same
 * relay over an in-memory implementation.
 */
export abstract class OutboxStore {
  /** Leases up to `limit` due pending rows, oldest first, skipping rows other relays hold. */
  abstract claim(limit: number, leaseMs: number): Promise<ClaimedOutboxEntry[]>;
  /** Applies the transition if the lease is still ours; false when it was lost (nothing changed). */
  abstract complete(entry: ClaimedOutboxEntry, transition: OutboxTransition): Promise<boolean>;
  abstract countByTopicAndStatus(): Promise<OutboxStatusCount[]>;
}
