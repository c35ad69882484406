import { ServiceCallError } from '@pancha/http-client';
import { OutboxDeliveryError } from '@pancha/outbox';

/**
 * The client's verdict decides: network errors, 429 and 5xx are retried with backoff; any other 4xx
 * (including Bucket's 409 for a reused event_id with different content) goes straight to the dead letter.
 */
export function toDeliveryError(error: unknown): OutboxDeliveryError {
  if (error instanceof ServiceCallError) return new OutboxDeliveryError(error.message, { retryable: error.retryable });
  if (error instanceof OutboxDeliveryError) return error;
  return new OutboxDeliveryError(error instanceof Error ? error.message : String(error), { retryable: true });
}
