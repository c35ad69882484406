import type { BucketEntry } from '@pancha/contracts';

/**
 * created_at as hashed and served: ISO 8601 in UTC with the full microsecond precision of timestamptz,
 * so the text read back from any row is exactly the text that was hashed when it was appended.
 */
export function timestampSql(expression: string): string {
  return `to_char(${expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

export const ENTRY_COLUMNS_SQL = `
  seq, event_id, requester_id, channel, event_type, trace_id, product, user_id, event_data,
  content_hash, prev_hash, hash, ${timestampSql('created_at')} AS created_at`;

/** A row as node-postgres returns it: the wire entry, with the bigint seq as text. */
export type EntryRow = Omit<BucketEntry, 'seq'> & { seq: string };

export function toBucketEntry(row: EntryRow): BucketEntry {
  return { ...row, seq: Number(row.seq) };
}

/**
 * Appends are serialized by this transaction-scoped advisory lock: read head, link, insert, commit,
 * and only then may the next writer read the head. The number is arbitrary but fixed ("BUKT").
 */
export const CHAIN_LOCK_KEY = 0x42554b54;
