import {
  type ActionStep,
  type ApprovalStep,
  compileExpression,
  compileTemplate,
  DEFAULT_MANIFEST_LIMITS,
  ExpressionEvaluationError,
  type ExpressionScope,
  type ForeachStep,
  formatDuration,
  isExpressionString,
  NOT_A_BOOL,
  parseDuration,
  type ParallelStep,
  redactSecrets,
  renderTemplate,
  type RetryPolicy,
  type SleepStep,
  type Step,
  type StepKind,
  type SwitchStep,
  TERMINAL_RUN_STATUSES,
  type TemplateValue,
  type WorkflowManifest,
  type WorkflowRef,
  type WorkflowStep,
} from '@pancha/workflow-manifest';
import { retryDelayMs } from './backoff';
import { EngineErrorCode, engineError, expressionError } from './engine-errors';
import {
  type ChildRunView,
  idempotencyKey,
  type RunRecord,
  type RunState,
  type StepError,
  type StepRecord,
} from './run-state';
import { assertStorable, findUnstorableValue, storableError, UnstorableValueError, unstorableError } from './storable';

/** An action attempt the worker must perform after the round's state is committed. */
export interface ActionCommand {
  path: string;
  step_id: string;
  action: string;
  /** The rendered input, secrets included: handed to the action, never stored. */
  input: unknown;
  attempt: number;
  idempotency_key: string;
  /** Per attempt; the worker aborts the action after it. */
  timeout_ms?: number;
}

/** A run the worker must create in the round's transaction: a sub-workflow, a step fallback or a run fallback. */
export interface ChildRunCommand {
  run_id: string;
  workflow: string;
  version: string;
  /** The range the manifest names: a version outside it is a later major whose migration the inputs go through. */
  range?: string;
  inputs: Record<string, unknown>;
  /** The parent step's path (sub-workflow or step fallback); absent for a run-level fallback, which stands alone. */
  parent_step_path?: string;
  relation: 'subworkflow' | 'step_fallback' | 'run_fallback';
}

export type CancelCommand = { kind: 'abort_action'; path: string } | { kind: 'cancel_child'; run_id: string };

export type EngineEventType =
  | 'workflow.started'
  | 'workflow.step_completed'
  | 'workflow.step_failed'
  | 'workflow.completed'
  | 'workflow.failed'
  | 'workflow.cancelled';

export interface EngineEvent {
  type: EngineEventType;
  at: Date;
  path?: string;
  step_id?: string;
  kind?: StepKind;
  attempts?: number;
  status: string;
  output?: unknown;
  error?: StepError;
}

/** Everything one round decided; the worker persists it in one transaction, then performs the commands. */
export interface Round {
  dirtySteps: Set<string>;
  dirtySignals: Set<string>;
  runChanged: boolean;
  actions: ActionCommand[];
  children: ChildRunCommand[];
  cancels: CancelCommand[];
  events: EngineEvent[];
  /** The earliest time a waiting step needs attention again (a timer, a backoff, a timeout, the run's deadline). */
  nextWakeAt?: Date;
}

/** What an action attempt came back with. */
export type ActionResult = { ok: true; output: unknown } | { ok: false; error: StepError };

export interface InterpreterDeps {
  /** Values of the secrets the manifest declares (security.secrets); anything else is invisible to it. */
  secrets?: Readonly<Record<string, string>>;
  /** A new run id (sub-workflows and fallbacks). */
  newRunId(): string;
  /** For backoff jitter. */
  random?: () => number;
  /** Checks a run's output against the manifest's `outputs` schema; returns problems, empty when valid. */
  validateOutput?(manifest: WorkflowManifest, output: unknown): string[];
  /** Resolves a `name@range` not pinned at the run's start (a run older than its manifest's refs). */
  resolveRef?(ref: WorkflowRef): string | undefined;
  /** Interruptions (crashes mid-attempt) tolerated per step before it fails. */
  maxInterruptions?: number;
}

type Outcome = { state: 'waiting' } | { state: 'done'; output?: unknown; goto?: string } | { state: 'failed'; error: StepError };

const WAITING: Outcome = { state: 'waiting' };
const COMPENSATION_PATH = '#on_failure';
const DEFAULT_MAX_INTERRUPTIONS = 10;
const MAX_FOREACH_ITEMS = 10_000;
/** The longest sleep, whether written in the manifest (validation refuses more) or computed by `for` / `until`. */
const MAX_SLEEP_MS = DEFAULT_MANIFEST_LIMITS.max_sleep_ms;

interface Frame {
  /** Prepended to step ids to make record paths ('' at the top, `fe[2].` inside an iteration). */
  prefix: string;
  item?: unknown;
  index?: number;
  parent?: Frame;
}

const ROOT: Frame = { prefix: '' };

/**
 * Decides what a run does next from its durable state alone (manifest + step records + signals + children),
 * so any process can pick a run up where another left it. It mutates the state it is given and reports what
 * changed; it performs nothing itself (no I/O, no clock: `now` is passed in).
 */
export class RunInterpreter {
  private readonly secretNames: string[];
  private readonly secretValues: string[];
  /** Every step id of the manifest: `steps.<id>` exists for each (pending until it has a record), so has() works. */
  private readonly stepIds: string[];
  private round: Round = emptyRound();
  private now = new Date(0);
  private inFlight: ReadonlySet<string> = new Set();

  constructor(
    private readonly manifest: WorkflowManifest,
    private readonly state: RunState,
    private readonly deps: InterpreterDeps,
  ) {
    this.secretNames = manifest.security.secrets;
    this.secretValues = this.secretNames.map((n) => deps.secrets?.[n]).filter((v): v is string => typeof v === 'string');
    this.stepIds = allStepIds(manifest);
  }

  get run(): RunRecord {
    return this.state.run;
  }

  /** The commands the round taken next starts, so far (a worker may perform a local one before taking it). */
  get roundActions(): readonly ActionCommand[] {
    return this.round.actions;
  }

  /**
   * What the calls since the last take decided (records to write, commands to perform, events to record);
   * the worker persists it in one transaction, then performs the commands.
   */
  takeRound(): Round {
    const round = this.round;
    this.round = emptyRound();
    return round;
  }

  /** How much the round taken next holds so far (changed records, commands, events): grows when a pass moved something. */
  get pending(): number {
    const r = this.round;
    return r.dirtySteps.size + r.dirtySignals.size + r.actions.length + r.children.length + r.cancels.length + r.events.length + (r.runChanged ? 1 : 0);
  }

