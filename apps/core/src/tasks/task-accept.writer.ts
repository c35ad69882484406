import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { type EnqueueInput, OutboxService } from '@pancha/outbox';
import { GroupCommit, type GroupItemOutcome } from '@pancha/service-kit';
import { DataSource, type EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { TaskEntity } from './task.entity';

/** Tasks accepted per transaction at most. */
const MAX_GROUP = 100;

/** One accepted task and the outbox messages that commit with it (each carrying its request's trace context). */
export interface AcceptedTask {
  task: TaskEntity;
  messages: EnqueueInput[];
}

/** The task's trace already has a task (tasks.trace_id is unique): nothing of it was stored. */
export class TraceIdTaken extends Error {}

/**
 * Stores accepted tasks with group commit (POST /handle_task's write): the tasks of requests that arrive while a
 * commit runs go together into the next transaction — one multi-row INSERT of the tasks, one of their outbox
 * messages — and each request is answered only after the commit that holds its task. A task whose trace already
 * has one is refused alone (TraceIdTaken) and its messages are not stored.
 */
@Injectable()
export class TaskAcceptWriter {
  private readonly logger = new Logger(TaskAcceptWriter.name);
  private readonly group = new GroupCommit<AcceptedTask, void>((tasks) => this.commit(tasks), {
    maxBatch: MAX_GROUP,
    onIsolate: (size, error) => this.logger.warn({ msg: 'task accept group failed; storing its tasks one by one', size, error: (error as Error).message }),
  });

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly outbox: OutboxService,
  ) {}

  /** Tasks waiting for the next commit. */
  get queued(): number {
    return this.group.queued;
  }

  store(accepted: AcceptedTask): Promise<void> {
    return this.group.submit(accepted);
  }

  /**
   * Inserts the tasks and, for those stored, their messages, in the caller's transaction; answers the ids stored. A
   * task whose trace already has one is skipped (ON CONFLICT DO NOTHING rather than a unique violation: the
   * transaction stays usable for the others). Also the write of a request that needs its own transaction.
   */
  async insert(manager: EntityManager, accepted: readonly AcceptedTask[]): Promise<Set<string>> {
    const inserted = await manager
      .createQueryBuilder()
      .insert()
      .into(TaskEntity)
      .values(accepted.map((a) => a.task) as QueryDeepPartialEntity<TaskEntity>[])
      .orIgnore()
      .returning('task_id')
      .execute();
    const stored = new Set((inserted.raw as { task_id: string }[]).map((row) => row.task_id));
    await this.outbox.enqueueAll(
      manager,
      accepted.filter((a) => stored.has(a.task.taskId)).flatMap((a) => a.messages),
    );
    return stored;
  }

  private commit(accepted: readonly AcceptedTask[]): Promise<GroupItemOutcome<void>[]> {
    return this.dataSource.transaction(async (manager) => {
      const stored = await this.insert(manager, accepted);
      return accepted.map((a): GroupItemOutcome<void> => (stored.has(a.task.taskId) ? { ok: true, result: undefined } : { ok: false, error: new TraceIdTaken() }));
    });
  }
}
