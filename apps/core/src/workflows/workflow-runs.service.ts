import { randomBytes, randomUUID } from 'node:crypto';
import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  CommonErrorCode,
  EventTopic,
  type ExecutorStartRunDto,
  type RunCancelledBeforeStartAuditEvent,
  type RunDelivery,
  type RunListQueryDto,
  type RunListResponse,
  type RunRequestView,
  type RunSummaryView,
  type RunView,
  parseTimestamp,
  type StartRunAccepted,
  type WorkflowRunStatus,
  type WorkflowStatsResponse,
  WorkflowErrorCode,
} from '@pancha/contracts';
import { actorOf, impliedProduct, productFilter, productRequired, type VerifiedRequester } from '@pancha/governance';
import { ServiceCallError } from '@pancha/http-client';
import { type EnqueueInput, OutboxService, type OutboxStatementPart } from '@pancha/outbox';
import { DomainException, GroupCommit, type GroupItemOutcome, SqlConditions, validationException } from '@pancha/service-kit';
import { currentTraceId, injectTraceHeaders } from '@pancha/trace-context';
import { WorkflowExecutorClient } from '@pancha/workflow-executor-client';
import { migrateInputs, migrationWarning } from '@pancha/workflow-manifest';
import { DataSource, type EntityManager } from 'typeorm';
import { claimIdempotencyKey, type IdempotencyClaim, type IdempotencyKeyTable, type IdempotentOutcome, once, requestHash } from '../idempotency/idempotent-request';
import { WorkflowCatalogService } from './workflow-catalog.service';

/** Outbox topic: a run Core accepted, for the executor to start. Payload: ExecutorStartRunDto. */
export const RUN_START_TOPIC = 'workflow-executor.run-start';
/** Outbox topic: a cancel that follows a start the relay was handing over when it was asked. Payload: RunCancelMessage. */
export const RUN_CANCEL_TOPIC = 'workflow-executor.run-cancel';

export interface RunCancelMessage {
  run_id: string;
  /** Who asked Core to cancel (governance actorOf). */
  actor: string;
}

export interface StartRunParams {
  workflow: string;
  version?: string;
  inputs: Record<string, unknown>;
  user_id: string;
  product?: string;
  /** Who asked: a requester id or `user:<subject>`. */
  actor: string;
  /** How the run was asked for: `api`, `task:<task_id>`, `event:<event_id>`. */
  source: string;
  /** The trace the run belongs to (default: the active one, else a new id). */
  trace_id?: string;
  /** False when the caller's acceptance already covers the product (a task whose rule decided the workflow). */
  checkProduct?: boolean;
}

export interface PreparedStart {
  start: ExecutorStartRunDto;
  source: string;
  accepted: StartRunAccepted;
}

interface RunRequestRow {
  run_id: string;
  workflow: string;
  version: string;
  inputs: Record<string, unknown>;
  user_id: string;
  product: string | null;
  trace_id: string;
  actor: string;
  delivery: RunDelivery;
  reason: string | null;
  /** What the start was warned of (its 202's `warnings`); null for none, and for requests stored before the column. */
  warnings: string[] | null;
  /** Sends of the start the relay began (counted before each send: RunStartHandler). */
  start_sends: number;
  /** Sends that found the executor's connection refused, or a 4xx: they stored nothing. */
  start_refusals: number;
  created_at: Date;
  updated_at: Date;
}

/** Where a run start's Idempotency-Key is kept (RunIdempotencyKeys1765830000000), with the run it started. */
const RUN_IDEMPOTENCY_KEYS: IdempotencyKeyTable = { table: 'run_idempotency_keys', idColumn: 'run_id' };

/** Run starts stored per transaction at most. */
const MAX_GROUP = 100;

/**
 * Public entry to workflows (SPEC §5): a start is checked against Core's mirror of the registry (unknown 404,
 * disabled or retired 409, inputs 422 naming each field), then stored with its outbox message in one transaction
 * and answered 202 at once; the executor starts the run when the relay reaches it. Reads and run controls are
 * passed to the executor's governed runs API with the caller's product scope.
 */
