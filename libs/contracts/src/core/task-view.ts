import type { BucketEntry } from '../bucket';
import type { Decision } from '../workflow-executor';
import type { TimelineError } from './core-error-code';
import type { TaskStatus } from './task-status';

/**
 * `GET /tasks/:task_id`: the task as Core recorded it plus the Bucket events of its trace, oldest first.
 * Named CoreTaskView because the executor's contracts already export a `TaskView` (its task-adapter rows).
 */
export interface CoreTaskView {
  task_id: string;
  trace_id: string;
  user_id: string;
  product: string | null;
  decision: Decision;
  action_type: string | null;
  /** For a decision that started a versioned workflow: which one, and its run (GET /runs/:run_id). */
  workflow?: string | null;
  run_id?: string | null;
  status: TaskStatus;
  /** Why it went as it did, when there is more to say: the workflow not started (`run_refused`), the rules deciding for an LLM. */
  agent_note: string | null;
  /** The executor's execution_result once it answered (or the reason the dispatch died); null before. */
  execution_result: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
  timeline: BucketEntry[];
  /** Present when Bucket could not be read: the task is still shown, with an empty timeline. */
  timeline_error?: TimelineError;
}