  /**
   * Advances until a pass moves nothing more (a pass can unblock what an earlier part of the same pass had already
   * looked at, e.g. a parallel branch cancelled by its sibling), so one round carries everything that can happen now.
   */
  advanceUntilStable(now: Date, inFlight: ReadonlySet<string> = new Set(), maxPasses = 16): void {
    for (let pass = 0; pass < maxPasses; pass++) {
      const before = this.pending;
      this.advance(now, inFlight);
      if (this.pending === before) return;
    }
  }

  /** Advances everything that can move now. `inFlight` = action paths this process is executing right now. */
  advance(now: Date, inFlight: ReadonlySet<string> = new Set()): void {
    this.now = now;
    this.inFlight = inFlight;
    this.round.nextWakeAt = undefined;
    const run = this.state.run;
    if (TERMINAL_RUN_STATUSES.includes(run.status)) return;
    if (run.status === 'pending') {
      run.status = 'running';
      run.started_at = now;
      this.round.runChanged = true;
      this.emit({ type: 'workflow.started', status: 'running' });
    }
    if (run.cancel_requested) {
      this.cancelEverything();
      this.finishRun('cancelled', undefined, engineError(EngineErrorCode.Cancelled, 'the run was cancelled'));
      return;
    }
    const compensation = this.state.steps.get(COMPENSATION_PATH);
    if (run.deadline_at) {
      if (compensation) {
        // The compensation is bounded too, by a second window as long as the run's timeout after its deadline.
        const limit = this.compensationDeadline(run.deadline_at);
        if (now >= limit) {
          this.cancelEverything();
          this.failRun(
            engineError(
              EngineErrorCode.RunTimeout,
              `the run's compensation (on_failure.steps) did not finish by ${limit.toISOString()}, a run timeout after the run's deadline`,
            ),
            'timed_out',
          );
          return;
        }
        this.wakeAt(limit);
      } else if (now >= run.deadline_at) {
        // Like a failure: the main path stops, then the compensation runs (if any) and the run ends timed_out.
        this.cancelSteps(this.manifest.steps, ROOT);
        this.onRunFailure(engineError(EngineErrorCode.RunTimeout, `the run did not finish within its timeout`), 'timed_out');
        return;
      } else {
        this.wakeAt(run.deadline_at);
      }
    }

    if (compensation) {
      this.advanceCompensation(compensation);
      return;
    }
    const outcome = this.advanceBlock(this.manifest.steps, ROOT);
    if (outcome.state === 'done') this.completeRun(outcome.output);
    else if (outcome.state === 'failed') this.onRunFailure(outcome.error);
  }

  /**
   * Records an action attempt's result; the next `advance` moves on from it. Returns false for a stale result
   * (the step was cancelled or already closed meanwhile), which changes nothing.
   */
  applyActionResult(path: string, result: ActionResult, now: Date, retry: RetryPolicy | undefined = this.retryOf(path)): boolean {
    this.now = now;
    const rec = this.state.steps.get(path);
    if (!rec || rec.status !== 'running') return false;
    if (result.ok) {
      this.completeStep(rec, this.scrub(result.output));
      return true;
    }
    const error = storableError({ ...result.error, message: this.scrub(result.error.message) as string });
    const policy = retry;
    const countable = rec.attempts - rec.interruptions - rec.attempt_base;
    const retryable = error.retryable && policy !== undefined && !policy.non_retryable.includes(error.code);
    if (retryable && countable < policy.max_attempts) {
      rec.status = 'pending';
      rec.error = error;
      rec.wake_at = new Date(now.getTime() + retryDelayMs(policy, countable, this.deps.random));
      this.dirty(rec);
      return true;
    }
    this.failStep(rec, error);
    return true;
  }

  /**
   * Ends the run failed at once with `error`, stopping all it still has going as a cancel does: the worker's last
   * resort for a run whose rounds cannot be written. Its compensation steps (`on_failure.steps`) do not run (they
   * would need more rounds of a run that cannot be written); a run fallback workflow starts.
   */
  abandon(error: StepError, now: Date): void {
    this.now = now;
    this.inFlight = new Set();
    if (TERMINAL_RUN_STATUSES.includes(this.run.status)) return;
    this.run.started_at ??= now;
    this.cancelEverything();
    this.failRun(error, 'failed');
  }

  // ---- blocks and steps ------------------------------------------------------------------------------

  private advanceBlock(steps: readonly Step[], frame: Frame): Outcome {
    let last: unknown;
    for (let i = 0; i < steps.length; i++) {
      const outcome = this.advanceStep(steps[i], frame);
      if (outcome.state !== 'done') return outcome;
      const rec = this.record(steps[i], frame);
      if (rec?.status === 'completed' || (rec?.status === 'failed' && rec.handled && rec.output !== undefined)) last = rec.output;
      if (outcome.goto !== undefined) {
        const target = steps.findIndex((s) => s.id === outcome.goto);
        // Validation guarantees a later step of this block; anything else would loop, so treat it as "next".
        if (target > i) {
          for (let j = i + 1; j < target; j++) this.skipStep(steps[j], frame, `skipped by goto ${outcome.goto}`);
          i = target - 1;
        }
      }
    }
    return { state: 'done', output: last };
  }

  private advanceStep(step: Step, frame: Frame): Outcome {
    let rec = this.record(step, frame);
    if (!rec || awaitsDecision(rec)) {
      if (step.if !== undefined) {
        let run: boolean;
        try {
          run = compileExpression(step.if).evaluateBool(this.scope(frame));
        } catch (error) {
          rec ??= this.createRecord(step, frame);
          this.failStep(rec, conditionError(`if of step ${step.id}`, error));
          return this.afterFailure(step, rec, frame);
        }
        if (!run) {
          this.skipStep(step, frame, 'condition_false');
          return { state: 'done' };
        }
      }
      rec ??= this.createRecord(step, frame);
    }
    switch (rec.status) {
      case 'completed':
      case 'skipped':
        return { state: 'done', output: rec.output };
      case 'cancelled':
        return { state: 'failed', error: rec.error ?? engineError(EngineErrorCode.Cancelled, `step ${step.id} was cancelled`) };
      case 'failed':
        return this.afterFailure(step, rec, frame);
      default:
        break;
    }
    const timedOut = this.checkStepTimeout(step, rec, frame);
    if (timedOut) return this.afterFailure(step, rec, frame);
    const outcome = this.advanceKind(step, rec, frame);
    if (outcome.state === 'failed') return this.afterFailure(step, rec, frame);
    // A step that started waiting in this very round needs its deadline watched from now on.
    if (outcome.state === 'waiting') this.checkStepTimeout(step, rec, frame);
    return outcome;
  }

