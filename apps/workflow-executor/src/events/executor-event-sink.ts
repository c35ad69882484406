import type { DynamicModule } from '@nestjs/common';
import { BucketClient } from '@pancha/bucket-client';
import { EventTopic, type BucketWorkflowEventBody, type EventBatchItem, type KarmaLifeEventBody, type PublishEventRequest } from '@pancha/contracts';
import { CoreClient } from '@pancha/core-client';
import type { TokenIssuer } from '@pancha/governance';
import { KarmaClient } from '@pancha/karma-client';
import { EventSinkModule } from '@pancha/nats-transport';
import type { WorkflowExecutorConfig } from '../config/env.validation';

/**
 * The executor's one event transport, shared by its outbox handlers (EventHopHandler, one per hop): one JetStream
 * connection when NATS_URL is set, else the Bucket, Karma and Core HTTP clients. Every receiver deduplicates on the
 * event id fixed in the stored payload, so redelivery is safe; a refusal (a 409: same id, other content) keeps its
 * verdict and is never retried.
 * - bucket.workflow-event: workflow_execution events to Bucket's workflow channel;
 * - karma.life-event: workflow_success / workflow_failure life events to Karma (dedup on data.event_id);
 * - core.workflow-event: a run's end (`workflow.completed` / `workflow.failed`) to Core's event router.
 */
export function executorEventSink(config: WorkflowExecutorConfig): DynamicModule {
  const http = (tokens: TokenIssuer) => {
    const bucket = new BucketClient({ baseUrl: config.BUCKET_URL, tokens });
    const karma = new KarmaClient({ baseUrl: config.KARMA_URL, tokens });
    const core = new CoreClient({ baseUrl: config.CORE_URL, tokens });
    return {
      send: {
        [EventTopic.BucketWorkflowEvent]: (body: BucketWorkflowEventBody) => bucket.writeEvent('workflow', body),
        [EventTopic.KarmaLifeEvent]: (body: KarmaLifeEventBody) => karma.submitEvent(body),
        [EventTopic.CoreWorkflowEvent]: (body: PublishEventRequest) => core.publishEvent(body),
      },
      // Bucket's /workflow/write-events, Karma's /v1/events and Core's /events/batch: the relay's batches in one request each.
      batch: {
        // Ordered: a run's consecutive events may share a batch (the outbox's key runs), and must reach the chain in order.
        [EventTopic.BucketWorkflowEvent]: (items: readonly EventBatchItem<BucketWorkflowEventBody>[]) => bucket.writeEvents('workflow', items, { ordered: true }),
        [EventTopic.KarmaLifeEvent]: (items: readonly EventBatchItem<KarmaLifeEventBody>[]) => karma.submitEvents(items),
        [EventTopic.CoreWorkflowEvent]: (items: readonly EventBatchItem<PublishEventRequest>[]) => core.publishEvents(items),
      },
    };
  };
  return EventSinkModule.forRoot<EventTopic.BucketWorkflowEvent | EventTopic.KarmaLifeEvent | EventTopic.CoreWorkflowEvent>({ name: 'workflow-executor-events', config, http });
}
