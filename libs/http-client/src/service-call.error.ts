/** A call to another Pancha service that did not return 2xx; `retryable` tells an outbox whether to try again. */
export class ServiceCallError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly body: unknown,
    readonly retryable: boolean,
    /** No answer came in time: the other side may have done what was asked (unlike a refused connection). */
    readonly timedOut = false,
    /** The connection was refused: the request never left, so the other side did nothing. */
    readonly notSent = false,
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

/**
 * Whether a failed call may have had its effect at the other side: no answer (a timeout, a reset) or a 5xx, where the
 * work may have been committed before the failure. Not when the connection was refused or a 4xx said no.
 */
export function mayHaveTakenEffect(error: unknown): boolean {
  if (!(error instanceof ServiceCallError)) return true;
  return error.status === undefined ? !error.notSent : error.status >= 500;
}

/** How a call that got no answer in time is described (the client's message, and a dead letter's reason after it). */
export const TIMED_OUT = 'timed out';

/** Whether `text` (an error's message, a dead letter's reason) tells of a call that got no answer in time. */
export function describesTimeout(text: string): boolean {
  return text.includes(`unreachable (${TIMED_OUT})`);
}
