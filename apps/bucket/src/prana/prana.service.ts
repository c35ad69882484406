import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { PRANA_FOCUS_STATES, PRANA_PACKET_EVENT_TYPE } from '@pancha/contracts';
import type { PranaFocusState, PranaIngestResult, PranaPacketDto, PranaPacketView, PranaUserPackets } from '@pancha/contracts';
import type { VerifiedRequester } from '@pancha/governance';
import { currentTraceId } from '@pancha/trace-context';
import { DataSource } from 'typeorm';
import { ProductScope } from '../common/product-scope';
import { ENTRY_COLUMNS_SQL, toBucketEntry } from '../ledger/ledger-sql';
import type { EntryRow } from '../ledger/ledger-sql';
import { LedgerService } from '../ledger/ledger.service';

const DEFAULT_PACKETS = 500;

@Injectable()
export class PranaService {
  constructor(
    private readonly ledger: LedgerService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /** Every packet becomes one `prana_packet` entry, all in one transaction; a known event_id is a duplicate. */
  async ingest(packets: PranaPacketDto[], requester: VerifiedRequester): Promise<PranaIngestResult> {
    const scope = ProductScope.of(requester);
    for (const packet of packets) scope.assertAllows(packet.product);
    const traceId = currentTraceId() ?? null;
    const results = await this.ledger.append(
      packets.map((p) => ({
        event_id: p.event_id,
        requester_id: requester.id,
        channel: 'prana' as const,
        event_type: PRANA_PACKET_EVENT_TYPE,
        trace_id: traceId,
        product: p.product ?? null,
        user_id: p.user_id,
        event_data: {
          event_id: p.event_id,
          event_type: PRANA_PACKET_EVENT_TYPE,
          user_id: p.user_id,
          session_id: p.session_id,
          state: p.state,
          timestamp: p.timestamp,
          duration_ms: p.duration_ms,
          product: p.product,
        },
      })),
    );
    const count = (status: string) => results.filter((r) => r.status === status).length;
    return {
      accepted: count('appended'),
      duplicates: count('replayed'),
      conflicts: count('conflict'),
      entries: results.map((r) => ({
        event_id: r.event_id,
        seq: r.seq,
        duplicate: r.status === 'replayed',
        conflict: r.status === 'conflict',
      })),
    };
  }

  async user(userId: string, limit: number | undefined, requester: VerifiedRequester): Promise<PranaUserPackets> {
    const params: unknown[] = [userId, PRANA_PACKET_EVENT_TYPE];
    const where = [`user_id = $1`, `event_type = $2`, `channel = 'prana'`];
    const scoped = ProductScope.of(requester).sqlCondition(params);
    if (scoped) where.push(scoped);
    const counted = (await this.dataSource.query(
      `SELECT event_data ->> 'state' AS state, count(*)::int AS n FROM bucket_entries WHERE ${where.join(' AND ')} GROUP BY 1`,
      params,
    )) as Array<{ state: string; n: number }>;
    params.push(limit ?? DEFAULT_PACKETS);
    const rows = (await this.dataSource.query(
      `SELECT ${ENTRY_COLUMNS_SQL} FROM bucket_entries WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $${params.length}`,
      params,
    )) as EntryRow[];

    const counts = Object.fromEntries(PRANA_FOCUS_STATES.map((s) => [s, 0])) as Record<PranaFocusState, number>;
    for (const c of counted) if (c.state in counts) counts[c.state as PranaFocusState] = c.n;
    const packets = rows.reverse().map((row): PranaPacketView => {
      const entry = toBucketEntry(row);
      const data = entry.event_data as unknown as PranaPacketView;
      return {
        seq: entry.seq,
        event_id: entry.event_id,
        user_id: data.user_id,
        ...(data.session_id !== undefined ? { session_id: data.session_id } : {}),
        state: data.state,
        timestamp: data.timestamp,
        ...(data.duration_ms !== undefined ? { duration_ms: data.duration_ms } : {}),
        ...(data.product !== undefined ? { product: data.product } : {}),
        created_at: entry.created_at,
      };
    });
    return { user_id: userId, total: counted.reduce((sum, c) => sum + c.n, 0), counts, packets };
  }
}
