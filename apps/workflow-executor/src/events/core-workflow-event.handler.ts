import { Injectable } from '@nestjs/common';
import { EventTopic, type PublishEventRequest } from '@pancha/contracts';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { ExecutorEventSink } from './executor-event-sink';

/**
 * Publishes a run's end (`workflow.completed` / `workflow.failed`) to Core's event router through the app's event
 * sink (HTTP POST /events, or JetStream). The event id is fixed at enqueue, so a redelivery starts nothing twice.
 */
@Injectable()
export class CoreWorkflowEventHandler implements OutboxHandler {
  readonly topic = EventTopic.CoreWorkflowEvent;

  constructor(private readonly events: ExecutorEventSink) {}

  async deliver(message: OutboxMessage): Promise<void> {
    await this.events.sink.send(this.topic, message.messageKey, message.payload as PublishEventRequest);
  }
}
