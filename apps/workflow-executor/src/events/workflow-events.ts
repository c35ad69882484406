import {
  ActionType,
  boundExecutionResult,
  type BucketWorkflowEventBody,
  EventTopic,
  type ExecutionResult,
  type ExecutionStatus,
  type KarmaLifeEventBody,
  RequesterId,
  WORKFLOW_EXECUTION_EVENT_TYPE,
} from '@pancha/contracts';
import type { EnqueueInput } from '@pancha/outbox';
import { randomUUID } from 'node:crypto';
import type { WorkflowExecutorConfig } from '../config/env.validation';

/** A finished execution, as the events describe it. */
export interface CompletedExecution {
  /** The execution's key (the request's trace_id): one message per topic per execution. */
  executionKey: string;
  /** payload.trace_id or the request's: the trace the events belong to. */
  traceId: string;
  actionType: string | null;
  status: ExecutionStatus;
  result: ExecutionResult;
  userId?: string;
  product?: string;
  completedAt: Date;
}

/**
 * The messages a finished execution emits, per the feature flags; enqueued with the execution's final update.
 * Each payload is the wire body, stored whole, so every retry sends the same event_id and content.
 */
export function workflowOutboxMessages(
  execution: CompletedExecution,
  config: Pick<WorkflowExecutorConfig, 'WORKFLOW_EVENTS_ENABLED' | 'WORKFLOW_BEHAVIORAL_TRACKING'>,
): EnqueueInput[] {
  const messages: EnqueueInput[] = [];
  const actionType = normalizedActionType(execution.actionType);
  if (config.WORKFLOW_EVENTS_ENABLED) {
    const payload: BucketWorkflowEventBody = {
      requester_id: RequesterId.WorkflowExecutor,
      event_data: {
        event_id: randomUUID(),
        event_type: WORKFLOW_EXECUTION_EVENT_TYPE,
        trace_id: execution.traceId,
        action_type: actionType,
        status: execution.status,
        execution_result: boundedResult(execution.result),
        timestamp: execution.completedAt.toISOString(),
        ...(execution.product !== undefined ? { product: execution.product } : {}),
        ...(execution.userId !== undefined ? { user_id: execution.userId } : {}),
      },
    };
    messages.push({ topic: EventTopic.BucketWorkflowEvent, messageKey: execution.executionKey, payload });
  }
  if (config.WORKFLOW_BEHAVIORAL_TRACKING && execution.userId !== undefined) {
    const payload: KarmaLifeEventBody = {
      type: 'life_event',
      source: 'workflow_executor',
      data: {
        event_id: randomUUID(),
        user_id: execution.userId,
        action: execution.status === 'success' ? 'workflow_success' : 'workflow_failure',
        context: { trace_id: execution.traceId, action_type: actionType },
      },
    };
    messages.push({ topic: EventTopic.KarmaLifeEvent, messageKey: execution.executionKey, payload });
  }
  return messages;
}

/** The execution_result as the Bucket event carries it (bounded: see boundExecutionResult); the reply is not cut. */
export function boundedResult(result: ExecutionResult): ExecutionResult {
  return boundExecutionResult(result);
}

/** The canonical name when the payload named a known action (any case), else what the caller sent. */
function normalizedActionType(raw: string | null): string | null {
  if (raw === null) return null;
  const lower = raw.trim().toLowerCase();
  return (Object.values(ActionType) as string[]).includes(lower) ? lower : raw;
}