@Injectable()
export class WorkflowRunsService {
  private readonly logger = new Logger(WorkflowRunsService.name);
  /**
   * A group's write is one statement, atomic without BEGIN and COMMIT around it (as a task's accept group): the
   * requests' INSERT and, as CTEs of the same statement, their outbox messages. It was a transaction of two.
   */
  private readonly group = new GroupCommit<{ prepared: PreparedStart; headers: Record<string, string> }, void>(
    async (starts) => {
      await this.store(this.dataSource, this.outbox.inStatement(this.messagesOf(starts), 2), starts);
      return starts.map((): GroupItemOutcome<void> => ({ ok: true, result: undefined }));
    },
    {
      maxBatch: MAX_GROUP,
      onIsolate: (size, error) => this.logger.warn({ msg: 'run start group failed; storing its starts one by one', size, error: (error as Error).message }),
    },
  );

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly catalog: WorkflowCatalogService,
    private readonly outbox: OutboxService,
    private readonly executor: WorkflowExecutorClient,
  ) {}

  /** Runs waiting for the next commit (not those of the commit running now). */
  get queued(): number {
    return this.group.queued;
  }

  /**
   * POST /workflows/:name/runs: group-committed like a task's accept. Starts that arrive while a commit runs share
   * the next transaction (one INSERT of the requests, one of their messages, each message in its own request's
   * trace), and each is answered only after the commit that holds it.
   */
  async start(params: StartRunParams, requester: VerifiedRequester): Promise<StartRunAccepted> {
    await this.catalogKnown();
    const prepared = this.prepare(params, requester);
    await this.group.submit({ prepared, headers: injectTraceHeaders() });
    return prepared.accepted;
  }

  /**
   * POST /workflows/:name/runs with an `Idempotency-Key` (Core's mechanism of /handle_task: idempotent-request.ts): a
   * retry by the same requester with the same key and request (`sent`: the workflow and the body as sent) is answered
   * with the first 202 before anything is checked again, and starts nothing; the same key with another request is a
   * 409 `idempotency_key_reused`. The key is claimed in the transaction that stores the run request (its own, not a
   * group's), so of two concurrent requests with one key, one run starts and both get its answer. Without a key, start().
   */
  async startOnce(params: StartRunParams, requester: VerifiedRequester, sent: object, idempotencyKey: string | undefined): Promise<IdempotentOutcome<StartRunAccepted>> {
    if (idempotencyKey === undefined) return { reply: await this.start(params, requester), replayed: false };
    const claim: IdempotencyClaim = { requesterId: requester.id, key: idempotencyKey, requestHash: requestHash(sent) };
    return once(this.dataSource, RUN_IDEMPOTENCY_KEYS, claim, async () => {
      await this.catalogKnown();
      const prepared = this.prepare(params, requester);
      await this.dataSource.transaction(async (manager) => {
        await claimIdempotencyKey(manager, RUN_IDEMPOTENCY_KEYS, claim, prepared.start.run_id, prepared.accepted);
        await this.commit(manager, prepared);
      });
      return prepared.accepted;
    });
  }

  /** A Core that has never seen the catalog (just started, nothing cached) asks the executor once before refusing. */
  async catalogKnown(): Promise<void> {
    if (!this.catalog.known) await this.catalog.refresh();
  }

  /**
   * Checks a start against the mirror (throws the 403/404/409/422/503 a caller gets) and fixes its run id and
   * trace, without writing anything: a caller that must know the answer before its transaction (a task storing its
   * reply under an Idempotency-Key) prepares first, then commits the start in its own transaction.
   */
  prepare(params: StartRunParams, requester: VerifiedRequester): PreparedStart {
    const checked = this.check(params, requester);
    const runId = randomUUID();
    const traceId = params.trace_id ?? currentTraceId() ?? randomBytes(16).toString('hex');
    const start: ExecutorStartRunDto = {
      run_id: runId,
      workflow: params.workflow,
      version: checked.version,
      inputs: checked.inputs,
      user_id: params.user_id,
      ...(checked.product !== undefined ? { product: checked.product } : {}),
      trace_id: traceId,
      actor: params.actor,
      ...(checked.warnings.length > 0 ? { warnings: checked.warnings } : {}),
    };
    return {
      start,
      source: params.source,
      accepted: {
        run_id: runId,
        trace_id: traceId,
        workflow: params.workflow,
        version: checked.version,
        status: 'pending',
        ...(checked.warnings.length > 0 ? { warnings: checked.warnings } : {}),
      },
    };
  }

  /** Stores a prepared start and its outbox message in the caller's transaction. */
  commit(manager: EntityManager, prepared: PreparedStart): Promise<void> {
    return this.commitAll(manager, [{ prepared }]);
  }

  /**
   * Stores prepared starts in the caller's transaction, in one statement: the requests' INSERT and their outbox
   * messages, each message carrying `headers` (its own trace context) when given, else the active one.
   */
  async commitAll(manager: EntityManager, starts: readonly { prepared: PreparedStart; headers?: Record<string, string> }[]): Promise<void> {
    if (starts.length === 0) return;
    await this.store(manager, this.outbox.inTransactionStatement(manager, this.messagesOf(starts), 2), starts);
  }

  /** The starts' INSERT with `enqueue`'s CTEs, one statement on `db` (a data source's own, or a transaction's). */
  private async store(db: Pick<DataSource, 'query'>, enqueue: OutboxStatementPart, starts: readonly { prepared: PreparedStart }[]): Promise<void> {
    await db.query(`WITH stored AS (${INSERT_REQUESTS_SQL}), ${enqueue.ctes} SELECT 1`, [requestsJson(starts), ...enqueue.params]);
    enqueue.committed();
    for (const { prepared } of starts) {
      const { start } = prepared;
      // The run's own trace: a batch of tasks commits its tasks' runs after their spans have ended.
      this.logger.log({ msg: 'workflow run accepted', trace_id: start.trace_id, run_id: start.run_id, workflow: start.workflow, version: start.version, source: prepared.source });
    }
  }

  private messagesOf(starts: readonly { prepared: PreparedStart; headers?: Record<string, string> }[]): EnqueueInput[] {
    return starts.map(({ prepared: { start }, headers }) => ({ topic: RUN_START_TOPIC, messageKey: start.run_id, payload: start, ...(headers ? { headers } : {}) }));
  }

  async view(runId: string, requester: VerifiedRequester): Promise<RunView | RunRequestView> {
    try {
      const run = await this.executor.run(runId, scopeOf(requester));
      // An executor from before warnings were recorded answers without them: the same [] as Core's record.
      return { ...run, warnings: run.warnings ?? [] };
    } catch (error) {
      // The executor may not have the run yet (queued in Core's outbox) or be down: Core's own record still answers.
      const queued = await this.ownRecord(runId, requester);
      if (queued && (isStatus(error, 404) || isUnavailable(error))) return queued;
      throw this.translate(error);
    }
  }

  /**
   * GET /runs: the executor's runs merged, newest first, with the runs that ended in Core without reaching it
   * (refused by the executor, or cancelled before it got there), under the same filters and product scope. A page's
   * cursor holds both positions (`<executor's cursor>.<Core's>`, `-` for a side that is done); a page may hold fewer
   * than `limit` runs with a `next_cursor` still. A start still queued is left out: it moves to the executor's side
   * with the executor's own created_at, so listing it would let a paging reader see it twice or not at all
   * (GET /runs/:id answers it). The change feed (`updated_since`) is the executor's alone.
   */
  async list(query: RunListQueryDto, requester: VerifiedRequester): Promise<RunListResponse> {
    const page = await this.page(query, requester);
    return { ...page, runs: await this.withWarnings(page.runs) };
  }

  /**
   * Every summary of a list with its `warnings`: the executor's own when its summary carries them, else those Core
   * stored with the run's request (a run Core started), else [] (a sub-workflow or fallback run: the executor's run
   * view has its warnings). One look-up by primary key per page, of the runs that need it.
   */
  private async withWarnings(runs: RunSummaryView[]): Promise<RunSummaryView[]> {
    const missing = runs.filter((r) => !Array.isArray(r.warnings) && UUID.test(r.run_id)).map((r) => r.run_id);
    const stored = new Map<string, string[]>();
    if (missing.length > 0) {
      const rows: { run_id: string; warnings: string[] }[] = await this.dataSource.query(
        `SELECT run_id::text AS run_id, warnings FROM workflow_run_requests WHERE run_id = ANY($1::uuid[]) AND warnings IS NOT NULL`,
        [missing],
      );
      for (const row of rows) stored.set(row.run_id, row.warnings);
    }
    return runs.map((r) => (Array.isArray(r.warnings) ? r : { ...r, warnings: stored.get(r.run_id.toLowerCase()) ?? [] }));
  }

  private async page(query: RunListQueryDto, requester: VerifiedRequester): Promise<RunListResponse> {
    if (query.updated_since) return this.executorRuns(query, requester);
    const at = parseListCursor(query.cursor);
    const limit = query.limit ?? DEFAULT_RUN_PAGE;
    const own = at.core === DONE ? [] : await this.ownRuns(query, requester, decodePosition(at.core), limit + 1);
    const executorPage = (size: number): Promise<RunListResponse> =>
      at.executor === DONE ? Promise.resolve({ runs: [], next_cursor: null }) : this.executorRuns({ ...query, cursor: at.executor || undefined, limit: size }, requester);
    const ownMore = own.length > limit;
    let theirs = await executorPage(limit);
    let merged = mergeRuns(theirs, own, ownMore, limit);
    while (merged.fromExecutor > 0 && merged.fromExecutor < theirs.runs.length) {
      // The page ends inside the executor's: ask again for just the runs it keeps, for the executor's exact cursor
      // (a smaller page each time, so this ends; once, unless runs came or went between the two asks).
      theirs = await executorPage(merged.fromExecutor);
      merged = mergeRuns(theirs, own, ownMore, limit);
    }
    const executor = merged.fromExecutor === 0 && theirs.runs.length > 0 ? at.executor : (theirs.next_cursor ?? DONE);
    const lastOwn = merged.fromCore > 0 ? own[merged.fromCore - 1] : undefined;
    const core = merged.fromCore === own.length && !ownMore ? DONE : lastOwn ? encodePosition(lastOwn.cursor_at, lastOwn.run_id) : at.core;
    return { runs: merged.runs, next_cursor: executor === DONE && core === DONE ? null : `${executor}.${core}` };
  }

  private async executorRuns(query: RunListQueryDto, requester: VerifiedRequester): Promise<RunListResponse> {
    try {
      return await this.executor.runs(query, scopeOf(requester));
    } catch (error) {
      throw this.translate(error);
    }
  }

  /**
   * Core's own runs that ended without reaching the executor (refused, cancelled before it got there) matching the
   * list's filters, after `position`, newest first. Exactly those rows hold a `reason` (set by the two updates that
   * end them), and the list's index is on that (IDX_workflow_run_requests_ended): an index on `delivery` would make
   * the relay's mark-delivered update a non-HOT update, on every start.
   */
  private async ownRuns(query: RunListQueryDto, requester: VerifiedRequester, position: [string, string] | undefined, limit: number): Promise<OwnRunRow[]> {
    const conditions = new SqlConditions(`reason IS NOT NULL`, `delivery IN ('refused', 'cancelled')`);
    if (query.status) {
      const delivery = OWN_STATUS[query.status];
      if (!delivery) return [];
      conditions.add('delivery = ?', delivery);
    }
    conditions
      .equal(query, ['workflow', 'version', 'user_id', 'product', 'trace_id'])
      .between('created_at', query.since, query.until)
      .anyOf('product', productFilter(requester))
      .before('created_at', 'run_id', position);
    return this.dataSource.query(
      `SELECT ${SUMMARY_COLUMNS}, created_at::text AS cursor_at FROM workflow_run_requests ${conditions.where()}
       ORDER BY created_at DESC, run_id DESC LIMIT ${conditions.param(limit)}`,
      conditions.params,
    );
  }

  /** The executor's workflow stats, of the caller's products' runs only (as run reads). */
  async stats(query: { window?: string; name?: string; bucket?: string }, requester: VerifiedRequester): Promise<WorkflowStatsResponse> {
    try {
      return await this.executor.workflowStats(query, scopeOf(requester));
    } catch (error) {
      throw this.translate(error);
    }
  }

  async control(runId: string, action: 'cancel' | 'retry', requester: VerifiedRequester): Promise<RunSummaryView> {
    // The executor records who asked Core (a person through PRANA or the CLI), not Core, as the control's actor.
    const actor = actorOf(requester);
    try {
      return action === 'cancel'
        ? await this.executor.cancelRun(runId, scopeOf(requester), actor)
        : await this.executor.retryRun(runId, scopeOf(requester), actor);
    } catch (error) {
      if (action === 'cancel' && (isStatus(error, 404) || isUnavailable(error))) {
        const undelivered = await this.cancelUndelivered(runId, requester, actor);
        if (undelivered === 'delivered' && isStatus(error, 404)) {
          // Delivered between the executor's answer and our look: the executor has it now.
          return this.executor.cancelRun(runId, scopeOf(requester), actor).catch((again: unknown) => Promise.reject(this.translate(again, { change: 'the cancel' })));
        }
        if (undelivered && undelivered !== 'delivered') return undelivered;
      }
      throw this.translate(error, { change: `the ${action}` });
    }
  }

  /**
   * A cancel for a run the executor does not have (its start still in Core's outbox, or the executor down). A start
   * that never reached the executor (not sent yet, or only to a refused connection) is withdrawn: its message deleted
   * and the request ended `cancelled` in one transaction, with its Bucket entry, so the run never starts. A start the
   * relay is handing over right now, or that may have reached the executor before (a timeout, a 5xx: it may be stored
   * there, or be on its way in a request still open; RunStartHandler counts sends and refusals), cannot be taken back: the
   * cancel follows it as a message of its own (RunCancelHandler), made once the executor has the run. Undefined when
   * Core has no such run in the caller's products; 'delivered' when the executor has it (its answer stands).
   */
  private async cancelUndelivered(runId: string, requester: VerifiedRequester, actor: string): Promise<RunRequestView | 'delivered' | undefined> {
    if (!UUID.test(runId)) return undefined;
    return this.dataSource.transaction(async (manager) => {
      const [row]: (RunRequestRow & { maybe_sent: boolean })[] = await manager.query(
        `SELECT *, ${MAYBE_SENT} AS maybe_sent FROM workflow_run_requests WHERE run_id = $1 FOR UPDATE`,
        [runId],
      );
      if (!row || !inScope(row, requester)) return undefined;
      if (row.delivery === 'delivered') return 'delivered';
      if (row.delivery !== 'queued') {
        throw new DomainException(HttpStatus.CONFLICT, WorkflowErrorCode.RunNotCancellable, `run ${runId} already ended ${summaryOf(row).status}`);
      }
      // TypeORM answers a DELETE … RETURNING with [rows, count]. A leased row is being delivered, and a start with a
      // send that was not refused (a timeout, a 5xx, a send whose outcome was lost) may be stored at the executor:
      // neither is ours to take. A start whose sends all found the executor down (connection refused) is. The
      // row's settled attempts must be refusals too: a relay of a Core before the send counts counted none.
      const [withdrawn]: [{ id: string }[], number] =
        row.maybe_sent
          ? [[], 0]
          : await manager.query(
              `DELETE FROM outbox WHERE topic = $1 AND message_key = $2 AND status = 'pending' AND lease_token IS NULL AND attempts <= $3 RETURNING id`,
              [RUN_START_TOPIC, runId, row.start_refusals],
            );
      if (withdrawn.length === 0) {
        await this.outbox.enqueue(manager, { topic: RUN_CANCEL_TOPIC, messageKey: runId, payload: { run_id: runId, actor } satisfies RunCancelMessage });
        return summaryOf(row);
      }
      const [[cancelled]]: [RunRequestRow[], number] = await manager.query(
        `UPDATE workflow_run_requests SET delivery = 'cancelled', reason = $2, updated_at = now() WHERE run_id = $1 RETURNING *`,
        [runId, `cancelled by ${actor} before the executor received it`],
      );
      const audit: RunCancelledBeforeStartAuditEvent = {
        event_id: randomUUID(),
        event_type: 'run_cancelled_before_start',
        trace_id: row.trace_id,
        run_id: runId,
        workflow: row.workflow,
        version: row.version,
        actor,
        user_id: row.user_id,
        ...(row.product !== null ? { product: row.product } : {}),
        timestamp: new Date().toISOString(),
      };
      await this.outbox.enqueue(manager, { topic: EventTopic.BucketCoreEvent, messageKey: `run_cancelled_before_start:${runId}`, payload: { event_data: audit } });
      this.logger.log({ msg: 'workflow run cancelled before the executor received it', trace_id: row.trace_id, run_id: runId, actor });
      return summaryOf(cancelled);
    });
  }

  async signal(runId: string, name: string, payload: unknown, requester: VerifiedRequester, idempotencyKey?: string): Promise<{ signal_id: string; run: RunSummaryView }> {
    try {
      return await this.executor.signalRun(runId, name, payload, scopeOf(requester), actorOf(requester), idempotencyKey);
    } catch (error) {
      throw this.translate(error, { change: 'the signal', idempotent: idempotencyKey !== undefined });
    }
  }

  /**
   * Any executor refusal as the same HTTP answer; an executor that cannot be reached, or fails, is a 503 saying which.
   * One that did not answer in time is a 504 `executor_timeout`: a `change` asked for (a signal, a cancel) may have been
   * made, so the answer says so instead of "try again", and how to repeat it safely.
   */
  translate(error: unknown, asked?: { change: string; idempotent?: boolean }): Error {
    if (error instanceof ServiceCallError && error.status !== undefined && error.status >= 400 && error.status < 500) {
      const body = (error.body ?? {}) as { code?: string; message?: string; errors?: { field: string; messages: string[] }[] };
      return new DomainException(error.status, body.code ?? CommonErrorCode.BadRequest, body.message ?? error.message, body.errors);
    }
    this.logger.warn({ msg: 'workflow executor unavailable', error: (error as Error).message });
    if (asked && error instanceof ServiceCallError && error.timedOut) {
      const repeat = asked.idempotent
        ? 'sending it again with the same Idempotency-Key is safe (a repeat is answered with the first)'
        : 'read the run before asking again (an Idempotency-Key makes a repeated signal safe)';
      return new DomainException(
        HttpStatus.GATEWAY_TIMEOUT,
        WorkflowErrorCode.ExecutorTimeout,
        `the workflow executor did not answer in time; ${asked.change} may have been made: ${repeat}`,
      );
    }
    const failed = error instanceof ServiceCallError && error.status !== undefined;
    return new DomainException(
      HttpStatus.SERVICE_UNAVAILABLE,
      WorkflowErrorCode.ExecutorUnavailable,
      failed ? `the workflow executor failed to answer (HTTP ${error.status}); try again` : 'the workflow executor cannot be reached; try again',
    );
  }

  /**
   * A start names a product its requester may act for; naming none, it is the requester's only product (the run stays
   * readable to it: a product-less run is visible only to requesters that see every product), or a 422 naming
   * `product` when the requester has several.
   */
  private check(params: StartRunParams, requester: VerifiedRequester): { version: string; warnings: string[]; inputs: Record<string, unknown>; product?: string } {
    let product = params.product;
    if (params.checkProduct !== false) {
      const allowed = productFilter(requester);
      if (product !== undefined && allowed && !allowed.includes(product)) {
        throw new DomainException(HttpStatus.FORBIDDEN, CommonErrorCode.Forbidden, `requester ${requester.id} may not act for product ${product}`);
      }
      const implied = impliedProduct(requester, product);
      if ('ambiguous' in implied) throw validationException([{ field: 'product', messages: [productRequired(requester.id, implied.ambiguous)] }]);
      product = implied.product;
    }
    if (!this.catalog.known) {
      throw new DomainException(
        HttpStatus.SERVICE_UNAVAILABLE,
        WorkflowErrorCode.ExecutorUnavailable,
        'the workflow catalog has not been fetched from the executor yet; try again',
      );
    }
    const choice = this.catalog.choose(params.workflow, params.version);
    if (!choice.ok) {
      const status = choice.reason === 'unknown_workflow' || choice.reason === 'unknown_version' ? HttpStatus.NOT_FOUND : HttpStatus.CONFLICT;
      throw new DomainException(status, choice.reason, choice.message);
    }
    const entry = this.catalog.get(params.workflow)!.versions.get(choice.version)!;
    const warnings = entry.deprecated ? [`${params.workflow}@${choice.version} is deprecated`] : [];
    let inputs = params.inputs;
    if (choice.migrateFrom !== undefined) {
      // A caller of an old major, moved to the version that migrates its inputs (WORKFLOWS.md: without a change). Its
      // inputs are checked first against the schema of the version it asked for, when the catalog still has it
      // (retired or replaced versions stay registered): a mistake is named in the caller's own fields, and a field that
      // version refused is refused, not dropped by the migration.
      const asked = params.version === undefined ? undefined : this.catalog.requestedVersion(params.workflow, params.version);
      const before = asked ? this.catalog.validateInputs(asked.manifest, params.inputs) : [];
      if (asked && before.length > 0) {
        throw new DomainException(
          HttpStatus.UNPROCESSABLE_ENTITY,
          WorkflowErrorCode.InputsInvalid,
          `invalid inputs for ${params.workflow}@${asked.version}: ${before.map((p) => p.field).join(', ')}`,
          before,
        );
      }
      try {
        inputs = migrateInputs(entry.manifest, choice.migrateFrom, params.inputs);
      } catch (error) {
        const message = (error as Error).message;
        throw new DomainException(HttpStatus.UNPROCESSABLE_ENTITY, WorkflowErrorCode.InputsInvalid, message, [{ field: 'inputs', messages: [message] }]);
      }
      warnings.push(migrationWarning(params.workflow, params.version!, choice.version, choice.migrateFrom));
    }
    const problems = this.catalog.validateInputs(entry.manifest, inputs);
    if (problems.length > 0) {
      throw new DomainException(
        HttpStatus.UNPROCESSABLE_ENTITY,
        WorkflowErrorCode.InputsInvalid,
        `invalid inputs: ${problems.map((p) => p.field).join(', ')}`,
        problems,
      );
    }
    return { version: choice.version, warnings, inputs, product };
  }

  private async ownRecord(runId: string, requester: VerifiedRequester): Promise<RunRequestView | undefined> {
    if (!UUID.test(runId)) return undefined;
    const [row]: RunRequestRow[] = await this.dataSource.query(`SELECT * FROM workflow_run_requests WHERE run_id = $1`, [runId]);
    return row && inScope(row, requester) ? summaryOf(row) : undefined;
  }
}

