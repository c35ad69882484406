import { Injectable } from '@nestjs/common';
import { type BucketWorkflowEventBody, EventTopic } from '@pancha/contracts';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { batchItemsOf, ExecutorEventBatches } from './executor-event-batches';
import { ExecutorEventSink } from './executor-event-sink';

/**
 * Delivers workflow_execution events to Bucket's workflow channel through the app's event sink (HTTP or
 * JetStream, the same body). Bucket deduplicates on event_data.event_id, which is fixed in the stored payload,
 * so redelivery is safe; a 409 (same id, other content) keeps its verdict and is never retried. Over HTTP,
 * the relay's batches go to POST /workflow/write-events in one request, each event answered on its own.
 */
@Injectable()
export class BucketWorkflowEventHandler implements OutboxHandler {
  readonly topic = EventTopic.BucketWorkflowEvent;
  readonly deliverBatch?: OutboxHandler['deliverBatch'];

  constructor(
    private readonly events: ExecutorEventSink,
    batches: ExecutorEventBatches,
  ) {
    if (events.sink.transport === 'http') {
      this.deliverBatch = (messages) => batches.bucket.writeEvents('workflow', batchItemsOf<BucketWorkflowEventBody>(messages));
    }
  }

  async deliver(message: OutboxMessage): Promise<void> {
    await this.events.sink.send(this.topic, message.messageKey, message.payload as BucketWorkflowEventBody);
  }
}
