import { Injectable } from '@nestjs/common';
import { BucketClient } from '@pancha/bucket-client';
import { TokenIssuer } from '@pancha/governance';
import type { OutboxHandler, OutboxMessage } from '@pancha/outbox';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { EventsPublisher } from './events-publisher';
import { BUCKET_WORKFLOW_EVENT_TOPIC, type WorkflowEventPayload } from './workflow-events';

/**
 * Delivers workflow_execution events to Bucket's workflow channel: over HTTP, or over JetStream when NATS_URL
 * is set (the same body; delivered = persisted in the stream). Bucket deduplicates on event_data.event_id,
 * which is fixed in the stored payload, so redelivery is safe; a 409 (same id, other content) is never retried.
 */
@Injectable()
export class BucketWorkflowEventHandler implements OutboxHandler {
  readonly topic = BUCKET_WORKFLOW_EVENT_TOPIC;
  private readonly bucket: BucketClient;

  constructor(
    config: WorkflowExecutorConfig,
    tokens: TokenIssuer,
    private readonly publisher: EventsPublisher,
  ) {
    this.bucket = new BucketClient({ baseUrl: config.BUCKET_URL, tokens });
  }

  async deliver(message: OutboxMessage): Promise<void> {
    const { jetStream } = this.publisher;
    if (jetStream) {
      await jetStream.publish({ topic: this.topic, audience: 'bucket', messageKey: message.messageKey, payload: message.payload });
      return;
    }
    // A failure keeps the client's verdict (ServiceCallError.retryable): the relay retries or dead-letters.
    await this.bucket.writeEvent('workflow', message.payload as WorkflowEventPayload);
  }
}
