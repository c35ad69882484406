/**
 * The ledger as the model sees it: plain values, no ORM. Entries are only ever appended; everything a
 * user sees (balances, paap, role, plans) is a fold of them as of a moment.
 */
export type LedgerKind = 'action' | 'paap' | 'atonement' | 'appeal' | 'death';

export const LEDGER_KINDS: readonly LedgerKind[] = ['action', 'paap', 'atonement', 'appeal', 'death'];

export interface LedgerEntry {
  /** Append order; equal to the order Karma accepted the events in. */
  seq: number;
  eventId: string;
  userId: string;
  kind: LedgerKind;
  /** action: the action taken; paap: the action that caused it; appeal: the action appealed. */
  action: string | null;
  /** action: the token granted (negative amount = penalty); atonement: the kind (Jap, Tap, …). */
  token: string | null;
  /** action: token amount; paap: 1; atonement: progress amount; otherwise 0. */
  amount: number;
  paapClass: string | null;
  /** atonement: the seq of the paap entry it works off. */
  refSeq: number | null;
  details: Record<string, unknown>;
  /** When Karma recorded it (server clock, epoch ms): the time every rule is computed from. */
  at: number;
  /** When the client says it happened (epoch ms); informational. */
  occurredAt: number;
}

/** An entry before the ledger gives it a seq. */
export type NewLedgerEntry = Omit<LedgerEntry, 'seq'>;

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;
