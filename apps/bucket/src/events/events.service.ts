import { Injectable } from '@nestjs/common';
import { DEFAULT_EVENTS_PAGE, DEFAULT_READ_CONTEXT_LIMIT, WriteEventRequestDto } from '@pancha/contracts';
import type {
  BucketStats,
  BucketWriteChannel,
  EventBatchItem,
  EventBatchOutcome,
  EventsPage,
  EventsQueryDto,
  ReadContextResult,
  WriteEventData,
  WriteEventResult,
} from '@pancha/contracts';
import { assertBodyRequester, impliedProduct, PolicyService, productRequired } from '@pancha/governance';
import type { VerifiedRequester } from '@pancha/governance';
import { batchErrorOutcome, validateBatchItem, validationException } from '@pancha/service-kit';
import { currentTraceId, extractTraceContext, getTracer, type Span, SpanKind, SpanStatusCode, traceIdOfTraceparent } from '@pancha/trace-context';
import { deriveEventId } from '../chain/derived-event-id';
import { ProductScope } from '../common/product-scope';
import { LedgerReader } from '../ledger/ledger-reader';
import { ChannelForbiddenException, EventIdConflictException } from '../ledger/ledger.exception';
import { type AppendResult, LedgerService, type NewEvent } from '../ledger/ledger.service';

@Injectable()
export class EventsService {
  constructor(
    private readonly ledger: LedgerService,
    private readonly reader: LedgerReader,
    private readonly policy: PolicyService,
  ) {}

  /**
   * `body` is the validated request; `eventData` the body's event_data exactly as sent (validation
   * strips members it does not know, but every member is part of the record, those named __proto__, constructor or
   * prototype included: the validation pipe leaves the body as sent, AsSentValidationPipe).
   */
  async write(
    channel: BucketWriteChannel,
    body: WriteEventRequestDto,
    eventData: WriteEventData,
    requester: VerifiedRequester,
  ): Promise<WriteEventResult> {
    const event = this.prepare(channel, body, eventData, requester, currentTraceId());
    const [result] = await this.ledger.append([event]);
    return toWriteResult(result, ProductScope.of(requester));
  }

  /**
   * A batch of writes to one channel: each event validated, governed and deduplicated exactly as `write` would,
   * the valid ones appended together (one transaction), and one outcome per event in order (a refused event
   * never fails its neighbours, nor does one whose body the database cannot store or that nests too deep: those are
   * checked per item, BatchEvents). Only a failure of the append itself (the database) fails the whole request.
   * An event that carries a traceparent gets a span of its own in that trace (the producer's).
   */
  async writeBatch(channel: BucketWriteChannel, items: readonly EventBatchItem[], requester: VerifiedRequester): Promise<EventBatchOutcome<WriteEventResult>[]> {
    const outcomes: EventBatchOutcome<WriteEventResult>[] = new Array(items.length);
    const accepted: { index: number; event: NewEvent; span?: Span }[] = [];
    for (let index = 0; index < items.length; index++) {
      const item = items[index];
      const span = item.traceparent
        ? getTracer().startSpan(`bucket write-event ${channel}`, { kind: SpanKind.CONSUMER, attributes: { 'pancha.batch.index': index } }, extractTraceContext({ traceparent: item.traceparent, tracestate: item.tracestate }))
        : undefined;
      try {
        // Members named __proto__, constructor or prototype are validated on a copy without them (validateBatchItem).
        const body = await validateBatchItem(WriteEventRequestDto, item.body);
        // event_data exactly as sent: validation drops members it does not know, but every member is part of the record.
        const eventData = (item.body as { event_data: WriteEventData }).event_data;
        const traceId = traceIdOfTraceparent(item.traceparent) ?? currentTraceId();
        accepted.push({ index, event: this.prepare(channel, body, eventData, requester, traceId), span });
      } catch (error) {
        outcomes[index] = batchErrorOutcome(error);
        endSpan(span, outcomes[index].status);
      }
    }
    if (accepted.length === 0) return outcomes;
    let results: AppendResult[];
    try {
      results = await this.ledger.append(accepted.map((a) => a.event));
    } catch (error) {
      for (const a of accepted) endSpan(a.span, 503);
      throw error;
    }
    const scope = ProductScope.of(requester);
    accepted.forEach(({ index, span }, k) => {
      try {
        const result = toWriteResult(results[k], scope);
        // 201 for a new entry; 200 when the same event was already recorded (the original entry).
        outcomes[index] = { status: result.replayed ? 200 : 201, body: result, replayed: result.replayed };
      } catch (error) {
        outcomes[index] = batchErrorOutcome(error);
      }
      endSpan(span, outcomes[index].status);
    });
    return outcomes;
  }

  /**
   * The checks and the entry of one write; throws the refusal (403, 422) before anything is stored. An event naming
   * no product, from a credential narrowed to exactly one, is that product's (impliedProduct): a product-less entry
   * is visible only to callers of every product, so the writer could not read back what it wrote. The entry's product
   * is set, event_data stays as sent. Narrowed to several, the event must name one (422 naming event_data.product).
   */
  private prepare(
    channel: BucketWriteChannel,
    body: WriteEventRequestDto,
    eventData: WriteEventData,
    requester: VerifiedRequester,
    requestTraceId: string | undefined,
  ): NewEvent {
    assertBodyRequester(body.requester_id, requester);
    // A channel is a timeline its readers trust (Core's task view): only the requester the policy names writes it.
    if (!this.policy.mayWriteChannel('bucket', requester.id, channel)) throw new ChannelForbiddenException(requester.id, channel);
    const { event_type, trace_id, user_id } = body.event_data;
    ProductScope.of(requester).assertAllows(body.event_data.product);
    // `product: null` (validation lets it through) names no product, as an absent one does.
    const implied = impliedProduct(requester, body.event_data.product ?? undefined);
    if ('ambiguous' in implied) throw validationException([{ field: 'event_data.product', messages: [productRequired(requester.id, implied.ambiguous)] }]);
    const { product } = implied;
    // Without an event_id (the original clients) the key is derived from who sent what, so a retry is a replay; the
    // ledger moves it to a further candidate when another entry holds that id (nobody can squat an original write).
    const derived = body.event_data.event_id == null;
    const event_id = body.event_data.event_id ?? deriveEventId(body.requester_id, eventData);
    return {
      event_id,
      derived,
      requester_id: body.requester_id,
      channel,
      event_type,
      // The producer's trace id when it sent one (a relayed outbox hop), else this request's (or event's) own trace.
      trace_id: trace_id ?? requestTraceId ?? null,
      product: product ?? null,
      // Named by no one, implied by the credential: also the replay of an entry stored with none (ledger sameEvent).
      productImplied: product !== undefined && body.event_data.product == null,
      user_id: user_id ?? null,
      event_data: eventData,
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
        userId: query.user_id,
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

/**
 * The answer to one appended (or replayed) event; a conflict is the 409 a single write answers, naming the entry's seq
 * only when `scope` covers that entry's product (else only that the id is taken: ids cannot be probed).
 */
function toWriteResult(result: AppendResult, scope: ProductScope): WriteEventResult {
  if (result.status === 'conflict') throw new EventIdConflictException(result.event_id, scope.allows(result.product) ? result.seq : undefined);
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

function endSpan(span: Span | undefined, status: number): void {
  if (!span) return;
  span.setAttribute('http.response.status_code', status);
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}
