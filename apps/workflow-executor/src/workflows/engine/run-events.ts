import { createHash, randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { EventTopic, isNotBlank, RequesterId, type WorkflowDefinitionEventType } from '@pancha/contracts';
import { type EnqueueInput, OutboxService } from '@pancha/outbox';
import { currentTraceId, injectTraceHeaders } from '@pancha/trace-context';
import type { EngineEvent, RunState } from '@pancha/workflow-engine';
import type { Finding } from '@pancha/workflow-manifest';
import type { EntityManager } from 'typeorm';
import { WorkflowExecutorConfig } from '../../config/env.validation';
import { routerEventMessage } from '../../events/router-events';

/** Outputs and inputs larger than this are summarised in Bucket (the run's own rows keep them whole). */
const MAX_EVENT_VALUE_BYTES = 8 * 1024;

export type DefinitionEventType = WorkflowDefinitionEventType;

/** A person's (or a service's) hand on a run: who asked for a cancel, a retry, or sent a signal (an approval). */
export type ControlEventType = 'workflow.cancel_requested' | 'workflow.retry_requested' | 'workflow.signal_received';

export interface ControlledRun {
  run_id: string;
  root_run_id: string;
  workflow: string;
  version: string;
  trace_id: string;
  user_id: string | null;
  product: string | null;
}

/**
 * Turns a round's engine events into outbox messages, in the round's transaction: every lifecycle event to
 * Bucket's workflow channel (ordered per run), and one workflow_success / workflow_failure to Karma per
 * top-level run (not per step, not per sub-workflow).
 */
@Injectable()
export class RunEvents {
  constructor(
    private readonly outbox: OutboxService,
    private readonly config: WorkflowExecutorConfig,
  ) {}

  /**
   * A round's events as outbox messages, each carrying the active trace context (the round's): the round's group
   * enqueues the messages of all its rounds at once (`enqueue`).
   */
  messages(state: RunState, events: readonly EngineEvent[], scope: { rootRunId: string; isRoot: boolean }): EnqueueInput[] {
    if (events.length === 0) return [];
    const run = state.run;
    const headers = injectTraceHeaders();
    const messages: EnqueueInput[] = [];
    for (const event of events) {
      if (this.config.WORKFLOW_EVENTS_ENABLED) {
        // The time is part of the key: a run retried after failing ends (and fails, or completes) a second time.
        const key = messageKey(run.id, [event.type, event.path ?? '', event.attempts ?? '', event.at.getTime()].join(':'));
        messages.push({
          topic: EventTopic.BucketWorkflowEvent,
          messageKey: key,
          // One run's events reach Bucket in the order they happened (the chain records them in that order).
          orderingKey: run.id,
          payload: {
            requester_id: RequesterId.WorkflowExecutor,
            event_data: {
              event_id: uuidFrom(key),
              event_type: event.type,
              trace_id: run.trace_id,
              run_id: run.id,
              root_run_id: scope.rootRunId,
              workflow: run.workflow,
              version: run.version,
              status: event.status,
              ...(event.path !== undefined
                ? { step: { id: event.step_id, path: event.path, kind: event.kind, attempts: event.attempts } }
                : {}),
              ...(event.output !== undefined ? bounded('output', event.output) : {}),
              ...(event.error !== undefined ? { error: event.error } : {}),
              ...(event.type === 'workflow.started' ? bounded('inputs', run.inputs) : {}),
              // Who started the run (a person as user:<username>), in the audit chain with the start itself.
              ...(event.type === 'workflow.started' && run.actor ? { actor: run.actor } : {}),
              // WORKFLOWS.md: a deprecated version's start is recorded with its warning (so are migrated inputs).
              ...(event.type === 'workflow.started' && run.warnings?.length ? { warnings: run.warnings } : {}),
              timestamp: event.at.toISOString(),
              ...(run.user_id !== undefined ? { user_id: run.user_id } : {}),
              ...(run.product !== undefined ? { product: run.product } : {}),
            },
          },
        });
      }
      const scored = event.type === 'workflow.completed' || event.type === 'workflow.failed';
      // A blank user (a start stored before Core refused one) has no Karma ledger: Karma would refuse the event.
      if (scored && scope.isRoot && isNotBlank(run.user_id) && this.config.WORKFLOW_BEHAVIORAL_TRACKING) {
        const key = `${run.id}:karma:${event.at.getTime()}`;
        messages.push({
          topic: EventTopic.KarmaLifeEvent,
          messageKey: key,
          payload: {
            type: 'life_event',
            source: 'workflow_executor',
            data: {
              event_id: uuidFrom(key),
              user_id: run.user_id,
              action: event.type === 'workflow.completed' ? 'workflow_success' : 'workflow_failure',
              context: { trace_id: run.trace_id, run_id: run.id, workflow: run.workflow, version: run.version },
            },
          },
        });
      }
      // A run's end also goes to Core's event router (docs/events.md): a workflow can trigger another.
      const routed = this.config.WORKFLOW_ROUTER_EVENTS_ENABLED ? routerEventMessage(run, event, scope.rootRunId) : undefined;
      if (routed) messages.push(routed);
    }
    for (const message of messages) message.headers ??= headers;
    return messages;
  }

  /** One statement for the messages of a group of rounds (in order: each run's ordering key keeps its own so on the chain). */
  enqueue(manager: EntityManager, messages: readonly EnqueueInput[]): Promise<void> {
    return this.outbox.enqueueAll(manager, messages);
  }

  /**
   * A control request recorded in Bucket, in the transaction that makes it: the actor is the caller as the
   * executor verified it (`user:<username>` for a person's token), so the chain says who cancelled, retried or
   * approved, not which service relayed it. A signal's payload is not copied (it may be large; the run keeps it).
   */
  async recordControlEvent(
    manager: EntityManager,
    type: ControlEventType,
    run: ControlledRun,
    fields: { actor: string; at: Date; request_id: string; signal?: string },
  ): Promise<void> {
    if (!this.config.WORKFLOW_EVENTS_ENABLED) return;
    const key = messageKey(run.run_id, [type, fields.request_id].join(':'));
    await this.outbox.enqueue(manager, {
      topic: EventTopic.BucketWorkflowEvent,
      messageKey: key,
      orderingKey: run.run_id,
      payload: {
        requester_id: RequesterId.WorkflowExecutor,
        event_data: {
          event_id: uuidFrom(key),
          event_type: type,
          trace_id: run.trace_id,
          run_id: run.run_id,
          root_run_id: run.root_run_id,
          workflow: run.workflow,
          version: run.version,
          actor: fields.actor,
          ...(fields.signal !== undefined ? { signal: fields.signal, signal_id: fields.request_id } : {}),
          timestamp: fields.at.toISOString(),
          ...(run.user_id !== null ? { user_id: run.user_id } : {}),
          ...(run.product !== null ? { product: run.product } : {}),
        },
      },
    });
  }

  /** Registry facts (registered with its content hash, enabled, disabled) recorded in Bucket. */
  async recordDefinitionEvent(
    manager: EntityManager,
    type: DefinitionEventType,
    fields: { workflow: string; version?: string; content_hash?: string; file?: string; actor?: string; reason?: string; at: Date },
  ): Promise<void> {
    if (!this.config.WORKFLOW_EVENTS_ENABLED) return;
    const at = new Date(fields.at);
    const key = [type, fields.workflow, fields.version ?? '', at.toISOString()].join(':');
    await this.outbox.enqueue(manager, {
      topic: EventTopic.BucketWorkflowEvent,
      messageKey: key,
      payload: {
        requester_id: RequesterId.WorkflowExecutor,
        event_data: {
          event_id: uuidFrom(key),
          event_type: type,
          ...(currentTraceId() ? { trace_id: currentTraceId() } : {}),
          workflow: fields.workflow,
          ...(fields.version !== undefined ? { version: fields.version } : {}),
          ...(fields.content_hash !== undefined ? { content_hash: fields.content_hash } : {}),
          ...(fields.file !== undefined ? { file: fields.file } : {}),
          ...(fields.actor !== undefined ? { actor: fields.actor } : {}),
          ...(fields.reason !== undefined ? { reason: fields.reason } : {}),
          timestamp: at.toISOString(),
        },
      },
    });
  }

  /**
   * `workflow.validation_findings` (validation mode `audit`): what validating one file found, registered or not. Its
   * content and event id come only from the file, its text and the findings, so loading the same file again (a
   * restart, a reload) sends the same event and Bucket keeps the first. At most MAX_AUDITED_FINDINGS findings are
   * listed; `finding_count` counts them all.
   */
  async recordFindings(
    manager: EntityManager,
    fields: { file: string; text: string; workflow?: string; version?: string; findings: readonly Finding[] },
  ): Promise<void> {
    if (!this.config.WORKFLOW_EVENTS_ENABLED || fields.findings.length === 0) return;
    const digest = createHash('sha256').update(fields.file).update('\0').update(fields.text).update('\0').update(JSON.stringify(fields.findings)).digest('hex');
    await this.outbox.enqueue(manager, {
      topic: EventTopic.BucketWorkflowEvent,
      // One outbox row per load (the table's key is unique); Bucket deduplicates by the event id.
      messageKey: `workflow.validation_findings:${digest}:${randomUUID()}`,
      payload: {
        requester_id: RequesterId.WorkflowExecutor,
        event_data: {
          event_id: uuidFrom(`workflow.validation_findings:${digest}`),
          event_type: 'workflow.validation_findings',
          ...(fields.workflow !== undefined ? { workflow: fields.workflow } : {}),
          ...(fields.version !== undefined ? { version: fields.version } : {}),
          file: fields.file,
          validation_mode: 'audit',
          finding_count: fields.findings.length,
          findings: fields.findings.slice(0, MAX_AUDITED_FINDINGS),
        },
      },
    });
  }
}

/** How many findings one `workflow.validation_findings` event lists (a Bucket entry stays small). */
export const MAX_AUDITED_FINDINGS = 50;

/** Outbox keys are at most 255 characters; a deep foreach path could exceed that, so long tails are hashed. */
function messageKey(runId: string, rest: string): string {
  return rest.length <= 180 ? `${runId}:${rest}` : `${runId}:${createHash('sha256').update(rest).digest('hex')}`;
}

/** A UUID-shaped id derived from a message key: a re-enqueued event keeps its id, so Bucket dedups it. */
export function uuidFrom(key: string): string {
  const h = createHash('sha256').update(key).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function bounded(field: string, value: unknown): Record<string, unknown> {
  const text = JSON.stringify(value) ?? 'null';
  if (Buffer.byteLength(text) <= MAX_EVENT_VALUE_BYTES) return { [field]: value };
  return {
    [`${field}_truncated`]: true,
    [`${field}_sha256`]: createHash('sha256').update(text).digest('hex'),
    [`${field}_bytes`]: Buffer.byteLength(text),
  };
}
