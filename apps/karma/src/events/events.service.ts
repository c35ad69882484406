import { Inject, Injectable, Logger } from '@nestjs/common';
import { KarmaEventReply, KarmaEventRequestDto, KarmaEventType } from '@pancha/contracts';
import { Clock } from '../clock/clock';
import { KarmaLedgerService } from '../ledger/karma-ledger.service';
import { parseKarmaEvent } from './event-parser';
import { IngestResult, KarmaEngine } from './karma-engine';

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
  async submit(body: KarmaEventRequestDto): Promise<IngestResult> {
    const event = parseKarmaEvent(this.engine.config, body, this.clock.now().getTime());
    if (event.type === KarmaEventType.StatsRequest && !event.clientEventId) {
      // Nothing to write and nothing to remember: no lock needed.
      return this.engine.ingest(this.ledger.reader(), event, this.clock.now().getTime());
    }
    const result = await this.ledger.ingest(event);
    if (!result.replayed) this.logEvent(result.reply);
    return result;
  }

  private logEvent(reply: KarmaEventReply): void {
    this.logger.debug({ event_type: reply.event_type, routing_info: reply.routing_info }, reply.message);
  }
}