/** A run as Core's own record tells it: before the executor has it (queued), or when it never will (refused, cancelled). */
function summaryOf(row: Omit<RunRequestRow, 'inputs'>): RunRequestView {
  const ended = row.delivery === 'refused' || row.delivery === 'cancelled';
  return {
    run_id: row.run_id,
    workflow: row.workflow,
    version: row.version,
    status: row.delivery === 'refused' ? 'failed' : row.delivery === 'cancelled' ? 'cancelled' : 'pending',
    user_id: row.user_id,
    product: row.product,
    trace_id: row.trace_id,
    parent_run_id: null,
    created_at: row.created_at.toISOString(),
    started_at: null,
    completed_at: ended ? row.updated_at.toISOString() : null,
    duration_ms: null,
    error: row.delivery === 'refused' ? { code: 'start_refused', message: row.reason ?? 'the executor refused the start', retryable: false } : null,
    delivery: row.delivery,
    reason: row.reason,
    warnings: row.warnings ?? [],
  };
}

/** The executor's page size when a list names none (its DEFAULT_PAGE). */
const DEFAULT_RUN_PAGE = 50;
/** A side of the list cursor with nothing left. */
const DONE = '-';
/** SQL over workflow_run_requests: a send of the start may have reached the executor (more sends than refusals). */
export const MAYBE_SENT = '(start_sends > start_refusals)';

