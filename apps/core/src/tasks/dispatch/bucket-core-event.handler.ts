import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { BucketClient } from '@pancha/bucket-client';
import { RequesterId } from '@pancha/contracts';
import { TokenIssuer } from '@pancha/governance';
import { JetStreamPublisher, natsSettings } from '@pancha/nats-transport';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { CoreConfig } from '../../config/env.validation';
import { BUCKET_CORE_EVENT_TOPIC, type BucketCoreEventMessage } from '../core-events';

/**
 * Writes Core's task events to Bucket's `core` channel, over HTTP or, when NATS_URL is set, over JetStream
 * (the same body); Bucket deduplicates by event_data.event_id.
 */
@Injectable()
export class BucketCoreEventHandler implements OutboxHandler, OnApplicationShutdown {
  readonly topic = BUCKET_CORE_EVENT_TOPIC;
  private readonly nats?: JetStreamPublisher;

  constructor(
    private readonly bucket: BucketClient,
    config: CoreConfig,
    tokens: TokenIssuer,
  ) {
    const nats = natsSettings(config);
    if (nats) this.nats = new JetStreamPublisher(nats, tokens, { name: 'core-bucket-events' });
  }

  async deliver(message: OutboxMessage): Promise<void> {
    const { event_data } = message.payload as BucketCoreEventMessage;
    const body = { requester_id: RequesterId.Core, event_data };
    if (this.nats) {
      await this.nats.publish({ topic: this.topic, audience: 'bucket', messageKey: message.messageKey, payload: body });
      return;
    }
    // A failure keeps the client's verdict (ServiceCallError.retryable): the relay retries or dead-letters.
    await this.bucket.writeEvent('core', body);
  }

  /** After the relay has stopped (beforeApplicationShutdown): pending publishes finish, then the connection closes. */
  async onApplicationShutdown(): Promise<void> {
    await this.nats?.close();
  }
}
