import { Injectable, Logger } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { InjectDataSource } from '@nestjs/typeorm';
import { CoreEventType, type ExecuteWorkflowRequest, type ExecuteWorkflowResponse, type SkippedWorkflowResponse, TaskStatus } from '@pancha/contracts';
import { batchItemsOf, type EnqueueInput, type OutboxBatchResult, type OutboxHandler, type OutboxMessage, OutboxService } from '@pancha/outbox';
import { WorkflowExecutorClient } from '@pancha/workflow-executor-client';
import { DataSource, type EntityManager } from 'typeorm';
import { CoreConfig } from '../../config/env.validation';
import {
  BUCKET_CORE_EVENT_TOPIC,
  type BucketCoreEventMessage,
  coreEventMessageKey,
  type TaskEventSubject,
  taskDispatchDeadEvent,
  taskDispatchedEvent,
  WORKFLOW_EXECUTE_TOPIC,
  type WorkflowDispatchMessage,
} from '../core-events';

type Outcome =
  | { status: TaskStatus.DispatchedSuccess | TaskStatus.DispatchedFailed; result: Record<string, unknown> | null }
  | { status: TaskStatus.DispatchDead; reason: string };

/**
 * Sends a decided workflow to the executor (fire-and-forget from the request's point of view) and records
 * the answer on the task. Safe to run more than once: the executor is idempotent per trace_id and a task
 * whose outcome is already recorded is left alone. A failure is thrown with the client's verdict; when the
 * relay gives up, it calls onDeadLetter inside its dead-letter transaction, so the task says dispatch_dead
 * exactly when the message is dead. The relay's claimed dispatches go to the executor in one request
 * (POST /api/workflow/execute-batch) and their answers are recorded in one transaction.
 */
@Injectable()
export class WorkflowDispatchHandler implements OutboxHandler {
  readonly topic = WORKFLOW_EXECUTE_TOPIC;
  private readonly logger = new Logger(WorkflowDispatchHandler.name);

