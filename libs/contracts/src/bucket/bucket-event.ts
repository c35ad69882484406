/** The two write routes of Bucket; the channel an entry arrived on is recorded with it. */
export const BUCKET_WRITE_CHANNELS = ['core', 'workflow'] as const;
export type BucketWriteChannel = (typeof BUCKET_WRITE_CHANNELS)[number];

/** Every channel an entry can carry: the write routes plus PRANA's packet ingest. */
export type BucketChannel = BucketWriteChannel | 'prana';

/**
 * What a producer records. `event_id` (uuid) is the idempotency key; the named fields are indexed
 * (trace_id, product, user_id); anything else is kept verbatim.
 */
export interface BucketEventData {
  event_id: string;
  event_type: string;
  trace_id?: string;
  product?: string;
  user_id?: string;
  [field: string]: unknown;
}

/**
 * event_data as a write may carry it: the original clients send no event_id, and Bucket then derives one
 * from the requester and the canonical content (see deriveEventId), so a retried original write is still
 * recorded once.
 */
export type WriteEventData = Omit<BucketEventData, 'event_id'> & { event_id?: string };

/** Body of `POST /core/write-event` and `POST /workflow/write-event`. */
export interface WriteEventRequest {
  /** Must equal the verified token subject, or the write is refused (403 requester_mismatch). */
  requester_id: string;
  event_data: WriteEventData;
}
