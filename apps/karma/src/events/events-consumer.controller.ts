import { Inject } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { EventTopic, KarmaEventRequestDto } from '@pancha/contracts';
import { JetStreamConsumer, JetStreamContext } from '@pancha/nats-transport';
import { EventsService } from './events.service';

/**
 * POST /v1/event/ over JetStream (when NATS_URL is set): the same DTO validation and EventsService.submit,
 * so the same vocabulary checks and data.event_id dedup. The pattern is the hop's topic from contracts.
 * A replay is acknowledged; a 422/409 dead-letters the message (see @pancha/nats-transport).
 * The bearer token and the `write` policy are checked by the transport before this runs.
 */
@JetStreamConsumer()
export class EventsConsumerController {
  constructor(@Inject(EventsService) private readonly events: EventsService) {}

  @EventPattern(EventTopic.KarmaLifeEvent)
  async lifeEvent(@Payload() body: KarmaEventRequestDto, @Ctx() ctx: JetStreamContext): Promise<void> {
    await this.events.submit(body, ctx.getRequester());
  }
}
