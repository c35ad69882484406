import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { CommonErrorCode, type EventDecisionView, type EventListResponse, type EventStats, type EventStatsCounts, type EventView, parseTimestamp, TIMESTAMP_RULE } from '@pancha/contracts';
import { productFilter, type VerifiedRequester } from '@pancha/governance';
import { DomainException, findUnstorableJson } from '@pancha/service-kit';
import { DataSource } from 'typeorm';
import { EventErrorCode } from './event-intake';

interface EventRow {
  event_id: string;
  type: string;
  source: string | null;
  subject: string | null;
  time: Date;
  received_at: Date;
  trace_id: string;
  publisher: string;
  data?: unknown;
  decisions: EventDecisionView[];
}

/** The query parameters GET /events defines (the controller refuses any other) and GET /events/stats's. */
export const EVENT_LIST_PARAMETERS = ['type', 'since', 'limit', 'cursor'] as const;
export const EVENT_STATS_PARAMETERS = ['since'] as const;

/** GET /events's query as parsed: a parameter sent twice (`?type=a&type=b`) arrives as an array. */
export type EventListQuery = Partial<Record<(typeof EVENT_LIST_PARAMETERS)[number], unknown>>;

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
const DAY_MS = 86_400_000;

/** What `GET /events…` show: one event's decision trail, pages of events (keyset paging), and the router's counts. */
@Injectable()
export class EventQueriesService {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async view(eventId: string, requester: VerifiedRequester): Promise<EventView> {
    const params: unknown[] = [eventId];
    const [row]: EventRow[] = await this.dataSource.query(`SELECT * FROM events WHERE event_id = $1 AND ${inScope(requester, params)}`, params);
    if (!row) throw new DomainException(HttpStatus.NOT_FOUND, EventErrorCode.EventNotFound, `no event ${eventId.slice(0, 128)}`);
    return { ...toView(row), data: row.data };
  }

