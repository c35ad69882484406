import { Injectable } from '@nestjs/common';
import { BucketClient } from '@pancha/bucket-client';
import { TokenIssuer } from '@pancha/governance';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { toDeliveryError } from './delivery-error';
import { BUCKET_WORKFLOW_EVENT_TOPIC, type WorkflowEventPayload } from './workflow-events';

/**
 * Delivers workflow_execution events to Bucket's workflow channel. Bucket deduplicates on event_data.event_id,
 * which is fixed in the stored payload, so redelivery is safe; a 409 (same id, other content) is never retried.
 */
@Injectable()
export class BucketWorkflowEventHandler implements OutboxHandler {
  readonly topic = BUCKET_WORKFLOW_EVENT_TOPIC;
  private readonly bucket: BucketClient;

  constructor(config: WorkflowExecutorConfig, tokens: TokenIssuer) {
    this.bucket = new BucketClient({ baseUrl: config.BUCKET_URL, tokens });
  }

  async deliver(message: OutboxMessage): Promise<void> {
    try {
      await this.bucket.writeEvent('workflow', message.payload as WorkflowEventPayload);
    } catch (error) {
      throw toDeliveryError(error);
    }
  }
}