  private advanceKind(step: Step, rec: StepRecord, frame: Frame): Outcome {
    switch (step.kind) {
      case 'action':
        return this.advanceAction(rec, step, frame);
      case 'workflow':
        return this.advanceSubworkflow(rec, step.workflow, step.with, frame);
      case 'sleep':
        return this.advanceSleep(rec, step, frame);
      case 'approval':
        return this.advanceApproval(rec, step);
      case 'group':
        return this.advanceContainer(rec, () => this.advanceBlock(step.steps, frame));
      case 'switch':
        return this.advanceSwitch(rec, step, frame);
      case 'parallel':
        return this.advanceParallel(rec, step, frame);
      case 'foreach':
        return this.advanceForeach(rec, step, frame);
      default:
        return assertUnreachable(step);
    }
  }

  /** A step that is failed: handled by its on_failure (continue / goto / fallback), or a failure of its block. */
  private afterFailure(step: Step, rec: StepRecord, frame: Frame): Outcome {
    if (rec.status !== 'failed') return { state: 'failed', error: rec.error ?? engineError(EngineErrorCode.Cancelled, 'cancelled') };
    const error = rec.error ?? engineError(EngineErrorCode.Cancelled, 'failed');
    const handler = step.on_failure;
    if (!handler || error.code === EngineErrorCode.Cancelled) return { state: 'failed', error };
    if ('continue' in handler) {
      this.markHandled(rec);
      return { state: 'done' };
    }
    if ('goto' in handler) {
      this.markHandled(rec);
      return { state: 'done', goto: handler.goto };
    }
    // A fallback workflow: started once, its output stands in for the step's.
    if (!rec.fallback_run_id) {
      const version = this.pinOf(handler.workflow);
      if (!version) return { state: 'failed', error: engineError(EngineErrorCode.WorkflowNotFound, `fallback ${refText(handler.workflow)} has no version`) };
      let inputs: Record<string, unknown>;
      try {
        inputs = {
          ...asObject(this.render(handler.with ?? {}, this.scope(frame), 'on_failure.with')),
          failed_run_id: this.run.id,
          failed_step: step.id,
          error,
        };
      } catch (e) {
        return { state: 'failed', error: renderError(`on_failure.with of step ${step.id}`, e, step.id) };
      }
      rec.fallback_run_id = this.startChild(handler.workflow, version, inputs, rec.path, 'step_fallback');
      this.dirty(rec);
      return WAITING;
    }
    if (rec.handled) return { state: 'done', output: rec.output };
    const fallback = this.state.children.get(rec.fallback_run_id);
    if (!fallback || !TERMINAL_RUN_STATUSES.includes(fallback.status)) return WAITING;
    if (fallback.status === 'completed') {
      rec.output = fallback.output;
      this.markHandled(rec);
      return { state: 'done', output: fallback.output };
    }
    return {
      state: 'failed',
      error: engineError(EngineErrorCode.FallbackFailed, `step ${step.id} failed (${error.code}) and its fallback run ${fallback.id} ended ${fallback.status}`),
    };
  }

  private checkStepTimeout(step: Step, rec: StepRecord, frame: Frame): boolean {
    // Actions time out per attempt (the worker aborts them), approvals by their own on_timeout; other kinds as a whole.
    if (step.kind === 'action' || step.kind === 'approval' || step.timeout_ms === undefined || !rec.started_at) return false;
    const deadline = rec.started_at.getTime() + step.timeout_ms;
    if (this.now.getTime() < deadline) {
      this.wakeAt(new Date(deadline));
      return false;
    }
    this.cancelChildren(step, rec, frame);
    this.failStep(rec, engineError(EngineErrorCode.StepTimeout, `step ${step.id} did not finish within ${step.timeout_ms} ms`, false));
    return true;
  }

  // ---- kinds -------------------------------------------------------------------------------------------

  private advanceAction(
    rec: StepRecord,
    spec: Pick<ActionStep, 'action' | 'with' | 'timeout_ms'>,
    frame: Frame,
  ): Outcome {
    if (rec.status === 'running') {
      // In flight here, or started by this very round (its command is not performed until the round is written).
      if (this.inFlight.has(rec.path) || this.round.actions.some((a) => a.path === rec.path)) return WAITING;
      // Running in the database but not here: the process that started it died. Same key, new attempt.
      rec.interruptions++;
      if (rec.interruptions > (this.deps.maxInterruptions ?? DEFAULT_MAX_INTERRUPTIONS)) {
        this.failStep(rec, engineError(EngineErrorCode.InterruptedTooOften, `step ${rec.step_id} was interrupted ${rec.interruptions} times`));
        return { state: 'failed', error: rec.error! };
      }
      return this.startAttempt(rec, spec, frame);
    }
    if (rec.wake_at && rec.wake_at > this.now) {
      this.wakeAt(rec.wake_at);
      return WAITING;
    }
    return this.startAttempt(rec, spec, frame);
  }

  private startAttempt(rec: StepRecord, spec: Pick<ActionStep, 'action' | 'with' | 'timeout_ms'>, frame: Frame): Outcome {
    const scope = this.scope(frame);
    let input: unknown;
    let stored: unknown;
    try {
      input = this.render(spec.with, scope, 'with');
      stored = this.render(spec.with, scope, 'with', true);
    } catch (error) {
      this.failStep(rec, renderError(`with of step ${rec.step_id}`, error, rec.step_id));
      return { state: 'failed', error: rec.error! };
    }
    rec.status = 'running';
    rec.attempts++;
    rec.input = stored;
    rec.wake_at = undefined;
    rec.started_at ??= this.now;
    this.dirty(rec);
    this.round.actions.push({
      path: rec.path,
      step_id: rec.step_id,
      action: spec.action,
      input,
      attempt: rec.attempts,
      idempotency_key: idempotencyKey(this.run.id, rec.path, this.run.retry_generation),
      timeout_ms: spec.timeout_ms,
    });
    return WAITING;
  }

