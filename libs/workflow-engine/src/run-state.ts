import type { RunStatus, StepKind, StepStatus } from '@pancha/workflow-manifest';

/** Why a step or run failed: a stable code, a message safe to show, and whether trying again could help. */
export interface StepError {
  code: string;
  message: string;
  retryable: boolean;
}

/** The run as the interpreter sees it (one row of workflow_runs). */
export interface RunRecord {
  id: string;
  workflow: string;
  version: string;
  status: RunStatus;
  inputs: Record<string, unknown>;
  output?: unknown;
  error?: StepError;
  user_id?: string;
  product?: string;
  /** Who started it: a requester id, `user:<username>` for a person, `run:<id>` for a sub-workflow. */
  actor?: string;
  trace_id: string;
  /** Sub-workflow refs (`name@range`) resolved to versions when the run started. */
  pins: Record<string, string>;
  cancel_requested: boolean;
  created_at: Date;
  started_at?: Date;
  completed_at?: Date;
  deadline_at?: Date;
  /** Set when the run failed and its `on_failure.workflow` fallback was started. */
  fallback_run_id?: string;
  /** What its start was warned of (a deprecated version, migrated inputs): recorded with `workflow.started`. */
  warnings?: string[];
  /**
   * How many times an operator retried the run (POST /runs/<id>/retry); absent or 0 for a run never retried. Part of
   * every idempotency key of its attempts from then on (idempotencyKey), so what a retry runs again reaches providers
   * as a new request, not the replay of the earlier one.
   */
  retry_generation?: number;
}

/**
 * One step instance of a run (one row of workflow_steps). `path` names it within the run: the step id, prefixed
 * by its foreach iterations (`per_platform[2].publish`); `<run_id>:<path>` is the idempotency key every attempt
 * of it carries (`<run_id>:<path>:retry-<n>` once the run was retried n times: idempotencyKey).
 */
export interface StepRecord {
  path: string;
  step_id: string;
  kind: StepKind;
  status: StepStatus;
  /** Attempts started (actions and sub-workflows); interrupted attempts are counted in `interruptions`. */
  attempts: number;
  interruptions: number;
  /** Attempts that count against the retry policy start after this many (a manual retry gives a fresh budget). */
  attempt_base: number;
  /** The rendered input of the latest attempt, secrets redacted. */
  input?: unknown;
  output?: unknown;
  error?: StepError;
  /** Failed, but the manifest handles it (continue / goto / fallback): the block goes on. */
  handled: boolean;
  /** Recorded decisions, so a resumed run never decides twice: switch case, foreach items, goto target. */
  decision?: StepDecision;
  /** Sub-workflow run (workflow steps, foreach workflow bodies). */
  child_run_id?: string;
  /** The `on_failure.workflow` run started after this step failed. */
  fallback_run_id?: string;
  /** When the step next needs attention: a retry's backoff, a sleep's end, an approval's or step's timeout. */
  wake_at?: Date;
  started_at?: Date;
  completed_at?: Date;
}

export type StepDecision =
  | { switch_case: number | 'default' | 'none' }
  | { items: unknown[] }
  | { skipped: string }
  /** On the compensation record (`#on_failure`) of a run whose deadline started it: the run ends timed_out. */
  | { ends: 'timed_out' };

/** A signal sent to the run (POST /runs/:id/signals/:name), kept until a step consumes it. */
export interface SignalRecord {
  id: string;
  name: string;
  payload: unknown;
  received_at: Date;
  consumed_by?: string;
}

/** What the parent needs to know of a child run. */
export interface ChildRunView {
  id: string;
  status: RunStatus;
  output?: unknown;
  error?: StepError;
}

export interface RunState {
  run: RunRecord;
  steps: Map<string, StepRecord>;
  signals: SignalRecord[];
  children: Map<string, ChildRunView>;
}

/**
 * The idempotency key of an attempt of the step at `path`: the same for every attempt of one run attempt (a
 * `retry` policy's attempts, an attempt repeated after a crash), so a provider that honours it performs the effect
 * once. An operator's retry of the run starts a new generation with keys of its own: what it runs again (a failed
 * step, the compensation of a second failure) is a new request, not the replay of the first attempt's answer. A run
 * never retried keeps the key it always had, `<run_id>:<path>` (step paths never hold a `:`).
 */
export function idempotencyKey(runId: string, path: string, retryGeneration = 0): string {
  return retryGeneration > 0 ? `${runId}:${path}:retry-${retryGeneration}` : `${runId}:${path}`;
}
