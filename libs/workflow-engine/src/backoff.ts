import type { RetryPolicy } from '@pancha/workflow-manifest';

/**
 * Full-jitter exponential backoff (WORKFLOWS.md): the wait before retry n (n = 1 after the first failure) is
 * random(0, min(max_interval, initial · coefficient^(n−1))). `random` is injectable so tests are exact.
 */
export function retryDelayMs(policy: RetryPolicy, failedAttempts: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, failedAttempts - 1);
  const ceiling = Math.min(policy.max_interval_ms, policy.initial_interval_ms * policy.backoff_coefficient ** exponent);
  return Math.floor(random() * ceiling);
}

/**
 * The longest delay Node's timers keep (2^31 − 1 ms, about 24.8 days): a longer one fires after 1 ms. A timer for a
 * later moment is set to this and looks again when it fires.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** `ms` as a timer can wait it: at most MAX_TIMER_DELAY_MS, never negative. */
export function timerDelay(ms: number): number {
  return Math.min(Math.max(0, ms), MAX_TIMER_DELAY_MS);
}