  /**
   * A sub-workflow step: each attempt is a child run of its own, started in the round that records the attempt (its
   * row and the step's `child_run_id` commit together, so a restart finds the child, never starts a second one for
   * the same attempt). A child that ends failed with a retryable error (a timed-out one never: run_timeout is not retryable) whose code the step's `retry`
   * does not list as non_retryable starts a fresh child after the backoff, up to `retry.max_attempts`; a cancelled
   * child is never retried.
   */
  private advanceSubworkflow(rec: StepRecord, ref: WorkflowRef, withTemplate: TemplateValue, frame: Frame): Outcome {
    if (rec.status === 'pending' && rec.wake_at && rec.wake_at > this.now) {
      // Backing off after a failed child: the next one starts when the wait is over.
      this.wakeAt(rec.wake_at);
      return WAITING;
    }
    if (rec.status === 'pending') {
      const version = this.pinOf(ref);
      if (!version) {
        this.failStep(rec, engineError(EngineErrorCode.WorkflowNotFound, `no version of ${refText(ref)} to run`));
        return { state: 'failed', error: rec.error! };
      }
      let inputs: unknown;
      try {
        inputs = this.render(withTemplate, this.scope(frame), 'with');
        rec.input = this.render(withTemplate, this.scope(frame), 'with', true);
      } catch (error) {
        this.failStep(rec, renderError(`with of step ${rec.step_id}`, error, rec.step_id));
        return { state: 'failed', error: rec.error! };
      }
      rec.status = 'running';
      rec.attempts++;
      rec.wake_at = undefined;
      rec.started_at ??= this.now;
      rec.child_run_id = this.startChild(ref, version, asObject(inputs), rec.path, 'subworkflow');
      this.dirty(rec);
      return WAITING;
    }
    const child = rec.child_run_id ? this.state.children.get(rec.child_run_id) : undefined;
    if (!child || !TERMINAL_RUN_STATUSES.includes(child.status)) return WAITING;
    if (child.status === 'completed') {
      this.completeStep(rec, child.output);
      return { state: 'done', output: child.output };
    }
    const error = engineError(
      EngineErrorCode.SubworkflowFailed,
      `sub-workflow ${refText(ref)} run ${child.id} ended ${child.status}${child.error ? ` (${child.error.code}: ${child.error.message})` : ''}`,
    );
    const policy = this.retryOf(rec.path);
    const countable = rec.attempts - rec.interruptions - rec.attempt_base;
    const retryable =
      child.status !== 'cancelled' && child.error?.retryable === true && policy !== undefined && !policy.non_retryable.includes(child.error.code);
    if (retryable && countable < policy.max_attempts) {
      rec.status = 'pending';
      rec.error = storableError(error);
      rec.wake_at = new Date(this.now.getTime() + retryDelayMs(policy, countable, this.deps.random));
      this.dirty(rec);
      // Due at once (a zero backoff): the next child starts in this very round.
      if (rec.wake_at <= this.now) return this.advanceSubworkflow(rec, ref, withTemplate, frame);
      this.wakeAt(rec.wake_at);
      return WAITING;
    }
    this.failStep(rec, error);
    return { state: 'failed', error: rec.error! };
  }

  private advanceSleep(rec: StepRecord, step: SleepStep, frame: Frame): Outcome {
    if (rec.status === 'pending') {
      let until: number;
      if (step.until !== undefined) {
        let text: unknown;
        try {
          text = this.render(step.until, this.scope(frame), 'sleep.until');
        } catch (error) {
          this.failStep(rec, renderError(`sleep.until of step ${step.id}`, error, step.id));
          return { state: 'failed', error: rec.error! };
        }
        until = typeof text === 'string' || text instanceof Date ? new Date(text).getTime() : Number.NaN;
        if (Number.isNaN(until)) {
          this.failStep(rec, engineError(EngineErrorCode.SleepUntilInvalid, `sleep.until of step ${step.id} is not a time: ${String(text)}`));
          return { state: 'failed', error: rec.error! };
        }
      } else if (step.for !== undefined) {
        let wait: unknown;
        try {
          wait = this.render(step.for, this.scope(frame), 'sleep.for');
          until = this.now.getTime() + parseDuration(wait as string | number);
        } catch (error) {
          if (error instanceof UnstorableValueError) this.failStep(rec, unstorableError(error, step.id));
          else this.failStep(rec, engineError(EngineErrorCode.SleepUntilInvalid, `sleep.for of step ${step.id} is not a duration: ${String(wait ?? (error as Error).message)}`));
          return { state: 'failed', error: rec.error! };
        }
      } else {
        until = this.now.getTime() + (step.duration_ms ?? 0);
      }
      // A computed time is bound like a fixed sleep (validation's max_sleep_ms): beyond it a run would wait for
      // years, and beyond a Date's range the timer itself could not be written.
      if (!Number.isFinite(until) || until - this.now.getTime() > MAX_SLEEP_MS) {
        const which = step.until !== undefined ? 'sleep.until' : 'sleep.for';
        this.failStep(rec, engineError(EngineErrorCode.SleepTooLong, `${which} of step ${step.id} is more than ${formatDuration(MAX_SLEEP_MS)} away, the longest sleep allowed`));
        return { state: 'failed', error: rec.error! };
      }
      rec.status = 'running';
      rec.started_at = this.now;
      rec.wake_at = new Date(until);
      this.dirty(rec);
    }
    if (rec.wake_at && rec.wake_at > this.now) {
      this.wakeAt(rec.wake_at);
      return WAITING;
    }
    const output = { slept_until: (rec.wake_at ?? this.now).toISOString() };
    this.completeStep(rec, output);
    return { state: 'done', output };
  }

  private advanceApproval(rec: StepRecord, step: ApprovalStep): Outcome {
    if (rec.status === 'pending') {
      rec.status = 'running';
      rec.started_at = this.now;
      if (step.timeout_ms !== undefined) rec.wake_at = new Date(this.now.getTime() + step.timeout_ms);
      this.dirty(rec);
    }
    const signal = this.state.signals.find((s) => s.name === step.signal && s.consumed_by === undefined);
    if (signal) {
      signal.consumed_by = rec.path;
      this.round.dirtySignals.add(signal.id);
      const output = signal.payload ?? {};
      this.completeStep(rec, output);
      return { state: 'done', output };
    }
    if (rec.wake_at && rec.wake_at <= this.now) {
      if (step.on_timeout === 'continue') {
        const output = { timed_out: true };
        this.completeStep(rec, output);
        return { state: 'done', output };
      }
      this.failStep(rec, engineError(EngineErrorCode.ApprovalTimeout, `no ${step.signal} signal within ${step.timeout_ms} ms`));
      return { state: 'failed', error: rec.error! };
    }
    if (rec.wake_at) this.wakeAt(rec.wake_at);
    return WAITING;
  }

  /** group / switch: a block run as one step; its output is the block's last output. */
  private advanceContainer(rec: StepRecord, block: () => Outcome): Outcome {
    if (rec.status === 'pending') this.markRunning(rec);
    const outcome = block();
    if (outcome.state === 'done') this.completeStep(rec, outcome.output);
    else if (outcome.state === 'failed') this.failStep(rec, outcome.error);
    return outcome.state === 'done' ? { state: 'done', output: outcome.output } : outcome;
  }

