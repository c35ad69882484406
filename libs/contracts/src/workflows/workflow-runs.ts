import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsDefined,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { ID_LIMITS } from '../common/api-error';
import { IDEMPOTENCY_KEY_PATTERN } from '../core/core-error-code';
import { IsNotBlank } from '../common/not-blank';
import { IsTimestamp } from '../common/timestamp';

/** Run states (WORKFLOWS.md): pending → running → completed | failed | cancelled | timed_out. */
export const WORKFLOW_RUN_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out'] as const;
export type WorkflowRunStatus = (typeof WORKFLOW_RUN_STATUSES)[number];

export const WORKFLOW_NAME_REGEX = /^[a-z0-9][a-z0-9-]{0,63}$/;
export const SIGNAL_NAME_REGEX = /^[a-z0-9_.-]{1,128}$/;

/** `code` of workflow API errors. */
export enum WorkflowErrorCode {
  UnknownWorkflow = 'unknown_workflow',
  UnknownVersion = 'unknown_version',
  WorkflowDisabled = 'workflow_disabled',
  VersionRetired = 'version_retired',
  InputsInvalid = 'inputs_invalid',
  RunNotFound = 'run_not_found',
  RunNotCancellable = 'run_not_cancellable',
  RunNotRetryable = 'run_not_retryable',
  RunFinished = 'run_finished',
  /** 503: the executor could not be reached, or failed: nothing changed unless said otherwise; try again. */
  ExecutorUnavailable = 'executor_unavailable',
  /**
   * 504: the executor did not answer in time. A change asked for (a signal, a cancel, a retry) may or may not have been
   * made: read the run, or send a signal again with the same Idempotency-Key (it is then answered with the first).
   */
  ExecutorTimeout = 'executor_timeout',
  /** 409: this Idempotency-Key already named another signal (another name or payload) of the same sender and run. */
  SignalKeyReused = 'idempotency_key_reused',
  /** `GET /workflows/stats?window=`: not a duration (`90m`, `24h`, `7d`) or longer than 90 days. */
  InvalidStatsWindow = 'invalid_stats_window',
}

/** Body of `POST /workflows/:name/runs` (Core). */
export class StartRunRequestDto {
  @IsOptional() @IsObject()
  inputs?: Record<string, unknown>;

  // Not only whitespace: the run's end is scored in Karma for this user, and Karma refuses a blank one.
  @IsString() @IsNotEmpty() @IsNotBlank() @MaxLength(ID_LIMITS.userId)
  user_id: string;

  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(ID_LIMITS.product)
  product?: string;

  /** An exact version or a semver range; default: the newest version in the workflows directory. */
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(64)
  version?: string;
}

/** 202 of `POST /workflows/:name/runs`. */
export interface StartRunAccepted {
  run_id: string;
  trace_id: string;
  workflow: string;
  version: string;
  status: WorkflowRunStatus;
  /** Present when the version is deprecated (the run still starts). */
  warnings?: string[];
}

/** What Core sends the executor to start a run it accepted (the outbox message; idempotent on run_id). */
export class ExecutorStartRunDto {
  @IsUUID('all')
  run_id: string;

  @IsString() @Matches(WORKFLOW_NAME_REGEX)
  workflow: string;

  @IsString() @IsNotEmpty() @MaxLength(64)
  version: string;

  @IsDefined() @IsObject()
  inputs: Record<string, unknown>;

  @IsString() @IsNotEmpty() @MaxLength(ID_LIMITS.userId)
  user_id: string;

  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(ID_LIMITS.product)
  product?: string;

  @IsString() @Matches(/^[0-9a-f]{32}$/)
  trace_id: string;

  /** Who asked: a requester id, or `user:<subject>` for a signed-in person. */
  @IsOptional() @IsString() @MaxLength(160)
  actor?: string;

