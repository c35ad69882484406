import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { BucketClient } from '@pancha/bucket-client';
import { EventTopic } from '@pancha/contracts';
import { TokenIssuer } from '@pancha/governance';
import { createEventSink, type EventSink } from '@pancha/nats-transport';
import { CoreConfig } from '../../config/env.validation';

type CoreEventHop = EventTopic.BucketCoreEvent;

/**
 * Core's one event transport: its Bucket task events go over JetStream when NATS_URL is set, else over HTTP.
 * (The executor call is a command whose reply updates the task, so it always stays HTTP.) Closed after the
 * relay has stopped, so pending publishes finish first.
 */
@Injectable()
export class CoreEventSink implements OnApplicationShutdown {
  readonly sink: EventSink<CoreEventHop>;

  constructor(config: CoreConfig, tokens: TokenIssuer, bucket: BucketClient) {
    this.sink = createEventSink<CoreEventHop>({
      config,
      tokens,
      name: 'core-events',
      http: { [EventTopic.BucketCoreEvent]: (body) => bucket.writeEvent('core', body) },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.sink.close();
  }
}

/** Gives the outbox handlers (built inside OutboxModule) the app's sink. */
@Module({ providers: [CoreEventSink], exports: [CoreEventSink] })
export class CoreEventSinkModule {}
