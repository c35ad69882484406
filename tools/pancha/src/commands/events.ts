/**
 * `pancha events stats|list|show|send`: the event router on Core (`GET /events/stats`, `GET /events?type=&since=&cursor=`,
 * `GET /events/<id>`, `POST /events`). Rendered from the shape of what comes back (scalars as fields, maps of counts and lists of
 * records as tables), so a field the router adds shows up without a CLI release.
 */
import type { Command } from 'commander';
import { EXIT_OK, UsageError } from '../cli-errors';
import { EVENT, EVENT_ACCEPTED, EVENT_LIST, EVENT_STATS } from '../core-answers';
import { colours, fields, hint, print, printJson, table } from '../output';
import { coreClient, globals, query, seg, sinceToIso, windowStartIso } from './context';

export async function eventsStats(opts: { window?: string }, cmd: Command): Promise<number> {
  // Core's route takes the start of the window (default 24 h back).
  const since = opts.window === undefined ? undefined : windowStartIso(opts.window);
  const res = await coreClient(cmd).get(`/events/stats${query({ since })}`, EVENT_STATS);
  if (globals(cmd).json) return printJson(res), EXIT_OK;
  print(renderRecord(res));
  return EXIT_OK;
}

export async function eventsList(opts: { type?: string; since?: string; limit?: string; cursor?: string }, cmd: Command): Promise<number> {
  const limit = opts.limit === undefined ? undefined : Number(opts.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new UsageError('--limit must be a positive integer');
  // Dropped, an empty --cursor would silently show the first page again.
  if (opts.cursor !== undefined && opts.cursor.trim() === '') throw new UsageError('--cursor must not be empty');
  const since = opts.since === undefined ? undefined : sinceToIso(opts.since);
  const page = await coreClient(cmd).get(`/events${query({ type: opts.type, since, limit, cursor: opts.cursor })}`, EVENT_LIST);
  if (globals(cmd).json) return printJson(page), EXIT_OK;
  if (page.events.length === 0) return print('no events match'), EXIT_OK;
  print(recordsTable(page.events));
  // On stderr, so piped stdout stays the table alone (as `runs list`).
  if (page.next_cursor) hint(`more events match: see the next page with --cursor ${page.next_cursor}`);
  return EXIT_OK;
}

/**
 * Publishes one event by hand, as the operator: Core checks it against its type's schema (a 422 names each field, exit
 * 1) and answers what it started and what it skipped, and why. `--id` makes a resend a no-op, like any publisher's.
 */
export async function eventsSend(
  type: string,
  opts: { data?: string; id?: string; source?: string; subject?: string },
  cmd: Command,
): Promise<number> {
  let data: unknown = {};
  if (opts.data !== undefined) {
    try {
      data = JSON.parse(opts.data);
    } catch (error) {
      throw new UsageError(`--data must be JSON: ${(error as Error).message}`);
    }
  }
  for (const option of ['id', 'source', 'subject'] as const) {
    // Dropped, an empty --id would make a resend a second event instead of a no-op.
    if (opts[option] !== undefined && opts[option]?.trim() === '') throw new UsageError(`--${option} must not be empty`);
  }
  const event = { type, data, ...(opts.id ? { id: opts.id } : {}), ...(opts.source ? { source: opts.source } : {}), ...(opts.subject ? { subject: opts.subject } : {}) };
  const res = await coreClient(cmd).post('/events', EVENT_ACCEPTED, event);
  if (globals(cmd).json) return printJson(res), EXIT_OK;
  print(renderRecord(res));
  return EXIT_OK;
}

export async function eventsShow(id: string, cmd: Command): Promise<number> {
  if (id.trim() === '') throw new UsageError('expected an event id, got an empty one');
  const res = await coreClient(cmd).get(`/events/${seg(id)}`, EVENT);
  if (globals(cmd).json) return printJson(res), EXIT_OK;
  print(renderRecord(res));
  return EXIT_OK;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isScalar(v: unknown): v is string | number | boolean | null {
  return v === null || ['string', 'number', 'boolean'].includes(typeof v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Drawn in one cell or field: a scalar, a list of scalars, or nothing at all (an empty map, such as no skips). */
function isInline(v: unknown): boolean {
  return isScalar(v) || (Array.isArray(v) && v.every(isScalar)) || (isPlainObject(v) && Object.keys(v).length === 0);
}

/** One cell's text: an empty list or map is `-`; a map of counts `reason: n, …` (skips by reason in a per-type row). */
function brief(v: unknown): string {
  if (isScalar(v)) return v === null ? '-' : String(v);
  if (Array.isArray(v)) return v.length === 0 ? '-' : v.every(isScalar) ? v.join(', ') : `${v.length} item${v.length === 1 ? '' : 's'}`;
  if (isPlainObject(v)) {
    const entries = Object.entries(v);
    if (entries.length === 0) return '-';
    if (entries.every(([, x]) => isScalar(x))) return entries.map(([k, x]) => `${k}: ${brief(x)}`).join(', ');
  }
  return JSON.stringify(v);
}

/** Scalars first (aligned fields), then one titled table per map or list of records. */
export function renderRecord(record: Record<string, unknown>, title?: string): string {
  const out: string[] = [];
  if (title) out.push(colours.bold(title));
  const scalars = Object.entries(record).filter(([, v]) => isInline(v));
  if (scalars.length > 0) out.push(fields(scalars.map(([k, v]) => [k, brief(v)])));
  for (const [key, value] of Object.entries(record)) {
    if (isInline(value)) continue;
    out.push('');
    if (Array.isArray(value)) {
      out.push(colours.bold(key));
      out.push(recordsTable(value.map((v) => (isPlainObject(v) ? v : { value: v as Json }))));
    } else if (isPlainObject(value) && Object.values(value).every(isScalar)) {
      out.push(colours.bold(key));
      out.push(table(['KEY', 'VALUE'], Object.entries(value).map(([k, v]) => [k, brief(v)])));
    } else if (isPlainObject(value) && Object.values(value).every(isPlainObject)) {
      // e.g. per type → { received, matched, … }: one row per entry
      out.push(colours.bold(key));
      out.push(recordsTable(Object.entries(value).map(([k, v]) => ({ [key.replace(/^by_|s$/g, '') || 'key']: k, ...(v as Record<string, unknown>) }))));
    } else if (isPlainObject(value)) {
      out.push(renderRecord(value, key));
    }
  }
  return out.join('\n');
}

function recordsTable(records: Record<string, unknown>[]): string {
  const columns: string[] = [];
  for (const r of records) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  return table(
    columns.map((c) => c.toUpperCase()),
    records.map((r) => columns.map((c) => brief(r[c]))),
  );
}
