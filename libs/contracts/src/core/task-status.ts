/** Where a task stands. A task is written once with its decision; only the dispatch outcome changes it later. */
export enum TaskStatus {
  /** The decision needs no workflow (e.g. respond): nothing to dispatch. */
  Decided = 'decided',
  /** A workflow is queued in Core's outbox for the executor. */
  Dispatching = 'dispatching',
  /** The executor ran the workflow and reported success. */
  DispatchedSuccess = 'dispatched_success',
  /** The executor ran the workflow and reported failure (the adapter's error is in execution_result). */
  DispatchedFailed = 'dispatched_failed',
  /** ENABLE_WORKFLOW_EXECUTION=false: the workflow was decided but deliberately not sent. */
  DispatchSkipped = 'dispatch_skipped',
  /** The executor refused the request for good, or every retry failed: see execution_result.reason. */
  DispatchDead = 'dispatch_dead',
  /** The decision named a versioned workflow and its run was started: follow it at GET /runs/:run_id. */
  RunStarted = 'run_started',
  /** The decision named a workflow that could not start (unknown, disabled, inputs invalid): see agent_note. */
  RunRefused = 'run_refused',
}

export const TASK_STATUSES: readonly TaskStatus[] = Object.values(TaskStatus);

/** Statuses that no later delivery may change. */
export const TERMINAL_TASK_STATUSES: readonly TaskStatus[] = [
  TaskStatus.Decided,
  TaskStatus.DispatchedSuccess,
  TaskStatus.DispatchedFailed,
  TaskStatus.DispatchSkipped,
  TaskStatus.DispatchDead,
  TaskStatus.RunStarted,
  TaskStatus.RunRefused,
];