/** The statuses a run that ended in Core can be in, by its delivery. */
const OWN_STATUS: Partial<Record<WorkflowRunStatus, RunDelivery>> = { failed: 'refused', cancelled: 'cancelled' };

/** What a list summary of a run request reads (not its inputs, up to 256 KiB each). */
const SUMMARY_COLUMNS = 'run_id, workflow, version, user_id, product, trace_id, actor, delivery, reason, warnings, created_at, updated_at';

interface OwnRunRow extends Omit<RunRequestRow, 'inputs'> {
  /** created_at with its microseconds (a JS Date drops them), for an exact cursor. */
  cursor_at: string;
}

/**
 * Merges a page of the executor's runs with Core's own, newest first, up to `limit`; it stops where either side's
 * page ends while that side has more.
 * A run in both (its start delivered while the page was read) is the executor's.
 */
function mergeRuns(
  theirs: RunListResponse,
  own: readonly OwnRunRow[],
  ownMore: boolean,
  limit: number,
): { runs: RunSummaryView[]; fromExecutor: number; fromCore: number } {
  const runs: RunSummaryView[] = [];
  const ids = new Set(theirs.runs.map((r) => r.run_id));
  let e = 0;
  let c = 0;
  while (runs.length < limit) {
    const next = theirs.runs[e];
    const mine = own[c];
    if ((!next && (theirs.next_cursor || !mine)) || (!mine && ownMore)) break;
    if (next && (!mine || newerOrSame(next, mine))) {
      runs.push(next);
      e++;
    } else {
      if (!ids.has(mine.run_id)) runs.push(summaryOf(mine));
      c++;
    }
  }
  return { runs, fromExecutor: e, fromCore: c };
}

