export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/**
 * "Full jitter" exponential backoff (AWS architecture blog): a uniform draw in
 * [0, min(maxMs, baseMs * 2^attempt)), so retries of many messages that failed together spread out
 * instead of hammering a recovering downstream in waves. `attempt` is 0 for the first retry.
 */
export function computeBackoffMs(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.floor(attempt));
  // 2^exponent overflows to Infinity past ~1023; capping the exponent keeps base 0 from giving NaN.
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(exponent, 52));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.max(0, Math.min(ceiling, Math.floor(r * ceiling)));
}
