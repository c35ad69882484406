import { Injectable } from '@nestjs/common';
import { PRANA_FOCUS_STATES, PRANA_PACKET_DETAIL_FIELDS, PRANA_PACKET_EVENT_TYPE } from '@pancha/contracts';
import type { PranaFocusState, PranaIngestResult, PranaPacketDto, PranaPacketView, PranaUserPackets } from '@pancha/contracts';
import type { FieldError } from '@pancha/contracts';
import { impliedProduct, PolicyService, productRequired } from '@pancha/governance';
import type { VerifiedRequester } from '@pancha/governance';
import { validationException } from '@pancha/service-kit';
import { currentTraceId } from '@pancha/trace-context';
import { ProductScope } from '../common/product-scope';
import { LedgerReader } from '../ledger/ledger-reader';
import { ChannelForbiddenException, PacketConflictException } from '../ledger/ledger.exception';
import { LedgerService } from '../ledger/ledger.service';

const DEFAULT_PACKETS = 500;

/** The named fields of `from` that are present (a DTO instance's raw_signals becomes a plain object). */
function pick<T extends object, K extends keyof T>(from: T, fields: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const f of fields) if (from[f] !== undefined) out[f] = (from[f] !== null && typeof from[f] === 'object' ? { ...from[f] } : from[f]) as T[K];
  return out;
}

@Injectable()
export class PranaService {
  constructor(
    private readonly ledger: LedgerService,
    private readonly reader: LedgerReader,
    private readonly policy: PolicyService,
  ) {}

  /**
   * Every packet becomes one `prana_packet` entry, all in one transaction; a known event_id is a duplicate.
   * A batch that stores nothing new because packets reused event_ids with other content is a 409 naming them (with
   * the recorded entry's seq only when the caller's products name that entry's product: ids cannot be probed).
   * A packet naming no product, from a credential narrowed to exactly one, is that product's (stored in the entry and
   * its event_data, so the writer reads it back); narrowed to several, a packet must name one: a 422 naming each
   * such `packets.<i>.product`, and nothing of the batch is stored (as a packet of a product not allowed refuses it).
   */
  async ingest(packets: PranaPacketDto[], requester: VerifiedRequester): Promise<PranaIngestResult> {
    // Focus telemetry is the prana channel's: another writer must not speak for a user's attention.
    if (!this.policy.mayWriteChannel('bucket', requester.id, 'prana')) throw new ChannelForbiddenException(requester.id, 'prana');
    const scope = ProductScope.of(requester);
    for (const packet of packets) scope.assertAllows(packet.product);
    const products = impliedProducts(packets, requester);
    const traceId = currentTraceId() ?? null;
    const results = await this.ledger.append(
      packets.map((p, i) => ({
        event_id: p.event_id,
        requester_id: requester.id,
        channel: 'prana' as const,
        event_type: PRANA_PACKET_EVENT_TYPE,
        trace_id: traceId,
        product: products[i] ?? null,
        user_id: p.user_id,
        event_data: {
          event_id: p.event_id,
          event_type: PRANA_PACKET_EVENT_TYPE,
          user_id: p.user_id,
          session_id: p.session_id,
          state: p.state,
          timestamp: p.timestamp,
          duration_ms: p.duration_ms,
          product: products[i],
          // The original packet's fields as sent (validated and bounded by PranaPacketDto); absent ones stay absent.
          ...pick(p, PRANA_PACKET_DETAIL_FIELDS),
        },
      })),
    );
    const count = (status: string) => results.filter((r) => r.status === status).length;
    const result: PranaIngestResult = {
      accepted: count('appended'),
      duplicates: count('replayed'),
      conflicts: count('conflict'),
      // A conflict's seq is told only to a caller whose products name that entry's product (ids cannot be probed).
      entries: results.map((r) => ({
        event_id: r.event_id,
        ...(r.status !== 'conflict' || scope.allows(r.product) ? { seq: r.seq } : {}),
        duplicate: r.status === 'replayed',
        conflict: r.status === 'conflict',
      })),
    };
    if (result.accepted === 0 && result.conflicts > 0) {
      throw new PacketConflictException(
        results.flatMap((r, i) =>
          r.status === 'conflict'
            ? [{ field: `packets.${i}.event_id`, messages: [scope.allows(r.product) ? `event_id ${r.event_id} is already recorded (seq ${r.seq}) with other content` : `event_id ${r.event_id} is already recorded`] }]
            : [],
        ),
      );
    }
    return result;
  }

  async user(userId: string, limit: number | undefined, requester: VerifiedRequester): Promise<PranaUserPackets> {
    const { counts: counted, latest } = await this.reader.pranaPackets(userId, limit ?? DEFAULT_PACKETS, ProductScope.of(requester));
    const counts = Object.fromEntries(PRANA_FOCUS_STATES.map((s) => [s, 0])) as Record<PranaFocusState, number>;
    for (const c of counted) if (c.state in counts) counts[c.state as PranaFocusState] = c.n;
    const packets = latest.reverse().map((entry): PranaPacketView => {
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
        ...pick(data, PRANA_PACKET_DETAIL_FIELDS),
        created_at: entry.created_at,
      };
    });
    return { user_id: userId, total: counted.reduce((sum, c) => sum + c.n, 0), counts, packets };
  }
}

/** Each packet's product (impliedProduct); a 422 naming every packet that must name one and does not. */
function impliedProducts(packets: readonly PranaPacketDto[], requester: VerifiedRequester): (string | null | undefined)[] {
  const unnamed: FieldError[] = [];
  const products = packets.map((packet, i) => {
    // `product: null` (validation lets it through) names no product, as an absent one does.
    const implied = impliedProduct(requester, packet.product ?? undefined);
    // An unrestricted writer's packet keeps its product as sent (absent or null).
    if (!('ambiguous' in implied)) return implied.product ?? packet.product;
    unnamed.push({ field: `packets.${i}.product`, messages: [productRequired(requester.id, implied.ambiguous)] });
    return undefined;
  });
  if (unnamed.length > 0) throw validationException(unnamed);
  return products;
}
