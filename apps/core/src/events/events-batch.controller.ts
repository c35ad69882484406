import { Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { CORE_EVENTS_BATCH_ROUTE, type EventAccepted, type EventBatchItem, type EventBatchReply } from '@pancha/contracts';
import { Requester, RequireOperation, type VerifiedRequester } from '@pancha/governance';
import { BatchEvents } from '@pancha/service-kit';
import { EventPublishService } from './event-publish.service';

@Controller()
export class EventsBatchController {
  constructor(private readonly publisher: EventPublishService) {}

  /**
   * The pillars' outboxes send their events here in batches: the same token and `publish` operation as POST /events;
   * 200 with one outcome per event, in order, each what `POST /events` would have answered for it alone.
   */
  @Post(CORE_EVENTS_BATCH_ROUTE)
  @HttpCode(HttpStatus.OK)
  @RequireOperation('publish')
  async publishBatch(
    @BatchEvents() events: EventBatchItem[],
    @Requester() requester: VerifiedRequester,
  ): Promise<EventBatchReply<EventAccepted>> {
    return { results: await this.publisher.publishEach(events, requester) };
  }
}
