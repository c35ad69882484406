/** A call to another Pancha service that did not return 2xx; `retryable` tells an outbox whether to try again. */
export class ServiceCallError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly body: unknown,
    readonly retryable: boolean,
    /** No answer came in time: the other side may have done what was asked (unlike a refused connection). */
    readonly timedOut = false,
  ) {
    super(message);
    this.name = 'ServiceCallError';
  }

  /** The `code` of a Pancha error body, when the other side sent one. */
  get code(): string | undefined {
    const b = this.body as { code?: unknown } | undefined;
    return typeof b?.code === 'string' ? b.code : undefined;
  }
}

/** Network failures, timeouts, 408/425/429 and 5xx may succeed later; other 4xx will not. */
export function isRetryableStatus(status: number | undefined): boolean {
  return status === undefined || status === 408 || status === 425 || status === 429 || status >= 500;
}
