import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DEFAULT_EVENTS_PAGE, DEFAULT_READ_CONTEXT_LIMIT, GENESIS_HASH } from '@pancha/contracts';
import type {
  BucketEventData,
  BucketStats,
  BucketWriteChannel,
  EventsPage,
  EventsQueryDto,
  ReadContextResult,
  WriteEventRequestDto,
  WriteEventResult,
} from '@pancha/contracts';
import { assertBodyRequester } from '@pancha/governance';
import type { VerifiedRequester } from '@pancha/governance';
import { currentTraceId } from '@pancha/trace-context';
import { DataSource } from 'typeorm';
import { ProductScope } from '../common/product-scope';
import { ENTRY_COLUMNS_SQL, toBucketEntry } from '../ledger/ledger-sql';
import type { EntryRow } from '../ledger/ledger-sql';
import { EventIdConflictException } from '../ledger/ledger.exception';
import { LedgerService } from '../ledger/ledger.service';

@Injectable()
export class EventsService {
  constructor(
    private readonly ledger: LedgerService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /**
   * `body` is the validated request; `eventData` the body's event_data exactly as sent (validation
   * strips members it does not know, but every member is part of the record).
   */
  async write(
    channel: BucketWriteChannel,
    body: WriteEventRequestDto,
    eventData: BucketEventData,
    requester: VerifiedRequester,
  ): Promise<WriteEventResult> {
    assertBodyRequester(body.requester_id, requester);
    const { event_id, event_type, trace_id, product, user_id } = body.event_data;
    ProductScope.of(requester).assertAllows(product);
    const [result] = await this.ledger.append([
      {
        event_id,
        requester_id: body.requester_id,
        channel,
        event_type,
        // The producer's trace id when it sent one (a relayed outbox hop), else this request's own trace.
        trace_id: trace_id ?? currentTraceId() ?? null,
        product: product ?? null,
        user_id: user_id ?? null,
        event_data: eventData,
      },
    ]);
    if (result.status === 'conflict') throw new EventIdConflictException(result.event_id, result.seq);
    return { success: true, event_id: result.event_id, seq: result.seq, hash: result.hash, replayed: result.status === 'replayed' };
  }

  async events(query: EventsQueryDto, requester: VerifiedRequester): Promise<EventsPage> {
    const scope = ProductScope.of(requester);
    scope.assertAllows(query.product);
    const limit = query.limit ?? DEFAULT_EVENTS_PAGE;
    const params: unknown[] = [query.after_seq ?? 0];
    const where = ['seq > $1'];
    if (query.trace_id !== undefined) {
      params.push(query.trace_id);
      where.push(`trace_id = $${params.length}`);
    }
    if (query.product !== undefined) {
      params.push(query.product);
      where.push(`product = $${params.length}`);
    }
    const scoped = scope.sqlCondition(params);
    if (scoped) where.push(scoped);
    params.push(limit + 1);
    const rows = (await this.dataSource.query(
      `SELECT ${ENTRY_COLUMNS_SQL} FROM bucket_entries WHERE ${where.join(' AND ')} ORDER BY seq LIMIT $${params.length}`,
      params,
    )) as EntryRow[];
    const events = rows.slice(0, limit).map(toBucketEntry);
    return { events, next_after_seq: rows.length > limit ? events[events.length - 1].seq : null };
  }

  async stats(requester: VerifiedRequester): Promise<BucketStats> {
    const params: unknown[] = [];
    const scoped = ProductScope.of(requester).sqlCondition(params);
    // event_type, channel and requester_id are NOT NULL, so a NULL in a grouping column means "not grouped by it".
    const groups = (await this.dataSource.query(
      `SELECT event_type, channel, requester_id, count(*)::int AS n
       FROM bucket_entries ${scoped ? `WHERE ${scoped}` : ''}
       GROUP BY GROUPING SETS ((event_type), (channel), (requester_id), ())`,
      params,
    )) as Array<{ event_type: string | null; channel: string | null; requester_id: string | null; n: number }>;
    const [head] = (await this.dataSource.query('SELECT seq, hash FROM bucket_entries ORDER BY seq DESC LIMIT 1')) as Array<{
      seq: string;
      hash: string;
    }>;
    const stats: BucketStats = {
      size: head ? Number(head.seq) : 0,
      head_hash: head?.hash ?? GENESIS_HASH,
      visible: 0,
      by_event_type: {},
      by_channel: {},
      by_requester: {},
    };
    for (const g of groups) {
      if (g.event_type !== null) stats.by_event_type[g.event_type] = g.n;
      else if (g.channel !== null) stats.by_channel[g.channel] = g.n;
      else if (g.requester_id !== null) stats.by_requester[g.requester_id] = g.n;
      else stats.visible = g.n;
    }
    return stats;
  }

  async readContext(agentId: string, limit: number | undefined, requester: VerifiedRequester): Promise<ReadContextResult> {
    const params: unknown[] = [agentId];
    const where = [`(user_id = $1 OR event_data ->> 'agent_id' = $1)`];
    const scoped = ProductScope.of(requester).sqlCondition(params);
    if (scoped) where.push(scoped);
    params.push(limit ?? DEFAULT_READ_CONTEXT_LIMIT);
    const rows = (await this.dataSource.query(
      `SELECT ${ENTRY_COLUMNS_SQL} FROM bucket_entries WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    )) as EntryRow[];
    return { agent_id: agentId, events: rows.map(toBucketEntry) };
  }
}
