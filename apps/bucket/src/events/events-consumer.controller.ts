import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { eventBatchTopic, EventTopic, WriteEventRequestDto } from '@pancha/contracts';
import type { BucketWriteChannel, EventBatchItem, EventBatchOutcome, WriteEventData, WriteEventResult } from '@pancha/contracts';
import { JetStreamConsumer, JetStreamContext } from '@pancha/nats-transport';
import { EventsService } from './events.service';

/**
 * The write routes over JetStream (when NATS_URL is set): the same body, DTO validation and
 * EventsService.write as POST /core/write-event and /workflow/write-event, so the same requester check,
 * product scope and event_id dedup. The patterns are the hops' topics from contracts (EVENT_HOPS, receiver bucket). A replay (same event_id,
 * same content) is acknowledged like a 200; a 409/403/422 dead-letters the message (see @pancha/nats-transport).
 * A relay's batch (`<topic>.batch`) goes to EventsService.writeBatch like POST /core/write-events and
 * /workflow/write-events: one append transaction, one outcome per event, which the transport settles one by one.
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

  /** A batch of Core's task events (one message). */
  @EventPattern(eventBatchTopic(EventTopic.BucketCoreEvent))
  coreBatch(@Payload('events') events: EventBatchItem[], @Ctx() ctx: JetStreamContext): Promise<EventBatchOutcome<WriteEventResult>[]> {
    return this.events.writeBatch('core', events, ctx.getRequester());
  }

  /** A batch of the executor's workflow_execution events (one message). */
  @EventPattern(eventBatchTopic(EventTopic.BucketWorkflowEvent))
  workflowBatch(@Payload('events') events: EventBatchItem[], @Ctx() ctx: JetStreamContext): Promise<EventBatchOutcome<WriteEventResult>[]> {
    return this.events.writeBatch('workflow', events, ctx.getRequester());
  }

  private async write(channel: BucketWriteChannel, body: WriteEventRequestDto, eventData: WriteEventData, ctx: JetStreamContext): Promise<void> {
    await this.events.write(channel, body, eventData, ctx.getRequester());
  }
}
