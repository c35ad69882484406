import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { ExecutorStartRunDto } from '@pancha/contracts';
import { ServiceCallError } from '@pancha/http-client';
import { batchItemsOf, type OutboxBatchResult, OutboxDeliveryError, type OutboxHandler, type OutboxMessage } from '@pancha/outbox';
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
    await this.executor.startRun(start).catch((error: unknown) => Promise.reject(judged(error)));
    await this.dataSource.query(MARK_DELIVERED_SQL, [[start.run_id]]);
  }

  async deliverBatch(messages: readonly OutboxMessage[]): Promise<readonly OutboxBatchResult[]> {
    const results = await this.executor.startRuns(batchItemsOf<ExecutorStartRunDto>(messages));
    const delivered = messages.filter((_, i) => results[i].ok).map((m) => (m.payload as ExecutorStartRunDto).run_id);
    if (delivered.length > 0) await this.dataSource.query(MARK_DELIVERED_SQL, [delivered]);
    return results.map((result) => (result.ok ? { ok: true } : { ok: false, error: judged(result.error) }));
  }

  /**
   * The executor refused the start for good: the run request says so, in the dead-letter transaction, with the
   * executor's answer (its code and message: a disabled workflow's message carries the operator's reason).
   */
  async onDeadLetter(manager: EntityManager, message: OutboxMessage, reason: string): Promise<void> {
    const start = message.payload as ExecutorStartRunDto;
    await manager.query(
      `UPDATE workflow_run_requests SET delivery = 'refused', reason = $2, updated_at = now() WHERE run_id = $1 AND delivery <> 'delivered'`,
      [start.run_id, reason.replace(/^non_retryable: /, '').slice(0, 2000)],
    );
  }
}

/** Most characters of the executor's message kept in a refused run's reason. */
export const MAX_REFUSAL_MESSAGE = 1000;

/**
 * A final refusal by the executor (a 4xx it will answer again) as the reason the run request records: its status,
 * code and message (`workflow-executor answered 409 workflow_disabled: workflow onboard is disabled (…); …`), and
 * nothing of how Core asked (route, batch position). Anything else keeps its own verdict for the relay.
 */
export function judged(error: unknown): unknown {
  if (!(error instanceof ServiceCallError) || error.retryable || error.status === undefined) return error;
  const body = (error.body ?? {}) as { code?: unknown; message?: unknown };
  const code = typeof body.code === 'string' ? ` ${body.code.slice(0, 100)}` : '';
  const text = typeof body.message === 'string' ? body.message.trim() : '';
  const said = text.length > MAX_REFUSAL_MESSAGE ? `${text.slice(0, MAX_REFUSAL_MESSAGE)}…` : text;
  return new OutboxDeliveryError(`workflow-executor answered ${error.status}${code}${said ? `: ${said}` : ''}`, { retryable: false });
}

const MARK_DELIVERED_SQL = `UPDATE workflow_run_requests SET delivery = 'delivered', updated_at = now() WHERE run_id = ANY($1::uuid[]) AND delivery = 'queued'`;
