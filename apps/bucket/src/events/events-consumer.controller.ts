import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { EventTopic, WriteEventRequestDto } from '@pancha/contracts';
import type { BucketWriteChannel, WriteEventData } from '@pancha/contracts';
import { JetStreamConsumer, JetStreamContext } from '@pancha/nats-transport';
import { EventsService } from './events.service';

/**
 * The write routes over JetStream (when NATS_URL is set): the same body, DTO validation and
 * EventsService.write as POST /core/write-event and /workflow/write-event, so the same requester check,
 * product scope and event_id dedup. The patterns are the hops' topics from contracts (EVENT_HOPS, receiver bucket). A replay (same event_id,
 * same content) is acknowledged like a 200; a 409/403/422 dead-letters the message (see @pancha/nats-transport).
 */
@JetStreamConsumer()
export class EventsConsumerController {
  constructor(private readonly events: EventsService) {}

  /** Core's task events. */
  @EventPattern(EventTopic.BucketCoreEvent)
  async core(
    @Payload() body: WriteEventRequestDto,
    @Payload('event_data') eventData: WriteEventData,
    @Ctx() ctx: JetStreamContext,
  ): Promise<void> {
    await this.write('core', body, eventData, ctx);
  }

  /** The executor's workflow_execution events. */
  @EventPattern(EventTopic.BucketWorkflowEvent)
  async workflow(
    @Payload() body: WriteEventRequestDto,
    @Payload('event_data') eventData: WriteEventData,
    @Ctx() ctx: JetStreamContext,
  ): Promise<void> {
    await this.write('workflow', body, eventData, ctx);
  }

  private async write(channel: BucketWriteChannel, body: WriteEventRequestDto, eventData: WriteEventData, ctx: JetStreamContext): Promise<void> {
    await this.events.write(channel, body, eventData, ctx.getRequester());
  }
}