  private advanceSwitch(rec: StepRecord, step: SwitchStep, frame: Frame): Outcome {
    if (rec.decision === undefined) {
      let chosen: number | 'default' | 'none' = step.default ? 'default' : 'none';
      const scope = this.scope(frame);
      for (let i = 0; i < step.cases.length; i++) {
        let hit: boolean;
        try {
          hit = compileExpression(step.cases[i].when).evaluateBool(scope);
        } catch (error) {
          this.failStep(rec, conditionError(`switch case ${i} of step ${step.id}`, error));
          return { state: 'failed', error: rec.error! };
        }
        if (hit) {
          chosen = i;
          break;
        }
      }
      rec.decision = { switch_case: chosen };
      this.markRunning(rec);
    }
    const choice = (rec.decision as { switch_case: number | 'default' | 'none' }).switch_case;
    const block = choice === 'none' ? [] : choice === 'default' ? (step.default ?? []) : step.cases[choice].steps;
    return this.advanceContainer(rec, () => this.advanceBlock(block, frame));
  }

  private advanceParallel(rec: StepRecord, step: ParallelStep, frame: Frame): Outcome {
    if (rec.status === 'pending') this.markRunning(rec);
    const outcomes = step.branches.map((branch) => this.advanceStep(branch, frame));
    const waiting = outcomes.some((o) => o.state === 'waiting');
    const firstFailure = outcomes.find((o): o is { state: 'failed'; error: StepError } => o.state === 'failed');
    if (step.join === 'any') {
      // The first branch to complete wins: not a skipped one, nor a failed one its on_failure let go on (continue or
      // goto); a failed one whose fallback workflow completed does, the fallback's output standing in for it.
      // fail_fast has no meaning here.
      const winner = step.branches.find((b, i) => outcomes[i].state === 'done' && completedOrStoodIn(this.record(b, frame)));
      if (winner) {
        this.cancelSteps(step.branches.filter((b) => b !== winner), frame);
        const output = { winner: winner.id, output: this.record(winner, frame)?.output ?? null };
        this.completeStep(rec, output);
        return { state: 'done', output };
      }
      if (waiting) return WAITING;
      const letGo = step.branches.map((b) => this.record(b, frame)).find((r) => r?.status === 'failed' && r.error)?.error;
      const error = firstFailure?.error ?? letGo ?? engineError(EngineErrorCode.Cancelled, `no branch of step ${step.id} ran`);
      this.failStep(rec, error);
      return { state: 'failed', error };
    }
    if (firstFailure && (step.fail_fast || !waiting)) {
      this.cancelSteps(step.branches, frame);
      this.failStep(rec, firstFailure.error);
      return firstFailure;
    }
    if (waiting) return WAITING;
    const output: Record<string, unknown> = {};
    for (const b of step.branches) output[b.id] = this.record(b, frame)?.output ?? null;
    this.completeStep(rec, output);
    return { state: 'done', output };
  }

  private advanceForeach(rec: StepRecord, step: ForeachStep, frame: Frame): Outcome {
    if (rec.decision === undefined) {
      let items: unknown;
      try {
        items = isExpressionString(step.items)
          ? renderTemplate(compileTemplate(step.items), this.scope(frame))
          : compileExpression(step.items).evaluate(this.scope(frame));
        assertStorable(items, 'foreach');
      } catch (error) {
        this.failStep(rec, renderError(`foreach of step ${step.id}`, error, step.id));
        return { state: 'failed', error: rec.error! };
      }
      if (!Array.isArray(items) || items.length > MAX_FOREACH_ITEMS) {
        this.failStep(
          rec,
          engineError(EngineErrorCode.ForeachItemsInvalid, `foreach of step ${step.id} must give a list of at most ${MAX_FOREACH_ITEMS} items`),
        );
        return { state: 'failed', error: rec.error! };
      }
      rec.decision = { items: this.scrub(items) as unknown[] };
    }
    // Also after a retry, which keeps the items decided: the step's timeout counts from now.
    this.markRunning(rec);
    const items = (rec.decision as { items: unknown[] }).items;
    let active = 0;
    let failure: StepError | undefined;
    const outputs: unknown[] = new Array(items.length).fill(null);
    let finished = 0;
    for (let i = 0; i < items.length; i++) {
      const iteration = this.iterationFrame(step, frame, i, items[i]);
      const path = `${frame.prefix}${step.id}[${i}]`;
      let itRec = this.state.steps.get(path);
      if (!itRec) {
        if (failure || active >= step.concurrency) continue;
        itRec = this.newRecord(path, step.id, step.body.kind);
      }
      const outcome = this.advanceIteration(step, itRec, iteration);
      if (outcome.state === 'waiting') active++;
      else if (outcome.state === 'failed') failure ??= outcome.error;
      else {
        outputs[i] = outcome.output ?? null;
        finished++;
      }
    }
    if (failure) {
      // Fail fast: stop what is still running, start nothing more.
      this.cancelForeach(step, frame);
      this.failStep(rec, failure);
      return { state: 'failed', error: failure };
    }
    if (finished < items.length) return WAITING;
    this.completeStep(rec, outputs);
    return { state: 'done', output: outputs };
  }

  private advanceIteration(step: ForeachStep, rec: StepRecord, frame: Frame): Outcome {
    const body = step.body;
    if (rec.status === 'completed' || rec.status === 'skipped') return { state: 'done', output: rec.output };
    if (rec.status === 'failed' || rec.status === 'cancelled') return { state: 'failed', error: rec.error ?? engineError(EngineErrorCode.Cancelled, 'cancelled') };
    switch (body.kind) {
      case 'action':
        // The foreach's own timeout bounds the whole step; each item's attempts use the action's default.
        return this.advanceAction(rec, { action: body.action, with: body.with, timeout_ms: undefined }, frame);
      case 'workflow':
        return this.advanceSubworkflow(rec, body.workflow, body.with, frame);
      case 'group':
        return this.advanceContainer(rec, () => this.advanceBlock(body.steps, frame));
      default:
        return assertUnreachable(body);
    }
  }

  private iterationFrame(step: ForeachStep, frame: Frame, index: number, item: unknown): Frame {
    return { prefix: `${frame.prefix}${step.id}[${index}].`, item, index, parent: frame };
  }

  // ---- run end -----------------------------------------------------------------------------------------

  private completeRun(lastOutput: unknown): void {
    let output = lastOutput;
    if (this.manifest.output !== undefined) {
      try {
        output = this.render(this.manifest.output, this.scope(ROOT), 'output');
      } catch (error) {
        this.onRunFailure(renderError('output', error));
        return;
      }
    }
    output = this.scrub(output);
    // Also without an `output:` template (the last step's output): what the run row holds must be storable.
    const unstorable = findUnstorableValue(output, 'output');
    if (unstorable) {
      this.onRunFailure(unstorableError(unstorable));
      return;
    }
    const problems = this.deps.validateOutput?.(this.manifest, output) ?? [];
    if (problems.length > 0) {
      this.onRunFailure(engineError(EngineErrorCode.OutputInvalid, `the run's output does not match outputs: ${problems.join('; ')}`));
      return;
    }
    this.finishRun('completed', output);
  }