  /** Newest first; `cursor` continues after the last event of the previous page. */
  async list(query: EventListQuery, requester: VerifiedRequester): Promise<EventListResponse> {
    const [type, since, cursor] = [single(query.type, 'type'), single(query.since, 'since'), single(query.cursor, 'cursor')];
    const limit = intIn(single(query.limit, 'limit'), 'limit', 1, MAX_LIMIT) ?? DEFAULT_LIMIT;
    const params: unknown[] = [];
    const where: string[] = [inScope(requester, params)];
    if (type !== undefined) {
      params.push(type);
      where.push(`type = $${params.length}`);
    }
    if (since !== undefined) {
      params.push(dateParam(since, 'since'));
      where.push(`received_at >= $${params.length}`);
    }
    if (cursor !== undefined) {
      const [at, id] = decodeCursor(cursor);
      params.push(at, id);
      where.push(`(received_at, event_id) < ($${params.length - 1}::timestamptz, $${params.length})`);
    }
    params.push(limit + 1);
    const rows: (EventRow & { cursor_at: string })[] = await this.dataSource.query(
      `SELECT event_id, type, source, subject, time, received_at, received_at::text AS cursor_at, trace_id, publisher, decisions FROM events
       WHERE ${where.join(' AND ')} ORDER BY received_at DESC, event_id DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      events: page.map(({ cursor_at: _cursor, ...row }) => toView(row)),
      ...(rows.length > limit && last ? { next_cursor: encodeCursor(last.cursor_at, last.event_id) } : {}),
    };
  }

  /** Counts since `since` (default: the last 24 hours), computed from the recorded decisions. */
  async stats(sinceParam: unknown, requester: VerifiedRequester): Promise<EventStats> {
    const sent = single(sinceParam, 'since');
    const since = sent === undefined ? new Date(Date.now() - DAY_MS) : dateParam(sent, 'since');
    const params: unknown[] = [since];
    const scope = inScope(requester, params, 'e');
    const [byType, byDecision, noisiest]: [
      { type: string; received: string; matched: string }[],
      { type: string; workflow: string; trigger: string; outcome: string; reason: string | null; n: string }[],
      { workflow: string; trigger: string; key: string; n: string }[],
    ] = await Promise.all([
      this.dataSource.query(
        `SELECT type, count(*) AS received, count(*) FILTER (WHERE jsonb_array_length(decisions) > 0) AS matched
         FROM events e WHERE e.received_at >= $1 AND ${scope} GROUP BY type`,
        params,
      ),
      this.dataSource.query(
        `SELECT e.type, d->>'workflow' AS workflow, d->>'trigger' AS "trigger", d->>'outcome' AS outcome, d->>'reason' AS reason, count(*) AS n
         FROM events e, jsonb_array_elements(e.decisions) d WHERE e.received_at >= $1 AND ${scope} GROUP BY 1, 2, 3, 4, 5`,
        params,
      ),
      this.dataSource.query(
        `SELECT d->>'workflow' AS workflow, d->>'trigger' AS "trigger", d->>'key' AS key, count(*) AS n
         FROM events e, jsonb_array_elements(e.decisions) d WHERE e.received_at >= $1 AND ${scope} AND d->>'key' IS NOT NULL
         GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3 LIMIT 10`,
        params,
      ),
    ]);
    const total = emptyCounts();
    const types: Record<string, EventStatsCounts> = {};
    const triggers: EventStats['by_trigger'] = {};
    for (const row of byType) {
      const counts = (types[row.type] ??= emptyCounts());
      counts.received += Number(row.received);
      counts.matched += Number(row.matched);
      total.received += Number(row.received);
      total.matched += Number(row.matched);
    }
    for (const row of byDecision) {
      const n = Number(row.n);
      const { received: _ignored, ...fresh } = emptyCounts();
      const targets = [total, (types[row.type] ??= emptyCounts()), (triggers[`${row.workflow}/${row.trigger}`] ??= fresh)];
      for (const counts of targets) {
        if (row.outcome === 'run') counts.runs_started += n;
        else if (row.outcome === 'deferred') counts.deferred += n;
        else if (row.reason) counts.skipped[row.reason as keyof EventStatsCounts['skipped']] = (counts.skipped[row.reason as keyof EventStatsCounts['skipped']] ?? 0) + n;
      }
    }
    for (const counts of Object.values(triggers)) counts.matched = counts.runs_started + counts.deferred + Object.values(counts.skipped).reduce((a, b) => a + (b ?? 0), 0);
    return {
      since: since.toISOString(),
      ...total,
      by_type: types,
      by_trigger: triggers,
      noisiest_keys: noisiest.map((r) => ({ workflow: r.workflow, trigger: r.trigger, key: r.key, events: Number(r.n) })),
    };
  }
}

/**
 * The events `requester` may read, as a WHERE clause (its parameters appended to `params`). An event's product is
 * its `data.product` when that is a non-empty string, whole (the product the runs it starts act on, `runOwner`, which
 * never cuts it); an event without one is open to every reader, as a task without a product is. A replay of an id
 * checks the same scope in memory (event-router.service.ts eventInScope). A credential narrowed to some products sees
 * the events of those products only; to it the others do not exist (404, so ids cannot be probed).
 */
function inScope(requester: VerifiedRequester, params: unknown[], alias = 'events'): string {
  const products = productFilter(requester);
  if (products === undefined) return 'true';
  params.push(products);
  const product = `${alias}.data -> 'product'`;
  return `(jsonb_typeof(${product}) IS DISTINCT FROM 'string' OR ${alias}.data ->> 'product' = '' OR ${alias}.data ->> 'product' = ANY($${params.length}::text[]))`;
}

function toView(row: EventRow): Omit<EventView, 'data'> {
  return {
    event_id: row.event_id,
    type: row.type,
    source: row.source,
    subject: row.subject,
    time: row.time.toISOString(),
    received_at: row.received_at.toISOString(),
    trace_id: row.trace_id,
    publisher: row.publisher,
    decisions: row.decisions,
  };
}

function emptyCounts(): EventStatsCounts {
  return { received: 0, matched: 0, runs_started: 0, skipped: {}, deferred: 0 };
}

/** A query parameter out of its schema: a 422 naming it, as GET /runs answers (SPEC: 422 for schema violations). */
function bad(field: string, message: string): DomainException {
  return new DomainException(HttpStatus.UNPROCESSABLE_ENTITY, CommonErrorCode.ValidationFailed, `${field} ${message}`, [{ field, messages: [message] }]);
}

/**
 * A query parameter's one value. Sent twice (`?type=a&type=b`) it arrives as an array, which no filter reads as
 * meant (type = '{a,b}' matches nothing; Number(['5']) is 5): a 422 naming it.
 */
function single(value: unknown, field: string): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  throw bad(field, Array.isArray(value) ? 'is given more than once' : 'must be a single value');
}

function intIn(value: string | undefined, field: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw bad(field, `must be an integer from ${min} to ${max}`);
  return n;
}

function dateParam(value: string, field: string): Date {
  const date = parseTimestamp(value);
  if (!date) throw bad(field, `must be ${TIMESTAMP_RULE}`);
  return date;
}

/** Microseconds matter: PostgreSQL keeps them, and a cursor that dropped them would skip or repeat rows. */
function encodeCursor(receivedAt: string, eventId: string): string {
  return Buffer.from(JSON.stringify([receivedAt, eventId])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    // The id goes to PostgreSQL as text: a NUL or a lone surrogate would be its encoding error (a 500), not a miss.
    if (parseTimestamp(at) && typeof id === 'string' && id.length <= 512 && findUnstorableJson(id, 1).length === 0) return [at as string, id];
  } catch {
    // fall through to the 422
  }
  throw bad('cursor', 'is not a cursor this API returned');
}
