import { Controller, HttpCode, HttpStatus, Inject, Post } from '@nestjs/common';
import { type EventBatchItem, type EventBatchReply, KARMA_EVENTS_ROUTE, type KarmaEventReply } from '@pancha/contracts';
import { RequireOperation, Requester, type VerifiedRequester } from '@pancha/governance';
import { BatchEvents } from '@pancha/service-kit';
import { EventsService } from './events.service';

@Controller()
export class EventsBatchController {
  constructor(@Inject(EventsService) private readonly events: EventsService) {}

  /**
   * The batch twin of POST /v1/event/ (the executor's outbox sends its life events here): the same token and
   * `write` operation, and per event the same validation, vocabulary, report-only rule and data.event_id dedup;
   * the events share one ledger commit; 200 with one outcome (status + body, `replayed`) per event, in order.
   */
  @Post(KARMA_EVENTS_ROUTE)
  @HttpCode(HttpStatus.OK)
  @RequireOperation('write')
  async submitBatch(
    @BatchEvents() events: EventBatchItem[],
    @Requester() requester: VerifiedRequester,
  ): Promise<EventBatchReply<KarmaEventReply>> {
    return { results: await this.events.submitBatch(events, requester) };
  }
}
