import { Injectable } from '@nestjs/common';
import { type BucketWorkflowEventBody, EventTopic } from '@pancha/contracts';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { ExecutorEventSink } from './executor-event-sink';

/**
 * Delivers workflow_execution events to Bucket's workflow channel through the app's event sink (HTTP or
 * JetStream, the same body). Bucket deduplicates on event_data.event_id, which is fixed in the stored payload,
 * so redelivery is safe; a 409 (same id, other content) keeps its verdict and is never retried.
 */
@Injectable()
export class BucketWorkflowEventHandler implements OutboxHandler {
  readonly topic = EventTopic.BucketWorkflowEvent;

  constructor(private readonly events: ExecutorEventSink) {}

  async deliver(message: OutboxMessage): Promise<void> {
    await this.events.sink.send(this.topic, message.messageKey, message.payload as BucketWorkflowEventBody);
  }
}