  constructor(
    private readonly executor: WorkflowExecutorClient,
    private readonly config: CoreConfig,
    private readonly moduleRef: ModuleRef,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /**
   * Looked up on first use: OutboxService depends on the relay, which depends on the handlers, so a
   * handler that enqueues follow-up messages cannot take it in its constructor.
   */
  private get outbox(): OutboxService {
    return this.moduleRef.get(OutboxService, { strict: false });
  }

  async deliver(message: OutboxMessage): Promise<void> {
    const { task_id, request } = message.payload as WorkflowDispatchMessage;
    // A failure keeps the client's verdict (ServiceCallError.retryable): the relay retries or dead-letters.
    const response: ExecuteWorkflowResponse = await this.executor.execute(request, { timeoutMs: this.config.WORKFLOW_TIMEOUT * 1000 });
    await this.dataSource.transaction((manager) => this.record(manager, task_id, outcomeOf(response)));
  }

  /**
   * Many dispatches in one request; each answer judged as `deliver` judges it (a refused one keeps its verdict for
   * the relay, alone), and the answered ones recorded together. If that commit fails, the whole batch is retried:
   * the executor replays its stored results and a task already recorded is left alone.
   */
  async deliverBatch(messages: readonly OutboxMessage[]): Promise<readonly OutboxBatchResult[]> {
    const items = batchItemsOf<ExecuteWorkflowRequest>(messages, (m) => (m.payload as WorkflowDispatchMessage).request);
    const results = await this.executor.executeBatch(items, { timeoutMs: this.config.WORKFLOW_TIMEOUT * 1000 });
    const answered: Answered[] = [];
    results.forEach((result, i) => {
      if (result.ok) answered.push({ taskId: (messages[i].payload as WorkflowDispatchMessage).task_id, outcome: outcomeOf(result.data), headers: messages[i].headers });
    });
    if (answered.length > 0) await this.dataSource.transaction((manager) => this.recordAll(manager, answered));
    return results.map((result) => (result.ok ? { ok: true } : { ok: false, error: result.error }));
  }

  /** In the relay's dead-letter transaction: the task, its Bucket event and the dead letter commit together. */
  async onDeadLetter(manager: EntityManager, message: OutboxMessage, reason: string): Promise<void> {
    const { task_id } = message.payload as WorkflowDispatchMessage;
    await this.record(manager, task_id, { status: TaskStatus.DispatchDead, reason });
  }

  /** Task row and its Bucket event in the caller's transaction; a second delivery of the same outcome changes nothing. */
  private record(manager: EntityManager, taskId: string, outcome: Outcome): Promise<void> {
    return this.recordAll(manager, [{ taskId, outcome }]);
  }

  /**
   * The outcomes on their tasks and one Bucket event each, in the caller's transaction, in two statements: the
   * answered tasks locked and read (raw SQL: the query builder and entity hydration were a fifth of this path), then
   * the ones still dispatching updated with their events enqueued; a task whose outcome is already recorded is left
   * alone.
   */
  private async recordAll(manager: EntityManager, answered: readonly Answered[]): Promise<void> {
    const byId = new Map(answered.map((a) => [a.taskId, a]));
    const rows: DispatchedTaskRow[] = await manager.query(LOCK_TASKS_SQL, [[...byId.keys()]]);
    for (const id of byId.keys()) {
      if (!rows.some((t) => t.task_id === id)) this.logger.error({ msg: 'dispatched task no longer exists', task_id: id });
    }
    const changed = rows.filter((row) => row.status === TaskStatus.Dispatching);
    if (changed.length === 0) return;
    const now = new Date();
    const outcomes: Array<{ taskId: string; status: TaskStatus; executionResult: Record<string, unknown> | null }> = [];
    const events: EnqueueInput[] = [];
    for (const row of changed) {
      const task: TaskEventSubject = { taskId: row.task_id, traceId: row.trace_id, userId: row.user_id, product: row.product, actionType: row.action_type };
      const { outcome, headers } = byId.get(task.taskId) as Answered;
      const executionResult = outcome.status === TaskStatus.DispatchDead ? { success: false, reason: outcome.reason } : outcome.result;
      outcomes.push({ taskId: task.taskId, status: outcome.status, executionResult });
      const event =
        outcome.status === TaskStatus.DispatchDead
          ? taskDispatchDeadEvent(task, outcome.reason)
          : taskDispatchedEvent(task, outcome.status, outcome.result);
      const message: BucketCoreEventMessage = { event_data: event };
      events.push({
        topic: BUCKET_CORE_EVENT_TOPIC,
        messageKey: coreEventMessageKey(event.event_type as CoreEventType, task.taskId),
        payload: message,
        headers,
      });
    }
    // The outcomes and their events in one statement (the rows are locked above, so every UPDATE applies).
    const enqueue = this.outbox.inTransactionStatement(manager, events, 5);
    await manager.query(`WITH recorded AS (${UPDATE_OUTCOMES_SQL}), ${enqueue.ctes} SELECT 1`, [
      outcomes.map((o) => o.taskId),
      outcomes.map((o) => o.status),
      outcomes.map((o) => (o.executionResult === null ? null : JSON.stringify(o.executionResult))),
      now,
      ...enqueue.params,
    ]);
    for (const o of outcomes) this.logger.log({ msg: 'task dispatch recorded', task_id: o.taskId, status: o.status });
  }
}

/** One answered dispatch: its task, what the executor said, and the trace context of its delivery. */
interface Answered {
  taskId: string;
  outcome: Outcome;
  headers?: Record<string, string>;
}

/** The answered tasks, locked in key order (two batches never wait on each other crosswise), with what their events say. */
const LOCK_TASKS_SQL = `
  SELECT task_id, trace_id, user_id, product, action_type, status FROM tasks
  WHERE task_id = ANY($1::uuid[]) ORDER BY task_id FOR UPDATE`;

interface DispatchedTaskRow {
  task_id: string;
  trace_id: string;
  user_id: string;
  product: string | null;
  action_type: string | null;
  status: TaskStatus;
}

// `task_id = ANY($1)` makes the tasks side a primary-key lookup whatever the statistics say: with only the join
// condition the planner, on a table grown since its last ANALYZE, read every task (a sequential scan per batch).
const UPDATE_OUTCOMES_SQL = `
  UPDATE tasks SET status = v.status, execution_result = v.result::jsonb, updated_at = $4
  FROM unnest($1::uuid[], $2::text[], $3::text[]) AS v(task_id, status, result)
  WHERE tasks.task_id = ANY($1::uuid[]) AND tasks.task_id = v.task_id`;

/** What the executor's answer means for the task. */
function outcomeOf(response: ExecuteWorkflowResponse): Outcome {
  return response.status === 'success' || response.status === 'failed'
    ? {
        status: response.status === 'success' ? TaskStatus.DispatchedSuccess : TaskStatus.DispatchedFailed,
        result: response.execution_result ?? null,
      }
    : // Only a non-workflow decision is skipped, and Core sends nothing else: record it as a failed dispatch.
      { status: TaskStatus.DispatchedFailed, result: { success: false, reason: (response as SkippedWorkflowResponse).reason } };
}