function newerOrSame(run: RunSummaryView, row: OwnRunRow): boolean {
  const created = row.created_at.toISOString();
  return run.created_at !== created ? run.created_at > created : run.run_id >= row.run_id;
}

/** The list cursor's two sides: the executor's own cursor and Core's position ('' from the start, DONE when done). */
function parseListCursor(cursor: string | undefined): { executor: string; core: string } {
  if (!cursor) return { executor: '', core: '' };
  const parts = cursor.split('.');
  // A cursor of the executor's alone (Core passed those on before): Core's runs go on from the same place.
  const [executor, core] = parts.length === 1 ? [cursor, cursor] : parts;
  const side = /^(-|[A-Za-z0-9_-]*)$/;
  if (parts.length > 2 || !side.test(executor) || !(core === '' || core === DONE || decodePosition(core))) {
    throw validationException([{ field: 'cursor', messages: ['cursor is not one this API gave out'] }]);
  }
  return { executor, core };
}

function encodePosition(createdAt: string, runId: string): string {
  return Buffer.from(`${createdAt}|${runId}`).toString('base64url');
}

function decodePosition(position: string): [string, string] | undefined {
  const [createdAt, runId] = Buffer.from(position, 'base64url').toString('utf8').split('|');
  // parseTimestamp takes exactly what PostgreSQL stores (Date.parse took 2024-02-30, a 500 at the query).
  if (!parseTimestamp(createdAt) || !UUID.test(runId ?? '')) return undefined;
  return [createdAt, runId];
}

