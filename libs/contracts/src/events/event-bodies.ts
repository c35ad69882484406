import type { WriteEventRequest } from '../bucket/bucket-event';
import type { CoreEvent } from '../core/core-events';
import type { RequesterId } from '../common/identity';
import type { ExecutionResult, ExecutionStatus } from '../workflow-executor/workflow-executor.types';
import type { EventTopic } from './event-topics';
import type { PublishEventRequest } from './router-events';

/** Event type the executor records for every executed action. */
export const WORKFLOW_EXECUTION_EVENT_TYPE = 'workflow_execution';

/** The `workflow_execution` event, as the executor writes it to Bucket's workflow channel. */
export interface WorkflowExecutionEvent {
  /** uuid v4, fixed when the row is enqueued: Bucket's idempotency key across retries. */
  event_id: string;
  event_type: typeof WORKFLOW_EXECUTION_EVENT_TYPE;
  trace_id: string;
  /** The canonical action name when the payload named a known one, else what the caller sent; null when absent. */
  action_type: string | null;
  status: ExecutionStatus;
  execution_result: ExecutionResult;
  /** When the action finished, ISO 8601 (the producer's clock; the entry's created_at is Bucket's). */
  timestamp: string;
  product?: string;
  user_id?: string;
  [field: string]: unknown;
}

/** Body of `bucket.workflow-event` (= POST /workflow/write-event). */
export interface BucketWorkflowEventBody extends WriteEventRequest {
  requester_id: RequesterId.WorkflowExecutor;
  event_data: WorkflowExecutionEvent;
}

/** Body of `bucket.core-event` (= POST /core/write-event). */
export interface BucketCoreEventBody extends WriteEventRequest {
  requester_id: RequesterId.Core;
  event_data: CoreEvent;
}

/** The Karma actions the executor reports. */
export type WorkflowLifeAction = 'workflow_success' | 'workflow_failure';

/** Body of `karma.life-event` (= POST /v1/event/ with a life_event). */
export interface KarmaLifeEventBody {
  type: 'life_event';
  source: 'workflow_executor';
  data: {
    /** Karma's idempotency key, fixed at enqueue. */
    event_id: string;
    user_id: string;
    action: WorkflowLifeAction;
    context: { trace_id: string; action_type: string | null };
  };
}

/** What each event hop carries on the wire (the same body over HTTP and JetStream). */
export interface EventHopBodies {
  [EventTopic.BucketCoreEvent]: BucketCoreEventBody;
  [EventTopic.BucketWorkflowEvent]: BucketWorkflowEventBody;
  [EventTopic.KarmaLifeEvent]: KarmaLifeEventBody;
  [EventTopic.CoreWorkflowEvent]: PublishEventRequest;
  [EventTopic.CoreKarmaEvent]: PublishEventRequest;
  [EventTopic.CoreBucketEvent]: PublishEventRequest;
}
