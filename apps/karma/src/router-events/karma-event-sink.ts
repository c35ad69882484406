import type { DynamicModule } from '@nestjs/common';
import { type EventBatchItem, EventTopic, type PublishEventRequest } from '@pancha/contracts';
import { CoreClient } from '@pancha/core-client';
import type { TokenIssuer } from '@pancha/governance';
import { EventSinkModule } from '@pancha/nats-transport';
import type { KarmaConfig } from '../config/env.validation';

/**
 * Karma's event transport to Core's router, for `karma.role_changed` (outbox topic core.karma-event, delivered by
 * EventHopHandler; the event id is fixed at enqueue): JetStream when NATS_URL is set, else POST CORE_URL/events/batch
 * (one request for the relay's batch; POST /events for a lone event).
 */
export function karmaEventSink(config: KarmaConfig): DynamicModule {
  const http = (tokens: TokenIssuer) => {
    const core = new CoreClient({ baseUrl: config.CORE_URL, tokens });
    return {
      send: { [EventTopic.CoreKarmaEvent]: (body: PublishEventRequest) => core.publishEvent(body) },
      batch: { [EventTopic.CoreKarmaEvent]: (items: readonly EventBatchItem<PublishEventRequest>[]) => core.publishEvents(items) },
    };
  };
  return EventSinkModule.forRoot<EventTopic.CoreKarmaEvent>({ name: 'karma-events', config, http });
}
