import { Injectable } from '@nestjs/common';
import { BucketClient } from '@pancha/bucket-client';
import { type BucketCoreEventBody, EventTopic, RequesterId } from '@pancha/contracts';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import type { BucketCoreEventMessage } from '../core-events';
import { CoreEventSink } from './core-event-sink';

/**
 * Writes Core's task events to Bucket's `core` channel through the app's event sink (HTTP or JetStream, the
 * same body); Bucket deduplicates by event_data.event_id, so redelivery is safe, and a refusal (4xx) keeps
 * its verdict: the relay dead-letters it. Over HTTP, the relay's batches go to POST /core/write-events in one
 * request, each event answered on its own (Bucket without that route gets single writes: BucketClient.writeEvents).
 */
@Injectable()
export class BucketCoreEventHandler implements OutboxHandler {
  readonly topic = EventTopic.BucketCoreEvent;
  readonly deliverBatch?: OutboxHandler['deliverBatch'];

  constructor(
    private readonly events: CoreEventSink,
    bucket: BucketClient,
  ) {
    if (events.sink.transport === 'http') {
      this.deliverBatch = (messages) =>
        bucket.writeEvents(
          'core',
          messages.map((m) => ({ body: bodyOf(m), traceparent: m.headers.traceparent, tracestate: m.headers.tracestate })),
        );
    }
  }

  async deliver(message: OutboxMessage): Promise<void> {
    await this.events.sink.send(this.topic, message.messageKey, bodyOf(message));
  }
}

function bodyOf(message: OutboxMessage): BucketCoreEventBody {
  const { event_data } = message.payload as BucketCoreEventMessage;
  return { requester_id: RequesterId.Core, event_data };
}