  /** What Core warned the start of (a deprecated version, inputs migrated from an older major): recorded with the run. */
  @IsOptional() @IsArray() @ArrayMaxSize(8) @IsString({ each: true }) @MaxLength(500, { each: true })
  warnings?: string[];
}

export class RunSignalRequestDto {
  /** Any JSON; becomes the approval step's output. */
  @IsOptional()
  payload?: unknown;
}

/** Core → executor on a run control: who asked Core (governance actorOf), recorded as the control's actor. */
export class ExecutorRunControlDto {
  /** A requester id, or `user:<username>` for a signed-in person; only Core's service token may send it. */
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(160)
  actor?: string;
}

/**
 * Bucket `core` channel entry for a run cancelled while its start was still in Core's outbox: the executor never had
 * it, so this is the run's only record in the audit chain (the executor records the cancels it makes).
 */
export interface RunCancelledBeforeStartAuditEvent {
  /** uuid v4: Bucket's idempotency key. */
  event_id: string;
  event_type: 'run_cancelled_before_start';
  trace_id: string;
  run_id: string;
  workflow: string;
  version: string;
  /** Who cancelled: a requester id, or `user:<username>`. */
  actor: string;
  user_id: string;
  product?: string;
  timestamp: string;
  [field: string]: unknown;
}

/**
 * Core → executor on a signal: the payload, who sent it to Core, and the sender's Idempotency-Key: a signal sent again
 * with the same key (same sender, run and name) is answered with the first and stored once.
 */
export class ExecutorRunSignalDto extends RunSignalRequestDto {
  @IsOptional() @IsString() @IsNotEmpty() @MaxLength(160)
  actor?: string;

  @IsOptional() @IsString() @Matches(IDEMPOTENCY_KEY_PATTERN, { message: 'idempotency_key must be 1 to 255 visible ASCII characters' })
  idempotency_key?: string;
}

export class RunListQueryDto {
  @IsOptional() @IsString() @Matches(WORKFLOW_NAME_REGEX)
  workflow?: string;

  @IsOptional() @IsString() @MaxLength(64)
  version?: string;

  @IsOptional() @IsIn(WORKFLOW_RUN_STATUSES)
  status?: WorkflowRunStatus;

  @IsOptional() @IsString() @MaxLength(ID_LIMITS.userId)
  user_id?: string;

  @IsOptional() @IsString() @MaxLength(ID_LIMITS.product)
  product?: string;

  @IsOptional() @IsString() @Matches(/^[0-9a-f]{32}$/)
  trace_id?: string;

  @IsOptional() @IsTimestamp()
  since?: string;

  @IsOptional() @IsTimestamp()
  until?: string;

  /** Only top-level runs (default) or sub-workflow runs too. */
  @IsOptional() @IsIn(['true', 'false'])
  include_children?: 'true' | 'false';

  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500)
  limit?: number;

  /**
   * Opaque cursor from the previous page's `next_cursor`. With `updated_since` it is the change feed's cursor (a feed
   * page's `next_cursor`, refused elsewhere) and the page starts right after it; else the list's, by creation.
   */
  @IsOptional() @IsString() @MaxLength(200)
  cursor?: string;

  /**
   * Change feed: runs whose row changed after this instant (`updated_at` > it, microsecond precision), oldest change
   * first (by `updated_at`, then `run_id`). To follow it, ask again with the same `updated_since` and `cursor` set to
   * the page's `next_cursor`: the page then starts right after that run, which `updated_since` alone cannot say, since
   * one statement updates many runs and they share one `updated_at` (continuing from `next_updated_since` skips the
   * rest of such a tie). A run is there once per change it had since. A watcher (PRANA's live stream) also reaches
   * back a few seconds and de-duplicates by (run_id, updated_at): a transaction that commits late can carry an
   * earlier timestamp.
   */
  @IsOptional() @IsTimestamp()
  updated_since?: string;
}

