/** Thrown by a handler to say whether trying again can help (a 503 can; a 422 never will). */
export class OutboxDeliveryError extends Error {
  readonly retryable: boolean;

  constructor(
    readonly reason: string,
    options: { retryable: boolean },
  ) {
    super(reason);
    this.name = 'OutboxDeliveryError';
    this.retryable = options.retryable;
  }
}

/**
 * What a failed delivery means for the outbox. An error that carries its own verdict (an
 * OutboxDeliveryError, or a client error such as http-client's ServiceCallError with a boolean
 * `retryable`) keeps it; anything else is assumed transient, so a surprise is retried, never dropped.
 */
export function toDeliveryError(error: unknown): OutboxDeliveryError {
  if (error instanceof OutboxDeliveryError) return error;
  const message = error instanceof Error ? error.message || error.name : String(error);
  const verdict = (error as { retryable?: unknown } | null)?.retryable;
  return new OutboxDeliveryError(message, { retryable: typeof verdict === 'boolean' ? verdict : true });
}

/** How the relay words a delivery it stopped waiting for (OUTBOX_DELIVERY_TIMEOUT_MS), in a row's error and a dead letter's reason. */
const RELAY_TIMEOUT = 'delivery timed out after';

/** The relay's own timeout around one delivery: retryable, since the receiver may still be storing what it was sent. */
export function relayTimeoutError(timeoutMs: number): OutboxDeliveryError {
  return new OutboxDeliveryError(`${RELAY_TIMEOUT} ${timeoutMs} ms`, { retryable: true });
}

/** Whether `reason` (a row's last error, a dead letter's reason) tells of a delivery the relay stopped waiting for. */
export function describesRelayTimeout(reason: string): boolean {
  return reason.includes(RELAY_TIMEOUT);
}
