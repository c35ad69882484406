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
