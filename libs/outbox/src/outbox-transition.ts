import { computeBackoffMs } from './outbox-backoff';
import { toDeliveryError } from './outbox-delivery.error';

/** What happened when the relay tried to deliver one message. */
export type DeliveryOutcome = { kind: 'success' } | { kind: 'failure'; retryable: boolean; reason: string };

/** What the store must do with the row afterwards. The only way a pending row changes state. */
export type OutboxTransition =
  | { kind: 'delivered'; attempts: number }
  | { kind: 'retry'; attempts: number; delayMs: number; error: string }
  | { kind: 'dead'; attempts: number; reason: string };

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

const MAX_REASON_LENGTH = 2000;

/** How a dead row's reason begins when the receiver refused it for good (it will answer the same again). */
export const FINAL_REFUSAL_PREFIX = 'non_retryable: ';

/**
 * The relay's state machine, pure so the accounting can be property-tested without a database.
 * `attemptsBefore` is the row's attempts column when it was claimed.
 */
export function decideTransition(
  attemptsBefore: number,
  outcome: DeliveryOutcome,
  policy: RetryPolicy,
  random: () => number = Math.random,
): OutboxTransition {
  switch (outcome.kind) {
    case 'success':
      return { kind: 'delivered', attempts: attemptsBefore + 1 };
    case 'failure': {
      const attempts = attemptsBefore + 1;
      const reason = truncate(outcome.reason);
      if (!outcome.retryable) return { kind: 'dead', attempts, reason: `${FINAL_REFUSAL_PREFIX}${reason}` };
      if (attempts >= policy.maxAttempts) return { kind: 'dead', attempts, reason: `max_attempts_exceeded: ${reason}` };
      const delayMs = computeBackoffMs(attemptsBefore, { baseMs: policy.baseDelayMs, maxMs: policy.maxDelayMs }, random);
      return { kind: 'retry', attempts, delayMs, error: reason };
    }
    default:
      return assertUnreachable(outcome);
  }
}

/** Maps whatever a handler threw to an outcome (see toDeliveryError for who may say "do not retry"). */
export function outcomeFromError(error: unknown): DeliveryOutcome {
  const failure = toDeliveryError(error);
  return { kind: 'failure', retryable: failure.retryable, reason: failure.reason || failure.message };
}

function truncate(reason: string): string {
  const text = reason || 'unknown error';
  return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH)}…` : text;
}

function assertUnreachable(value: never): never {
  throw new Error(`Unhandled delivery outcome: ${JSON.stringify(value)}`);
}
