import { Injectable, Logger } from '@nestjs/common';
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
import { OutboxService } from '@pancha/outbox';
import type { DataSource, EntityManager } from 'typeorm';
import type { ActionOutcome } from '../adapters/action-adapter';
import { timeoutFailure } from '../adapters/action-adapter';
import { ActionRunner } from '../adapters/action-runner.service';
import { WorkflowExecutorConfig } from '../config/env.validation';
import { workflowOutboxMessages } from '../events/workflow-events';
import type { ExecutionRowStatus } from './execution.entity';
import { ExecutionInProgressException } from './execution.exception';
import { storableResult } from './storable-result';

export type ExecuteReply =
  | { httpStatus: 200; body: ExecutedWorkflowResponse | SkippedWorkflowResponse }
  | { httpStatus: 400; body: MissingPayloadResponse };

interface StoredExecution {
  status: ExecutionRowStatus;
  result: ExecutionResult | null;
  expired: boolean;
}

// The unique constraint on trace_id decides who executes: exactly one INSERT wins, every other request replays.
const CLAIM_SQL = `
  INSERT INTO executions (trace_id, status, action_type, request, started_at)
  VALUES ($1, 'running', $2, $3::jsonb, now())
  ON CONFLICT (trace_id) DO NOTHING
  RETURNING id`;

const READ_SQL = `
  SELECT status, result, started_at < now() - ($2::int * interval '1 millisecond') AS expired
  FROM executions WHERE trace_id = $1`;

// Only a row still running can be completed: if a lease takeover closed it first, that answer stands.
const COMPLETE_SQL = `
  WITH done AS (
    UPDATE executions SET status = $2, result = $3::jsonb, completed_at = now(), updated_at = now()
    WHERE trace_id = $1 AND status = 'running'
    RETURNING completed_at
  ) SELECT completed_at FROM done`;

const EXPIRE_SQL = `
  WITH done AS (
    UPDATE executions SET status = 'failed', result = $3::jsonb, completed_at = now(), updated_at = now()
    WHERE trace_id = $1 AND status = 'running' AND started_at < now() - ($2::int * interval '1 millisecond')
    RETURNING request, completed_at
  ) SELECT request, completed_at FROM done`;

/** Thrown inside a transaction to roll it back when the execution row was closed by someone else meanwhile. */
class ExecutionAlreadyClosed extends Error {}

/** The context an execution's records and events carry. */
export interface ExecutionScope {
  key: string;
  traceId: string;
  actionType: string | null;
  userId?: string;
  product?: string;
}

@Injectable()
export class ExecutionService {
  private readonly logger = new Logger(ExecutionService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly runner: ActionRunner,
    private readonly outbox: OutboxService,
    private readonly config: WorkflowExecutorConfig,
  ) {}

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
    const claimed: unknown[] = await this.dataSource.query(CLAIM_SQL, [key, scope.actionType?.slice(0, 64) ?? null, JSON.stringify(request)]);
    if (claimed.length === 0) return { httpStatus: 200, body: await this.replay(key) };

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
      await this.dataSource.transaction(async (manager) => {
        if (outcome.success && outcome.persist) await outcome.persist(manager);
        const rows: { completed_at: Date }[] = await manager.query(COMPLETE_SQL, [scope.key, status, JSON.stringify(result)]);
        if (rows.length === 0) throw new ExecutionAlreadyClosed();
        await this.enqueueEvents(manager, scope, status, result, rows[0].completed_at);
      });
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

  private async enqueueEvents(
    manager: EntityManager,
    scope: ExecutionScope,
    status: ExecutionStatus,
    result: ExecutionResult,
    completedAt: Date,
  ): Promise<void> {
    const messages = workflowOutboxMessages(
      { executionKey: scope.key, traceId: scope.traceId, actionType: scope.actionType, status, result, userId: scope.userId, product: scope.product, completedAt: new Date(completedAt) },
      this.config,
    );
    for (const message of messages) await this.outbox.enqueue(manager, message);
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

function resultOf(outcome: ActionOutcome): ExecutionResult {
  return storableResult(
    outcome.success
      ? { success: true, ...outcome.result }
      : { success: false, error_code: outcome.error_code, message: outcome.message },
  );
}

function response(key: string, status: ExecutionStatus, result: ExecutionResult): ExecutedWorkflowResponse {
  return { trace_id: key, status, execution_result: result };
}
