import { Injectable } from '@nestjs/common';
import { EventTopic, type KarmaLifeEventBody } from '@pancha/contracts';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { batchItemsOf, ExecutorEventBatches } from './executor-event-batches';
import { ExecutorEventSink } from './executor-event-sink';

/**
 * Delivers workflow_success / workflow_failure life events to Karma through the app's event sink (HTTP or
 * JetStream); Karma deduplicates on data.event_id. Over HTTP, the relay's batches go to POST /v1/events in one
 * request, each event answered on its own.
 */
@Injectable()
export class KarmaLifeEventHandler implements OutboxHandler {
  readonly topic = EventTopic.KarmaLifeEvent;
  readonly deliverBatch?: OutboxHandler['deliverBatch'];

  constructor(
    private readonly events: ExecutorEventSink,
    batches: ExecutorEventBatches,
  ) {
    if (events.sink.transport === 'http') {
      this.deliverBatch = (messages) => batches.karma.submitEvents(batchItemsOf<KarmaLifeEventBody>(messages));
    }
  }

  async deliver(message: OutboxMessage): Promise<void> {
    await this.events.sink.send(this.topic, message.messageKey, message.payload as KarmaLifeEventBody);
  }
}
