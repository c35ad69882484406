import { ExecutorApiErrorCode } from '@pancha/contracts';
import { ServiceCallError } from '@pancha/http-client';
import { OutboxDeliveryError } from '@pancha/outbox';

/**
 * How a failed call should be treated by the outbox. A 409 execution_in_progress means the executor is
 * still running this very trace: asking again later returns its stored result, so it is worth a retry.
 */
export function toDeliveryError(error: unknown): OutboxDeliveryError {
  if (error instanceof OutboxDeliveryError) return error;
  if (error instanceof ServiceCallError) {
    const inProgress = error.status === 409 && error.code === ExecutorApiErrorCode.ExecutionInProgress;
    return new OutboxDeliveryError(error.message, { retryable: inProgress || error.retryable });
  }
  return new OutboxDeliveryError(error instanceof Error ? error.message : String(error), { retryable: true });
}
