import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { EventTopic, type PublishEventRequest } from '@pancha/contracts';
import { CoreClient } from '@pancha/core-client';
import { TokenIssuer } from '@pancha/governance';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { createEventSink, type EventSink } from '@pancha/nats-transport';
import { KarmaConfig } from '../config/env.validation';

/** Karma's event transport to Core's router: JetStream when NATS_URL is set, else POST CORE_URL/events. */
@Injectable()
export class KarmaEventSink implements OnApplicationShutdown {
  readonly sink: EventSink<EventTopic.CoreKarmaEvent>;

  constructor(config: KarmaConfig, tokens: TokenIssuer) {
    const core = new CoreClient({ baseUrl: config.CORE_URL, tokens });
    this.sink = createEventSink<EventTopic.CoreKarmaEvent>({
      config,
      tokens,
      name: 'karma-events',
      http: { [EventTopic.CoreKarmaEvent]: (body) => core.publishEvent(body) },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.sink.close();
  }
}

/** Delivers `karma.role_changed` (outbox topic core.karma-event); the event id is fixed at enqueue. */
@Injectable()
export class CoreKarmaEventHandler implements OutboxHandler {
  readonly topic = EventTopic.CoreKarmaEvent;

  constructor(private readonly events: KarmaEventSink) {}

  async deliver(message: OutboxMessage): Promise<void> {
    await this.events.sink.send(this.topic, message.messageKey, message.payload as PublishEventRequest);
  }
}

/** Gives the outbox handler (built inside OutboxModule) the sink; KarmaConfig is provided here for it. */
@Module({})
export class KarmaEventSinkModule {
  static forRoot(config: KarmaConfig) {
    return {
      module: KarmaEventSinkModule,
      providers: [{ provide: KarmaConfig, useValue: config }, KarmaEventSink],
      exports: [KarmaEventSink],
    };
  }
}
