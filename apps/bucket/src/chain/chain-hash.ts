import { createHash } from 'node:crypto';
import { canonicalJson } from '@pancha/contracts';
import type { BucketEntry } from '@pancha/contracts';

/**
 * Everything an entry's hash covers. Field names are the column names; absent optional fields are
 * null (never omitted) so "missing" and "null" hash the same on write and on re-read. event_data may be
 * given as its CanonicalJson (written once by the appender): every hash below reads the same text.
 */
export type ChainFields = Omit<BucketEntry, 'event_data' | 'content_hash' | 'prev_hash' | 'hash'> & {
  event_data: unknown;
};

/** A stored entry: its fields plus the hashes recorded with it. */
export interface ChainEntry extends ChainFields {
  content_hash: string;
  prev_hash: string;
  hash: string;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** sha256 of canonical event_data: equal for equal content whatever the key order (idempotency check). */
export function computeContentHash(eventData: unknown): string {
  return sha256Hex(canonicalJson(eventData));
}

/** hash = sha256(prev_hash ‖ canonicalJson(fields)), hex; prev_hash is the previous entry's hash (hex text). */
export function computeEntryHash(prevHash: string, fields: ChainFields): string {
  const covered: ChainFields = {
    seq: fields.seq,
    event_id: fields.event_id,
    requester_id: fields.requester_id,
    channel: fields.channel,
    event_type: fields.event_type,
    trace_id: fields.trace_id,
    product: fields.product,
    user_id: fields.user_id,
    event_data: fields.event_data,
    created_at: fields.created_at,
  };
  return sha256Hex(prevHash + canonicalJson(covered));
}

/** Links `fields` after the entry whose hash is `prevHash`. */
export function sealEntry(prevHash: string, fields: ChainFields): ChainEntry {
  return {
    ...fields,
    content_hash: computeContentHash(fields.event_data),
    prev_hash: prevHash,
    hash: computeEntryHash(prevHash, fields),
  };
}
