import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { GENESIS_HASH, PRANA_PACKET_EVENT_TYPE } from '@pancha/contracts';
import type { BucketEntry } from '@pancha/contracts';
import { DataSource } from 'typeorm';
import type { EntityManager } from 'typeorm';
import type { ProductScope } from '../common/product-scope';
import { ENTRY_COLUMNS_SQL, timestampSql, toBucketEntry } from './ledger-sql';
import type { EntryRow } from './ledger-sql';

/** The newest entry (seq 0 and the genesis hash when the chain is empty) and the database clock. */
export interface ChainHead {
  size: number;
  head_hash: string;
  now: string;
}

export interface EntriesFilter {
  afterSeq: number;
  limit: number;
  traceId?: string;
  product?: string;
  userId?: string;
}

export interface EntryGroups {
  visible: number;
  by_event_type: Record<string, number>;
  by_channel: Record<string, number>;
  by_requester: Record<string, number>;
}

/**
 * Every query that reads bucket_entries (LedgerService, the only writer, keeps its own locked reads). One
 * place knows the columns, the microsecond created_at rendering the hash covers, and the product scope
 * condition, so the events, PRANA and audit features cannot drift apart in how they read the chain.
 */
@Injectable()
export class LedgerReader {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async head(manager: EntityManager = this.dataSource.manager): Promise<ChainHead> {
    const [row] = (await manager.query(
      `SELECT ${timestampSql('clock_timestamp()')} AS now, h.seq, h.hash
       FROM (SELECT 1) AS one
       LEFT JOIN LATERAL (SELECT seq, hash FROM bucket_entries ORDER BY seq DESC LIMIT 1) AS h ON true`,
    )) as Array<{ now: string; seq: string | null; hash: string | null }>;
    return { size: row.seq === null ? 0 : Number(row.seq), head_hash: row.hash ?? GENESIS_HASH, now: row.now };
  }

  /** The stored hash of the entry at `seq`, or undefined when there is none. */
  async hashAt(seq: number, manager: EntityManager = this.dataSource.manager): Promise<string | undefined> {
    const [row] = (await manager.query('SELECT hash FROM bucket_entries WHERE seq = $1', [seq])) as Array<{ hash: string }>;
    return row?.hash;
  }

  /**
   * The first seq in 1..`throughSeq` with no entry, or undefined when all are there. A count on the primary key
   * answers the common case; only a chain with a hole is scanned for where it is.
   */
  async firstMissingThrough(throughSeq: number, manager: EntityManager = this.dataSource.manager): Promise<number | undefined> {
    const [{ n }] = (await manager.query('SELECT count(*)::bigint AS n FROM bucket_entries WHERE seq BETWEEN 1 AND $1', [throughSeq])) as Array<{ n: string }>;
    if (Number(n) === throughSeq) return undefined;
    const [hole] = (await manager.query(
      `SELECT expected FROM (SELECT seq, row_number() OVER (ORDER BY seq) AS expected FROM bucket_entries WHERE seq BETWEEN 1 AND $1) t
       WHERE seq <> expected ORDER BY seq LIMIT 1`,
      [throughSeq],
    )) as Array<{ expected: string }>;
    return hole ? Number(hole.expected) : Number(n) + 1;
  }

  /** Entries with seq > afterSeq in seq order, at most `limit` (the verifier's batches, unscoped). */
  async batchAfter(afterSeq: number, limit: number, manager: EntityManager = this.dataSource.manager): Promise<BucketEntry[]> {
    const rows = (await manager.query(`SELECT ${ENTRY_COLUMNS_SQL} FROM bucket_entries WHERE seq > $1 ORDER BY seq LIMIT $2`, [
      afterSeq,
      limit,
    ])) as EntryRow[];
    return rows.map(toBucketEntry);
  }

