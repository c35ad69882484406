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

/** `24h`, `30m`, `7d`, `90s` before now, or an ISO 8601 time as is. */
export function sinceToIso(value: string, now = Date.now(), option = '--since'): string {
  const m = /^(\d+)(s|m|h|d)$/.exec(value.trim());
  const at = m ? new Date(now - Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']) : parseTimestamp(value.trim());
  // A duration reaching back before year 1 is no time the server can hold either.
  const iso = at && !Number.isNaN(at.getTime()) ? at.toISOString() : undefined;
  if (iso && parseTimestamp(iso)) return iso;
  throw new UsageError(`${option} must be a duration (30m, 24h, 7d) or an ISO 8601 time in years 0001-9999, got "${value}"`);
}

/** A `--window` of whole minutes, hours or days (what the stats routes take), or a usage error naming it. */
export function checkWindow(window: string): string {
  if (!/^\d+(m|h|d)$/.test(window)) throw new UsageError(`--window must be a duration like 1h, 24h or 7d, got "${window}"`);
  return window;
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
