import { Injectable, Module } from '@nestjs/common';
import { BucketClient } from '@pancha/bucket-client';
import type { EventBatchItem } from '@pancha/contracts';
import { TokenIssuer } from '@pancha/governance';
import { KarmaClient } from '@pancha/karma-client';
import type { OutboxMessage } from '@pancha/outbox';
import { WorkflowExecutorConfig } from '../config/env.validation';

/**
 * The batch calls of the executor's HTTP event hops (Bucket's /workflow/write-events, Karma's /v1/events): its
 * outbox handlers send a batch of messages in one request when the events go over HTTP. Over JetStream (NATS_URL
 * set) there is no batch route and the handlers send message by message through the event sink.
 */
@Injectable()
export class ExecutorEventBatches {
  readonly bucket: BucketClient;
  readonly karma: KarmaClient;

  constructor(config: WorkflowExecutorConfig, tokens: TokenIssuer) {
    this.bucket = new BucketClient({ baseUrl: config.BUCKET_URL, tokens });
    this.karma = new KarmaClient({ baseUrl: config.KARMA_URL, tokens });
  }
}

/** One batch item per outbox message: its stored body, and the trace context of its delivery. */
export function batchItemsOf<B>(messages: readonly OutboxMessage[]): EventBatchItem<B>[] {
  return messages.map((m) => ({ body: m.payload as B, traceparent: m.headers.traceparent, tracestate: m.headers.tracestate }));
}

@Module({ providers: [ExecutorEventBatches], exports: [ExecutorEventBatches] })
export class ExecutorEventBatchesModule {}
