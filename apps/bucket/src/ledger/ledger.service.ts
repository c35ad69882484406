import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { EntityManager } from 'typeorm';
import { canonicalJson, CanonicalJson } from '@pancha/contracts';
import { GroupCommit, outcomesPerList } from '@pancha/service-kit';
import { computeContentHash, sealEntry } from '../chain/chain-hash';
import type { ChainEntry, ChainFields } from '../chain/chain-hash';
import { CHAIN_LOCK_KEY, timestampSql } from './ledger-sql';
import { bucketMetrics } from './bucket-metrics';

/** An event to append; event_data is stored and hashed verbatim. */
export type NewEvent = Omit<ChainFields, 'seq' | 'created_at' | 'event_data'> & { event_data: Record<string, unknown> };

/**
 * What happened to one event: appended now, a replay of the recorded one (same requester, same
 * canonical content), or a conflict with it. seq/hash are those of the entry that holds the event_id.
 */
export interface AppendResult {
  status: 'appended' | 'replayed' | 'conflict';
  event_id: string;
  seq: number;
  hash: string;
}

interface RecordedRef {
  seq: number;
  hash: string;
  requester_id: string;
  content_hash: string;
}

const INSERT_COLUMNS = [
  'seq', 'event_id', 'requester_id', 'channel', 'event_type', 'trace_id', 'product', 'user_id',
  'event_data', 'content_hash', 'prev_hash', 'hash', 'created_at',
] as const;
const COLUMN_CASTS: Record<(typeof INSERT_COLUMNS)[number], string> = {
  seq: '::bigint', event_id: '::uuid', requester_id: '', channel: '', event_type: '', trace_id: '', product: '',
  user_id: '', event_data: '::jsonb', content_hash: '', prev_hash: '', hash: '', created_at: '::timestamptz',
};

// After the lock, one statement reads the head, the database clock (created_at is the database's time
// and never goes backwards along seq) and whichever of the event ids are already recorded.
const LOCKED_READ_SQL = `
  SELECT ${timestampSql('clock_timestamp()')} AS now, h.seq AS head_seq, h.hash AS head_hash,
         (SELECT coalesce(json_agg(json_build_object(
                   'event_id', r.event_id, 'seq', r.seq, 'hash', r.hash, 'requester_id', r.requester_id,
                   'content_hash', r.content_hash)), '[]'::json)
          FROM bucket_entries AS r WHERE r.event_id = ANY($1::uuid[])) AS recorded
  FROM (SELECT 1) AS one
  LEFT JOIN LATERAL (SELECT seq, hash FROM bucket_entries ORDER BY seq DESC LIMIT 1) AS h ON true`;

interface LockedRead {
  now: string;
  head_seq: string | null;
  head_hash: string | null;
  recorded: Array<RecordedRef & { event_id: string }>;
}

/** Most events one append transaction takes from the queue (a PRANA batch larger than this still goes whole). */
const MAX_GROUP_EVENTS = 500;

/** An event with its data canonicalised once: the content hash, the entry hash and the stored row all use that text. */
type PreparedEvent = NewEvent & { content_hash: string; event_json: CanonicalJson };

@Injectable()
export class LedgerService {
  /**
   * Appends waiting for the chain lock share the next commit, a request's events never split. A group that fails
   * for a reason other than the database being down is retried request by request, so one request's bad row
   * (a constraint, an index limit) fails that request alone, never the others it happened to share a commit with.
   */
  private readonly group = new GroupCommit<PreparedEvent[], AppendResult[]>(
    async (requests) => {
      const results = await this.appendLocked(requests.flat());
      bucketMetrics.appends.inc(results.filter((r) => r.status === 'appended').length);
      return outcomesPerList(requests, results);
    },
    { maxBatch: MAX_GROUP_EVENTS, weight: (events) => events.length },
  );

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Appends waiting for the next commit (not those of the commit running now). */
  get queued(): number {
    return this.group.queued;
  }

