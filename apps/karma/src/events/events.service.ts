import { Inject, Injectable, Logger } from '@nestjs/common';
import { KarmaEventReply, KarmaEventRequestDto, KarmaEventType, RequesterId } from '@pancha/contracts';
import { forbidden, type VerifiedRequester } from '@pancha/governance';
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
    // Vocabulary first (an unknown action is a 422 for anyone), then who may report what.
    const event = parseKarmaEvent(this.engine.config, body, this.clock.now().getTime());
    assertMayReport(event, requester);
    if (event.type === KarmaEventType.StatsRequest && !event.clientEventId) {
      // Nothing to write and nothing to remember: no lock needed.
      return this.engine.ingest(this.ledger.reader(), event, this.clock.now().getTime());
    }
    const result = await this.ledger.ingest(event);
    karmaEvents.inc({ type: event.type, result: result.replayed ? 'replayed' : 'recorded' });
    if (!result.replayed) this.logEvent(result.reply);
    return result;
  }

  private logEvent(reply: KarmaEventReply): void {
    this.logger.debug({ event_type: reply.event_type, routing_info: reply.routing_info }, reply.message);
  }
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
