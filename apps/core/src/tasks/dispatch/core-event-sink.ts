import type { DynamicModule } from '@nestjs/common';
import { BucketClient } from '@pancha/bucket-client';
import { EventTopic, type BucketCoreEventBody, type EventBatchItem } from '@pancha/contracts';
import type { TokenIssuer } from '@pancha/governance';
import { EventSinkModule } from '@pancha/nats-transport';
import type { CoreConfig } from '../../config/env.validation';

/**
 * Core's one event transport: its Bucket task events go over JetStream when NATS_URL is set, else over HTTP with
 * Core's own BucketClient (ClientsModule), in batches to POST /core/write-events. The executor call is a command whose reply updates the task, so it
 * always stays HTTP.
 */
export function coreEventSink(config: CoreConfig): DynamicModule {
  const http = (_tokens: TokenIssuer, bucket: BucketClient) => ({
    send: { [EventTopic.BucketCoreEvent]: (body: BucketCoreEventBody) => bucket.writeEvent('core', body) },
    batch: { [EventTopic.BucketCoreEvent]: (items: readonly EventBatchItem<BucketCoreEventBody>[]) => bucket.writeEvents('core', items) },
  });
  return EventSinkModule.forRoot<EventTopic.BucketCoreEvent>({ name: 'core-events', config, http, inject: [BucketClient] });
}
