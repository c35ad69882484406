import { Injectable } from '@nestjs/common';
import { DEFAULT_EVENTS_PAGE, DEFAULT_READ_CONTEXT_LIMIT } from '@pancha/contracts';
import type {
  BucketStats,
  BucketWriteChannel,
  EventsPage,
  EventsQueryDto,
  ReadContextResult,
  WriteEventData,
  WriteEventRequestDto,
  WriteEventResult,
} from '@pancha/contracts';
import { assertBodyRequester, PolicyService } from '@pancha/governance';
import type { VerifiedRequester } from '@pancha/governance';
import { currentTraceId } from '@pancha/trace-context';
import { deriveEventId } from '../chain/derived-event-id';
import { ProductScope } from '../common/product-scope';
import { LedgerReader } from '../ledger/ledger-reader';
import { ChannelForbiddenException, EventIdConflictException } from '../ledger/ledger.exception';
import { LedgerService } from '../ledger/ledger.service';

@Injectable()
export class EventsService {
  constructor(
    private readonly ledger: LedgerService,
    private readonly reader: LedgerReader,
    private readonly policy: PolicyService,
  ) {}

  /**
   * `body` is the validated request; `eventData` the body's event_data exactly as sent (validation
   * strips members it does not know, but every member is part of the record).
   */
  async write(
    channel: BucketWriteChannel,
    body: WriteEventRequestDto,
    eventData: WriteEventData,
    requester: VerifiedRequester,
  ): Promise<WriteEventResult> {
    assertBodyRequester(body.requester_id, requester);
    // A channel is a timeline its readers trust (Core's task view): only the requester the policy names writes it.
    if (!this.policy.mayWriteChannel('bucket', requester.id, channel)) throw new ChannelForbiddenException(requester.id, channel);
    const { event_type, trace_id, product, user_id } = body.event_data;
    ProductScope.of(requester).assertAllows(product);
    // Without an event_id (the original clients) the key is derived from who sent what, so a retry is a replay.
    const event_id = body.event_data.event_id ?? deriveEventId(body.requester_id, eventData);
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
    const replayed = result.status === 'replayed';
    return {
      success: true,
      message: replayed ? `event already recorded at seq ${result.seq}` : `event recorded at seq ${result.seq}`,
      event_id: result.event_id,
      seq: result.seq,
      hash: result.hash,
      replayed,
    };
  }

  async events(query: EventsQueryDto, requester: VerifiedRequester): Promise<EventsPage> {
    const scope = ProductScope.of(requester);
    scope.assertAllows(query.product);
    const { events, more } = await this.reader.page(
      {
        afterSeq: query.after_seq ?? 0,
        limit: query.limit ?? DEFAULT_EVENTS_PAGE,
        traceId: query.trace_id,
        product: query.product,
      },
      scope,
    );
    return { events, next_after_seq: more ? events[events.length - 1].seq : null };
  }

  /**
   * Counts over what the caller may see. The chain's size and head describe every product's entries, so only
   * a caller that sees every product gets them.
   */
  async stats(requester: VerifiedRequester): Promise<BucketStats> {
    const scope = ProductScope.of(requester);
    const groups = await this.reader.groups(scope);
    if (!scope.unrestricted) return groups;
    const { size, head_hash } = await this.reader.head();
    return { size, head_hash, ...groups };
  }

  async readContext(agentId: string, limit: number | undefined, requester: VerifiedRequester): Promise<ReadContextResult> {
    const events = await this.reader.byAgent(agentId, limit ?? DEFAULT_READ_CONTEXT_LIMIT, ProductScope.of(requester));
    return { agent_id: agentId, events };
  }
}
