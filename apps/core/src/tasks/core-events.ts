import { randomUUID } from 'node:crypto';
import {
  boundExecutionResult,
  CoreEventType,
  EventTopic,
  FIELD_LIMITS,
  type ExecuteWorkflowRequest,
  type TaskDispatchDeadEvent,
  type TaskDispatchedEvent,
  type TaskReceivedEvent,
  TaskStatus,
  type CoreEvent,
  truncateText,
} from '@pancha/contracts';
import type { TaskEntity } from './task.entity';

/** Outbox topic (named in contracts): one Core event for Bucket's `core` channel. Payload: BucketCoreEventMessage. */
export const BUCKET_CORE_EVENT_TOPIC = EventTopic.BucketCoreEvent;
/** Outbox topic (named in contracts): one workflow for the executor. Payload: WorkflowDispatchMessage. */
export const WORKFLOW_EXECUTE_TOPIC = EventTopic.WorkflowExecute;

/** What Core's outbox keeps for a Bucket event; the handler adds Core's requester_id (BucketCoreEventBody). */
export interface BucketCoreEventMessage {
  event_data: CoreEvent;
}

/** Self-contained: the relay sends `request` as stored, so what was decided is exactly what is executed. */
export interface WorkflowDispatchMessage {
  task_id: string;
  request: ExecuteWorkflowRequest;
}

/** Message keys are per task and step, so a repeated enqueue (a redelivered result) is the same message. */
export function coreEventMessageKey(type: CoreEventType, taskId: string): string {
  return `${type}:${taskId}`;
}

/** What a task's Bucket events say about it besides their own fields. */
export type TaskEventSubject = Pick<TaskEntity, 'taskId' | 'traceId' | 'userId' | 'product' | 'actionType'>;

function base(task: TaskEventSubject) {
  return {
    event_id: randomUUID(),
    trace_id: task.traceId,
    task_id: task.taskId,
    user_id: task.userId,
    ...(task.product ? { product: task.product } : {}),
    action_type: task.actionType,
    timestamp: new Date().toISOString(),
  };
}

export function taskReceivedEvent(task: TaskEntity): TaskReceivedEvent {
  return { ...base(task), event_type: CoreEventType.TaskReceived, decision: task.decision, timestamp: task.createdAt.toISOString() };
}

export function taskDispatchedEvent(
  task: TaskEventSubject,
  status: TaskStatus.DispatchedSuccess | TaskStatus.DispatchedFailed,
  executionResult: Record<string, unknown> | null,
): TaskDispatchedEvent {
  // Bounded like the executor's own event: the executor's result (an AI answer, say) can exceed what Bucket takes.
  const bounded = executionResult === null ? null : boundExecutionResult(executionResult);
  return { ...base(task), event_type: CoreEventType.TaskDispatched, status, execution_result: bounded };
}

export function taskDispatchDeadEvent(task: TaskEventSubject, reason: string): TaskDispatchDeadEvent {
  return { ...base(task), event_type: CoreEventType.TaskDispatchDead, status: TaskStatus.DispatchDead, reason: truncateText(reason, FIELD_LIMITS.resultText) };
}

/** The SPEC §2 executor body for a workflow task. */
export function executeRequestFor(task: TaskEntity): ExecuteWorkflowRequest {
  return {
    trace_id: task.traceId,
    decision: 'workflow',
    data: {
      workflow_type: 'workflow',
      payload: {
        action_type: task.actionType ?? undefined,
        user_id: task.userId,
        product: task.product ?? undefined,
        trace_id: task.traceId,
        ...(task.payload ?? {}),
      },
    },
  };
}
