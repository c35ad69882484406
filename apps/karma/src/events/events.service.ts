import { Inject, Injectable, Logger } from '@nestjs/common';
import { type EventBatchItem, type EventBatchOutcome, KarmaEventReply, KarmaEventRequestDto, KarmaEventType, RequesterId } from '@pancha/contracts';
import { forbidden, type VerifiedRequester } from '@pancha/governance';
import { batchErrorOutcome, validateBatchItem } from '@pancha/service-kit';
import { extractTraceContext, getTracer, type Span, SpanKind, SpanStatusCode } from '@pancha/trace-context';
import { Clock } from '../clock/clock';
import { KarmaLedgerService } from '../ledger/karma-ledger.service';
import { type ParsedKarmaEvent, parseKarmaEvent } from '../engine/event-parser';
import { IngestResult, KarmaEngine } from '../engine/karma-engine';
import { karmaEvents } from './karma-metrics';

/**
 * Requesters whose `write` on Karma is only reporting, and what they may report (T8: the executor records
 * workflow outcomes and never changes karma data by other means, nor reads a profile via stats_request).
 */
const REPORT_ONLY: Partial<Record<string, { type: KarmaEventType; actions: readonly string[] }>> = {
  [RequesterId.WorkflowExecutor]: { type: KarmaEventType.LifeEvent, actions: ['workflow_success', 'workflow_failure'] },
};

@Injectable()
export class EventsService {
  private readonly logger = new Logger(EventsService.name);

  constructor(
    @Inject(KarmaEngine) private readonly engine: KarmaEngine,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(KarmaLedgerService) private readonly ledger: KarmaLedgerService,
  ) {}

  /**
   * Validates (422 before any I/O), then records the event through the ledger's group commit.
   * Database errors propagate: the exception filter answers 503 and the caller's outbox retries.
   */
  async submit(body: KarmaEventRequestDto, requester: VerifiedRequester): Promise<IngestResult> {
    const event = this.prepare(body, requester);
    if (isReadOnly(event)) return this.engine.ingest(this.ledger.reader(), event, this.clock.now().getTime());
    return this.recorded(event, await this.ledger.ingest(event));
  }

  /**
   * A batch of events (POST /v1/events): each validated and checked exactly as `submit` would, the valid ones
   * queued together for the ledger's group commit (one transaction; a read-only stats_request splits it, being
   * answered after the commit of the events before it), one outcome per event in order; a refused
   * event (422, 403, 409) never fails its neighbours. An event that carries a traceparent gets a span in that trace.
   */
  async submitBatch(items: readonly EventBatchItem[], requester: VerifiedRequester): Promise<EventBatchOutcome<KarmaEventReply>[]> {
    const outcomes: EventBatchOutcome<KarmaEventReply>[] = new Array(items.length);
    const spans: (Span | undefined)[] = items.map((item, index) =>
      item.traceparent
        ? getTracer().startSpan('karma event', { kind: SpanKind.CONSUMER, attributes: { 'pancha.batch.index': index } }, extractTraceContext({ traceparent: item.traceparent, tracestate: item.tracestate }))
        : undefined,
    );
    const queued: { index: number; event: ParsedKarmaEvent }[] = [];
    /** One per queued event, in queue order: the ones handed to the ledger so far. */
    const submitted: Promise<IngestResult>[] = [];
    const submitQueued = () => submitted.push(...this.ledger.ingestAll(queued.slice(submitted.length).map((q) => q.event)));
    for (let index = 0; index < items.length; index++) {
      try {
        const event = this.prepare(await validateBatchItem(KarmaEventRequestDto, items[index].body), requester);
        if (isReadOnly(event)) {
          // Answered as the single route would answer it in order: after the commit of the events before it
          // (their own group commit), so a stats_request sees what its batch recorded up to there.
          submitQueued();
          await Promise.allSettled(submitted);
          outcomes[index] = answered(await this.engine.ingest(this.ledger.reader(), event, this.clock.now().getTime()));
        } else {
          queued.push({ index, event });
        }
      } catch (error) {
        outcomes[index] = batchErrorOutcome(error);
      }
    }
    submitQueued();
    const settled = await Promise.allSettled(submitted);
    settled.forEach((result, k) => {
      const { index, event } = queued[k];
      outcomes[index] = result.status === 'fulfilled' ? answered(this.recorded(event, result.value)) : batchErrorOutcome(result.reason);
    });
    spans.forEach((span, index) => {
      if (!span) return;
      span.setAttribute('http.response.status_code', outcomes[index].status);
      if (outcomes[index].status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    return outcomes;
  }

  /** Vocabulary first (an unknown action is a 422 for anyone), then who may report what. */
  private prepare(body: KarmaEventRequestDto, requester: VerifiedRequester): ParsedKarmaEvent {
    const event = parseKarmaEvent(this.engine.config, body, this.clock.now().getTime());
    assertMayReport(event, requester);
    return event;
  }

  private recorded(event: ParsedKarmaEvent, result: IngestResult): IngestResult {
    karmaEvents.inc({ type: event.type, result: result.replayed ? 'replayed' : 'recorded' });
    if (!result.replayed) this.logEvent(result.reply);
    return result;
  }

  private logEvent(reply: KarmaEventReply): void {
    this.logger.debug({ event_type: reply.event_type, routing_info: reply.routing_info }, reply.message);
  }
}

/** A stats_request without event_id: nothing to write and nothing to remember, so no lock is needed. */
function isReadOnly(event: ParsedKarmaEvent): boolean {
  return event.type === KarmaEventType.StatsRequest && !event.clientEventId;
}

/** The single route answers 200 with the reply (a replay also says so in a header). */
function answered(result: IngestResult): EventBatchOutcome<KarmaEventReply> {
  return { status: 200, body: result.reply, replayed: result.replayed };
}

/** Judged on the parsed event, so an alias (the original executor's workflow_failed) counts as its action. */
function assertMayReport(event: ParsedKarmaEvent, requester: VerifiedRequester): void {
  const allowed = REPORT_ONLY[requester.id];
  if (!allowed) return;
  const action = event.type === KarmaEventType.LifeEvent ? event.action : undefined;
  if (event.type !== allowed.type || !action || !allowed.actions.includes(action)) {
    throw forbidden(`${requester.id} may only report ${allowed.type} events with action ${allowed.actions.join(' or ')}`);
  }
}
