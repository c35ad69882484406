import { Injectable, Logger } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { InjectDataSource } from '@nestjs/typeorm';
import { CoreEventType, type ExecuteWorkflowResponse, type SkippedWorkflowResponse, TaskStatus } from '@pancha/contracts';
import { type OutboxHandler, type OutboxMessage, OutboxService } from '@pancha/outbox';
import { WorkflowExecutorClient } from '@pancha/workflow-executor-client';
import { DataSource, type EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { CoreConfig } from '../../config/env.validation';
import {
  BUCKET_CORE_EVENT_TOPIC,
  type BucketCoreEventMessage,
  coreEventMessageKey,
  taskDispatchDeadEvent,
  taskDispatchedEvent,
  WORKFLOW_EXECUTE_TOPIC,
  type WorkflowDispatchMessage,
} from '../core-events';
import { TaskEntity } from '../task.entity';

type Outcome =
  | { status: TaskStatus.DispatchedSuccess | TaskStatus.DispatchedFailed; result: Record<string, unknown> | null }
  | { status: TaskStatus.DispatchDead; reason: string };

/**
 * Sends a decided workflow to the executor (fire-and-forget from the request's point of view) and records
 * the answer on the task. Safe to run more than once: the executor is idempotent per trace_id and a task
 * whose outcome is already recorded is left alone. A failure is thrown with the client's verdict; when the
 * relay gives up, it calls onDeadLetter inside its dead-letter transaction, so the task says dispatch_dead
 * exactly when the message is dead.
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
    const outcome: Outcome =
      response.status === 'success' || response.status === 'failed'
        ? {
            status: response.status === 'success' ? TaskStatus.DispatchedSuccess : TaskStatus.DispatchedFailed,
            result: response.execution_result ?? null,
          }
        : // Only a non-workflow decision is skipped, and Core sends nothing else: record it as a failed dispatch.
          { status: TaskStatus.DispatchedFailed, result: { success: false, reason: (response as SkippedWorkflowResponse).reason } };
    await this.dataSource.transaction((manager) => this.record(manager, task_id, outcome));
  }

  /** In the relay's dead-letter transaction: the task, its Bucket event and the dead letter commit together. */
  async onDeadLetter(manager: EntityManager, message: OutboxMessage, reason: string): Promise<void> {
    const { task_id } = message.payload as WorkflowDispatchMessage;
    await this.record(manager, task_id, { status: TaskStatus.DispatchDead, reason });
  }

  /** Task row and its Bucket event in the caller's transaction; a second delivery of the same outcome changes nothing. */
  private async record(manager: EntityManager, taskId: string, outcome: Outcome): Promise<void> {
    const task = await manager.findOne(TaskEntity, { where: { taskId }, lock: { mode: 'pessimistic_write' } });
    if (!task) {
      this.logger.error({ msg: 'dispatched task no longer exists', task_id: taskId });
      return;
    }
    if (task.status !== TaskStatus.Dispatching) return;
    const now = new Date();
    const executionResult = outcome.status === TaskStatus.DispatchDead ? { success: false, reason: outcome.reason } : outcome.result;
    const changes = { status: outcome.status, executionResult, updatedAt: now };
    await manager.update(TaskEntity, { taskId }, changes as QueryDeepPartialEntity<TaskEntity>);
    Object.assign(task, changes);

    const event =
      outcome.status === TaskStatus.DispatchDead
        ? taskDispatchDeadEvent(task, outcome.reason)
        : taskDispatchedEvent(task, outcome.status, outcome.result);
    const message: BucketCoreEventMessage = { event_data: event };
    await this.outbox.enqueue(manager, {
      topic: BUCKET_CORE_EVENT_TOPIC,
      messageKey: coreEventMessageKey(event.event_type as CoreEventType, taskId),
      payload: message,
    });
    this.logger.log({ msg: 'task dispatch recorded', task_id: taskId, status: outcome.status });
  }
}
