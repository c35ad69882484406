import { Injectable } from '@nestjs/common';
import { type BucketCoreEventBody, EventTopic, RequesterId } from '@pancha/contracts';
import { EventSink } from '@pancha/nats-transport';
import { batchItemsOf, messageKeysOf, type OutboxHandler, type OutboxMessage } from '@pancha/outbox';
import type { BucketCoreEventMessage } from '../core-events';

/**
 * Writes Core's task events to Bucket's `core` channel through the app's EventSink (core-event-sink.ts: HTTP or
 * JetStream, the same body); Bucket deduplicates by event_data.event_id, so redelivery is safe, and a refusal
 * (4xx) keeps its verdict: the relay dead-letters it. Over HTTP, the relay's batches go to POST /core/write-events
 * in one request, each event answered on its own (Bucket without that route gets single writes).
 */
@Injectable()
export class BucketCoreEventHandler implements OutboxHandler {
  readonly topic = EventTopic.BucketCoreEvent;
  readonly deliverBatch?: OutboxHandler['deliverBatch'];

  constructor(private readonly events: EventSink) {
    const batch = events.batchRoute(EventTopic.BucketCoreEvent);
    if (batch) this.deliverBatch = (messages) => batch(batchItemsOf(messages, bodyOf), messageKeysOf(messages));
  }

  async deliver(message: OutboxMessage): Promise<void> {
    await this.events.send(this.topic, message.messageKey, bodyOf(message));
  }
}

function bodyOf(message: OutboxMessage): BucketCoreEventBody {
  const { event_data } = message.payload as BucketCoreEventMessage;
  return { requester_id: RequesterId.Core, event_data };
}