  /**
   * The run failed (or reached its deadline: `timed_out`): its compensation (`on_failure.steps`) runs first, if it
   * has one, then the run ends with `status` and the first error.
   */
  private onRunFailure(failure: StepError, status: 'failed' | 'timed_out' = 'failed'): void {
    const error = storableError(failure);
    const compensation = this.manifest.on_failure?.steps;
    if (compensation && compensation.length > 0) {
      const rec = this.newRecord(COMPENSATION_PATH, COMPENSATION_PATH, 'group');
      rec.error = error;
      if (status === 'timed_out') rec.decision = { ends: 'timed_out' };
      this.markRunning(rec);
      if (this.run.deadline_at) this.wakeAt(this.compensationDeadline(this.run.deadline_at));
      this.advanceCompensation(rec);
      return;
    }
    this.failRun(error, status);
  }

  /**
   * Compensating steps run after a failure; the run ends failed either way (timed_out when its deadline started
   * them), with the first error.
   */
  private advanceCompensation(rec: StepRecord): void {
    const error = rec.error!;
    if (rec.status === 'running') {
      const outcome = this.advanceBlock(this.manifest.on_failure?.steps ?? [], ROOT);
      if (outcome.state === 'waiting') return;
      rec.status = outcome.state === 'done' ? 'completed' : 'failed';
      rec.completed_at = this.now;
      this.dirty(rec);
    }
    const timedOut = (rec.decision as { ends?: string } | undefined)?.ends === 'timed_out';
    this.failRun(error, timedOut ? 'timed_out' : 'failed');
  }

  /**
   * Until when a run's compensation may run: one more run `timeout` after the run's deadline, whether the deadline
   * or a failure before it started the compensation. Past it, what the compensation still has going is cancelled and
   * the run ends `timed_out` (`run_timeout`), so a run never outlives twice its timeout.
   */
  private compensationDeadline(deadline: Date): Date {
    return new Date(deadline.getTime() + (this.manifest.timeout_ms ?? 0));
  }

  private failRun(error: StepError, status: 'failed' | 'timed_out'): void {
    const fallback = this.manifest.on_failure?.workflow;
    if (fallback && !this.run.fallback_run_id) {
      const version = this.pinOf(fallback);
      if (version) {
        let inputs: Record<string, unknown> = {};
        try {
          inputs = asObject(this.render(this.manifest.on_failure?.with ?? {}, this.scope(ROOT), 'on_failure.with'));
        } catch {
          // The fallback still starts, with the failure facts alone.
        }
        this.run.fallback_run_id = this.startChild(
          fallback,
          version,
          { ...inputs, failed_run_id: this.run.id, workflow: this.run.workflow, version: this.run.version, error },
          undefined,
          'run_fallback',
        );
      }
    }
    this.finishRun(status, undefined, error);
  }

  private finishRun(status: 'completed' | 'failed' | 'cancelled' | 'timed_out', output?: unknown, failure?: StepError): void {
    const run = this.run;
    // Every step of an ended run is in a final state: a record still pending (kept by an operator's retry and never
    // reached again) ends skipped.
    for (const rec of this.state.steps.values()) if (rec.status === 'pending') this.skipRecord(rec, 'run_ended');
    const error = failure && storableError(failure);
    run.status = status;
    run.completed_at = this.now;
    run.output = output;
    run.error = error;
    this.round.runChanged = true;
    this.round.nextWakeAt = undefined;
    const type: EngineEventType =
      status === 'completed' ? 'workflow.completed' : status === 'cancelled' ? 'workflow.cancelled' : 'workflow.failed';
    this.emit({ type, status, output, error });
  }

  // ---- cancellation ------------------------------------------------------------------------------------

  /**
   * Stops all the run still has going, the compensation (`on_failure.steps`) included: an ended run leaves no step
   * running, and its children (a compensation's sub-workflow too) get their cancel.
   */
  private cancelEverything(): void {
    this.cancelSteps(this.manifest.steps, ROOT);
    this.cancelSteps(this.manifest.on_failure?.steps ?? [], ROOT);
    const compensation = this.state.steps.get(COMPENSATION_PATH);
    if (compensation && (compensation.status === 'running' || compensation.status === 'pending')) this.cancelRecord(compensation);
  }

  private cancelSteps(steps: readonly Step[], frame: Frame): void {
    for (const step of steps) {
      const rec = this.record(step, frame);
      if (!rec || rec.status === 'completed' || rec.status === 'skipped' || rec.status === 'cancelled') continue;
      this.cancelChildren(step, rec, frame);
      // A failed step stays failed (that is its story); only what it still had running is stopped.
      if (rec.status !== 'failed') this.cancelRecord(rec);
    }
  }

  private cancelChildren(step: Step, rec: StepRecord, frame: Frame): void {
    for (const runId of [rec.child_run_id, rec.fallback_run_id]) {
      if (!runId) continue;
      const child = this.state.children.get(runId);
      if (!child || !TERMINAL_RUN_STATUSES.includes(child.status)) this.round.cancels.push({ kind: 'cancel_child', run_id: runId });
    }
    switch (step.kind) {
      case 'group':
        this.cancelSteps(step.steps, frame);
        break;
      case 'switch':
        this.cancelSteps([...step.cases.flatMap((c) => c.steps), ...(step.default ?? [])], frame);
        break;
      case 'parallel':
        this.cancelSteps(step.branches, frame);
        break;
      case 'foreach':
        this.cancelForeach(step, frame);
        break;
      default:
        break;
    }
  }

  private cancelForeach(step: ForeachStep, frame: Frame): void {
    const items = (this.record(step, frame)?.decision as { items?: unknown[] } | undefined)?.items ?? [];
    for (let i = 0; i < items.length; i++) {
      const rec = this.state.steps.get(`${frame.prefix}${step.id}[${i}]`);
      if (!rec || rec.status === 'completed' || rec.status === 'skipped' || rec.status === 'cancelled' || rec.status === 'failed') continue;
      if (rec.child_run_id) this.round.cancels.push({ kind: 'cancel_child', run_id: rec.child_run_id });
      if (step.body.kind === 'group') this.cancelSteps(step.body.steps, this.iterationFrame(step, frame, i, items[i]));
      this.cancelRecord(rec);
    }
  }

  private cancelRecord(rec: StepRecord): void {
    if (rec.status === 'running' && (rec.kind === 'action' || this.inFlight.has(rec.path))) {
      this.round.cancels.push({ kind: 'abort_action', path: rec.path });
    }
    rec.status = 'cancelled';
    rec.completed_at = this.now;
    rec.wake_at = undefined;
    rec.error ??= engineError(EngineErrorCode.Cancelled, `step ${rec.step_id} was cancelled`);
    this.dirty(rec);
  }

