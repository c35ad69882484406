import { Injectable } from '@nestjs/common';
import { TokenIssuer } from '@pancha/governance';
import { KarmaClient } from '@pancha/karma-client';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { EventsPublisher } from './events-publisher';
import { KARMA_LIFE_EVENT_TOPIC, type KarmaLifeEventPayload } from './workflow-events';

/**
 * Delivers workflow_success / workflow_failure life events to Karma (HTTP, or JetStream when NATS_URL is set),
 * which deduplicates on data.event_id.
 */
@Injectable()
export class KarmaLifeEventHandler implements OutboxHandler {
  readonly topic = KARMA_LIFE_EVENT_TOPIC;
  private readonly karma: KarmaClient;

  constructor(
    config: WorkflowExecutorConfig,
    tokens: TokenIssuer,
    private readonly publisher: EventsPublisher,
  ) {
    this.karma = new KarmaClient({ baseUrl: config.KARMA_URL, tokens });
  }

  async deliver(message: OutboxMessage): Promise<void> {
    const { jetStream } = this.publisher;
    if (jetStream) {
      await jetStream.publish({ topic: this.topic, audience: 'karma', messageKey: message.messageKey, payload: message.payload });
      return;
    }
    // A failure keeps the client's verdict (ServiceCallError.retryable): the relay retries or dead-letters.
    await this.karma.submitEvent(message.payload as KarmaLifeEventPayload);
  }
}
