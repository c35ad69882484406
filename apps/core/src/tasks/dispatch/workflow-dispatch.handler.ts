import { Inject, Injectable, Logger } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { InjectDataSource } from '@nestjs/typeorm';
import { CoreEventType, type ExecuteWorkflowResponse, type SkippedWorkflowResponse, TaskStatus } from '@pancha/contracts';
import {
  OUTBOX_OPTIONS,
  type OutboxHandler,
  type OutboxMessage,
  type OutboxOptions,
  OutboxService,
  toDeliveryError,
} from '@pancha/outbox';
import { WorkflowExecutorClient } from '@pancha/workflow-executor-client';
import { DataSource } from 'typeorm';
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
 * whose outcome is already recorded is left alone.
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
    @Inject(OUTBOX_OPTIONS) private readonly outboxOptions: OutboxOptions,
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
    let response: ExecuteWorkflowResponse;
    try {
      response = await this.executor.execute(request, { timeoutMs: this.config.WORKFLOW_TIMEOUT * 1000 });
    } catch (error) {
      const failure = toDeliveryError(error);
      // The relay dead-letters the message after this throw; the task must say so too, not stay "dispatching".
      const lastAttempt = message.attempts + 1 >= this.outboxOptions.maxAttempts;
      if (!failure.retryable || lastAttempt) {
        const reason = failure.retryable ? `max_attempts_exceeded: ${failure.reason}` : `non_retryable: ${failure.reason}`;
        await this.record(task_id, { status: TaskStatus.DispatchDead, reason });
      }
      throw failure;
    }
    if (response.status === 'success' || response.status === 'failed') {
      await this.record(task_id, {
        status: response.status === 'success' ? TaskStatus.DispatchedSuccess : TaskStatus.DispatchedFailed,
        result: response.execution_result ?? null,
      });
    } else {
      // Only a non-workflow decision is skipped, and Core sends nothing else: record it as a failed dispatch.
      await this.record(task_id, { status: TaskStatus.DispatchedFailed, result: { success: false, reason: (response as SkippedWorkflowResponse).reason } });
    }
  }

  /** Task row and its Bucket event in one transaction; a second delivery of the same outcome changes nothing. */
  private async record(taskId: string, outcome: Outcome): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const task = await manager.findOne(TaskEntity, { where: { taskId }, lock: { mode: 'pessimistic_write' } });
      if (!task) {
        this.logger.error({ msg: 'dispatched task no longer exists', task_id: taskId });
        return;
      }
      if (task.status !== TaskStatus.Dispatching) return;
      const now = new Date();
      const executionResult =
        outcome.status === TaskStatus.DispatchDead ? { success: false, reason: outcome.reason } : outcome.result;
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
    });
  }
}
