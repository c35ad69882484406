import { Injectable } from '@nestjs/common';
import { TokenIssuer } from '@pancha/governance';
import { KarmaClient } from '@pancha/karma-client';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { toDeliveryError } from './delivery-error';
import { KARMA_LIFE_EVENT_TOPIC, type KarmaLifeEventPayload } from './workflow-events';

/** Delivers workflow_success / workflow_failure life events to Karma, which deduplicates on data.event_id. */
@Injectable()
export class KarmaLifeEventHandler implements OutboxHandler {
  readonly topic = KARMA_LIFE_EVENT_TOPIC;
  private readonly karma: KarmaClient;

  constructor(config: WorkflowExecutorConfig, tokens: TokenIssuer) {
    this.karma = new KarmaClient({ baseUrl: config.KARMA_URL, tokens });
  }

  async deliver(message: OutboxMessage): Promise<void> {
    try {
      await this.karma.submitEvent(message.payload as KarmaLifeEventPayload);
    } catch (error) {
      throw toDeliveryError(error);
    }
  }
}
