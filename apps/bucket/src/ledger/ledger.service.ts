import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { EntityManager } from 'typeorm';
import { canonicalJson, CanonicalJson } from '@pancha/contracts';
import { GroupCommit, outcomesPerList } from '@pancha/service-kit';
import { computeContentHash, sealEntry } from '../chain/chain-hash';
import { derivedEventIdOf } from '../chain/derived-event-id';
import type { ChainEntry, ChainFields } from '../chain/chain-hash';
import { CHAIN_LOCK_KEY, timestampSql } from './ledger-sql';
import { bucketMetrics } from './bucket-metrics';

/**
 * An event to append; event_data is stored and hashed verbatim. `derived`: the producer sent no event_id and
 * event_id is the first derived candidate (deriveEventId); the ledger may store the event under a later candidate
 * when another entry holds that one (the AppendResult says which).
 * `productImplied`: the writer named no product and `product` is the one its credential is narrowed to
 * (impliedProduct). Such a write is the same event as an entry the release before that rule stored with no product.
 */
export type NewEvent = Omit<ChainFields, 'seq' | 'created_at' | 'event_data'> & { event_data: Record<string, unknown>; derived?: boolean; productImplied?: boolean };

/**
 * What happened to one event: appended now, a replay of the recorded one (same requester, same
 * canonical content, same product), or a conflict with it. seq/hash/product are those of the entry that holds the
 * event_id: a caller answering a conflict tells its seq only to a requester whose products name that entry's product.
 */
export interface AppendResult {
  status: 'appended' | 'replayed' | 'conflict';
  event_id: string;
  seq: number;
  hash: string;
  product: string | null;
}

interface RecordedRef {
  seq: number;
  hash: string;
  requester_id: string;
  content_hash: string;
  product: string | null;
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
                   'content_hash', r.content_hash, 'product', r.product)), '[]'::json)
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

/** Further derived candidates looked up at once when the first is held by another entry (one query per window). */
const DERIVED_WINDOW = 8;

/** Entries by event id, as far as they were looked up (`checked`: ids looked up, recorded or not). */
interface KnownIds {
  refs: Map<string, RecordedRef>;
  checked: Set<string>;
}

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
      // One spelling of the id, before anything is hashed: an id sent in upper case and its retry in lower case
      // (or the other way round) are the same event, with the same content hash.
      const canonical = withCanonicalEventId(event);
      const event_json = CanonicalJson.of(canonical.event_data);
      return { ...canonical, event_json, content_hash: computeContentHash(event_json) };
    });

    // Retries of events already recorded (the outbox's normal case) are answered without the lock.
    const manager = this.dataSource.manager;
    const known = await this.lookUp(manager, prepared);
    const ids: string[] = [];
    for (const event of prepared) ids.push(event.derived ? await this.idOfDerived(manager, event, known) : event.event_id);
    if (ids.every((id) => known.refs.has(id))) {
      return this.settleConflicts(manager, prepared, prepared.map((e, i) => compare({ ...e, event_id: ids[i] }, known.refs.get(ids[i]) as RecordedRef)));
    }
    return this.group.submit(prepared);
  }

  /** The entries holding the events' ids (a derived event's is its first candidate: further ones only when needed). */
  private async lookUp(manager: EntityManager, prepared: PreparedEvent[]): Promise<KnownIds> {
    const known: KnownIds = { refs: new Map(), checked: new Set() };
    await this.fetchInto(manager, known, prepared.map((e) => e.event_id));
    return known;
  }

  /**
   * The id a derived event is stored under: its first candidate that is free or already holds this very event
   * (same requester, same content: the replay). A candidate another entry holds — another requester wrote first
   * under an id it could compute, or this requester chose it as an explicit id — is passed over, never a conflict,
   * so an original write is never refused or mistaken for someone else's. Deterministic while entries never change:
   * a retry reaches the same candidate. Ends: only as many candidates can be held as there are entries.
   */
  private async idOfDerived(manager: EntityManager, event: PreparedEvent, known: KnownIds): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const id = attempt === 0 ? event.event_id : derivedEventIdOf(event.requester_id, event.event_json.text, attempt);
      if (!known.checked.has(id)) await this.fetchInto(manager, known, [id, ...derivedWindow(event, attempt + 1)]);
      const ref = known.refs.get(id);
      if (!ref || sameEvent(ref, event)) return id;
    }
  }

  private async fetchInto(manager: EntityManager, known: KnownIds, ids: string[]): Promise<void> {
    const unique = [...new Set(ids)].filter((id) => !known.checked.has(id));
    if (unique.length === 0) return;
    for (const [id, ref] of await this.findRecorded(manager, unique)) known.refs.set(id, ref);
    for (const id of unique) known.checked.add(id);
  }

  /**
   * A conflict may be an entry appended before event ids were canonicalised: its event_data holds the id as that
   * producer spelled it (upper case), so its content hash differs from the canonical retry's. Such an entry is
   * compared by its content with the id canonicalised, and a match is the replay it is. Entries never change: the
   * chain still hashes what was stored.
   */
  private async settleConflicts(manager: EntityManager, prepared: PreparedEvent[], results: AppendResult[]): Promise<AppendResult[]> {
    const suspects = results.flatMap((r, i) => (r.status === 'conflict' ? [i] : []));
    if (suspects.length === 0) return results;
    const rows = (await manager.query('SELECT seq, requester_id, product, event_data FROM bucket_entries WHERE seq = ANY($1::bigint[])', [
      suspects.map((i) => results[i].seq),
    ])) as Array<{ seq: string; requester_id: string; product: string | null; event_data: Record<string, unknown> }>;
    const bySeq = new Map(rows.map((r) => [Number(r.seq), r]));
    return results.map((result, i) => {
      const prior = bySeq.get(result.seq);
      if (result.status !== 'conflict' || !prior || prior.requester_id !== prepared[i].requester_id || !sameProduct(prior.product, prepared[i])) return result;
      const priorHash = computeContentHash(withCanonicalEventId({ event_id: result.event_id, event_data: prior.event_data }).event_data);
      return priorHash === prepared[i].content_hash ? { ...result, status: 'replayed' } : result;
    });
  }

  private appendLocked(prepared: PreparedEvent[]): Promise<AppendResult[]> {
    const ids = [...new Set(prepared.map((e) => e.event_id))];
    return this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [CHAIN_LOCK_KEY]);
      const [head] = (await manager.query(LOCKED_READ_SQL, [ids])) as LockedRead[];
      // Under the lock: what was looked up stays true but for what this transaction appends (added as it goes).
      const known: KnownIds = { refs: new Map(head.recorded.map((r) => [r.event_id, { ...r, seq: Number(r.seq) }])), checked: new Set(ids) };
      const recorded = known.refs;
      let seq = head.head_seq === null ? 0 : Number(head.head_seq);
      let prevHash = head.head_hash ?? '0'.repeat(64);

      const results: AppendResult[] = [];
      const rows: ChainEntry[] = [];
      for (const sent of prepared) {
        const event = sent.derived ? { ...sent, event_id: await this.idOfDerived(manager, sent, known) } : sent;
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
        recorded.set(event.event_id, { seq, hash: entry.hash, requester_id: entry.requester_id, content_hash: entry.content_hash, product: entry.product });
        results.push({ status: 'appended', event_id: event.event_id, seq, hash: entry.hash, product: entry.product });
        prevHash = entry.hash;
      }
      if (rows.length) await insertRows(manager, rows);
      return this.settleConflicts(manager, prepared, results);
    });
  }

  private async findRecorded(manager: EntityManager, ids: string[]): Promise<Map<string, RecordedRef>> {
    const rows = (await manager.query(
      'SELECT event_id, seq, hash, requester_id, content_hash, product FROM bucket_entries WHERE event_id = ANY($1::uuid[])',
      [ids],
    )) as Array<{ event_id: string; seq: string; hash: string; requester_id: string; content_hash: string; product: string | null }>;
    return new Map(rows.map((r) => [r.event_id, { ...r, seq: Number(r.seq) }]));
  }
}

