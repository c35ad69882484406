import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { tokenKey, type TokenUse } from '@pancha/governance';
import { type EnqueueInput, OutboxService } from '@pancha/outbox';
import { GenericPlanConnection, claimTokenIn, GroupCommit, type GroupItemOutcome, tokenClaimCte, tokenUsesParam, toStorableJson, UsedTokensPurge } from '@pancha/service-kit';
import { DataSource, type EntityManager } from 'typeorm';
import { TaskEntity } from './task.entity';

/** Tasks accepted per transaction at most. */
const MAX_GROUP = 100;

/** One accepted task and the outbox messages that commit with it (each carrying its task's trace context). */
export interface TaskWithMessages {
  task: TaskEntity;
  messages: EnqueueInput[];
}

/**
 * What one request stores: its task, or a batch's tasks (POST /handle_tasks), all or none. `token`: the request's write
 * token, claimed in the statement that stores the tasks (they are stored only if it wins).
 */
export interface AcceptedTasks {
  tasks: readonly TaskWithMessages[];
  token?: TokenUse;
}

/**
 * A task's trace already has a task (tasks.trace_id is unique): that task was not stored. In a group statement the
 * other tasks of its request were stored all the same (a batch's tasks get fresh random traces, so only a single
 * task, whose trace its caller chose, meets this); in a transaction, roll back. `tokenClaimed`: its token
 * was claimed all the same (by the group's statement, which committed), so a second attempt must not claim it again.
 */
export class TraceIdTaken extends Error {
  constructor(readonly tokenClaimed = false) {
    super('the trace already has a task');
  }
}

/** The task's write token was already used (here, on another replica, or by another task of the same group): nothing was stored. */
export class WriteTokenReplayed extends Error {
  constructor(readonly token: TokenUse) {
    super(`token ${token.jti} was already used`);
  }
}

/**
 * Stores accepted tasks with group commit (POST /handle_task's and /handle_tasks' write): the tasks of requests that arrive while a
 * commit runs go together into the next one, a single statement that inserts the tasks and their outbox messages,
 * and each request is answered only after the commit that holds its task. A task whose trace already
 * has one is refused alone (TraceIdTaken) and its messages are not stored.
 */
@Injectable()
export class TaskAcceptWriter implements OnModuleDestroy {
  private readonly logger = new Logger(TaskAcceptWriter.name);
  /** The group's statement is planned once per connection: its parameters are JSON the planner cannot look into. */
  private readonly connection: GenericPlanConnection;
  /** This writer's claims are the service's used_tokens rows too: it purges the expired ones as the guard's store does. */
  private readonly purge: UsedTokensPurge;
  private readonly group = new GroupCommit<AcceptedTasks, void>((tasks) => this.commit(tasks), {
    maxBatch: MAX_GROUP,
    weight: (accepted) => accepted.tasks.length,
    onIsolate: (size, error) => this.logger.warn({ msg: 'task accept group failed; storing its tasks one by one', size, error: (error as Error).message }),
  });

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly outbox: OutboxService,
  ) {
    this.connection = new GenericPlanConnection(dataSource);
    this.purge = new UsedTokensPurge(dataSource);
  }

  async onModuleDestroy(): Promise<void> {
    await this.connection.close();
  }

  /** Tasks waiting for the next commit. */
  get queued(): number {
    return this.group.queued;
  }

  store(accepted: AcceptedTasks): Promise<void> {
    if (accepted.token) this.purge.ifDue();
    return this.group.submit(accepted);
  }

  /**
   * The write of a request that needs its own transaction (an Idempotency-Key, a run to start): its token claim, its
   * tasks and their messages, in the caller's transaction. A token already used throws WriteTokenReplayed, a task whose
   * trace already has one TraceIdTaken (ON CONFLICT DO NOTHING, so the transaction stays usable to the caller that
   * catches it); either way roll the transaction back.
   */
  async insert(manager: EntityManager, accepted: AcceptedTasks): Promise<void> {
    if (accepted.token) {
      this.purge.ifDue();
      if (!(await claimTokenIn(manager, accepted.token))) throw new WriteTokenReplayed(accepted.token);
    }
    const inserted = (await manager.query(INSERT_TASKS_SQL, [taskRowsJson([accepted])])) as { task_id: string }[];
    if (!allStored(accepted, new Set(inserted.map((row) => row.task_id)))) throw new TraceIdTaken();
    await this.outbox.enqueueAll(manager, accepted.tasks.flatMap((t) => t.messages));
  }

  /**
   * A group's write is one statement, atomic without BEGIN and COMMIT around it: the requests' token claims, the
   * tasks' INSERT (only of tasks whose token it claimed, or that came without one) and, as CTEs of the same statement,
   * the outbox rows of the tasks it stored. Two round trips to PostgreSQL fewer per group than a transaction, one
   * commit for the claims and the tasks they allow, and the statement holds the outbox's key locks only while it runs.
   */
  private async commit(accepted: readonly AcceptedTasks[]): Promise<GroupItemOutcome<void>[]> {
    // A token presented twice in one group: the first of its requests claims it, the others are replays.
    const firstUse = new Map<string, AcceptedTasks>();
    for (const a of accepted) if (a.token && !firstUse.has(tokenKey(a.token))) firstUse.set(tokenKey(a.token), a);
    const writing = accepted.filter((a) => !a.token || firstUse.get(tokenKey(a.token)) === a);
    const messages = writing.flatMap((a) => a.tasks.flatMap((t) => t.messages.map((m) => ({ ...m, owner: t.task.taskId }))));
    const tokens = writing.flatMap((a) => (a.token ? [a.token] : []));
    // A group of anonymous requests has nothing to claim: its statement is the one without the claim.
    const outbox = this.outbox.inStatement(messages, tokens.length ? 3 : 2, 'SELECT task_id::text FROM stored');
    const rows = await this.connection.query<{ task_id: string | null; issuer: string | null; jti: string | null }>(
      tokens.length
        ? `WITH ${tokenClaimCte(2)}, stored AS (${insertTasksSql(CLAIMED_OR_TOKENLESS)}), ${outbox.ctes}
           SELECT task_id::text, NULL AS issuer, NULL AS jti FROM stored UNION ALL SELECT NULL, issuer, jti FROM claimed_tokens`
        : `WITH stored AS (${INSERT_TASKS_SQL}), ${outbox.ctes} SELECT task_id::text, NULL AS issuer, NULL AS jti FROM stored`,
      [taskRowsJson(writing), ...(tokens.length ? [tokenUsesParam(tokens)] : []), ...outbox.params],
    );
    outbox.committed();
    const stored = new Set(rows.flatMap((row) => (row.task_id ? [row.task_id] : [])));
    const claimed = new Set(rows.flatMap((row) => (row.issuer !== null && row.jti !== null ? [tokenKey({ issuer: row.issuer, jti: row.jti })] : [])));
    return accepted.map((a): GroupItemOutcome<void> => {
      if (a.token && (firstUse.get(tokenKey(a.token)) !== a || !claimed.has(tokenKey(a.token)))) return { ok: false, error: new WriteTokenReplayed(a.token) };
      return allStored(a, stored) ? { ok: true, result: undefined } : { ok: false, error: new TraceIdTaken(a.token !== undefined) };
    });
  }
}

