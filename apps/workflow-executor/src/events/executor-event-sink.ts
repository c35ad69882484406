import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { BucketClient } from '@pancha/bucket-client';
import { EventTopic } from '@pancha/contracts';
import { TokenIssuer } from '@pancha/governance';
import { CoreClient } from '@pancha/core-client';
import { KarmaClient } from '@pancha/karma-client';
import { createEventSink, type EventSink } from '@pancha/nats-transport';
import { WorkflowExecutorConfig } from '../config/env.validation';

type ExecutorEventHop = EventTopic.BucketWorkflowEvent | EventTopic.KarmaLifeEvent | EventTopic.CoreWorkflowEvent;

/**
 * The executor's one event transport, shared by its outbox handlers: one JetStream connection when NATS_URL is
 * set, else the Bucket, Karma and Core HTTP clients. Closed after the relay has stopped, so pending publishes finish first.
 */
@Injectable()
export class ExecutorEventSink implements OnApplicationShutdown {
  readonly sink: EventSink<ExecutorEventHop>;

  constructor(config: WorkflowExecutorConfig, tokens: TokenIssuer) {
    const bucket = new BucketClient({ baseUrl: config.BUCKET_URL, tokens });
    const karma = new KarmaClient({ baseUrl: config.KARMA_URL, tokens });
    const core = new CoreClient({ baseUrl: config.CORE_URL, tokens });
    this.sink = createEventSink<ExecutorEventHop>({
      config,
      tokens,
      name: 'workflow-executor-events',
      http: {
        [EventTopic.BucketWorkflowEvent]: (body) => bucket.writeEvent('workflow', body),
        [EventTopic.KarmaLifeEvent]: (body) => karma.submitEvent(body),
        [EventTopic.CoreWorkflowEvent]: (body) => core.publishEvent(body),
      },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.sink.close();
  }
}

/** Gives the outbox handlers (built inside OutboxModule) the app's sink. */
@Module({ providers: [ExecutorEventSink], exports: [ExecutorEventSink] })
export class ExecutorEventSinkModule {}