  /** One page in seq order within the caller's products; `limit + 1` rows are read to know whether more follow. */
  async page(filter: EntriesFilter, scope: ProductScope): Promise<{ events: BucketEntry[]; more: boolean }> {
    const params: unknown[] = [filter.afterSeq];
    const where = ['seq > $1'];
    if (filter.traceId !== undefined) {
      params.push(filter.traceId);
      where.push(`trace_id = $${params.length}`);
    }
    if (filter.product !== undefined) {
      params.push(filter.product);
      where.push(`product = $${params.length}`);
    }
    if (filter.userId !== undefined) {
      params.push(filter.userId);
      where.push(`user_id = $${params.length}`);
    }
    const scoped = scope.sqlCondition(params);
    if (scoped) where.push(scoped);
    params.push(filter.limit + 1);
    const rows = (await this.dataSource.query(
      `SELECT ${ENTRY_COLUMNS_SQL} FROM bucket_entries WHERE ${where.join(' AND ')} ORDER BY seq LIMIT $${params.length}`,
      params,
    )) as EntryRow[];
    return { events: rows.slice(0, filter.limit).map(toBucketEntry), more: rows.length > filter.limit };
  }

  /** Counts of the entries the scope sees, by event type, channel and requester. */
  async groups(scope: ProductScope): Promise<EntryGroups> {
    const params: unknown[] = [];
    const scoped = scope.sqlCondition(params);
    // event_type, channel and requester_id are NOT NULL, so a NULL in a grouping column means "not grouped by it".
    const groups = (await this.dataSource.query(
      `SELECT event_type, channel, requester_id, count(*)::int AS n
       FROM bucket_entries ${scoped ? `WHERE ${scoped}` : ''}
       GROUP BY GROUPING SETS ((event_type), (channel), (requester_id), ())`,
      params,
    )) as Array<{ event_type: string | null; channel: string | null; requester_id: string | null; n: number }>;
    const out: EntryGroups = { visible: 0, by_event_type: {}, by_channel: {}, by_requester: {} };
    for (const g of groups) {
      if (g.event_type !== null) out.by_event_type[g.event_type] = g.n;
      else if (g.channel !== null) out.by_channel[g.channel] = g.n;
      else if (g.requester_id !== null) out.by_requester[g.requester_id] = g.n;
      else out.visible = g.n;
    }
    return out;
  }

  /** The latest entries whose user_id or event_data.agent_id is the agent, newest first. */
  async byAgent(agentId: string, limit: number, scope: ProductScope): Promise<BucketEntry[]> {
    const params: unknown[] = [agentId];
    const where = [`(user_id = $1 OR event_data ->> 'agent_id' = $1)`];
    const scoped = scope.sqlCondition(params);
    if (scoped) where.push(scoped);
    params.push(limit);
    const rows = (await this.dataSource.query(
      `SELECT ${ENTRY_COLUMNS_SQL} FROM bucket_entries WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    )) as EntryRow[];
    return rows.map(toBucketEntry);
  }

  /** A user's PRANA packets: counts by state over all of them, and the latest `limit` entries, newest first. */
  async pranaPackets(userId: string, limit: number, scope: ProductScope): Promise<{ counts: Array<{ state: string; n: number }>; latest: BucketEntry[] }> {
    const params: unknown[] = [userId, PRANA_PACKET_EVENT_TYPE];
    const where = [`user_id = $1`, `event_type = $2`, `channel = 'prana'`];
    const scoped = scope.sqlCondition(params);
    if (scoped) where.push(scoped);
    const counts = (await this.dataSource.query(
      `SELECT event_data ->> 'state' AS state, count(*)::int AS n FROM bucket_entries WHERE ${where.join(' AND ')} GROUP BY 1`,
      params,
    )) as Array<{ state: string; n: number }>;
    params.push(limit);
    const rows = (await this.dataSource.query(
      `SELECT ${ENTRY_COLUMNS_SQL} FROM bucket_entries WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    )) as EntryRow[];
    return { counts, latest: rows.map(toBucketEntry) };
  }
}
