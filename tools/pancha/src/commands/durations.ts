/**
 * Durations given on the command line (`--window`, a `--since` that is no time), read as manifests write them:
 * `30m`, `24h`, `7d`, `1h30m`, `1.5h` (libs/workflow-manifest's parser). Loaded by the commands that take one only:
 * it brings the manifest library with it.
 */
import { DurationError, formatDuration, parseDuration } from '@pancha/workflow-manifest';
import { UsageError } from '../cli-errors';

/** The longest window the workflow statistics answer: the executor refuses more than that with a 400. */
export { MAX_WORKFLOW_STATS_WINDOW_MS as MAX_STATS_WINDOW_MS } from '@pancha/contracts';

/**
 * Milliseconds, more than 0 and at most `max`, or a usage error naming the option (before any request); Infinity for
 * one too long to count without `max`, which the caller bounds.
 */
export function durationMs(value: string, option: string, max?: number): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (error) {
    if (!(error instanceof DurationError)) throw error;
    // Too long for milliseconds is a duration still, longer than any bound (`max`, or a time Core can hold).
    if (!/too long/.test(error.message)) throw new UsageError(`${option} must be a duration like 30m, 24h, 7d or 1h30m, got "${value}"`);
    ms = Number.POSITIVE_INFINITY;
  }
  // A window of nothing counts nothing: always zero, never what was meant.
  if (!(ms > 0)) throw new UsageError(`${option} must be more than 0, got "${value}"`);
  if (max !== undefined && ms > max) throw new UsageError(`${option} must be at most ${formatDuration(max)}, got "${value}"`);
  return ms;
}

export { formatDuration };