function inScope(row: RunRequestRow, requester: VerifiedRequester): boolean {
  const allowed = productFilter(requester);
  return !allowed || (row.product !== null && allowed.includes(row.product));
}

/** A run id's shape (any case). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The caller's products for the executor (undefined: every product). */
export function scopeOf(requester: VerifiedRequester): { products?: string[] } {
  const products = productFilter(requester);
  return products ? { products } : {};
}

export function isStatus(error: unknown, status: number): boolean {
  return error instanceof ServiceCallError && error.status === status;
}

function isUnavailable(error: unknown): boolean {
  return error instanceof ServiceCallError && (error.status === undefined || error.status >= 500);
}

/** $1: the starts as a JSON array (requestsJson). */
const INSERT_REQUESTS_SQL = `
  INSERT INTO workflow_run_requests (run_id, workflow, version, inputs, user_id, product, trace_id, actor, source, warnings)
  SELECT r.run_id, r.workflow, r.version, r.inputs, r.user_id, r.product, r.trace_id, r.actor, r.source, r.warnings
  FROM jsonb_to_recordset($1::jsonb)
    AS r(run_id uuid, workflow text, version text, inputs jsonb, user_id text, product text, trace_id text, actor text, source text, warnings jsonb)`;

function requestsJson(starts: readonly { prepared: PreparedStart }[]): string {
  return JSON.stringify(
    starts.map(({ prepared: { start, source } }) => ({
      run_id: start.run_id,
      workflow: start.workflow,
      version: start.version,
      inputs: start.inputs,
      user_id: start.user_id,
      product: start.product ?? null,
      trace_id: start.trace_id,
      actor: start.actor ?? 'anonymous',
      source,
      // A JSON null is SQL NULL in jsonb_to_recordset: none recorded.
      warnings: start.warnings?.length ? start.warnings : null,
    })),
  );
}
