import { EventTopic, type PublishEventRequest } from '@pancha/contracts';
import type { EnqueueInput } from '@pancha/outbox';
import type { EngineEvent, RunRecord } from '@pancha/workflow-engine';

/** A run's output larger than this is left out of the routed event (the run keeps it; GET /runs/:id shows it). */
const MAX_OUTPUT_BYTES = 8 * 1024;

/**
 * The outbox message that publishes a run's end to Core's event router (`workflow.completed` / `workflow.failed`,
 * typed in events/pillars.yaml), so a workflow can trigger another. The event id is derived from the run and the
 * moment it ended: a redelivery is the same event (Core starts nothing twice), a retried run that ends again is new.
 */
export function routerEventMessage(run: RunRecord, event: EngineEvent, rootRunId: string): EnqueueInput | undefined {
  if (event.type !== 'workflow.completed' && event.type !== 'workflow.failed') return undefined;
  const id = `${run.id}:${event.type}:${event.at.getTime()}`;
  const output = event.type === 'workflow.completed' && run.output !== undefined && Buffer.byteLength(JSON.stringify(run.output)) <= MAX_OUTPUT_BYTES ? { output: run.output } : {};
  const body: PublishEventRequest = {
    id,
    type: event.type,
    source: 'workflow-executor',
    subject: run.id,
    time: event.at.toISOString(),
    data: {
      run_id: run.id,
      root_run_id: rootRunId,
      workflow: run.workflow,
      version: run.version,
      trace_id: run.trace_id,
      ...(run.user_id !== undefined ? { user_id: run.user_id } : {}),
      ...(run.product !== undefined ? { product: run.product } : {}),
      ...output,
      ...(event.type === 'workflow.failed' && (event.error ?? run.error) ? { error: event.error ?? run.error } : {}),
    },
  };
  return { topic: EventTopic.CoreWorkflowEvent, messageKey: `${run.id}:router:${event.type}:${event.at.getTime()}`, payload: body };
}
