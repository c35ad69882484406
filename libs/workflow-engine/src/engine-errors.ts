import type { StepError } from './run-state';

/** Error codes the engine itself produces (actions bring their own, e.g. missing_recipient). */
export enum EngineErrorCode {
  ExpressionFailed = 'expression_failed',
  StepTimeout = 'step_timeout',
  RunTimeout = 'run_timeout',
  ApprovalTimeout = 'approval_timeout',
  Cancelled = 'cancelled',
  SubworkflowFailed = 'subworkflow_failed',
  FallbackFailed = 'fallback_failed',
  ForeachItemsInvalid = 'foreach_items_invalid',
  OutputInvalid = 'output_invalid',
  InputsInvalid = 'inputs_invalid',
  InterruptedTooOften = 'interrupted_too_often',
  ActionNotAllowed = 'action_not_allowed',
  UnknownAction = 'unknown_action',
  WorkflowNotFound = 'workflow_not_found',
  SleepUntilInvalid = 'sleep_until_invalid',
  /** A sleep whose computed `for` / `until` is further away than the longest sleep allowed (max_sleep_ms). */
  SleepTooLong = 'sleep_too_long',
  /** A value an expression rendered (a step's `with`, the run's `output`) that PostgreSQL cannot store (U+0000, …). */
  ValueUnstorable = 'value_unstorable',
  /** The run's state could not be written, round after round, for a reason that does not go away (RunWorker). */
  RoundUnwritable = 'round_unwritable',
}

export function engineError(code: EngineErrorCode, message: string, retryable = false): StepError {
  return { code, message, retryable };
}

/** Any thrown value as a terminal engine error (expressions that fail do not get better by retrying). */
export function expressionError(where: string, error: unknown): StepError {
  const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return engineError(EngineErrorCode.ExpressionFailed, `${where}: ${detail}`);
}
