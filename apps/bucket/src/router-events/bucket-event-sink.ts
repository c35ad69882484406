import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { EventTopic, type PublishEventRequest } from '@pancha/contracts';
import { CoreClient } from '@pancha/core-client';
import { TokenIssuer } from '@pancha/governance';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { createEventSink, type EventSink } from '@pancha/nats-transport';
import { BucketConfig } from '../config/env.validation';

/** Bucket's event transport to Core's router: JetStream when NATS_URL is set, else POST CORE_URL/events. */
@Injectable()
export class BucketEventSink implements OnApplicationShutdown {
  readonly sink: EventSink<EventTopic.CoreBucketEvent>;

  constructor(config: BucketConfig, tokens: TokenIssuer) {
    const core = new CoreClient({ baseUrl: config.CORE_URL, tokens });
    this.sink = createEventSink<EventTopic.CoreBucketEvent>({
      config,
      tokens,
      name: 'bucket-events',
      http: { [EventTopic.CoreBucketEvent]: (body) => core.publishEvent(body) },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.sink.close();
  }
}

/** Delivers `audit.verify_failed` (outbox topic core.bucket-event); the event id is fixed at enqueue. */
@Injectable()
export class CoreBucketEventHandler implements OutboxHandler {
  readonly topic = EventTopic.CoreBucketEvent;

  constructor(private readonly events: BucketEventSink) {}

  async deliver(message: OutboxMessage): Promise<void> {
    await this.events.sink.send(this.topic, message.messageKey, message.payload as PublishEventRequest);
  }
}

/** Gives the outbox handler (built inside OutboxModule) the sink. */
@Module({})
export class BucketEventSinkModule {
  static forRoot(config: BucketConfig) {
    return {
      module: BucketEventSinkModule,
      providers: [{ provide: BucketConfig, useValue: config }, BucketEventSink],
      exports: [BucketEventSink],
    };
  }
}