  // ---- records -------------------------------------------------------------------------------------------

  private record(step: Step, frame: Frame): StepRecord | undefined {
    return this.state.steps.get(frame.prefix + step.id);
  }

  private createRecord(step: Step, frame: Frame): StepRecord {
    return this.newRecord(frame.prefix + step.id, step.id, step.kind);
  }

  private newRecord(path: string, stepId: string, kind: StepKind): StepRecord {
    const rec: StepRecord = { path, step_id: stepId, kind, status: 'pending', attempts: 0, interruptions: 0, attempt_base: 0, handled: false };
    this.state.steps.set(path, rec);
    this.dirty(rec);
    return rec;
  }

  private skipStep(step: Step, frame: Frame, reason: string): void {
    const rec = this.record(step, frame) ?? this.createRecord(step, frame);
    if (rec.status !== 'pending') return;
    this.skipRecord(rec, reason);
    // A container skipped after an operator's retry may hold records kept from before it (a compensation step that
    // ran an attempt, a failed step set back to pending): they are skipped with it, never left pending.
    this.skipKeptInside(step, frame, `skipped with ${step.id}`);
  }

  private skipRecord(rec: StepRecord, reason: string): void {
    rec.status = 'skipped';
    rec.decision = { skipped: reason };
    rec.wake_at = undefined;
    rec.completed_at = this.now;
    this.dirty(rec);
  }

  /** The pending records inside `step` (a container) at `frame`, foreach items and their steps included, skipped. */
  private skipKeptInside(step: Step, frame: Frame, reason: string): void {
    if (step.kind === 'foreach') {
      const items = `${frame.prefix}${step.id}[`;
      for (const rec of this.state.steps.values()) if (rec.path.startsWith(items) && rec.status === 'pending') this.skipRecord(rec, reason);
      return;
    }
    for (const inner of childSteps(step).flat()) {
      const rec = this.record(inner, frame);
      if (rec?.status === 'pending') this.skipRecord(rec, reason);
      this.skipKeptInside(inner, frame, reason);
    }
  }

  private markRunning(rec: StepRecord): void {
    if (rec.status !== 'pending') return;
    rec.status = 'running';
    rec.started_at ??= this.now;
    this.dirty(rec);
  }

  private markHandled(rec: StepRecord): void {
    if (rec.handled) return;
    rec.handled = true;
    this.dirty(rec);
  }

  private completeStep(rec: StepRecord, output: unknown): void {
    if (rec.status === 'completed') return;
    rec.status = 'completed';
    rec.output = output;
    rec.error = undefined;
    rec.wake_at = undefined;
    rec.completed_at = this.now;
    rec.started_at ??= this.now;
    this.dirty(rec);
    this.emit({ type: 'workflow.step_completed', path: rec.path, step_id: rec.step_id, kind: rec.kind, attempts: rec.attempts, status: 'completed', output });
  }

  private failStep(rec: StepRecord, failure: StepError): void {
    if (rec.status === 'failed') return;
    // What a message quotes (a rendered value, an expression's own error) must not make the round unwritable.
    const error = storableError(failure);
    rec.status = 'failed';
    rec.error = error;
    rec.wake_at = undefined;
    rec.completed_at = this.now;
    rec.started_at ??= this.now;
    this.dirty(rec);
    this.emit({ type: 'workflow.step_failed', path: rec.path, step_id: rec.step_id, kind: rec.kind, attempts: rec.attempts, status: 'failed', error });
  }

  private dirty(rec: StepRecord): void {
    this.round.dirtySteps.add(rec.path);
  }

  private emit(event: Omit<EngineEvent, 'at'>): void {
    this.round.events.push({ ...event, at: this.now });
  }

  private wakeAt(at: Date): void {
    if (!this.round.nextWakeAt || at < this.round.nextWakeAt) this.round.nextWakeAt = at;
  }

  private startChild(
    ref: WorkflowRef,
    version: string,
    inputs: Record<string, unknown>,
    parentStepPath: string | undefined,
    relation: ChildRunCommand['relation'],
  ): string {
    const runId = this.deps.newRunId();
    this.round.children.push({ run_id: runId, workflow: ref.name, version, range: ref.range, inputs, parent_step_path: parentStepPath, relation });
    if (relation !== 'run_fallback') this.state.children.set(runId, { id: runId, status: 'pending' } satisfies ChildRunView);
    return runId;
  }

  private pinOf(ref: WorkflowRef): string | undefined {
    return this.run.pins[refText(ref)] ?? this.deps.resolveRef?.(ref);
  }

  /** The retry policy of the action behind a record (a step, or a foreach iteration of an action body). */
  private retryOf(path: string): RetryPolicy | undefined {
    const rec = this.state.steps.get(path);
    if (!rec) return undefined;
    const step = findStep(this.manifest, rec.step_id);
    if (!step) return undefined;
    if (step.kind === 'action' || step.kind === 'workflow') return step.retry;
    if (step.kind === 'foreach' && step.body.kind !== 'group') return step.body.retry;
    return undefined;
  }

  // ---- expressions ---------------------------------------------------------------------------------------

  /**
   * A template rendered, as the run's tables can hold it: a value PostgreSQL cannot store (U+0000 in a text, an
   * unpaired surrogate, a non-finite number) throws UnstorableValueError naming `field` and the member's path, so the
   * step (or the run) fails by its rules instead of every round that would write it failing. Every rendered value
   * that a round writes (a step's input, a child's inputs, a fallback's inputs, the run's output) comes through here.
   */
  private render(template: TemplateValue, scope: ExpressionScope, field: string, redact = false): unknown {
    return assertStorable(renderTemplate(compileTemplate(template), scope, redact ? { secrets: 'redact' } : undefined), field);
  }

  private scrub(value: unknown): unknown {
    return this.secretValues.length === 0 ? value : redactSecrets(value, this.secretValues);
  }