/** Whether every task of a request is among the task ids a statement stored. */
function allStored(accepted: AcceptedTasks, stored: ReadonlySet<string>): boolean {
  return accepted.tasks.every((t) => stored.has(t.task.taskId));
}

/** The statement's claimed_tokens decide which tasks it stores: those whose token it claimed, and those without one. */
const CLAIMED_OR_TOKENLESS = `WHERE t.token_jti IS NULL OR EXISTS (SELECT 1 FROM claimed_tokens c WHERE c.issuer = t.token_issuer AND c.jti = t.token_jti)`;

/**
 * $1: the tasks as a JSON array of taskRow objects. A task whose id or trace is taken is skipped, as is one `where`
 * (a condition on t, the row) leaves out.
 */
const insertTasksSql = (where = '') => `
  INSERT INTO tasks (task_id, trace_id, user_id, product, agent, input, input_type, tags, decision, action_type, payload,
                     decided_by, agent_note, status, run_id, workflow, execution_result, created_at, updated_at)
  SELECT t.task_id, t.trace_id, t.user_id, t.product, t.agent, t.input, t.input_type, COALESCE(t.tags, '[]'::jsonb), t.decision,
         t.action_type, t.payload, t.decided_by, t.agent_note, t.status, t.run_id, t.workflow, t.execution_result,
         COALESCE(t.created_at, now()), COALESCE(t.updated_at, now())
  FROM jsonb_to_recordset($1::jsonb) AS t(task_id uuid, trace_id text, user_id text, product text, agent text, input text,
       input_type text, tags jsonb, decision text, action_type text, payload jsonb, decided_by text, agent_note text,
       status text, run_id uuid, workflow text, execution_result jsonb, created_at timestamptz, updated_at timestamptz,
       token_issuer text, token_jti text)
  ${where}
  ON CONFLICT DO NOTHING
  RETURNING task_id`;
const INSERT_TASKS_SQL = insertTasksSql();

/**
 * INSERT_TASKS_SQL's $1. The agent's note and decision come from a model, not the request the guard checked: JSON
 * would carry a lone surrogate as an escape jsonb refuses, failing the whole group, so every string is made storable.
 */
function taskRowsJson(accepted: readonly AcceptedTasks[]): string {
  return JSON.stringify(
    toStorableJson(accepted.flatMap((a) => a.tasks.map((t) => ({ ...taskRow(t.task), token_issuer: a.token?.issuer, token_jti: a.token?.jti })))),
  );
}

/** A task as INSERT_TASKS_SQL reads it (column names; absent and undefined become NULL). */
function taskRow(task: TaskEntity): Record<string, unknown> {
  return {
    task_id: task.taskId,
    trace_id: task.traceId,
    user_id: task.userId,
    product: task.product,
    agent: task.agent,
    input: task.input,
    input_type: task.inputType,
    tags: task.tags,
    decision: task.decision,
    action_type: task.actionType,
    payload: task.payload,
    decided_by: task.decidedBy,
    agent_note: task.agentNote,
    status: task.status,
    run_id: task.runId,
    workflow: task.workflow,
    execution_result: task.executionResult,
    created_at: task.createdAt,
    updated_at: task.updatedAt,
  };
}
