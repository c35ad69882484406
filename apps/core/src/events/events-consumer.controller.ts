import { Inject } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { eventBatchTopic, EventTopic, type EventAccepted, type EventBatchItem, type EventBatchOutcome, type PublishEventRequest } from '@pancha/contracts';
import { JetStreamConsumer, JetStreamContext } from '@pancha/nats-transport';
import { EventPublishService } from './event-publish.service';

/**
 * The pillars' events over JetStream (when NATS_URL is set): the same checks and routing as POST /events, and
 * the same id dedup, so a redelivered message starts nothing twice. A 422/403 dead-letters the message; a
 * database outage retries it. A relay's batch (`<topic>.batch`) is answered per event as POST /events/batch answers
 * it (publishEach), and the transport settles each event on its own. The token and the `publish` grant are checked by
 * the transport before this runs.
 */
@JetStreamConsumer()
export class EventsConsumerController {
  constructor(@Inject(EventPublishService) private readonly publisher: EventPublishService) {}

  @EventPattern(EventTopic.CoreWorkflowEvent)
  async workflowEvent(@Payload() body: PublishEventRequest, @Ctx() ctx: JetStreamContext): Promise<void> {
    await this.publisher.publish(body, ctx.getRequester());
  }

  @EventPattern(EventTopic.CoreKarmaEvent)
  async karmaEvent(@Payload() body: PublishEventRequest, @Ctx() ctx: JetStreamContext): Promise<void> {
    await this.publisher.publish(body, ctx.getRequester());
  }

  @EventPattern(EventTopic.CoreBucketEvent)
  async bucketEvent(@Payload() body: PublishEventRequest, @Ctx() ctx: JetStreamContext): Promise<void> {
    await this.publisher.publish(body, ctx.getRequester());
  }

  @EventPattern([eventBatchTopic(EventTopic.CoreWorkflowEvent), eventBatchTopic(EventTopic.CoreKarmaEvent), eventBatchTopic(EventTopic.CoreBucketEvent)])
  eventBatch(@Payload('events') events: EventBatchItem[], @Ctx() ctx: JetStreamContext): Promise<EventBatchOutcome<EventAccepted>[]> {
    return this.publisher.publishEach(events, ctx.getRequester());
  }
}
