import type { EventBatchItem } from '@pancha/contracts';
import type { EntityManager } from 'typeorm';

/** What a handler receives: one committed outbox row. */
export interface OutboxMessage {
  id: string;
  topic: string;
  messageKey: string;
  /**
   * Set when the producer asked for ordered delivery: rows of one key reach the handler in enqueue order, one at a
   * time (or, to a handler that `ordersBatch`, consecutive ones together in one batch, in that order).
   */
  orderingKey: string | null;
  payload: unknown;
  /** W3C trace context captured at enqueue (already active around `deliver`). */
  headers: Record<string, string>;
  /** Delivery attempts made before this one (0 on the first try). */
  attempts: number;
}

/** What became of one message of a batch: delivered, or the error its single delivery would have thrown. */
export type OutboxBatchResult = { ok: true } | { ok: false; error: unknown };

/**
 * Delivers the messages of one topic to their downstream. It must be idempotent on the receiver's side
 * (the receiver deduplicates by the event id in the payload): delivery is at least once.
 * Throw OutboxDeliveryError for a known outcome; anything else thrown is treated as retryable.
 */
export interface OutboxHandler {
  readonly topic: string;
  deliver(message: OutboxMessage): Promise<void>;
  /**
   * Optional: delivers several messages of this topic at once (one request to a receiver that takes a batch)
   * and answers one result per message, in order. A result's error is judged exactly like an error thrown by
   * `deliver` (retried with backoff or dead-lettered, for that message alone); a throw fails every message of
   * the batch with that error. When present the relay hands over up to `maxBatch` claimed messages of the topic
   * at a time (never two of one ordering key, unless `ordersBatch`); each message's `headers` then carry the trace
   * context of its own delivery span, for the receiver to continue its trace. The batch runs inside a span of its
   * own, linked to them.
   */
  deliverBatch?(messages: readonly OutboxMessage[]): Promise<readonly OutboxBatchResult[]>;
  /** Most messages per `deliverBatch` call; default the relay's maxBatch (OUTBOX_MAX_BATCH). */
  readonly maxBatch?: number;
  /**
   * Set when the receiver applies a `deliverBatch` batch in the order given and refuses a message only for itself,
   * for good (a permanent error), or the whole batch: then a key's consecutive pending rows go in one claim and one
   * batch, in enqueue order, instead of one claim and one delivery each (a workflow run's events committed together
   * reach Bucket in one request). A retryable error for one message while a later message of its key was applied
   * would break the key's order, so a receiver that can answer that must leave this unset.
   */
  readonly ordersBatch?: boolean;
  /**
   * Called when the relay gives up on a message (non-retryable failure or attempts used up), inside the very
   * transaction that marks the row dead and writes its dead letter: whatever the handler writes with `manager`
   * (and any `OutboxService.enqueue(manager, …)`) commits together with the dead letter or not at all. If it
   * throws, nothing is recorded and the message is retried with backoff.
   */
  onDeadLetter?(manager: EntityManager, message: OutboxMessage, reason: string, prepared?: unknown): Promise<void>;
  /**
   * Called before the dead-letter transaction opens, for what onDeadLetter needs from elsewhere (a peer's answer):
   * its result is onDeadLetter's `prepared`, so no transaction waits on the network. If it throws, nothing is
   * recorded and the message is retried with backoff, as when onDeadLetter throws. Only called for a handler with
   * an onDeadLetter (there is nothing else to hand its result to).
   */
  beforeDeadLetter?(message: OutboxMessage, reason: string): Promise<unknown>;
}

/** Injection token for the list of handler instances registered through OutboxModule.forRoot. */
export const OUTBOX_HANDLERS = Symbol('OUTBOX_HANDLERS');

/** One batch item per outbox message: its stored body (the hop's body), and the trace context of its delivery. */
export function batchItemsOf<B>(messages: readonly OutboxMessage[], bodyOf: (message: OutboxMessage) => B = (m) => m.payload as B): EventBatchItem<B>[] {
  return messages.map((m) => ({ body: bodyOf(m), traceparent: m.headers.traceparent, tracestate: m.headers.tracestate }));
}

/** The messages' keys, in order (what a batch transport names its messages by). */
export function messageKeysOf(messages: readonly OutboxMessage[]): string[] {
  return messages.map((m) => m.messageKey);
}
