import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { TokenIssuer } from '@pancha/governance';
import { KarmaClient } from '@pancha/karma-client';
import { JetStreamPublisher, natsSettings } from '@pancha/nats-transport';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { KARMA_LIFE_EVENT_TOPIC, type KarmaLifeEventPayload } from './workflow-events';

/**
 * Delivers workflow_success / workflow_failure life events to Karma (HTTP, or JetStream when NATS_URL is set),
 * which deduplicates on data.event_id.
 */
@Injectable()
export class KarmaLifeEventHandler implements OutboxHandler, OnApplicationShutdown {
  readonly topic = KARMA_LIFE_EVENT_TOPIC;
  private readonly karma: KarmaClient;
  private readonly nats?: JetStreamPublisher;

  constructor(config: WorkflowExecutorConfig, tokens: TokenIssuer) {
    this.karma = new KarmaClient({ baseUrl: config.KARMA_URL, tokens });
    const nats = natsSettings(config);
    if (nats) this.nats = new JetStreamPublisher(nats, tokens, { name: 'workflow-executor-karma-events' });
  }

  async deliver(message: OutboxMessage): Promise<void> {
    if (this.nats) {
      await this.nats.publish({ topic: this.topic, audience: 'karma', messageKey: message.messageKey, payload: message.payload });
      return;
    }
    // A failure keeps the client's verdict (ServiceCallError.retryable): the relay retries or dead-letters.
    await this.karma.submitEvent(message.payload as KarmaLifeEventPayload);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.nats?.close();
  }
}
