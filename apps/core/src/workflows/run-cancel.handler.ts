import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { OutboxDeliveryError, type OutboxHandler, type OutboxMessage } from '@pancha/outbox';
import { WorkflowExecutorClient } from '@pancha/workflow-executor-client';
import { DataSource } from 'typeorm';
import { isStatus, RUN_CANCEL_TOPIC, type RunCancelMessage } from './workflow-runs.service';

/**
 * A cancel asked for while the relay was handing the run's start to the executor (WorkflowRunsService.control): made
 * once the executor has the run. Until then the executor answers 404 and the cancel is tried again with backoff; a
 * run that already ended (409), or whose start the executor refused or a later cancel withdrew, has nothing left to
 * cancel.
 */
@Injectable()
export class RunCancelHandler implements OutboxHandler {
  readonly topic = RUN_CANCEL_TOPIC;

  constructor(
    private readonly executor: WorkflowExecutorClient,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async deliver(message: OutboxMessage): Promise<void> {
    const { run_id: runId, actor } = message.payload as RunCancelMessage;
    try {
      await this.executor.cancelRun(runId, {}, actor);
    } catch (error) {
      if (isStatus(error, 409)) return;
      if (!isStatus(error, 404)) throw error;
      const [row]: { delivery: string }[] = await this.dataSource.query(`SELECT delivery FROM workflow_run_requests WHERE run_id = $1`, [runId]);
      // Nothing to cancel at the executor: the start was refused, or withdrawn by a later cancel before it was sent.
      if (!row || row.delivery === 'refused' || row.delivery === 'cancelled') return;
      throw new OutboxDeliveryError(`run ${runId} is not at the executor yet (its start is ${row.delivery})`, { retryable: true });
    }
  }
}