  private scope(frame: Frame): ExpressionScope {
    const run = this.run;
    const steps: NonNullable<ExpressionScope['steps']> = {};
    for (const id of this.stepIds) steps[id] = { output: null, status: 'pending', error: null };
    // Outer frames first, so a step of the current iteration shadows one of the same id further out.
    const frames: Frame[] = [];
    for (let f: Frame | undefined = frame; f; f = f.parent) frames.unshift(f);
    for (const f of frames) {
      for (const rec of this.state.steps.values()) {
        if (!rec.path.startsWith(f.prefix)) continue;
        const rest = rec.path.slice(f.prefix.length);
        if (rest.includes('.') || rest.includes('[')) continue;
        steps[rest] = { output: rec.output ?? null, status: rec.status, error: rec.error ?? null };
      }
      // A foreach's output is its list of iteration outputs, readable once it completed.
    }
    const secrets: Record<string, string> = {};
    for (const name of this.secretNames) {
      const value = this.deps.secrets?.[name];
      if (value !== undefined) secrets[name] = value;
    }
    let item: unknown;
    let index: number | undefined;
    for (let f: Frame | undefined = frame; f; f = f.parent) {
      if (f.index !== undefined) {
        item = f.item;
        index = f.index;
        break;
      }
    }
    return {
      inputs: run.inputs,
      steps,
      run: {
        id: run.id,
        trace_id: run.trace_id,
        workflow: run.workflow,
        version: run.version,
        user_id: run.user_id ?? null,
        product: run.product ?? null,
        error: run.error ?? this.state.steps.get(COMPENSATION_PATH)?.error ?? null,
      } as ExpressionScope['run'],
      secrets,
      ...(index !== undefined ? { item, index } : {}),
    };
  }
}

/**
 * Ends a run that no interpreter can run (its definition is not on this executor) failed with `error`, stopping what
 * it had going as a cancel does, from its records alone: every step still pending or running ends cancelled (a running
 * action's attempt is to be closed: an `abort_action` command), and every child run a step started (a sub-workflow, a
 * step's fallback) that has not ended gets its cancel. A failed step stays failed; its fallback run is cancelled too.
 * The run's own fallback workflow (on_failure.workflow) cannot start: it is named by the missing definition.
 */
export function failWithoutDefinition(state: RunState, failure: StepError, now: Date): Round {
  const round = emptyRound();
  const error = storableError(failure);
  const run = state.run;
  if (TERMINAL_RUN_STATUSES.includes(run.status)) return round;
  for (const rec of state.steps.values()) {
    if (rec.status === 'completed' || rec.status === 'skipped' || rec.status === 'cancelled') continue;
    for (const runId of [rec.child_run_id, rec.fallback_run_id]) {
      if (!runId) continue;
      const child = state.children.get(runId);
      if (!child || !TERMINAL_RUN_STATUSES.includes(child.status)) round.cancels.push({ kind: 'cancel_child', run_id: runId });
    }
    if (rec.status === 'failed') continue;
    if (rec.status === 'running' && rec.kind === 'action') round.cancels.push({ kind: 'abort_action', path: rec.path });
    rec.status = 'cancelled';
    rec.completed_at = now;
    rec.wake_at = undefined;
    rec.error ??= engineError(EngineErrorCode.Cancelled, `step ${rec.step_id} was cancelled`);
    round.dirtySteps.add(rec.path);
  }
  // started_at stays as it was: a run that never started (its step may start a new child on a retry) still looks so.
  run.status = 'failed';
  run.completed_at = now;
  run.error = error;
  round.runChanged = true;
  round.events.push({ type: 'workflow.failed', at: now, status: 'failed', error });
  return round;
}

function emptyRound(): Round {
  return { dirtySteps: new Set(), dirtySignals: new Set(), runChanged: false, actions: [], children: [], cancels: [], events: [] };
}

/** Finds a step by id anywhere in the manifest (ids are unique across it). */
export function findStep(manifest: WorkflowManifest, id: string): Step | undefined {
  const search = (steps: readonly Step[] | undefined): Step | undefined => {
    for (const step of steps ?? []) {
      if (step.id === id) return step;
      const inner = childSteps(step).map((block) => search(block)).find((s) => s !== undefined);
      if (inner) return inner;
    }
    return undefined;
  };
  return search(manifest.steps) ?? search(manifest.on_failure?.steps);
}

/** The ids of the steps of `on_failure.steps`, nested ones included: the run's compensation, not its main path. */
export function compensationStepIds(manifest: WorkflowManifest): Set<string> {
  return new Set(stepIdsIn(manifest.on_failure?.steps));
}

function allStepIds(manifest: WorkflowManifest): string[] {
  return [...stepIdsIn(manifest.steps), ...stepIdsIn(manifest.on_failure?.steps)];
}

/** Every step id of `steps` and the blocks nested in them, in document order. */
function stepIdsIn(steps: readonly Step[] | undefined): string[] {
  return (steps ?? []).flatMap((step) => [step.id, ...childSteps(step).flatMap((block) => stepIdsIn(block))]);
}

/** The nested blocks of a step, in document order. */
export function childSteps(step: Step): Step[][] {
  switch (step.kind) {
    case 'group':
      return [step.steps];
    case 'parallel':
      return [step.branches];
    case 'switch':
      return [...step.cases.map((c) => c.steps), ...(step.default ? [step.default] : [])];
    case 'foreach':
      return step.body.kind === 'group' ? [step.body.steps] : [];
    default:
      return [];
  }
}

export function refText(ref: WorkflowRef): string {
  return `${ref.name}@${ref.range}`;
}

/** A render that threw: a value that cannot be stored, or an expression that failed. */
function renderError(where: string, error: unknown, stepId?: string): StepError {
  return error instanceof UnstorableValueError ? unstorableError(error, stepId) : expressionError(where, error);
}

/**
 * A condition (`if`, a switch case's `when`) that failed: CEL is typed, so one whose value is not a bool fails the
 * step (`if of step x must be a bool, got int (inputs.n)`) instead of being taken as false.
 */
function conditionError(where: string, error: unknown): StepError {
  if (error instanceof ExpressionEvaluationError && error.code === NOT_A_BOOL) {
    return engineError(EngineErrorCode.ExpressionFailed, `${where} ${error.message}`);
  }
  return expressionError(where, error);
}

function asObject(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };
}

function assertUnreachable(value: never): never {
  throw new Error(`Unhandled step kind: ${JSON.stringify(value)}`);
}

export type { WorkflowStep };

/** A step that completed, or failed and was stood in for by a fallback workflow that completed (its output kept). */
function completedOrStoodIn(rec: StepRecord | undefined): boolean {
  return rec?.status === 'completed' || (rec?.status === 'failed' && rec.handled && rec.fallback_run_id !== undefined);
}

/**
 * A step set back to pending, never started since, by an operator's retry of the run (RunsService.resume): a failed
 * main-path step, or a compensation step that ran an attempt. Its record is kept (its attempts stay numbered), but
 * whether it runs is decided again from the run as it is now, as for a step without a record: a main-path step whose
 * `if` failed to evaluate fails again instead of running unasked. (The interpreter itself never leaves a record
 * pending without a start between rounds: it starts it, or ends it, in the pass that creates it.)
 */
function awaitsDecision(rec: StepRecord): boolean {
  return rec.status === 'pending' && rec.started_at === undefined;
}
