import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { ExecutorStartRunDto } from '@pancha/contracts';
import { ServiceCallError } from '@pancha/http-client';
import { batchItemsOf, FINAL_REFUSAL_PREFIX, type OutboxBatchResult, OutboxDeliveryError, type OutboxHandler, type OutboxMessage } from '@pancha/outbox';
import { WorkflowExecutorClient } from '@pancha/workflow-executor-client';
import { DataSource, type EntityManager } from 'typeorm';
import { isStatus, RUN_START_TOPIC } from './workflow-runs.service';

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
   * The relay gave up on the start. A refusal (the executor answered a 4xx it will answer again) is final: the run
   * request says `refused`, with the executor's answer (its code and message: a disabled workflow's message carries the
   * operator's reason). Attempts used up on answers that were lost (timeouts, 5xx) say nothing of whether the
   * executor has the run, so Core asks it first: a run it has is `delivered` (it is listed and read from the executor,
   * once); a run it does not have is `refused` with the last error. While the executor cannot say, this throws: the
   * relay records nothing and tries the start again with backoff, so an accepted start is never marked refused while
   * it may be running.
   */
  async onDeadLetter(manager: EntityManager, message: OutboxMessage, reason: string): Promise<void> {
    const start = message.payload as ExecutorStartRunDto;
    const refused = reason.startsWith(FINAL_REFUSAL_PREFIX);
    if (!refused && (await this.executorHas(start.run_id))) {
      await manager.query(MARK_DELIVERED_SQL, [[start.run_id]]);
      return;
    }
    await manager.query(
      `UPDATE workflow_run_requests SET delivery = 'refused', reason = $2, updated_at = now() WHERE run_id = $1 AND delivery <> 'delivered'`,
      [start.run_id, (refused ? reason.slice(FINAL_REFUSAL_PREFIX.length) : reason).slice(0, 2000)],
    );
  }

  /** Whether the executor holds the run: true or false from its answer, and a throw when it gives none (down, 5xx). */
  private async executorHas(runId: string): Promise<boolean> {
    try {
      await this.executor.run(runId);
      return true;
    } catch (error) {
      if (isStatus(error, 404)) return false;
      throw new Error(`could not ask the executor whether it has run ${runId}: ${error instanceof Error ? error.message : String(error)}`);
    }
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