/**
 * GET /runs's query parameters, Core's and the executor's: every field of RunListQueryDto (a Record over its keys, so
 * a field added to the DTO and not here fails to compile). Each route answers any other name with a 400, since the
 * validation pipe's whitelist would drop it and a typo in a filter answer every run as if filtered.
 */
const RUN_LIST_QUERY_FIELDS: Record<keyof RunListQueryDto, true> = {
  workflow: true,
  version: true,
  status: true,
  user_id: true,
  product: true,
  trace_id: true,
  since: true,
  until: true,
  updated_since: true,
  include_children: true,
  cursor: true,
  limit: true,
};
export const RUN_LIST_QUERY_PARAMETERS: readonly string[] = Object.keys(RUN_LIST_QUERY_FIELDS);

export interface RunErrorView {
  code: string;
  message: string;
  retryable: boolean;
}

export interface StepAttemptView {
  attempt: number;
  status: 'running' | 'completed' | 'failed' | 'interrupted' | 'cancelled';
  idempotency_key: string;
  started_at: string;
  completed_at: string | null;
  duration_ms: number | null;
  error: RunErrorView | null;
}

export interface RunStepView {
  path: string;
  step_id: string;
  kind: string;
  status: string;
  attempts: StepAttemptView[];
  input: unknown;
  output: unknown;
  error: RunErrorView | null;
  handled: boolean;
  decision: unknown;
  child_run_id: string | null;
  fallback_run_id: string | null;
  wake_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
}

export interface RunSummaryView {
  run_id: string;
  workflow: string;
  version: string;
  status: WorkflowRunStatus;
  user_id: string | null;
  product: string | null;
  trace_id: string;
  parent_run_id: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  error: RunErrorView | null;
  /** When the run's row last changed (ISO 8601 with microseconds): the change-feed position of `updated_since`. */
  updated_at?: string;
  /**
   * What the run's start was warned of (as RunView's `warnings`). Core's answers (`GET /runs`, its own record of a
   * run) always carry it, [] when there were none; the executor's summaries may leave it out.
   */
  warnings?: string[];
}

/** Where Core's record of a run it accepted stands: in its outbox, at the executor, refused by it, cancelled before. */
export type RunDelivery = 'queued' | 'delivered' | 'refused' | 'cancelled';

/**
 * `GET /runs/:run_id` (and a cancel) answered from Core's own record, when the executor does not have the run (its
 * start still queued, refused, or cancelled before it got there) or does not answer: no steps, no children.
 */
export interface RunRequestView extends RunSummaryView {
  delivery: RunDelivery;
  /** Why it was refused or cancelled. */
  reason: string | null;
  /** What Core warned the start of (its 202's `warnings`), as stored with the request; [] when there were none. */
  warnings: string[];
}

export interface RunView extends RunSummaryView {
  inputs: Record<string, unknown>;
  output: unknown;
  actor: string | null;
  root_run_id: string;
  relation: string | null;
  fallback_run_id: string | null;
  cancel_requested: boolean;
  deadline_at: string | null;
  pins: Record<string, string>;
  /**
   * What the run's start was warned of (a deprecated version, inputs migrated from an older major: Core's 202
   * `warnings`, or the pin of a sub-workflow run), as recorded with the run; [] when there were none.
   */
  warnings: string[];
  steps: RunStepView[];
  signals: { name: string; received_at: string; consumed_by: string | null; sender: string }[];
  children: RunSummaryView[];
}

export interface RunListResponse {
  runs: RunSummaryView[];
  /**
   * Where the next page starts. The list: null after its last page. The change feed (`updated_since`): after this
   * page's last run, or the `cursor` asked with (null without one) when nothing changed since; never the end.
   */
  next_cursor: string | null;
  /**
   * With `updated_since`: the newest `updated_at` of this page, or null when empty. Kept for older followers: as the
   * next `updated_since` it skips the runs that share it after this page; follow `next_cursor` instead.
   */
  next_updated_since?: string | null;
}
