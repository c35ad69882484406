import type { EventRoutedAuditEvent } from '../events/router-events';
import type { RunCancelledBeforeStartAuditEvent } from '../workflows/workflow-runs';
import type { Decision } from '../workflow-executor';
import type { TaskStatus } from './task-status';

/** Events Core writes to Bucket's `core` channel (POST /core/write-event), one per step of a task. */
export enum CoreEventType {
  TaskReceived = 'task_received',
  TaskDispatched = 'task_dispatched',
  TaskDispatchDead = 'task_dispatch_dead',
}

interface CoreEventBase {
  /** uuid v4: Bucket's idempotency key. */
  event_id: string;
  trace_id: string;
  task_id: string;
  user_id: string;
  /** Absent when the task named no product. */
  product?: string;
  action_type: string | null;
  timestamp: string;
  [field: string]: unknown;
}

export interface TaskReceivedEvent extends CoreEventBase {
  event_type: CoreEventType.TaskReceived;
  decision: Decision;
}

export interface TaskDispatchedEvent extends CoreEventBase {
  event_type: CoreEventType.TaskDispatched;
  status: TaskStatus.DispatchedSuccess | TaskStatus.DispatchedFailed;
  execution_result: Record<string, unknown> | null;
}

export interface TaskDispatchDeadEvent extends CoreEventBase {
  event_type: CoreEventType.TaskDispatchDead;
  status: TaskStatus.DispatchDead;
  reason: string;
}

/** Task events, the router's record of each event it routed (`event_routed`), and runs cancelled before their start. */
export type CoreEvent = TaskReceivedEvent | TaskDispatchedEvent | TaskDispatchDeadEvent | EventRoutedAuditEvent | RunCancelledBeforeStartAuditEvent;
