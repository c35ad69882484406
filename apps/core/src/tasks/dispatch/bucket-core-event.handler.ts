import { Injectable } from '@nestjs/common';
import { type BucketCoreEventBody, EventTopic, RequesterId } from '@pancha/contracts';
import { EventSink } from '@pancha/nats-transport';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import type { BucketCoreEventMessage } from '../core-events';

/**
 * Writes Core's task events to Bucket's `core` channel through the app's EventSink (core-event-sink.ts: HTTP or
 * JetStream, the same body); Bucket deduplicates by event_data.event_id, so redelivery is safe, and a refusal
 * (4xx) keeps its verdict: the relay dead-letters it.
 */
@Injectable()
export class BucketCoreEventHandler implements OutboxHandler {
  readonly topic = EventTopic.BucketCoreEvent;

  constructor(private readonly events: EventSink) {}

  async deliver(message: OutboxMessage): Promise<void> {
    const { event_data } = message.payload as BucketCoreEventMessage;
    const body: BucketCoreEventBody = { requester_id: RequesterId.Core, event_data };
    await this.events.send(this.topic, message.messageKey, body);
  }
}
