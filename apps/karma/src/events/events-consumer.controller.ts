import { Inject } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { eventBatchTopic, EventTopic, KarmaEventRequestDto, type EventBatchItem, type EventBatchOutcome, type KarmaEventReply } from '@pancha/contracts';
import { JetStreamConsumer, JetStreamContext } from '@pancha/nats-transport';
import { EventsService } from './events.service';

/**
 * POST /v1/event/ over JetStream (when NATS_URL is set): the same DTO validation and EventsService.submit,
 * so the same vocabulary checks and data.event_id dedup. The pattern is the hop's topic from contracts.
 * A replay is acknowledged; a 422/409 dead-letters the message (see @pancha/nats-transport).
 * A relay's batch (`<topic>.batch`) goes to EventsService.submitBatch like POST /v1/events: one ledger commit, one
 * outcome per event, which the transport settles one by one.
 * The bearer token and the `write` policy are checked by the transport before this runs.
 */
@JetStreamConsumer()
export class EventsConsumerController {
  constructor(@Inject(EventsService) private readonly events: EventsService) {}

  @EventPattern(EventTopic.KarmaLifeEvent)
  async lifeEvent(@Payload() body: KarmaEventRequestDto, @Ctx() ctx: JetStreamContext): Promise<void> {
    await this.events.submit(body, ctx.getRequester());
  }

  @EventPattern(eventBatchTopic(EventTopic.KarmaLifeEvent))
  lifeEvents(@Payload('events') events: EventBatchItem[], @Ctx() ctx: JetStreamContext): Promise<EventBatchOutcome<KarmaEventReply>[]> {
    return this.events.submitBatch(events, ctx.getRequester());
  }
}
