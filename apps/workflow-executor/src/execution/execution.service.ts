import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  Decision,
  ExecuteReason,
  type ExecuteWorkflowRequestDto,
  type ExecutedWorkflowResponse,
  type ExecutionResult,
  type ExecutionStatus,
  type MissingPayloadResponse,
  type SkippedWorkflowResponse,
  type WorkflowPayload,
} from '@pancha/contracts';
import { type EnqueueInput, OutboxService } from '@pancha/outbox';
import { GenericPlanConnection, GroupCommit, type GroupItemOutcome, toStorableJson } from '@pancha/service-kit';
import { injectTraceHeaders } from '@pancha/trace-context';
import type { DataSource, EntityManager } from 'typeorm';
import type { ActionOutcome } from '../adapters/action-adapter';
import { timeoutFailure } from '../adapters/action-adapter';
import { insertActionRows, type ActionRow } from '../adapters/action-rows';
import { ActionRunner } from '../adapters/action-runner.service';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { workflowOutboxMessages } from '../events/workflow-events';
import type { ExecutionRowStatus } from './execution.entity';
import { ExecutionInProgressException } from './execution.exception';

export type ExecuteReply =
  | { httpStatus: 200; body: ExecutedWorkflowResponse | SkippedWorkflowResponse }
  | { httpStatus: 400; body: MissingPayloadResponse };

interface StoredExecution {
  status: ExecutionRowStatus;
  result: ExecutionResult | null;
  expired: boolean;
}

// The unique constraint on trace_id decides who executes: exactly one INSERT wins, every other request replays.
// One statement claims the executions of every request that arrived while the previous claim ran.
const CLAIM_SQL = `
  INSERT INTO executions (trace_id, status, action_type, request, started_at)
  SELECT c.trace_id, 'running', c.action_type, c.request, now()
  FROM jsonb_to_recordset($1::jsonb) AS c(trace_id text, action_type text, request jsonb)
  ON CONFLICT (trace_id) DO NOTHING
  RETURNING trace_id`;

const READ_SQL = `
  SELECT status, result, started_at < now() - ($2::int * interval '1 millisecond') AS expired
  FROM executions WHERE trace_id = $1`;

// Only a row still running can be completed: if a lease takeover closed it first, that answer stands. `trace_id =
// ANY($2)` makes the executions side a lookup in its unique index whatever the statistics say: with only the join
// condition the planner, on a table grown since its last ANALYZE, read every execution (a sequential scan per batch).
const COMPLETE_SQL = `
  WITH done AS (
    UPDATE executions e SET status = v.status, result = v.result, completed_at = now(), updated_at = now()
    FROM jsonb_to_recordset($1::jsonb) AS v(trace_id text, status text, result jsonb)
    WHERE e.trace_id = ANY($2::text[]) AND e.trace_id = v.trace_id AND e.status = 'running'
    RETURNING e.trace_id, e.completed_at
  ) SELECT trace_id, completed_at FROM done`;

/** Executions claimed or completed per statement at most. */
const MAX_GROUP = 100;

const EXPIRE_SQL = `
  WITH done AS (
    UPDATE executions SET status = 'failed', result = $3::jsonb, completed_at = now(), updated_at = now()
    WHERE trace_id = $1 AND status = 'running' AND started_at < now() - ($2::int * interval '1 millisecond')
    RETURNING request, completed_at
  ) SELECT request, completed_at FROM done`;

/** Thrown inside a transaction to roll it back when the execution row was closed by someone else meanwhile. */
class ExecutionAlreadyClosed extends Error {}

interface Claim {
  key: string;
  actionType: string | null;
  request: ExecuteWorkflowRequestDto;
}

/** A finished action to record: its execution row, the rows it consists of, and the trace its events continue. */
interface Completion {
  scope: ExecutionScope;
  status: ExecutionStatus;
  result: ExecutionResult;
  rows?: readonly ActionRow[];
  headers: Record<string, string>;
}

/** The context an execution's records and events carry. */
export interface ExecutionScope {
  key: string;
  traceId: string;
  actionType: string | null;
  userId?: string;
  product?: string;
}

