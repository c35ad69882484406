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
 * Whether an HTTP outcome is worth retrying: no response at all (network error, timeout), 408, 425, 429
 * and 5xx are transient; any other 4xx means the receiver will refuse this message however often it is sent.
 */
export function isRetryableHttpStatus(status?: number): boolean {
  if (status === undefined || status === null) return true;
  if (status === 408 || status === 425 || status === 429) return true;
  return status >= 500;
}
