import type { DynamicModule } from '@nestjs/common';
import { EventTopic, type PublishEventRequest } from '@pancha/contracts';
import { CoreClient } from '@pancha/core-client';
import type { TokenIssuer } from '@pancha/governance';
import { EventSinkModule } from '@pancha/nats-transport';
import type { KarmaConfig } from '../config/env.validation';

/**
 * Karma's event transport to Core's router, for `karma.role_changed` (outbox topic core.karma-event, delivered by
 * EventHopHandler; the event id is fixed at enqueue): JetStream when NATS_URL is set, else POST CORE_URL/events.
 */
export function karmaEventSink(config: KarmaConfig): DynamicModule {
  const http = (tokens: TokenIssuer) => {
    const core = new CoreClient({ baseUrl: config.CORE_URL, tokens });
    return { [EventTopic.CoreKarmaEvent]: (body: PublishEventRequest) => core.publishEvent(body) };
  };
  return EventSinkModule.forRoot({ name: 'karma-events', config, http });
}