  /**
   * Appends the events in order, all or nothing, deduplicating by event_id. Callers arriving while an
   * append transaction runs are grouped into the next one (group commit): every append holds the global
   * chain lock and waits for its fsync, so one transaction per request caps the store at one commit's
   * latency per event (≈110 appends/s here), while a group pays that latency once.
   */
  async append(events: NewEvent[]): Promise<AppendResult[]> {
    const prepared: PreparedEvent[] = events.map((event) => {
      const event_json = CanonicalJson.of(event.event_data);
      return { ...event, event_id: event.event_id.toLowerCase(), event_json, content_hash: computeContentHash(event_json) };
    });
    const ids = [...new Set(prepared.map((e) => e.event_id))];

    // Retries of events already recorded (the outbox's normal case) are answered without the lock.
    const known = await this.findRecorded(this.dataSource.manager, ids);
    if (ids.every((id) => known.has(id))) return prepared.map((e) => compare(e, known.get(e.event_id) as RecordedRef));
    return this.group.submit(prepared);
  }

  private appendLocked(prepared: PreparedEvent[]): Promise<AppendResult[]> {
    const ids = [...new Set(prepared.map((e) => e.event_id))];
    return this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [CHAIN_LOCK_KEY]);
      const [head] = (await manager.query(LOCKED_READ_SQL, [ids])) as LockedRead[];
      const recorded = new Map<string, RecordedRef>(head.recorded.map((r) => [r.event_id, { ...r, seq: Number(r.seq) }]));
      let seq = head.head_seq === null ? 0 : Number(head.head_seq);
      let prevHash = head.head_hash ?? '0'.repeat(64);

      const results: AppendResult[] = [];
      const rows: ChainEntry[] = [];
      for (const event of prepared) {
        const prior = recorded.get(event.event_id);
        if (prior) {
          results.push(compare(event, prior));
          continue;
        }
        seq += 1;
        const entry = sealEntry(prevHash, {
          seq,
          event_id: event.event_id,
          requester_id: event.requester_id,
          channel: event.channel,
          event_type: event.event_type,
          trace_id: event.trace_id,
          product: event.product,
          user_id: event.user_id,
          event_data: event.event_json,
          created_at: head.now,
        });
        rows.push(entry);
        recorded.set(event.event_id, { seq, hash: entry.hash, requester_id: entry.requester_id, content_hash: entry.content_hash });
        results.push({ status: 'appended', event_id: event.event_id, seq, hash: entry.hash });
        prevHash = entry.hash;
      }
      if (rows.length) await insertRows(manager, rows);
      return results;
    });
  }

  private async findRecorded(manager: EntityManager, ids: string[]): Promise<Map<string, RecordedRef>> {
    const rows = (await manager.query(
      'SELECT event_id, seq, hash, requester_id, content_hash FROM bucket_entries WHERE event_id = ANY($1::uuid[])',
      [ids],
    )) as Array<{ event_id: string; seq: string; hash: string; requester_id: string; content_hash: string }>;
    return new Map(rows.map((r) => [r.event_id, { ...r, seq: Number(r.seq) }]));
  }
}

function compare(event: { event_id: string; requester_id: string; content_hash: string }, prior: RecordedRef): AppendResult {
  const same = prior.requester_id === event.requester_id && prior.content_hash === event.content_hash;
  return { status: same ? 'replayed' : 'conflict', event_id: event.event_id, seq: prior.seq, hash: prior.hash };
}

async function insertRows(manager: EntityManager, rows: ChainEntry[]): Promise<void> {
  const params: unknown[] = [];
  const tuples = rows.map((row) => {
    const placeholders = INSERT_COLUMNS.map((column) => {
      const value = row[column];
      // event_data is a CanonicalJson here (its text as is); jsonb keeps the same document whatever the key order.
      params.push(column === 'event_data' ? canonicalJson(value) : value);
      return `$${params.length}${COLUMN_CASTS[column]}`;
    });
    return `(${placeholders.join(', ')})`;
  });
  await manager.query(`INSERT INTO bucket_entries (${INSERT_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`, params);
}
