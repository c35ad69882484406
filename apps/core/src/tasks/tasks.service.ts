import { randomBytes, randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { context, trace } from '@opentelemetry/api';
import { BucketClient } from '@pancha/bucket-client';
import {
  type BucketEntry,
  CoreEventType,
  type CoreTaskView,
  Decision,
  type FieldError,
  type HandleTaskAccepted,
  type HandleTaskRequestDto,
  type HandleTasksAccepted,
  type HandleTasksRequestDto,
  ANONYMOUS,
  RequesterId,
  TaskStatus,
  TimelineError,
  WORKFLOW_EXECUTION_EVENT_TYPE,
} from '@pancha/contracts';
import { actorOf, impliedProduct, productFilter, productRequired, tokenReplayed, type TokenUse, type VerifiedRequester, writeTokenOf } from '@pancha/governance';
import type { EnqueueInput } from '@pancha/outbox';
import { DomainException, mapConcurrently, validationException } from '@pancha/service-kit';
import { currentTraceId, getTracer, injectTraceHeaders } from '@pancha/trace-context';
import { DataSource, type EntityManager } from 'typeorm';
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
import { TaskAcceptWriter, type TaskWithMessages, TraceIdTaken, WriteTokenReplayed } from './task-accept.writer';
import { TaskEntity } from './task.entity';
import { TaskNotFoundException, TaskProductForbiddenException } from './tasks.exception';
import { type PreparedStart, WorkflowRunsService } from '../workflows/workflow-runs.service';
import { claimIdempotencyKey, type IdempotencyClaim, type IdempotencyKeyTable, type IdempotentOutcome, once, requestHash } from '../idempotency/idempotent-request';

const TIMELINE_LIMIT = 1000;
/**
 * The Bucket channels a task's timeline shows, each with the one requester whose entries on it are trusted.
 * Anyone with write on Bucket could put an entry on any channel and trace; only the channel's owner speaks for
 * the task (Core for what it decided and dispatched, the executor for what it did).
 */
const TIMELINE_CHANNEL_OWNERS: Readonly<Record<string, RequesterId>> = { core: RequesterId.Core, workflow: RequesterId.WorkflowExecutor };

/** What POST /handle_task (or /handle_tasks) answers, and whether it is the stored first answer to an Idempotency-Key retry. */
export type HandleTaskOutcome<R extends IdempotentReply = HandleTaskAccepted> = IdempotentOutcome<R>;

/** Where /handle_task and /handle_tasks keep their Idempotency-Keys (one namespace for both routes). */
const TASK_KEYS: IdempotencyKeyTable = { table: 'task_idempotency_keys', idColumn: 'task_id' };

/** The answer an Idempotency-Key keeps: a task's 202 or a batch's. */
type IdempotentReply = HandleTaskAccepted | HandleTasksAccepted;

/**
 * A decided task ready to store: its row, its outbox messages, its 202, the run it starts, if any, and its trace context
 * (`headers`) for the run's message, which a batch commits after the task's span has ended.
 */
interface PreparedTask extends TaskWithMessages {
  reply: HandleTaskAccepted;
  run?: PreparedStart;
  headers: Record<string, string>;
}

/** Decisions made at once for one batch (an LLM agent is a remote call each). */
const DECIDE_CONCURRENCY = 8;
/**
 * A batch's decisions together wait at most this many times LLM_TIMEOUT_MS (one task's wait); after it the rules decide
 * the rest, each task's agent_note saying so. Without it a batch of 100 could hold its 202 for 13 timeouts, past any
 * caller's patience, and a retry without an Idempotency-Key would store the batch twice.
 */
const BATCH_DECISION_TIMEOUTS = 2;

@Injectable()
export class TasksService {
  private readonly logger = new Logger(TasksService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly agent: DecisionAgent,
    private readonly bucket: BucketClient,
    private readonly config: CoreConfig,
    private readonly workflowRuns: WorkflowRunsService,
    private readonly accepted: TaskAcceptWriter,
  ) {}

  /**
   * Decides, then stores the task and its outbox messages in one transaction. Nothing downstream is called
   * here: Bucket and the executor are reached by the outbox relay after the 202 has gone out.
   */
  async handle(body: HandleTaskRequestDto, requester: VerifiedRequester, idempotencyKey?: string): Promise<HandleTaskOutcome> {
    const sent = requestHash(body);
    assertProducts([{ field: 'product', task: body }], requester);
    // POST /handle_task is @ClaimTokenWithWrite(): the write claims the request's token.
    return this.once(sent, requester, idempotencyKey, (token, claim) => this.decideAndStore(body, token, requester, claim));
  }

  /**
   * POST /handle_tasks: decides each task, then stores them all in one commit (or none), each in a trace of its own
   * linked to the request's; answers their 202s in request order. Idempotency-Key and token as for one task.
   */
  async handleMany(body: HandleTasksRequestDto, requester: VerifiedRequester, idempotencyKey?: string): Promise<HandleTaskOutcome<HandleTasksAccepted>> {
    const sent = requestHash(body);
    assertProducts(body.tasks.map((task, i) => ({ field: `tasks[${i}].product`, task })), requester);
    return this.once(sent, requester, idempotencyKey, (token, claim) => this.decideAndStoreMany(body.tasks, token, requester, claim));
  }

  /**
   * Runs `store` once per Idempotency-Key (idempotent-request.ts): a retry of a finished request (same requester, key
   * and body) gets the first answer, before anything is decided again (an LLM agent costs money); a concurrent one
   * waits for the first's commit. The hash covers the body's shape, so a key first used on the other route is a 409
   * too, never the wrong answer type. `sentHash`: requestHash of the body as sent.
   */
  private async once<R extends IdempotentReply>(
    sentHash: string,
    requester: VerifiedRequester,
    idempotencyKey: string | undefined,
    store: (token: TokenUse | undefined, claim: IdempotencyClaim | undefined) => Promise<R>,
  ): Promise<HandleTaskOutcome<R>> {
    const claim: IdempotencyClaim | undefined = idempotencyKey === undefined
      ? undefined
      : { requesterId: requester.id, key: idempotencyKey, requestHash: sentHash };
    try {
      return await once<R>(this.dataSource.manager, TASK_KEYS, claim, (c) => store(writeTokenOf(requester), c));
    } catch (error) {
      if (error instanceof WriteTokenReplayed) throw tokenReplayed(error.token.jti, 'submit');
      throw error;
    }
  }

  private async decideAndStoreMany(
    bodies: readonly HandleTaskRequestDto[],
    token: TokenUse | undefined,
    requester: VerifiedRequester,
    claim: IdempotencyClaim | undefined,
  ): Promise<HandleTasksAccepted> {
    const deadline = AbortSignal.timeout(BATCH_DECISION_TIMEOUTS * this.config.LLM_TIMEOUT_MS);
    const decisions = await mapConcurrently(bodies, DECIDE_CONCURRENCY, (body) => this.agent.decide(decisionInput(body), deadline));
    const prepared: PreparedTask[] = [];
    // Each task's trace is its own (the trace id is the executor's idempotency key, and Jaeger shows one task a trace).
    for (const [i, body] of bodies.entries()) prepared.push(await this.inNewTrace((traceId) => this.prepare(body, decisions[i], traceId, requester)));
    const reply: HandleTasksAccepted = { tasks: prepared.map((p) => p.reply) };
    await this.commit(prepared, token, claim, reply);
    return reply;
  }

  /** `token`: the request's write token, claimed by the commit that stores the task. */
  private async decideAndStore(
    body: HandleTaskRequestDto,
    token: TokenUse | undefined,
    requester: VerifiedRequester,
    claim: IdempotencyClaim | undefined,
  ): Promise<HandleTaskAccepted> {
    const decided = await this.agent.decide(decisionInput(body));
    const traceId = currentTraceId();
    if (traceId) {
      try {
        return await this.store(body, decided, traceId, requester, token, claim);
      } catch (error) {
        if (!(error instanceof TraceIdTaken)) throw error;
        // The caller reused a trace for a second task. The trace id is the executor's idempotency key, so
        // this task gets a trace of its own, linked to the caller's span so the two stay navigable. A token the
        // first attempt's commit claimed is this request's already.
        this.logger.warn({ msg: 'trace already has a task; starting a new linked trace', trace_id: traceId });
        if (error.tokenClaimed) token = undefined;
      }
    }
    return this.inNewTrace((newTraceId) => this.store(body, decided, newTraceId, requester, token, claim));
  }

  /**
   * The task as the caller may see it (T9). A task without a product is open to every caller with read on Core:
   * anonymous callers submit and follow such tasks, and hiding one from a narrowed credential would protect
   * nothing, since the same caller could read it anonymously. A task with a product is shown only to callers
   * whose products name it; to others it does not exist (404, so ids cannot be probed for existence).
   */
  async view(taskId: string, requester: VerifiedRequester): Promise<CoreTaskView> {
    const task = await this.dataSource.manager.findOne(TaskEntity, { where: { taskId } });
    const scope = productFilter(requester);
    if (!task || (task.product !== null && scope !== undefined && !scope.includes(task.product))) throw new TaskNotFoundException(taskId);
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
      agent_note: task.agentNote,
      execution_result: task.executionResult,
      created_at: task.createdAt.toISOString(),
      updated_at: task.updatedAt.toISOString(),
      timeline: [],
    };
    try {
      const page = await this.bucket.events({ trace_id: task.traceId, limit: TIMELINE_LIMIT });
      // Only what Core and the executor recorded for this task. Core reads Bucket with an all-products
      // credential on behalf of a caller who may be anonymous, and a caller picks the trace id it sends
      // (traceparent): other channels on that trace (PRANA packets, say) are not this task's to show, and
      // neither is an entry on the core or workflow channel that its owner did not write.
      // Nor is what else happened on the trace (a caller may send a run's trace id as its traceparent): Core's
      // entries name their task, the executor's are the task's execution or its run's.
      view.timeline = page.events.filter((entry) => writtenByChannelOwner(entry) && aboutTask(entry, task));
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
    requester: VerifiedRequester,
    token: TokenUse | undefined,
    claim?: IdempotencyClaim,
  ): Promise<HandleTaskAccepted> {
    const prepared = await this.prepare(body, decided, traceId, requester);
    await this.commit([prepared], token, claim, prepared.reply);
    return prepared.reply;
  }

  /**
   * The task a decision makes, its outbox messages (continuing the active trace) and its 202; a decision naming a
   * versioned workflow prepares its run too (a run the catalog refuses leaves the task run_refused, not the request).
   */
  private async prepare(body: HandleTaskRequestDto, decided: AgentDecision, traceId: string, requester: VerifiedRequester): Promise<PreparedTask> {
    const now = new Date();
    const isWorkflow = decided.decision === Decision.Workflow;
    let status: TaskStatus = !isWorkflow
      ? TaskStatus.Decided
      : !this.config.ENABLE_WORKFLOW_EXECUTION
        ? TaskStatus.DispatchSkipped
        : decided.workflow
          ? TaskStatus.RunStarted
          : TaskStatus.Dispatching;
    // A decision that names a versioned workflow starts a run with the task, checked first like any start.
    let run: PreparedStart | undefined;
    let runRefusal: string | undefined;
    if (status === TaskStatus.RunStarted && decided.workflow) {
      await this.workflowRuns.catalogKnown();
      try {
        run = this.workflowRuns.prepare(
          {
            workflow: decided.workflow.name,
            version: decided.workflow.version,
            inputs: decided.workflow.inputs,
            user_id: body.user_id,
            product: body.product,
            actor: actorOf(requester),
            source: 'task',
            trace_id: traceId,
            // The task's own acceptance (submit on Core) covers the product it names.
            checkProduct: false,
          },
          requester,
        );
      } catch (error) {
        if (!(error instanceof DomainException)) throw error;
        status = TaskStatus.RunRefused;
        runRefusal = `workflow ${decided.workflow.name} not started: ${error.code}: ${error.message}`;
      }
    }
    const task = Object.assign(new TaskEntity(), {
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
      agentNote: runRefusal ?? decided.fallback_reason ?? null,
      status,
      executionResult: null,
      workflow: decided.workflow?.name ?? null,
      runId: run?.start.run_id ?? null,
      createdAt: now,
      updatedAt: now,
    } satisfies Partial<TaskEntity>);

    const reply: HandleTaskAccepted = {
      task_id: task.taskId,
      trace_id: traceId,
      decision: task.decision,
      status,
      ...(run ? { run_id: run.start.run_id, workflow: run.start.workflow } : {}),
    };
    const received: BucketCoreEventMessage = { event_data: taskReceivedEvent(task) };
    // Each message continues this task's trace, whichever request's transaction commits it.
    const headers = injectTraceHeaders();
    const messages: EnqueueInput[] = [
      { topic: BUCKET_CORE_EVENT_TOPIC, messageKey: coreEventMessageKey(CoreEventType.TaskReceived, task.taskId), payload: received, headers },
    ];
    if (status === TaskStatus.Dispatching) {
      const dispatch: WorkflowDispatchMessage = { task_id: task.taskId, request: executeRequestFor(task) };
      messages.push({ topic: WORKFLOW_EXECUTE_TOPIC, messageKey: task.taskId, payload: dispatch, headers });
    }
    return { task, messages, reply, run, headers };
  }

  /**
   * Stores one request's tasks, all or none, with its token claim: by group commit in the common case; in a
   * transaction of its own when the request claims an Idempotency-Key (answered later with `reply`) or starts runs.
   */
  private async commit(prepared: readonly PreparedTask[], token: TokenUse | undefined, claim: IdempotencyClaim | undefined, reply: IdempotentReply): Promise<void> {
    const runs = prepared.flatMap((p) => (p.run ? [{ prepared: { ...p.run, source: `task:${p.task.taskId}` }, headers: p.headers }] : []));
    if (!claim && runs.length === 0) {
      // The common case: stored with the tasks of concurrent requests in one commit (group commit).
      await this.accepted.store({ tasks: prepared, token });
    } else {
      await this.dataSource.transaction(async (manager: EntityManager) => {
        // The key first: a concurrent request with the same key waits here until this transaction ends, then
        // finds the key taken and answers with this reply (or commits its own if this one rolled back).
        if (claim) await claimIdempotencyKey(manager, TASK_KEYS, claim, prepared[0].task.taskId, reply);
        await this.accepted.insert(manager, { tasks: prepared, token });
        await this.workflowRuns.commitAll(manager, runs);
      });
    }
    for (const { task } of prepared) {
      this.logger.log({
        msg: 'task accepted',
        // The task's own trace: a batch's tasks are logged after their spans have ended.
        trace_id: task.traceId,
        task_id: task.taskId,
        decision: task.decision,
        action_type: task.actionType,
        workflow: task.workflow,
        run_id: task.runId,
        decided_by: task.decidedBy,
        status: task.status,
      });
    }
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

function decisionInput(body: HandleTaskRequestDto) {
  return { input: body.input, input_type: body.input_type, user_id: body.user_id, product: body.product, tags: body.tags };
}

/**
 * A credential submits tasks (and the runs their rules start) only for its products, as it starts runs (T9): a token
 * narrowed to `b` may not label a task `acme`. A task that names no product is its only product's when the credential
 * has one (set on the task, so the task and its run stay readable to it), and a 422 naming the field when it has
 * several. An anonymous caller has no credential to narrow; it may label a task with a product as the original
 * clients do, and then cannot read it back (GET /tasks answers it 404).
 */
function assertProducts(tasks: readonly { field: string; task: { product?: string } }[], requester: VerifiedRequester): void {
  const allowed = productFilter(requester);
  if (!allowed || requester.id === ANONYMOUS) return;
  const refused = tasks.flatMap(({ field, task }) => (task.product !== undefined && !allowed.includes(task.product) ? [{ field, product: task.product }] : []));
  if (refused.length > 0) throw new TaskProductForbiddenException(requester.id, refused);
  const unnamed: FieldError[] = [];
  for (const { field, task } of tasks) {
    const implied = impliedProduct(requester, task.product);
    if ('ambiguous' in implied) unnamed.push({ field, messages: [productRequired(requester.id, implied.ambiguous)] });
    else task.product = implied.product;
  }
  if (unnamed.length > 0) throw validationException(unnamed);
}

/** An entry of this task: Core's name it; the executor's are the execution of its action, or events of its run. */
function aboutTask(entry: BucketEntry, task: TaskEntity): boolean {
  const data = entry.event_data as Record<string, unknown>;
  if (entry.channel === 'core') return data.task_id === task.taskId;
  if (entry.event_type === WORKFLOW_EXECUTION_EVENT_TYPE) return true;
  return task.runId !== null && task.runId !== undefined && (data.root_run_id === task.runId || data.run_id === task.runId);
}

function writtenByChannelOwner(entry: BucketEntry): boolean {
  return Object.hasOwn(TIMELINE_CHANNEL_OWNERS, entry.channel) && TIMELINE_CHANNEL_OWNERS[entry.channel] === entry.requester_id;
}
