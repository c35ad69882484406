import type { Command } from 'commander';
import { parseTimestamp } from '@pancha/contracts';
import { UsageError } from '../cli-errors';
import { CoreClient, DEFAULT_CORE_URL } from '../core-client';

export interface GlobalOptions {
  json?: boolean;
  url?: string;
}

/** The options every command sees (`--json`, `--url`), wherever on the line they were given. */
export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export function coreClient(cmd: Command): CoreClient {
  const url = globals(cmd).url ?? process.env.PANCHA_URL?.trim() ?? DEFAULT_CORE_URL;
  if (!/^https?:\/\/[^/\s]+/.test(url)) throw new UsageError(`--url / PANCHA_URL must be an http(s) URL, got "${url}"`);
  return new CoreClient({ url: url || DEFAULT_CORE_URL });
}

/** The duration parser, loaded when a command is given a duration (it brings the manifest library). */
const durations = (): typeof import('./durations') => require('./durations') as typeof import('./durations');

/** Starts like a duration (`24h`, `1h30m`, `1.5h`), not like an ISO time (`2026-…`). */
const DURATION_START = /^\s*\d+(\.\d+)?(ms|s|m|h|d)/;

/** A duration before now (`24h`, `30m`, `7d`, `1h30m`, as manifests write them), or an ISO 8601 time as is. */
export function sinceToIso(value: string, now = Date.now(), option = '--since'): string {
  const at = DURATION_START.test(value) ? new Date(now - durations().durationMs(value, option)) : parseTimestamp(value.trim());
  // A duration reaching back before year 1 is no time the server can hold either.
  const iso = at && !Number.isNaN(at.getTime()) ? at.toISOString() : undefined;
  if (iso && parseTimestamp(iso)) return iso;
  throw new UsageError(`${option} must be a duration (30m, 24h, 7d, 1h30m) or an ISO 8601 time in years 0001-9999, got "${value}"`);
}

/**
 * `--window` of the workflow statistics, as Core is sent it: a duration as manifests write them (`1h30m`), more than
 * 0 and at most the 90 days the statistics cover, in its canonical form (`1.5h` is `1h30m`); or a usage error.
 */
export function statsWindow(window: string): string {
  const { durationMs, formatDuration, MAX_STATS_WINDOW_MS } = durations();
  return formatDuration(durationMs(window, '--window', MAX_STATS_WINDOW_MS));
}

/** `--window` of the event statistics as the ISO time it starts at (Core's `since`): a duration more than 0 back. */
export function windowStartIso(window: string, now = Date.now()): string {
  const at = new Date(now - durations().durationMs(window, '--window'));
  const iso = Number.isNaN(at.getTime()) ? undefined : at.toISOString();
  if (iso && parseTimestamp(iso)) return iso;
  throw new UsageError(`--window must not reach back before the year 0001, got "${window}"`);
}

export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** A path segment the user typed, encoded. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