/**
 * The event with its id in lower case, the one spelling a uuid is stored, compared and hashed in; event_data's
 * event_id, when it is that id spelled otherwise, is the same id and is rewritten with it (other members untouched).
 */
export function withCanonicalEventId<T extends { event_id: string; event_data: Record<string, unknown> }>(event: T): T {
  const event_id = event.event_id.toLowerCase();
  const sent = event.event_data.event_id;
  const event_data = typeof sent === 'string' && sent !== event_id && sent.toLowerCase() === event_id ? { ...event.event_data, event_id } : event.event_data;
  return { ...event, event_id, event_data };
}

/** The event's derived candidates from `from` on, one window of them (less the first, which the caller has). */
function derivedWindow(event: PreparedEvent, from: number): string[] {
  return Array.from({ length: DERIVED_WINDOW - 1 }, (_, k) => derivedEventIdOf(event.requester_id, event.event_json.text, from + k));
}

type Comparable = { requester_id: string; content_hash: string; product: string | null; productImplied?: boolean };

/**
 * Whether the recorded entry is this very event: same requester, same content and same product. The product is not
 * always part of the content: a writer narrowed to one product that names none writes for that product (impliedProduct),
 * so the same content sent under another credential is another product's event, not a replay of this one.
 */
function sameEvent(prior: RecordedRef, event: Comparable): boolean {
  return prior.requester_id === event.requester_id && prior.content_hash === event.content_hash && sameProduct(prior.product, event);
}

/**
 * An entry with no product is also the same as a write whose product was implied: the release before impliedProduct
 * stored that writer's product-less write with none, and its retry (event_id or derived) must replay that entry, not
 * be refused (409) nor appended a second time.
 */
function sameProduct(prior: string | null, event: Pick<Comparable, 'product' | 'productImplied'>): boolean {
  return prior === event.product || (prior === null && event.productImplied === true);
}

function compare(event: Comparable & { event_id: string }, prior: RecordedRef): AppendResult {
  return { status: sameEvent(prior, event) ? 'replayed' : 'conflict', event_id: event.event_id, seq: prior.seq, hash: prior.hash, product: prior.product };
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
