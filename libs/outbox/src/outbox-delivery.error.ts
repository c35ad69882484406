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
