import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { ExecutorStartRunDto } from '@pancha/contracts';
import { batchItemsOf, type OutboxBatchResult, type OutboxHandler, type OutboxMessage } from '@pancha/outbox';
import { WorkflowExecutorClient } from '@pancha/workflow-executor-client';
import { DataSource, type EntityManager } from 'typeorm';
import { RUN_START_TOPIC } from './workflow-runs.service';

/**
 * Delivers an accepted run to the executor (POST /api/runs, idempotent on run_id). A refusal (4xx) is final:
 * the relay dead-letters it; anything else is retried with backoff while Core keeps answering. The relay's
 * claimed starts go in one request (POST /api/runs/batch), and the delivered ones are marked in one statement.
 */
@Injectable()
export class RunStartHandler implements OutboxHandler {
  readonly topic = RUN_START_TOPIC;

  constructor(
    private readonly executor: WorkflowExecutorClient,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async deliver(message: OutboxMessage): Promise<void> {
    const start = message.payload as ExecutorStartRunDto;
    await this.executor.startRun(start);
    await this.dataSource.query(MARK_DELIVERED_SQL, [[start.run_id]]);
  }

  async deliverBatch(messages: readonly OutboxMessage[]): Promise<readonly OutboxBatchResult[]> {
    const results = await this.executor.startRuns(batchItemsOf<ExecutorStartRunDto>(messages));
    const delivered = messages.filter((_, i) => results[i].ok).map((m) => (m.payload as ExecutorStartRunDto).run_id);
    if (delivered.length > 0) await this.dataSource.query(MARK_DELIVERED_SQL, [delivered]);
    return results.map((result) => (result.ok ? { ok: true } : { ok: false, error: result.error }));
  }

  /** The executor refused the start for good: the run request says so, in the dead-letter transaction. */
  async onDeadLetter(manager: EntityManager, message: OutboxMessage, reason: string): Promise<void> {
    const start = message.payload as ExecutorStartRunDto;
    await manager.query(
      `UPDATE workflow_run_requests SET delivery = 'refused', reason = $2, updated_at = now() WHERE run_id = $1 AND delivery <> 'delivered'`,
      [start.run_id, reason.slice(0, 2000)],
    );
  }
}

const MARK_DELIVERED_SQL = `UPDATE workflow_run_requests SET delivery = 'delivered', updated_at = now() WHERE run_id = ANY($1::uuid[]) AND delivery = 'queued'`;
