import { Injectable } from '@nestjs/common';
import { BucketClient } from '@pancha/bucket-client';
import { RequesterId } from '@pancha/contracts';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { BUCKET_CORE_EVENT_TOPIC, type BucketCoreEventMessage } from '../core-events';
import { toDeliveryError } from './delivery-errors';

/** Writes Core's task events to Bucket's `core` channel; Bucket deduplicates by event_data.event_id. */
@Injectable()
export class BucketCoreEventHandler implements OutboxHandler {
  readonly topic = BUCKET_CORE_EVENT_TOPIC;

  constructor(private readonly bucket: BucketClient) {}

  async deliver(message: OutboxMessage): Promise<void> {
    const { event_data } = message.payload as BucketCoreEventMessage;
    try {
      await this.bucket.writeEvent('core', { requester_id: RequesterId.Core, event_data });
    } catch (error) {
      throw toDeliveryError(error);
    }
  }
}
