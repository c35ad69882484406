import type { DynamicModule } from '@nestjs/common';
import { type EventBatchItem, EventTopic, type PublishEventRequest } from '@pancha/contracts';
import { CoreClient } from '@pancha/core-client';
import type { TokenIssuer } from '@pancha/governance';
import { EventSinkModule } from '@pancha/nats-transport';
import type { BucketConfig } from '../config/env.validation';

/**
 * Bucket's event transport to Core's router, for `audit.verify_failed` (outbox topic core.bucket-event, delivered by
 * EventHopHandler; the event id is fixed at enqueue): JetStream when NATS_URL is set, else POST CORE_URL/events/batch
 * (one request for the relay's batch; POST /events for a lone event).
 */
export function bucketEventSink(config: BucketConfig): DynamicModule {
  const http = (tokens: TokenIssuer) => {
    const core = new CoreClient({ baseUrl: config.CORE_URL, tokens });
    return {
      send: { [EventTopic.CoreBucketEvent]: (body: PublishEventRequest) => core.publishEvent(body) },
      batch: { [EventTopic.CoreBucketEvent]: (items: readonly EventBatchItem<PublishEventRequest>[]) => core.publishEvents(items) },
    };
  };
  return EventSinkModule.forRoot<EventTopic.CoreBucketEvent>({ name: 'bucket-events', config, http });
}
