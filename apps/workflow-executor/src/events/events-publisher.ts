import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { TokenIssuer } from '@pancha/governance';
import { JetStreamPublisher, natsSettings } from '@pancha/nats-transport';
import { WorkflowExecutorConfig } from '../config/env.validation';

/**
 * The executor's one JetStream connection, shared by its event handlers; absent unless NATS_URL is set
 * (then the handlers speak HTTP). Closed after the relay has stopped, so pending publishes finish first.
 */
@Injectable()
export class EventsPublisher implements OnApplicationShutdown {
  readonly jetStream?: JetStreamPublisher;

  constructor(config: WorkflowExecutorConfig, tokens: TokenIssuer) {
    const nats = natsSettings(config);
    if (nats) this.jetStream = new JetStreamPublisher(nats, tokens, { name: 'workflow-executor-events' });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.jetStream?.close();
  }
}

/** Gives the outbox handlers (built inside OutboxModule) the shared publisher. */
@Module({ providers: [EventsPublisher], exports: [EventsPublisher] })
export class EventsPublisherModule {}
