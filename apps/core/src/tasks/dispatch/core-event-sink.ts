import type { DynamicModule } from '@nestjs/common';
import { BucketClient } from '@pancha/bucket-client';
import { EventTopic, type BucketCoreEventBody } from '@pancha/contracts';
import type { TokenIssuer } from '@pancha/governance';
import { EventSinkModule } from '@pancha/nats-transport';
import type { CoreConfig } from '../../config/env.validation';

/**
 * Core's one event transport: its Bucket task events go over JetStream when NATS_URL is set, else over HTTP with
 * Core's own BucketClient (ClientsModule). The executor call is a command whose reply updates the task, so it
 * always stays HTTP.
 */
export function coreEventSink(config: CoreConfig): DynamicModule {
  const http = (_tokens: TokenIssuer, bucket: BucketClient) => ({
    [EventTopic.BucketCoreEvent]: (body: BucketCoreEventBody) => bucket.writeEvent('core', body),
  });
  return EventSinkModule.forRoot({ name: 'core-events', config, http, inject: [BucketClient] });
}