/**
 * Executes each `workflow` decision once per trace_id. The claims and the completions of concurrent requests (a batch
 * from Core's relay is many at once) are group-committed: one INSERT claims every execution that arrived while the
 * previous claim ran, and one transaction records every action that finished meanwhile (its effect, the row, its
 * events), each request answered only after the commit that holds it. The claim statement is planned once, on a
 * connection of its own (GenericPlanConnection: an INSERT fed from a JSON parameter, nothing to plan per group).
 */
@Injectable()
export class ExecutionService implements OnModuleDestroy {
  private readonly logger = new Logger(ExecutionService.name);
  private readonly claimConnection: GenericPlanConnection;
  private readonly claims = new GroupCommit<Claim, boolean>((claims) => this.claimAll(claims), { maxBatch: MAX_GROUP });
  private readonly completions = new GroupCommit<Completion, Date>((completions) => this.completeAll(completions), {
    maxBatch: MAX_GROUP,
    onIsolate: (size, error) => this.logger.warn({ msg: 'execution completion group failed; recording one by one', size, error: (error as Error).message }),
  });

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly runner: ActionRunner,
    private readonly outbox: OutboxService,
    private readonly config: WorkflowExecutorConfig,
  ) {
    this.claimConnection = new GenericPlanConnection(dataSource);
  }

  async onModuleDestroy(): Promise<void> {
    await this.claimConnection.close();
  }

  async execute(request: ExecuteWorkflowRequestDto): Promise<ExecuteReply> {
    const key = request.trace_id;
    if (request.decision !== Decision.Workflow) {
      return { httpStatus: 200, body: { trace_id: key, status: 'skipped', reason: ExecuteReason.DecisionNotWorkflow } };
    }
    const payload = request.data?.payload;
    if (payload === undefined || payload === null) {
      return { httpStatus: 400, body: { trace_id: key, status: 'failed', reason: ExecuteReason.MissingWorkflowPayload } };
    }
    const scope = scopeOf(key, payload);
    const claimed = await this.claims.submit({ key, actionType: scope.actionType?.slice(0, 64) ?? null, request });
    if (!claimed) return { httpStatus: 200, body: await this.replay(key) };

    const outcome = await this.runner.run(payload, { traceId: scope.traceId, userId: scope.userId, product: scope.product });
    return { httpStatus: 200, body: await this.complete(scope, outcome) };
  }

  /** A repeat: the stored result, a 409 while the first request is still executing, or a lease takeover after a crash. */
  private async replay(key: string): Promise<ExecutedWorkflowResponse> {
    const rows: StoredExecution[] = await this.dataSource.query(READ_SQL, [key, this.config.executionLeaseMs]);
    const stored = rows[0];
    if (!stored) throw new Error(`execution ${key} vanished`);
    if (stored.status !== 'running' && stored.result) return response(key, stored.status, stored.result);
    if (!stored.expired) throw new ExecutionInProgressException(key);
    return this.expire(key);
  }

  /**
   * The process that claimed this trace_id died mid-action (its lease ran out). Whether the action happened
   * is unknown, so it is reported as a timeout rather than executed a second time.
   */
  private async expire(key: string): Promise<ExecutedWorkflowResponse> {
    const result = resultOf(timeoutFailure(this.config.ADAPTER_TIMEOUT_MS));
    const expired = await this.dataSource.transaction(async (manager) => {
      const rows: { request: { trace_id: string; data?: { payload?: WorkflowPayload } }; completed_at: Date }[] = await manager.query(
        EXPIRE_SQL,
        [key, this.config.executionLeaseMs, JSON.stringify(result)],
      );
      if (rows.length === 0) return false;
      const scope = scopeOf(key, rows[0].request.data?.payload ?? {});
      await this.enqueueEvents(manager, scope, 'failed', result, rows[0].completed_at);
      return true;
    });
    if (!expired) return this.replay(key);
    this.logger.warn({ msg: 'execution lease expired; closed as adapter_timeout', workflow_trace_id: key });
    return response(key, 'failed', result);
  }

  private async complete(scope: ExecutionScope, outcome: ActionOutcome): Promise<ExecutedWorkflowResponse> {
    const status: ExecutionStatus = outcome.success ? 'success' : 'failed';
    const result = resultOf(outcome);
    try {
      await this.completions.submit({ scope, status, result, rows: outcome.success ? outcome.rows : undefined, headers: injectTraceHeaders() });
    } catch (error) {
      if (error instanceof ExecutionAlreadyClosed) return this.replay(scope.key);
      throw error;
    }
    this.logger.log({
      msg: 'workflow executed',
      workflow_trace_id: scope.traceId,
      action_type: scope.actionType,
      status,
      error_code: outcome.success ? undefined : outcome.error_code,
    });
    return response(scope.key, status, result);
  }

  /** One statement for the group's claims; only the first claim of a trace_id in the group can win. */
  private async claimAll(claims: readonly Claim[]): Promise<GroupItemOutcome<boolean>[]> {
    const rows = await this.claimConnection.query<{ trace_id: string }>(CLAIM_SQL, [
      JSON.stringify(claims.map((c) => ({ trace_id: c.key, action_type: c.actionType, request: c.request }))),
    ]);
    const won = new Set(rows.map((r) => r.trace_id));
    return claims.map((c) => {
      const claimed = won.delete(c.key);
      return { ok: true, result: claimed };
    });
  }

  /**
   * One transaction for the group's finished actions: their rows (one UPDATE), their effects (one INSERT per table)
   * and their events (one INSERT). If a lease takeover closed any of the rows first, the transaction rolls back (that
   * action's effect must not be stored) and the group is recorded one by one, where only that request replays the
   * answer that stands.
   */
  private completeAll(completions: readonly Completion[]): Promise<GroupItemOutcome<Date>[]> {
    return this.dataSource.transaction(async (manager) => {
      const rows: { trace_id: string; completed_at: Date }[] = await manager.query(COMPLETE_SQL, [
        JSON.stringify(completions.map((c) => ({ trace_id: c.scope.key, status: c.status, result: c.result }))),
        completions.map((c) => c.scope.key),
      ]);
      if (rows.length !== completions.length) throw new ExecutionAlreadyClosed();
      await insertActionRows(manager, completions.flatMap((c) => c.rows ?? []));
      const completedAt = new Map(rows.map((r) => [r.trace_id, new Date(r.completed_at)]));
      const messages: EnqueueInput[] = [];
      for (const c of completions) {
        for (const message of this.eventsOf(c.scope, c.status, c.result, completedAt.get(c.scope.key) as Date)) messages.push({ ...message, headers: c.headers });
      }
      await this.outbox.enqueueAll(manager, messages);
      return completions.map((c) => ({ ok: true as const, result: completedAt.get(c.scope.key) as Date }));
    });
  }

  private async enqueueEvents(
    manager: EntityManager,
    scope: ExecutionScope,
    status: ExecutionStatus,
    result: ExecutionResult,
    completedAt: Date,
  ): Promise<void> {
    await this.outbox.enqueueAll(manager, this.eventsOf(scope, status, result, completedAt));
  }

  private eventsOf(scope: ExecutionScope, status: ExecutionStatus, result: ExecutionResult, completedAt: Date): EnqueueInput[] {
    return workflowOutboxMessages(
      { executionKey: scope.key, traceId: scope.traceId, actionType: scope.actionType, status, result, userId: scope.userId, product: scope.product, completedAt: new Date(completedAt) },
      this.config,
    );
  }
}

/** What the execution's records and events say about it, from the validated request's payload. */
export function scopeOf(key: string, payload: WorkflowPayload): ExecutionScope {
  return {
    key,
    traceId: nonEmpty(payload.trace_id) ?? key,
    actionType: typeof payload.action_type === 'string' && payload.action_type.trim() !== '' ? payload.action_type : null,
    userId: nonEmpty(payload.user_id),
    product: nonEmpty(payload.product),
  };
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/**
 * The result with every string made storable (U+0000 and unpaired surrogates become U+FFFD). PostgreSQL's jsonb
 * (ours, Bucket's, Karma's) cannot hold either and every receiver refuses them (422), yet a provider's text can
 * contain both (a model's reply, an SMTP server's id). Without it the transaction recording an action that did
 * happen would fail (500, and the action reported as a timeout later).
 */
function resultOf(outcome: ActionOutcome): ExecutionResult {
  return toStorableJson(
    outcome.success
      ? { success: true, ...outcome.result }
      : { success: false, error_code: outcome.error_code, message: outcome.message },
  );
}

function response(key: string, status: ExecutionStatus, result: ExecutionResult): ExecutedWorkflowResponse {
  return { trace_id: key, status, execution_result: result };
}
