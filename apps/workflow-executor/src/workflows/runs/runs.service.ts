import { randomBytes, randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { context as otelContext, ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import {
  type ExecutorStartRunDto,
  type RunListQueryDto,
  type RunListResponse,
  type RunStepView,
  type RunSummaryView,
  type RunView,
  parseTimestamp,
  type StepAttemptView,
  WorkflowErrorCode,
  type WorkflowRunStatus,
} from '@pancha/contracts';
import { actorOf, productFilter, type VerifiedRequester } from '@pancha/governance';
import { GroupCommit, type GroupItemOutcome, nameBasedUuid, SqlConditions, timestampParam, validationException } from '@pancha/service-kit';
import { currentTraceparent, getTracer } from '@pancha/trace-context';
import { childSteps, compensationStepIds } from '@pancha/workflow-engine';
import type { RunStatus, Step, WorkflowManifest } from '@pancha/workflow-manifest';
import { DataSource, type EntityManager } from 'typeorm';
import { WorkflowExecutorConfig } from '../../config/env.validation';
import { EngineClock } from '../engine/engine-clock';
import { RunEvents } from '../engine/run-events';
import { loadedFromNew, type NewRun, RunStore } from '../engine/run-store';
import { RunWorker } from '../engine/run-worker.service';
import { WorkflowRegistry } from '../registry/workflow-registry.service';
import { WorkflowException } from '../workflow.exception';
import { feedHorizon } from './feed-horizon';

const TERMINAL: readonly RunStatus[] = ['completed', 'failed', 'cancelled', 'timed_out'];
const RETRYABLE_FROM: readonly RunStatus[] = ['failed', 'timed_out', 'cancelled'];
/** Errors of a sub-workflow run refused at its start: it never ran a step (workflow-registry childRun, the worker). */
const NEVER_STARTED_ERRORS: readonly string[] = ['inputs_invalid', 'workflow_not_found'];
const DEFAULT_PAGE = 50;
/** How stale this replica's enable/disable settings may be when a start is checked against them. */
const SETTINGS_MAX_AGE_MS = 1000;
/** Most starts inserted by one statement. */
const MAX_STARTS_PER_INSERT = 100;

interface RunRow {
  run_id: string;
  workflow: string;
  version: string;
  status: WorkflowRunStatus;
  inputs: Record<string, unknown>;
  output: unknown;
  error: RunView['error'];
  user_id: string | null;
  product: string | null;
  actor: string | null;
  /** What the start was warned of (jsonb; null for none). */
  warnings?: string[] | null;
  trace_id: string;
  pins: Record<string, string>;
  parent_run_id: string | null;
  root_run_id: string;
  relation: string | null;
  fallback_run_id: string | null;
  cancel_requested: boolean;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  deadline_at: Date | null;
  cursor_at: string;
  updated_at_text: string;
}

// created_at::text keeps the microseconds a JS Date would drop, so a page cursor never skips a row.
const SUMMARY_COLUMNS = `run_id, workflow, version, status, user_id, product, trace_id, parent_run_id, created_at, started_at,
  completed_at, error, warnings, created_at::text AS cursor_at,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at_text`;

/** Namespace of signal ids derived from an Idempotency-Key (fixed forever: changing it would split retries from firsts). */
const SIGNAL_ID_NAMESPACE = '2f0d8c1a-7b4e-4f3a-9c61-0e5b8d7a3f12';

/** The executor's governed runs API: start (from Core's outbox), read, list, cancel, retry, signal. */
@Injectable()
export class RunsService {
  /**
   * Starts that arrive while an insert runs (a batch of starts from Core, concurrent requests) share the next one: one
   * statement and one commit for all of them instead of one each. Each start is answered after the commit holding it.
   */
  private readonly starts = new GroupCommit<NewRun, boolean>((runs) => this.insertStarts(runs), { maxBatch: MAX_STARTS_PER_INSERT });

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly store: RunStore,
    private readonly registry: WorkflowRegistry,
    private readonly worker: RunWorker,
    private readonly events: RunEvents,
    private readonly clock: EngineClock,
    private readonly config: WorkflowExecutorConfig,
  ) {}

  /**
   * Creates the run Core accepted (idempotent on run_id: a redelivery answers with the run as it is). The run's
   * span is opened here, under the caller's trace, and every step attempt becomes its child.
   */
  async start(dto: ExecutorStartRunDto, requester: VerifiedRequester): Promise<RunSummaryView> {
    const manifest = this.registry.definition(dto.workflow, dto.version);
    if (!manifest) {
      throw new WorkflowException(WorkflowErrorCode.UnknownVersion, `${dto.workflow}@${dto.version} is not registered`, 404);
    }
    // Core checked its mirror of the catalog when it accepted the start, but the start may have waited in its outbox
    // (or come through a stale replica) since: the executor's own setting decides. A run that exists already was
    // started before, so its redelivery is answered with it, whatever the setting is now.
    await this.registry.settingsWithin(SETTINGS_MAX_AGE_MS);
    const refusal = this.startRefusal(dto.workflow, manifest);
    if (refusal) {
      const [existing]: unknown[] = await this.dataSource.query(`SELECT 1 FROM workflow_runs WHERE run_id = $1`, [dto.run_id]);
      if (existing) return this.summary(dto.run_id, requester);
      throw new WorkflowException(refusal.code, refusal.message, 409);
    }
    const problems = this.registry.validateInputs(manifest, dto.inputs);
    if (problems.length > 0) throw validationException(problems);
    const now = this.clock.now();
    const traceparent = openRunSpan(dto);
    // Started here, run here: the insert takes this worker's lease, and the worker starts from the state in hand.
    const lease = this.worker.offerLease(dto.run_id);
    const run: NewRun = {
      run_id: dto.run_id,
      workflow: dto.workflow,
      version: dto.version,
      inputs: dto.inputs,
      user_id: dto.user_id,
      product: dto.product ?? null,
      actor: dto.actor ?? actorOf(requester),
      warnings: dto.warnings?.length ? dto.warnings : null,
      trace_id: dto.trace_id,
      traceparent: traceparent ?? null,
      pins: this.registry.pinsFor(manifest),
      root_run_id: dto.run_id,
      deadline_at: manifest.timeout_ms !== undefined ? new Date(now.getTime() + manifest.timeout_ms) : null,
      at: now,
      ...(lease ? { lease: { owner: this.worker.owner, token: lease.token, ms: this.config.WORKFLOW_LEASE_MS } } : {}),
    };
    const inserted = await this.starts.submit(run);
    if (inserted && lease) this.worker.adopt(lease, loadedFromNew(run, now));
    else if (inserted) this.worker.poke();
    const summary: RunSummaryView = {
      run_id: dto.run_id,
      workflow: dto.workflow,
      version: dto.version,
      status: 'pending',
      user_id: dto.user_id,
      product: dto.product ?? null,
      trace_id: dto.trace_id,
      parent_run_id: null,
      created_at: now.toISOString(),
      started_at: null,
      completed_at: null,
      duration_ms: null,
      error: null,
    };
    // A redelivered start (already inserted) answers with the run as it is now.
    return inserted ? summary : this.summary(dto.run_id, requester);
  }

  /** Why no new run of this workflow version may start now (disabled, or the version retired); undefined when it may. */
  private startRefusal(name: string, manifest: WorkflowManifest): { code: WorkflowErrorCode; message: string } | undefined {
    if (!this.registry.enabled(name)) {
      const reason = this.registry.setting(name)?.reason;
      return { code: WorkflowErrorCode.WorkflowDisabled, message: `workflow ${name} is disabled${reason ? ` (${reason})` : ''}; no new runs start` };
    }
    if (manifest.retired) {
      return { code: WorkflowErrorCode.VersionRetired, message: `${name}@${manifest.version} is retired; no new runs start` };
    }
    // A version whose file is gone (replaced or deleted) is not refused here: Core chose it when it accepted the start
    // (chooseStartVersion refuses new starts on it there), and a start it acknowledged before a deploy, then queued
    // while the executor restarted, must run, not end refused.
    return undefined;
  }

  /**
   * One statement, atomic on its own (no BEGIN and COMMIT around it); a start is inserted unless its run exists. Of
   * two starts of one run in a group only the first can be: the second is a redelivery, answered like one.
   */
  private async insertStarts(runs: readonly NewRun[]): Promise<GroupItemOutcome<boolean>[]> {
    const inserted = new Set(await this.store.insertRuns(this.dataSource.manager, runs, this.clock.now()));
    return runs.map((run) => ({ ok: true, result: inserted.delete(run.run_id) }));
  }

  async view(runId: string, requester: VerifiedRequester): Promise<RunView> {
    const row = await this.visibleRun(runId, requester);
    const [steps, attempts, signals, children] = await Promise.all([
      this.dataSource.query(`SELECT * FROM workflow_steps WHERE run_id = $1 ORDER BY seq`, [runId]) as Promise<StepRow[]>,
      this.dataSource.query(
        `SELECT path, attempt, status, idempotency_key, started_at, completed_at, error FROM workflow_step_attempts
         WHERE run_id = $1 ORDER BY path, attempt`,
        [runId],
      ) as Promise<AttemptRow[]>,
      this.dataSource.query(
        `SELECT name, received_at, consumed_by, sender FROM workflow_signals WHERE run_id = $1 ORDER BY received_at`,
        [runId],
      ) as Promise<{ name: string; received_at: Date; consumed_by: string | null; sender: string }[]>,
      this.dataSource.query(`SELECT ${SUMMARY_COLUMNS} FROM workflow_runs WHERE parent_run_id = $1 ORDER BY created_at`, [runId]) as Promise<RunRow[]>,
    ]);
    const byPath = new Map<string, StepAttemptView[]>();
    for (const a of attempts) {
      const list = byPath.get(a.path) ?? [];
      list.push({
        attempt: a.attempt,
        status: a.status,
        idempotency_key: a.idempotency_key,
        started_at: a.started_at.toISOString(),
        completed_at: iso(a.completed_at),
        duration_ms: a.completed_at ? a.completed_at.getTime() - a.started_at.getTime() : null,
        error: a.error,
      });
      byPath.set(a.path, list);
    }
    return {
      ...toSummary(row),
      inputs: row.inputs,
      output: row.output ?? null,
      actor: row.actor,
      root_run_id: row.root_run_id,
      relation: row.relation,
      fallback_run_id: row.fallback_run_id,
      cancel_requested: row.cancel_requested,
      deadline_at: iso(row.deadline_at),
      pins: row.pins,
      steps: steps.map((s) => toStepView(s, byPath.get(s.path) ?? [])),
      signals: signals.map((s) => ({ name: s.name, received_at: s.received_at.toISOString(), consumed_by: s.consumed_by, sender: s.sender })),
      children: children.map(toSummary),
    };
  }

  async list(query: RunListQueryDto, requester: VerifiedRequester): Promise<RunListResponse> {
    // Sub-workflow runs only when asked for.
    const conditions = new SqlConditions(...(query.include_children === 'true' ? [] : ['parent_run_id IS NULL']))
      .equal(query, ['workflow', 'version', 'status', 'user_id', 'product', 'trace_id'])
      .between('created_at', query.since, query.until)
      .anyOf('product', productFilter(requester));
    if (query.updated_since) {
      // The change feed. Its cursor is exact where updated_since is not: one statement updates a batch of runs, so
      // many share one updated_at and a page can end inside them. From a cursor, the page starts right after that run,
      // whatever updated_since is sent with it (a follower passing next_updated_since there still skips nothing).
      const after = query.cursor ? decodeFeedCursor(query.cursor) : undefined;
      if (query.cursor && !after) throw validationException([{ field: 'cursor', messages: ['cursor is not one this change feed gave out'] }]);
      if (after) {
        const at = conditions.param(timestampParam(after.updated_at));
        conditions.add(`(updated_at, run_id) > (${at}::timestamptz, ?::uuid)`, after.run_id);
      } else {
        conditions.add('updated_at > ?', timestampParam(query.updated_since));
      }
      // Not past a change a transaction still open may commit (feed-horizon.ts): read before the page's statement.
      conditions.add('updated_at < ?::timestamptz', await feedHorizon(this.dataSource));
    } else if (query.cursor) {
      const cursor = decodeCursor(query.cursor);
      if (!cursor) throw validationException([{ field: 'cursor', messages: ['cursor is not one this API gave out'] }]);
      conditions.before('created_at', 'run_id', [cursor.created_at, cursor.run_id]);
    }
    const limit = query.limit ?? DEFAULT_PAGE;
    const rows: RunRow[] = await this.dataSource.query(
      `SELECT ${SUMMARY_COLUMNS} FROM workflow_runs ${conditions.where()}
       ORDER BY ${query.updated_since ? 'updated_at ASC, run_id ASC' : 'created_at DESC, run_id DESC'} LIMIT ${conditions.param(limit + 1)}`,
      conditions.params,
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    if (query.updated_since) {
      // The change feed: oldest change first; the caller continues after the last one it got (next_cursor, exact), or
      // where it was when nothing changed. A feed has no end: the cursor is there on every page, full or not.
      return {
        runs: page.map(toSummary),
        next_cursor: last ? encodeFeedCursor(last.updated_at_text, last.run_id) : (query.cursor ?? null),
        next_updated_since: last ? last.updated_at_text : null,
      };
    }
    return {
      runs: page.map(toSummary),
      next_cursor: rows.length > limit && last ? encodeCursor(last.cursor_at, last.run_id) : null,
    };
  }

  /** Asks the run to stop: running actions are aborted, sub-workflows cancelled; the run ends `cancelled`. */
  async cancel(runId: string, requester: VerifiedRequester, actor = actorOf(requester)): Promise<RunSummaryView> {
    const row = await this.visibleRun(runId, requester);
    if (TERMINAL.includes(row.status)) {
      throw new WorkflowException(WorkflowErrorCode.RunNotCancellable, `run ${runId} already ended ${row.status}`, 409);
    }
    const now = this.clock.now();
    await this.dataSource.transaction(async (manager) => {
      await this.store.requestCancel(manager, [runId], now);
      await this.events.recordControlEvent(manager, 'workflow.cancel_requested', row, { actor, at: now, request_id: randomUUID() });
    });
    this.worker.poke();
    return this.summary(runId, requester);
  }

  /**
   * Resumes a run that ended failed, timed out or cancelled from where it failed: completed steps stay completed
   * (never run again); failed and cancelled ones run again, each with a fresh retry budget and, for a step with a
   * `timeout`, a fresh deadline. A failed sub-workflow step resumes its child run the same way rather than starting a
   * new one, so the child's completed steps are not repeated either. Each retry starts a new generation of the run
   * (`retry_generation`, the resumed children's too): the attempts it makes carry idempotency keys of their own
   * (idempotencyKey), so a provider that remembers the first attempt's key does not answer the second with what it
   * remembered (a compensation that would not happen again, a failure repeated).
   */
  async retry(runId: string, requester: VerifiedRequester, actor = actorOf(requester)): Promise<RunSummaryView> {
    const run = await this.visibleRun(runId, requester);
    if (run.parent_run_id && neverStarted(run)) {
      // Resumed, it would run with the inputs its start refused (or with none checked): only its parent's step can
      // start it again, rendering and checking them anew.
      throw new WorkflowException(
        WorkflowErrorCode.RunNotRetryable,
        `run ${runId} never started (${run.error?.code}); retry its parent run ${run.parent_run_id}, whose step starts it anew`,
        409,
      );
    }
    const now = this.clock.now();
    // A sub-workflow run whose parent ended with it: resumed alone it would complete with nobody waiting for it, so
    // the topmost ended ancestor is resumed instead, which resumes this run on its way down (one lock order: parent
    // before child, as every resume). A run its ancestors would not resume (a compensation's) is resumed alone.
    const top = await this.endedAncestor(run);
    if (top && (await this.retryThrough(top, runId, { actor, now }))) {
      this.worker.poke();
      return this.summary(runId, requester);
    }
    await this.dataSource.transaction(async (manager) => {
      const [row]: RunRow[] = await manager.query(`SELECT * FROM workflow_runs WHERE run_id = $1 FOR UPDATE`, [runId]);
      if (!RETRYABLE_FROM.includes(row.status)) {
        throw new WorkflowException(WorkflowErrorCode.RunNotRetryable, `run ${runId} is ${row.status}; only failed, timed out or cancelled runs can be retried`, 409);
      }
      await this.resume(manager, row, { actor, now });
    });
    this.worker.poke();
    return this.summary(runId, requester);
  }

  /** The topmost of `run`'s ancestors that ended retryable, each parent up to it having ended too (read unlocked). */
  private async endedAncestor(run: RunRow): Promise<string | undefined> {
    let top: string | undefined;
    for (let parentId = run.parent_run_id; parentId; ) {
      const [parent]: Pick<RunRow, 'run_id' | 'status' | 'parent_run_id'>[] = await this.dataSource.query(
        `SELECT run_id, status, parent_run_id FROM workflow_runs WHERE run_id = $1`,
        [parentId],
      );
      if (!parent || !RETRYABLE_FROM.includes(parent.status)) break;
      top = parent.run_id;
      parentId = parent.parent_run_id;
    }
    return top;
  }

  /**
   * Resumes the ended ancestor `topId` if that resumes `runId` too; false (and nothing changed) when the ancestor is
   * no longer ended or its resume does not reach `runId`.
   */
  private async retryThrough(topId: string, runId: string, control: { actor: string; now: Date }): Promise<boolean> {
    const notReached = new Error('the ancestor does not resume this run');
    try {
      return await this.dataSource.transaction(async (manager) => {
        const [top]: RunRow[] = await manager.query(`SELECT * FROM workflow_runs WHERE run_id = $1 FOR UPDATE`, [topId]);
        if (!top || !RETRYABLE_FROM.includes(top.status)) return false;
        await this.resume(manager, top, control);
        const [after]: Pick<RunRow, 'status'>[] = await manager.query(`SELECT status FROM workflow_runs WHERE run_id = $1`, [runId]);
        if (after.status !== 'running') throw notReached;
        return true;
      });
    } catch (error) {
      if (error === notReached) return false;
      throw error;
    }
  }

  /** `run` (locked, ended) set going again in the caller's transaction; its ended sub-workflow children with it. */
  private async resume(manager: EntityManager, run: RunRow, control: { actor: string; now: Date }): Promise<void> {
    const { now } = control;
    const definition = this.registry.definition(run.workflow, run.version);
    const compensation = definition ? compensationStepIds(definition) : new Set<string>();
    const steps: StepResetRow[] = await manager.query(
      `SELECT path, step_id, status, handled, attempts FROM workflow_steps WHERE run_id = $1 AND path <> '#on_failure'`,
      [run.run_id],
    );
    const again = stepsToRunAgain(steps.filter((s) => !compensation.has(s.step_id)), definition);
    // Main-path sub-workflow steps keep their child: it is resumed (or, if it completed, its output taken).
    const children: (RunRow & { step_path: string })[] = await manager.query(
      `SELECT c.*, s.path AS step_path FROM workflow_steps s JOIN workflow_runs c ON c.run_id = s.child_run_id
       WHERE s.run_id = $1 AND s.path = ANY($2::text[]) ORDER BY c.run_id FOR UPDATE OF c`,
      [run.run_id, again],
    );
    const ending = children.find((c) => !TERMINAL.includes(c.status));
    if (ending) {
      // Its cancel has not finished: resumed now, it would still end cancelled and fail the step again.
      throw new WorkflowException(WorkflowErrorCode.RunNotRetryable, `sub-workflow run ${ending.run_id} of ${run.run_id} has not ended yet (${ending.status}); retry once it has`, 409);
    }
    // A child refused at its start (inputs that do not match its schema, a workflow not registered) never ran: resumed,
    // it would run with what was refused. Its step starts over instead: it renders and checks the child's inputs again
    // and starts a new child run (the refused one stays, failed, as the record of the first try).
    const kept = children.filter((c) => !neverStarted(c));
    const restarted = children.filter(neverStarted).map((c) => c.step_path);
    for (const child of kept) if (RETRYABLE_FROM.includes(child.status)) await this.resume(manager, child, control);
    const timeout = definition?.timeout_ms;
    await manager.query(`DELETE FROM workflow_steps WHERE run_id = $1 AND path = '#on_failure'`, [run.run_id]);
    await manager.query(
      `UPDATE workflow_steps s SET error = NULL, wake_at = NULL, completed_at = NULL, handled = false, fallback_run_id = NULL,
         -- A step whose child is resumed has made the new generation's first attempt with it: a step that asked for no
         -- retry (one attempt) starts no new child when the resumed one fails again.
         attempt_base = attempts - interruptions - CASE WHEN path = ANY($3::text[]) THEN 1 ELSE 0 END,
         status = CASE WHEN path = ANY($3::text[]) THEN 'running' ELSE 'pending' END,
         started_at = CASE WHEN path = ANY($3::text[]) THEN $4::timestamptz END,
         child_run_id = CASE WHEN path = ANY($5::text[]) THEN NULL ELSE child_run_id END
       WHERE run_id = $1 AND path = ANY($2::text[])`,
      [run.run_id, again, kept.map((c) => c.step_path), now, restarted],
    );
    // The compensation (on_failure.steps) is not resumed: it runs again, from its start, only if the run fails again.
    // Its steps that never ran an attempt (skipped, containers, approvals, sleeps) are forgotten, so their `if`,
    // `switch` and `foreach` are decided anew; those that did run keep their rows (their attempts stay numbered) and
    // wait, pending and never started, with a fresh retry budget: the interpreter decides their `if` anew too, and
    // their attempts carry the new generation's keys; a sub-workflow one starts a new child.
    const compensating = steps.filter((s) => compensation.has(s.step_id));
    await manager.query(`DELETE FROM workflow_steps WHERE run_id = $1 AND path = ANY($2::text[])`, [
      run.run_id,
      compensating.filter((s) => s.attempts === 0).map((s) => s.path),
    ]);
    await manager.query(
      `UPDATE workflow_steps SET status = 'pending', input = NULL, output = NULL, error = NULL, decision = NULL, handled = false,
         child_run_id = NULL, fallback_run_id = NULL, wake_at = NULL, started_at = NULL, completed_at = NULL,
         attempt_base = attempts - interruptions
       WHERE run_id = $1 AND path = ANY($2::text[])`,
      [run.run_id, compensating.filter((s) => s.attempts > 0).map((s) => s.path)],
    );
    await manager.query(
      `UPDATE workflow_runs SET status = 'running', error = NULL, output = NULL, completed_at = NULL, fallback_run_id = NULL,
         cancel_requested = false, deadline_at = $2, next_wake_at = $3, wake_version = wake_version + 1,
         retry_generation = retry_generation + 1, updated_at = now()
       WHERE run_id = $1`,
      [run.run_id, timeout !== undefined ? new Date(now.getTime() + timeout) : null, now],
    );
    await this.events.recordControlEvent(manager, 'workflow.retry_requested', run, { actor: control.actor, at: now, request_id: randomUUID() });
  }

  /**
   * Delivers a signal (an approval); kept until a step waiting for that name consumes it. With the sender's
   * Idempotency-Key the signal's id is derived from the sender, run, name and key, so a signal sent again (after a
   * timeout, say) is answered with the first and stored once, even after the run ended; the key naming another signal
   * (another payload) is a 409.
   */
  async signal(
    runId: string,
    name: string,
    payload: unknown,
    requester: VerifiedRequester,
    sender = actorOf(requester),
    idempotencyKey?: string,
  ): Promise<{ signal_id: string; run: RunSummaryView }> {
    const row = await this.visibleRun(runId, requester);
    const id = idempotencyKey === undefined ? randomUUID() : nameBasedUuid(SIGNAL_ID_NAMESPACE, [sender, runId, name, idempotencyKey].join('\n'));
    const replay = async (): Promise<{ signal_id: string; run: RunSummaryView } | undefined> => {
      const [sent]: { payload_text: string | null }[] = await this.dataSource.query(`SELECT coalesce(payload::text, 'null') AS payload_text FROM workflow_signals WHERE id = $1`, [id]);
      if (!sent) return undefined;
      if (sent.payload_text !== (await this.asStored(payload))) {
        throw new WorkflowException(WorkflowErrorCode.SignalKeyReused, `this Idempotency-Key already sent signal ${name} to run ${runId} with another payload; use a new key for a new signal`, 409);
      }
      return { signal_id: id, run: toSummary(row) };
    };
    if (idempotencyKey !== undefined) {
      const first = await replay();
      if (first) return first;
    }
    if (TERMINAL.includes(row.status)) throw new WorkflowException(WorkflowErrorCode.RunFinished, `run ${runId} already ended ${row.status}`, 409);
    const now = this.clock.now();
    const stored = await this.dataSource.transaction(async (manager) => {
      if (!(await this.store.insertSignal(manager, { id, run_id: runId, name, payload: payload ?? null, sender }, now))) return false;
      await this.events.recordControlEvent(manager, 'workflow.signal_received', row, { actor: sender, at: now, request_id: id, signal: name });
      return true;
    });
    if (!stored) {
      // The same keyed signal, sent twice at once: the other request stored it.
      const first = await replay();
      if (first) return first;
    }
    this.worker.poke();
    return { signal_id: id, run: await this.summary(runId, requester) };
  }

  /**
   * `payload` as workflow_signals.payload::text reads it back (jsonb's own text form), to compare a replay's: a signal
   * without a payload is stored as JSON null (insertSignal), so it reads back `null` too.
   */
  private async asStored(payload: unknown): Promise<string> {
    const [{ text }]: { text: string }[] = await this.dataSource.query(`SELECT $1::jsonb::text AS text`, [JSON.stringify(payload ?? null)]);
    return text;
  }

  /**
   * Runs of each version not ended yet (the drain of a replaced version), of the caller's products only, as the runs
   * list (`products`: productFilter; undefined = every product, else no run of another product and none without one).
   */
  async liveRunCounts(products?: string[]): Promise<Map<string, number>> {
    const rows: { workflow: string; version: string; n: number }[] = await this.dataSource.query(
      `SELECT workflow, version, count(*)::int AS n FROM workflow_runs
       WHERE status IN ('pending', 'running') AND ($1::text[] IS NULL OR product = ANY($1::text[]))
       GROUP BY workflow, version`,
      [products ?? null],
    );
    return new Map(rows.map((r) => [`${r.workflow}@${r.version}`, Number(r.n)]));
  }

  private async summary(runId: string, requester: VerifiedRequester): Promise<RunSummaryView> {
    return toSummary(await this.visibleRun(runId, requester));
  }

  /** The run, if the caller's products include it; otherwise it does not exist for them (404, not 403). */
  private async visibleRun(runId: string, requester: VerifiedRequester): Promise<RunRow> {
    const [row]: RunRow[] = await this.dataSource.query(`SELECT *, created_at::text AS cursor_at FROM workflow_runs WHERE run_id = $1`, [runId]);
    const products = productFilter(requester);
    if (!row || (products && (row.product === null || !products.includes(row.product)))) {
      throw new WorkflowException(WorkflowErrorCode.RunNotFound, `no run ${runId}`, 404);
    }
    return row;
  }
}

/** A sub-workflow run refused at its start (failed before it ever ran), which a retry must not resume. */
function neverStarted(run: Pick<RunRow, 'status' | 'started_at' | 'error'>): boolean {
  return run.status === 'failed' && run.started_at === null && NEVER_STARTED_ERRORS.includes(run.error?.code ?? '');
}

interface StepResetRow {
  path: string;
  step_id: string;
  status: string;
  handled: boolean;
  attempts: number;
}

/**
 * The paths of the main-path steps a retry runs again: the cancelled ones and the failed ones no handler dealt with,
 * each only if the step holding it (a group, a parallel, a switch, a foreach or one of its items) runs again too. A
 * `join: any` loser, cancelled inside a parallel that completed, or a failed branch of a step whose `on_failure` let
 * the run go on, stays as it ended: nothing would ever advance it again.
 */
function stepsToRunAgain(rows: readonly StepResetRow[], definition: WorkflowManifest | undefined): string[] {
  const enclosing = enclosingSteps(definition);
  const byPath = new Map(rows.map((r) => [r.path, r]));
  const decided = new Map<string, boolean>();
  const runsAgain = (row: StepResetRow): boolean => {
    const known = decided.get(row.path);
    if (known !== undefined) return known;
    let again = row.status === 'cancelled' || (row.status === 'failed' && !row.handled);
    const holder = containerPath(row, enclosing);
    const container = holder === undefined ? undefined : byPath.get(holder);
    if (again && container) again = runsAgain(container);
    decided.set(row.path, again);
    return again;
  };
  return rows.filter(runsAgain).map((r) => r.path);
}

/** Each step id of the manifest → the step whose block holds it (none for a step at the top of its list). */
function enclosingSteps(definition: WorkflowManifest | undefined): Map<string, Step> {
  const holders = new Map<string, Step>();
  const walk = (steps: readonly Step[] | undefined, holder?: Step): void => {
    for (const step of steps ?? []) {
      if (holder) holders.set(step.id, holder);
      for (const block of childSteps(step)) walk(block, step);
    }
  };
  walk(definition?.steps);
  walk(definition?.on_failure?.steps);
  return holders;
}

/**
 * The path of the record holding `row` (the interpreter's paths: `<prefix><id>`, a foreach item `<prefix><id>[i]`,
 * a step of an item's group `<prefix><id>[i].<step id>`); undefined for a step at the top of the run.
 */
function containerPath(row: Pick<StepResetRow, 'path' | 'step_id'>, enclosing: ReadonlyMap<string, Step>): string | undefined {
  if (!row.path.endsWith(row.step_id)) {
    // A foreach item: held by its foreach.
    const item = /^(.*)\[\d+\]$/.exec(row.path);
    return item ? item[1] : undefined;
  }
  const prefix = row.path.slice(0, row.path.length - row.step_id.length);
  const holder = enclosing.get(row.step_id);
  if (!holder) return undefined;
  // A step of a foreach's group body is held by its item (`<id>[i]`); any other by its container's record.
  return holder.kind === 'foreach' ? prefix.replace(/\.$/, '') : `${prefix}${holder.id}`;
}

interface StepRow {
  path: string;
  step_id: string;
  kind: string;
  status: string;
  input: unknown;
  output: unknown;
  error: RunView['error'];
  handled: boolean;
  decision: unknown;
  child_run_id: string | null;
  fallback_run_id: string | null;
  wake_at: Date | null;
  started_at: Date | null;
  completed_at: Date | null;
}

interface AttemptRow {
  path: string;
  attempt: number;
  status: StepAttemptView['status'];
  idempotency_key: string;
  started_at: Date;
  completed_at: Date | null;
  error: StepAttemptView['error'];
}

/**
 * The run's span, under the caller's span when the call carries the run's trace (Core's outbox delivery does), else
 * under the run's trace id all the same, so every step span and event of the run lands in the trace Core answered
 * with. Its context is stored with the run: every attempt's span is its child, whichever process runs it.
 */
function openRunSpan(dto: ExecutorStartRunDto): string | undefined {
  const active = trace.getSpanContext(otelContext.active());
  const parent =
    active?.traceId === dto.trace_id
      ? otelContext.active()
      : trace.setSpanContext(ROOT_CONTEXT, {
          traceId: dto.trace_id,
          spanId: randomBytes(8).toString('hex'),
          traceFlags: TraceFlags.SAMPLED,
          isRemote: true,
        });
  const span = getTracer().startSpan(
    `workflow.run ${dto.workflow}@${dto.version}`,
    { kind: SpanKind.INTERNAL, attributes: { 'pancha.run_id': dto.run_id, 'pancha.workflow': dto.workflow, 'pancha.workflow.version': dto.version } },
    parent,
  );
  const value = currentTraceparent(trace.setSpan(parent, span));
  span.end();
  return value;
}

function toSummary(row: RunRow): RunSummaryView & { warnings: string[] } {
  return {
    run_id: row.run_id,
    workflow: row.workflow,
    version: row.version,
    status: row.status,
    user_id: row.user_id,
    product: row.product,
    trace_id: row.trace_id,
    parent_run_id: row.parent_run_id,
    created_at: row.created_at.toISOString(),
    started_at: iso(row.started_at),
    completed_at: iso(row.completed_at),
    duration_ms: row.started_at && row.completed_at ? row.completed_at.getTime() - row.started_at.getTime() : null,
    error: row.error ?? null,
    warnings: row.warnings ?? [],
    ...(row.updated_at_text ? { updated_at: row.updated_at_text } : {}),
  };
}

function toStepView(row: StepRow, attempts: StepAttemptView[]): RunStepView {
  return {
    path: row.path,
    step_id: row.step_id,
    kind: row.kind,
    status: row.status,
    attempts,
    input: row.input ?? null,
    output: row.output ?? null,
    error: row.error ?? null,
    handled: row.handled,
    decision: row.decision ?? null,
    child_run_id: row.child_run_id,
    fallback_run_id: row.fallback_run_id,
    wake_at: iso(row.wake_at),
    started_at: iso(row.started_at),
    completed_at: iso(row.completed_at),
    duration_ms: row.started_at && row.completed_at ? row.completed_at.getTime() - row.started_at.getTime() : null,
  };
}

function iso(value: Date | null): string | null {
  return value ? value.toISOString() : null;
}

function encodeCursor(createdAt: string, runId: string): string {
  return Buffer.from(`${createdAt}|${runId}`).toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function decodeCursor(cursor: string): { created_at: string; run_id: string } | undefined {
  const [createdAt, runId] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!parseTimestamp(createdAt) || !UUID.test(runId ?? '')) return undefined;
  return { created_at: createdAt, run_id: runId };
}

/** The change feed's position: a run's (updated_at, run_id), marked so that neither list takes the other's cursor. */
const FEED_CURSOR = 'feed';

function encodeFeedCursor(updatedAt: string, runId: string): string {
  return Buffer.from(`${FEED_CURSOR}|${updatedAt}|${runId}`).toString('base64url');
}

function decodeFeedCursor(cursor: string): { updated_at: string; run_id: string } | undefined {
  const [mark, updatedAt, runId, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (mark !== FEED_CURSOR || rest.length > 0 || !parseTimestamp(updatedAt ?? '') || !UUID.test(runId ?? '')) return undefined;
  return { updated_at: updatedAt, run_id: runId };
}
