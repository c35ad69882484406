/** What a handler receives: one committed outbox row. */
export interface OutboxMessage {
  id: string;
  topic: string;
  messageKey: string;
  payload: unknown;
  /** W3C trace context captured at enqueue (already active around `deliver`). */
  headers: Record<string, string>;
  /** Delivery attempts made before this one (0 on the first try). */
  attempts: number;
}

/**
 * Delivers the messages of one topic to their downstream. It must be idempotent on the receiver's side
 * (the receiver deduplicates by the event id in the payload): delivery is at least once.
 * Throw OutboxDeliveryError for a known outcome; anything else thrown is treated as retryable.
 */
export interface OutboxHandler {
  readonly topic: string;
  deliver(message: OutboxMessage): Promise<void>;
}

/** Injection token for the list of handler instances registered through OutboxModule.forRoot. */
export const OUTBOX_HANDLERS = Symbol('OUTBOX_HANDLERS');
