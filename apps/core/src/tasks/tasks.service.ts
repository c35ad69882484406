import { randomBytes, randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { context, trace } from '@opentelemetry/api';
import { BucketClient } from '@pancha/bucket-client';
import {
  CoreEventType,
  type CoreTaskView,
  Decision,
  type HandleTaskAccepted,
  type HandleTaskRequestDto,
  TaskStatus,
  TimelineError,
} from '@pancha/contracts';
import { ANONYMOUS } from '@pancha/contracts';
import type { StartRunAccepted } from '@pancha/contracts';
import type { VerifiedRequester } from '@pancha/governance';
import { OutboxService } from '@pancha/outbox';
import { DomainException } from '@pancha/service-kit';
import { currentTraceId, getTracer } from '@pancha/trace-context';
import { DataSource, type EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { type AgentDecision, DecisionAgent } from '../agent/decision-agent';
import { CoreConfig } from '../config/env.validation';
import {
  BUCKET_CORE_EVENT_TOPIC,
  type BucketCoreEventMessage,
  coreEventMessageKey,
  executeRequestFor,
  taskReceivedEvent,
  WORKFLOW_EXECUTE_TOPIC,
  type WorkflowDispatchMessage,
} from './core-events';
import { TaskEntity } from './task.entity';
import { TaskNotFoundException } from './tasks.exception';
import { WorkflowRunsService } from '../workflows/workflow-runs.service';

const TIMELINE_LIMIT = 1000;
const TIMELINE_CHANNELS: ReadonlySet<string> = new Set(['core', 'workflow']);

@Injectable()
export class TasksService {
  private readonly logger = new Logger(TasksService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly agent: DecisionAgent,
    private readonly outbox: OutboxService,
    private readonly bucket: BucketClient,
    private readonly config: CoreConfig,
    private readonly workflowRuns: WorkflowRunsService,
  ) {}

  /**
   * Decides, then stores the task and its outbox messages in one transaction. Nothing downstream is called
   * here: Bucket and the executor are reached by the outbox relay after the 202 has gone out.
   */
  async handle(body: HandleTaskRequestDto, requester?: VerifiedRequester): Promise<HandleTaskAccepted> {
    const decided = await this.agent.decide({
      input: body.input,
      input_type: body.input_type,
      user_id: body.user_id,
      product: body.product,
      tags: body.tags,
    });
    const traceId = currentTraceId();
    if (traceId) {
      try {
        return await this.store(body, decided, traceId, requester);
      } catch (error) {
        if (!(error instanceof TraceIdTaken)) throw error;
        // The caller reused a trace for a second task. The trace id is the executor's idempotency key, so
        // this task gets a trace of its own, linked to the caller's span so the two stay navigable.
        this.logger.warn({ msg: 'trace already has a task; starting a new linked trace', trace_id: traceId });
      }
    }
    return this.inNewTrace((newTraceId) => this.store(body, decided, newTraceId, requester));
  }

  async view(taskId: string): Promise<CoreTaskView> {
    const task = await this.dataSource.manager.findOne(TaskEntity, { where: { taskId } });
    if (!task) throw new TaskNotFoundException(taskId);
    const view: CoreTaskView = {
      task_id: task.taskId,
      trace_id: task.traceId,
      user_id: task.userId,
      product: task.product,
      decision: task.decision,
      action_type: task.actionType,
      workflow: task.workflow ?? null,
      run_id: task.runId ?? null,
      status: task.status,
      execution_result: task.executionResult,
      created_at: task.createdAt.toISOString(),
      updated_at: task.updatedAt.toISOString(),
      timeline: [],
    };
    try {
      const page = await this.bucket.events({ trace_id: task.traceId, limit: TIMELINE_LIMIT });
      // Only what Core and the executor recorded for this task. Core reads Bucket with an all-products
      // credential on behalf of a caller who may be anonymous, and a caller picks the trace id it sends
      // (traceparent): other channels on that trace (PRANA packets, say) are not this task's to show.
      view.timeline = page.events.filter((e) => TIMELINE_CHANNELS.has(e.channel));
    } catch (error) {
      // Bucket being down must not hide the task itself (graceful degradation).
      this.logger.warn({ msg: 'task timeline unavailable', task_id: taskId, error: (error as Error).message });
      view.timeline_error = TimelineError.BucketUnavailable;
    }
    return view;
  }

  private async store(
    body: HandleTaskRequestDto,
    decided: AgentDecision,
    traceId: string,
    requester: VerifiedRequester = { id: ANONYMOUS, products: [] },
  ): Promise<HandleTaskAccepted> {
    const now = new Date();
    const isWorkflow = decided.decision === Decision.Workflow;
    let status: TaskStatus = !isWorkflow
      ? TaskStatus.Decided
      : !this.config.ENABLE_WORKFLOW_EXECUTION
        ? TaskStatus.DispatchSkipped
        : decided.workflow
          ? TaskStatus.RunStarted
          : TaskStatus.Dispatching;
    const task: TaskEntity = Object.assign(new TaskEntity(), {
      taskId: randomUUID(),
      traceId,
      userId: body.user_id,
      product: body.product ?? null,
      agent: body.agent ?? null,
      input: body.input,
      inputType: body.input_type ?? null,
      tags: body.tags ?? [],
      decision: decided.decision,
      actionType: decided.action_type,
      payload: decided.payload,
      decidedBy: decided.decided_by,
      agentNote: decided.fallback_reason ?? null,
      status,
      executionResult: null,
      workflow: decided.workflow?.name ?? null,
      runId: null as string | null,
      createdAt: now,
      updatedAt: now,
    } satisfies Partial<TaskEntity>);

    let run: StartRunAccepted | undefined;
    await this.dataSource.transaction(async (manager: EntityManager) => {
      if (task.status === TaskStatus.RunStarted && decided.workflow) {
        // The run and the task commit together: a task that says run_started always has its run queued.
        try {
          run = await this.workflowRuns.startIn(
            manager,
            {
              workflow: decided.workflow.name,
              version: decided.workflow.version,
              inputs: decided.workflow.inputs,
              user_id: body.user_id,
              product: body.product,
              actor: requester.id,
              source: `task:${task.taskId}`,
              trace_id: traceId,
              checkProduct: false,
            },
            requester,
          );
          task.runId = run.run_id;
        } catch (error) {
          if (!(error instanceof DomainException)) throw error;
          task.status = TaskStatus.RunRefused;
          task.agentNote = `workflow ${decided.workflow.name} not started: ${error.code}: ${error.message}`;
        }
      }
      // ON CONFLICT DO NOTHING rather than a unique violation: the transaction stays usable and nothing is logged as failed.
      const inserted = await manager.createQueryBuilder().insert().into(TaskEntity).values(task as QueryDeepPartialEntity<TaskEntity>).orIgnore().returning(['task_id']).execute();
      if ((inserted.raw as unknown[]).length === 0) throw new TraceIdTaken();
      const received: BucketCoreEventMessage = { event_data: taskReceivedEvent(task) };
      await this.outbox.enqueue(manager, {
        topic: BUCKET_CORE_EVENT_TOPIC,
        messageKey: coreEventMessageKey(CoreEventType.TaskReceived, task.taskId),
        payload: received,
      });
      if (task.status === TaskStatus.Dispatching) {
        const dispatch: WorkflowDispatchMessage = { task_id: task.taskId, request: executeRequestFor(task) };
        await this.outbox.enqueue(manager, { topic: WORKFLOW_EXECUTE_TOPIC, messageKey: task.taskId, payload: dispatch });
      }
    });
    status = task.status;
    this.logger.log({
      msg: 'task accepted',
      task_id: task.taskId,
      decision: task.decision,
      action_type: task.actionType,
      workflow: task.workflow,
      run_id: task.runId,
      decided_by: task.decidedBy,
      status,
    });
    return {
      task_id: task.taskId,
      trace_id: traceId,
      decision: task.decision,
      status,
      ...(run ? { run_id: run.run_id, workflow: run.workflow } : {}),
    };
  }

  /** Runs `fn` in a fresh root span (linked to the current one); without a tracing SDK, a random trace id. */
  private inNewTrace<T>(fn: (traceId: string) => Promise<T>): Promise<T> {
    const caller = trace.getSpanContext(context.active());
    return getTracer().startActiveSpan(
      'core handle_task',
      { root: true, links: caller ? [{ context: caller }] : [] },
      async (span) => {
        try {
          return await fn(currentTraceId() ?? randomBytes(16).toString('hex'));
        } finally {
          span.end();
        }
      },
    );
  }
}

/** The trace already has a task (tasks.trace_id is unique); thrown to roll back the empty transaction. */
class TraceIdTaken extends Error {}
