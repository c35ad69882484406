import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { ExecutorStartRunDto } from '@pancha/contracts';
import { describesTimeout, mayHaveTakenEffect, ServiceCallError } from '@pancha/http-client';
import { batchItemsOf, describesRelayTimeout, FINAL_REFUSAL_PREFIX, type OutboxBatchResult, OutboxDeliveryError, type OutboxHandler, type OutboxMessage } from '@pancha/outbox';
import { WorkflowExecutorClient } from '@pancha/workflow-executor-client';
import { DataSource, type EntityManager } from 'typeorm';
import { isStatus, MAYBE_SENT, RUN_START_TOPIC } from './workflow-runs.service';

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
    await this.dataSource.query(COUNT_SENDS_SQL, [[start.run_id]]);
    try {
      await this.executor.startRun(start);
    } catch (error) {
      if (!mayHaveTakenEffect(error)) await this.dataSource.query(COUNT_REFUSALS_SQL, [[start.run_id]]);
      throw judged(error);
    }
    await this.dataSource.query(MARK_DELIVERED_SQL, [[start.run_id]]);
  }

  async deliverBatch(messages: readonly OutboxMessage[]): Promise<readonly OutboxBatchResult[]> {
    const runIds = messages.map((m) => (m.payload as ExecutorStartRunDto).run_id);
    // Counted before the send: a send whose outcome is lost (a crash, a lapsed lease) still counts as one that may
    // have reached the executor.
    await this.dataSource.query(COUNT_SENDS_SQL, [runIds]);
    let results: Awaited<ReturnType<WorkflowExecutorClient['startRuns']>>;
    try {
      results = await this.executor.startRuns(batchItemsOf<ExecutorStartRunDto>(messages));
    } catch (error) {
      if (!mayHaveTakenEffect(error)) await this.dataSource.query(COUNT_REFUSALS_SQL, [runIds]);
      throw error;
    }
    const delivered = runIds.filter((_, i) => results[i].ok);
    const refused = runIds.filter((_, i) => {
      const result = results[i];
      return !result.ok && !mayHaveTakenEffect(result.error);
    });
    if (delivered.length > 0) await this.dataSource.query(MARK_DELIVERED_SQL, [delivered]);
    if (refused.length > 0) await this.dataSource.query(COUNT_REFUSALS_SQL, [refused]);
    return results.map((result) => (result.ok ? { ok: true } : { ok: false, error: judged(result.error) }));
  }

  /**
   * The relay gave up on the start. A refusal (the executor answered a 4xx it will answer again) is final: the run
   * request says `refused`, with the executor's answer (its code and message: a disabled workflow's message carries the
   * operator's reason). Attempts used up otherwise: a start that never reached the executor (every send a refused
   * connection, or a 4xx) is `refused` with the last error. One that may have (more sends than refusals) is asked for first, outside the
   * transaction, so it is listed once: a run the executor has is `delivered`; one it does not have is `refused`, but
   * only when the last attempt was answered (a 5xx): after a timeout the executor may still be storing that very
   * request, so its "no such run" proves nothing yet. Then, and while the executor cannot say, this throws: the relay
   * records nothing and sends the start again after its backoff, so an accepted start is never marked refused while
   * it may be running.
   */
  async beforeDeadLetter(message: OutboxMessage, reason: string): Promise<DeadStart> {
    const start = message.payload as ExecutorStartRunDto;
    if (reason.startsWith(FINAL_REFUSAL_PREFIX)) return 'refused';
    const [row]: { maybe_sent: boolean }[] = await this.dataSource.query(`SELECT ${MAYBE_SENT} AS maybe_sent FROM workflow_run_requests WHERE run_id = $1`, [start.run_id]);
    if (!row?.maybe_sent) return 'refused';
    if (await this.executorHas(start.run_id)) return 'delivered';
    // The client's timeout, or the relay's own (OUTBOX_DELIVERY_TIMEOUT_MS) around the whole delivery.
    if (describesTimeout(reason) || describesRelayTimeout(reason)) throw new Error(`the last start of run ${start.run_id} timed out: the executor may still be storing it`);
    return 'refused';
  }

  async onDeadLetter(manager: EntityManager, message: OutboxMessage, reason: string, prepared?: unknown): Promise<void> {
    const start = message.payload as ExecutorStartRunDto;
    if (prepared === 'delivered') {
      await manager.query(MARK_DELIVERED_SQL, [[start.run_id]]);
      return;
    }
    const said = reason.startsWith(FINAL_REFUSAL_PREFIX) ? reason.slice(FINAL_REFUSAL_PREFIX.length) : reason;
    await manager.query(
      `UPDATE workflow_run_requests SET delivery = 'refused', reason = $2, updated_at = now() WHERE run_id = $1 AND delivery <> 'delivered'`,
      [start.run_id, said.slice(0, 2000)],
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

/** What the relay's dead letter of a start records: the run request `refused`, or `delivered` (the executor has it). */
type DeadStart = 'refused' | 'delivered';

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

/** A send of these starts is about to be made (before it, so a send whose outcome is lost still counts). */
const COUNT_SENDS_SQL = `UPDATE workflow_run_requests SET start_sends = start_sends + 1 WHERE run_id = ANY($1::uuid[]) AND delivery = 'queued'`;

/** A send that never reached the executor (the connection refused; a 4xx answer said no): it stored nothing. */
const COUNT_REFUSALS_SQL = `UPDATE workflow_run_requests SET start_refusals = start_refusals + 1 WHERE run_id = ANY($1::uuid[]) AND delivery = 'queued'`;
