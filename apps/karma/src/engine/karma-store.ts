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

/** The role last published for a user (`karma.role_changed`) and the change that published it. */
export interface PublishedRole {
  userId: string;
  role: string;
  /** The ledger seq the change's id is derived from (the first entry of the event that published it). */
  ledgerSeq: number;
  /** When it was published (ms). */
  at: number;
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
  /** The role last published for the user, null when none ever was. */
  publishedRole(userId: string): Promise<string | null>;
  /** Records the role just published for the user (written with the ledger entries and the outbox messages). */
  savePublishedRole(role: PublishedRole): Promise<void>;
}
