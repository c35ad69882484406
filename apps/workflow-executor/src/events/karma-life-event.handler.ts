import { Injectable } from '@nestjs/common';
import { EventTopic, type KarmaLifeEventBody } from '@pancha/contracts';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { ExecutorEventSink } from './executor-event-sink';

/**
 * Delivers workflow_success / workflow_failure life events to Karma through the app's event sink (HTTP or
 * JetStream); Karma deduplicates on data.event_id.
 */
@Injectable()
export class KarmaLifeEventHandler implements OutboxHandler {
  readonly topic = EventTopic.KarmaLifeEvent;

  constructor(private readonly events: ExecutorEventSink) {}

  async deliver(message: OutboxMessage): Promise<void> {
    await this.events.sink.send(this.topic, message.messageKey, message.payload as KarmaLifeEventBody);
  }
}
