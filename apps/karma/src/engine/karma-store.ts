import type { KarmaEventReply } from '@pancha/contracts';
import type { LedgerEntry, NewLedgerEntry } from '../model/ledger-entry';
import type { QTable } from '../model/q-learning';

/** An accepted event: its id, what it was (fingerprint) and the reply a replay returns. */
export interface StoredEvent {
  eventId: string;
  type: string;
  userId: string;
  fingerprint: string;
  source: string | null;
  occurredAt: number;
  recordedAt: number;
  reply: KarmaEventReply;
}

/**
 * A user's row of karma_published_role: the role last published for them (`karma.role_changed`) and the change that
 * published it, and when time alone may next move their role away from it (the scheduled sweep's index).
 */
export interface PublishedRole {
  userId: string;
  /** The role of the last change published; null while none was (the user is taken to have the role of no merit). */
  role: string | null;
  /** The ledger seq the last published change's id is derived from; null while none was. */
  ledgerSeq: number | null;
  /** When the last change was published (ms); null while none was. */
  at: number | null;
  /**
   * No earlier than this moment (ms) can the user's role, derived from their ledger, differ from `role`: the sweep
   * looks at the user from then on. The moment itself when it already differs (nothing could be published); null
   * when time alone can never make it differ (until the next event).
   */
  nextTimeChangeAt: number | null;
  /**
   * The first ledger seq of the last event that moved the role while nothing was published (router events off), so
   * that the change held back is published later with cause `event`; null when none did, or once published.
   */
  unpublishedEventSeq: number | null;
}

/**
 * What the engine needs from storage. The service uses PgKarmaStore inside one transaction that holds the
 * ledger lock; unit and property tests use MemoryKarmaStore. Same engine, same model functions.
 */
export interface KarmaStore {
  findEvent(eventId: string): Promise<StoredEvent | null>;
  /** The user's entries in seq order. */
  userEntries(userId: string): Promise<LedgerEntry[]>;
  /** Appends in order and returns the entries with their seq. */
  append(entries: NewLedgerEntry[]): Promise<LedgerEntry[]>;
  saveEvent(event: StoredEvent): Promise<void>;
  /** The rows of these roles (all rows when omitted). */
  qTable(roles?: string[]): Promise<QTable>;
  /** Sets Q[role, action] and counts one update. */
  saveQ(role: string, action: string, value: number): Promise<void>;
  /** The user's karma_published_role row, null when they have none (nothing published, nothing to watch). */
  publishedRole(userId: string): Promise<PublishedRole | null>;
  /** Writes the user's row (with the ledger entries and the outbox messages, in one transaction). */
  savePublishedRole(role: PublishedRole): Promise<void>;
}
