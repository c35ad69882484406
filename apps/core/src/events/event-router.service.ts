import { randomUUID } from 'node:crypto';
import { HttpStatus, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  type EventAccepted,
  type EventDecisionView,
  type EventDeferred,
  type EventRoutedAuditEvent,
  type EventRunStarted,
  type EventSkip,
  EventSkipReason,
  EventTopic,
} from '@pancha/contracts';
import {
  applyFilters,
  type CompiledTrigger,
  compileTrigger,
  EMPTY_STATE,
  type FilterResult,
  prefilter,
  type RoutedEvent,
  type TriggerState,
  typeMatches,
} from '@pancha/event-router';
import type { VerifiedRequester } from '@pancha/governance';
import { OutboxService } from '@pancha/outbox';
import { DomainException } from '@pancha/service-kit';
import { currentTraceId, currentTraceparent, runInTraceContext, SpanKind } from '@pancha/trace-context';
import { DataSource, type EntityManager } from 'typeorm';
import type { CatalogWorkflow } from '../workflows/workflow-catalog.service';
import { WorkflowCatalogService } from '../workflows/workflow-catalog.service';
import { type PreparedStart, WorkflowRunsService } from '../workflows/workflow-runs.service';

/** An event that passed validation and permission, ready to route. */
export interface AcceptedEvent extends RoutedEvent {
  traceparent?: string;
}

/** One trigger's way through an event, before the transaction. */
interface Candidate {
  trigger: CompiledTrigger;
  key: string | null;
  values?: { threshold?: number; delta?: number };
  inputs?: Record<string, unknown>;
  prepared?: PreparedStart;
  skip?: { reason: EventSkipReason; detail: string };
}

/** Thrown inside an event's transaction when its id was already received: everything it did is rolled back. */
class AlreadyReceived extends Error {}

/**
 * Core's event router (SPEC §5, WORKFLOWS.md "Events and triggers"): matches an event to the triggers of every
 * workflow's default version, runs their filters in the manifest's order and, in ONE transaction with the event's
 * record, updates each key's filter state (row-locked: replicas serialise one key's events), stores the run
 * starts with their outbox messages (the path POST /workflows/:name/runs takes) and the Bucket audit entry.
 */
@Injectable()
export class EventRouterService implements OnModuleInit {
  private readonly logger = new Logger(EventRouterService.name);
  private exact = new Map<string, CompiledTrigger[]>();
  private patterns: CompiledTrigger[] = [];

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly catalog: WorkflowCatalogService,
    private readonly runs: WorkflowRunsService,
    private readonly outbox: OutboxService,
  ) {}

  onModuleInit(): void {
    this.catalog.onChange((workflows) => this.rebuild(workflows));
  }

  /** The triggers an event of `type` is routed to (every version's default, enabled or not: a disabled one records why). */
  triggersFor(type: string): CompiledTrigger[] {
    const exact = this.exact.get(type) ?? [];
    const matching = this.patterns.filter((t) => typeMatches(t.event, type));
    return matching.length === 0 ? exact : [...exact, ...matching];
  }

  /** Routes one event: its own transaction, its own span (a child of the publisher's traceparent when it sent one). */
  async route(event: AcceptedEvent, requester: VerifiedRequester): Promise<EventAccepted> {
    if (!this.catalog.known) await this.runs.catalogKnown();
    const carrier = { traceparent: event.traceparent ?? currentTraceparent() ?? '' };
    return runInTraceContext(carrier, `event.route ${event.type}`, SpanKind.INTERNAL, () => this.routeInTrace(event, requester), {
      'pancha.event.id': event.id,
      'pancha.event.type': event.type,
    });
  }

  private async routeInTrace(event: AcceptedEvent, requester: VerifiedRequester): Promise<EventAccepted> {
    const traceId = currentTraceId() ?? traceIdOf(event.traceparent) ?? randomUUID().replace(/-/g, '');
    const candidates = this.triggersFor(event.type).map((trigger) => this.candidate(trigger, event, requester, traceId));
    // Locks in one global order (workflow, trigger, key): two events touching the same keys can never deadlock.
    candidates.sort((a, b) => compare(a, b));
    try {
      return await this.dataSource.transaction((manager) => this.decide(manager, event, candidates, requester, traceId));
    } catch (error) {
      if (error instanceof AlreadyReceived) return { ...(await this.answerOf(event.id)), replayed: true };
      throw error;
    }
  }

  /** Everything that needs no state: enabled, `if`, key, filter fields, inputs and the start's own checks. */
  private candidate(trigger: CompiledTrigger, event: AcceptedEvent, requester: VerifiedRequester, traceId: string): Candidate {
    const pre = prefilter(trigger, event);
    if (!pre.ok) return { trigger, key: pre.key, skip: { reason: pre.reason, detail: pre.detail } };
    const inputs = isRecord(pre.inputs) ? pre.inputs : { value: pre.inputs };
    const candidate: Candidate = { trigger, key: pre.key, values: pre.values, inputs };
    try {
      candidate.prepared = this.runs.prepare(
        {
          workflow: trigger.workflow,
          version: trigger.version,
          inputs,
          ...runOwner(event),
          actor: requester.id,
          source: `event:${event.id}`,
          trace_id: traceId,
          // Who may publish the event type is the policy's `events` section; the run acts on the event's product.
          checkProduct: false,
        },
        requester,
      );
    } catch (error) {
      candidate.skip = startRefusal(error);
    }
    return candidate;
  }

  private async decide(
    manager: EntityManager,
    event: AcceptedEvent,
    candidates: Candidate[],
    requester: VerifiedRequester,
    traceId: string,
  ): Promise<EventAccepted> {
    const runs: EventRunStarted[] = [];
    const skipped: EventSkip[] = [];
    const deferred: EventDeferred[] = [];
    const decisions: EventDecisionView[] = [];
    let seq: number | undefined;
    const base = (c: Candidate) => ({ workflow: c.trigger.workflow, version: c.trigger.version, trigger: c.trigger.name, key: c.key, ...(seq !== undefined ? { seq } : {}) });
    const skip = (c: Candidate, reason: EventSkipReason, detail: string) => {
      skipped.push({ workflow: c.trigger.workflow, trigger: c.trigger.name, reason, detail });
      decisions.push({ ...base(c), outcome: 'skipped', reason, detail });
    };

    for (const c of candidates) {
      if (c.skip) {
        skip(c, c.skip.reason, c.skip.detail);
        continue;
      }
      let result: FilterResult = { outcome: 'run' };
      seq = undefined;
      if (c.trigger.stateful) {
        const state = await this.lockState(manager, c);
        const next = applyFilters(c.trigger.filters, c.values ?? {}, state, Date.now());
        result = next.result;
        seq = next.state.seq;
        await manager.query(
          `UPDATE event_filter_state SET state = $4::jsonb, updated_at = now() WHERE workflow = $1 AND "trigger" = $2 AND key = $3`,
          [c.trigger.workflow, c.trigger.name, c.key, JSON.stringify(next.state)],
        );
      }
      if (result.outcome === 'skipped') {
        skip(c, result.reason, result.detail);
      } else if (result.outcome === 'deferred') {
        const dueAt = new Date(result.due_at).toISOString();
        await this.deferStart(manager, event, c, result.reason, result.due_at, requester, traceId);
        deferred.push({ workflow: c.trigger.workflow, trigger: c.trigger.name, reason: result.reason, due_at: dueAt });
        decisions.push({ ...base(c), outcome: 'deferred', reason: result.reason, due_at: dueAt });
      } else {
        const prepared = c.prepared!;
        await this.runs.commit(manager, prepared);
        runs.push({ workflow: c.trigger.workflow, version: prepared.start.version, run_id: prepared.start.run_id, trigger: c.trigger.name });
        decisions.push({ ...base(c), outcome: 'run', run_id: prepared.start.run_id });
      }
    }

    // Last, so a second delivery of the same id (blocked until the first commits) rolls all of the above back.
    const inserted: unknown[] = await manager.query(
      `INSERT INTO events (event_id, type, source, subject, time, trace_id, publisher, data, decisions)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb) ON CONFLICT (event_id) DO NOTHING RETURNING 1`,
      [event.id, event.type, event.source ?? null, event.subject ?? null, event.time, traceId, requester.id, JSON.stringify(event.data ?? null), JSON.stringify(decisions)],
    );
    if (inserted.length === 0) throw new AlreadyReceived();

    const audit: EventRoutedAuditEvent = {
      event_id: randomUUID(),
      event_type: 'event_routed',
      trace_id: traceId,
      routed_event_id: event.id,
      type: event.type,
      source: event.source ?? null,
      subject: event.subject ?? null,
      publisher: requester.id,
      runs,
      skipped,
      deferred,
      timestamp: new Date().toISOString(),
      ...owner(event),
    };
    await this.outbox.enqueue(manager, { topic: EventTopic.BucketCoreEvent, messageKey: `event_routed:${audit.event_id}`, payload: { event_data: audit } });
    return { event_id: event.id, trace_id: traceId, runs, skipped, deferred };
  }

  /**
   * The key's state, locked until the transaction ends. One statement: the upsert creates the row the first time and
   * otherwise takes its row lock (a concurrent event of the same key, on any replica, waits here) and returns the
   * latest committed state.
   */
  private async lockState(manager: EntityManager, c: Candidate): Promise<TriggerState> {
    const [row]: { state: TriggerState }[] = await manager.query(
      `INSERT INTO event_filter_state (workflow, "trigger", key, state) VALUES ($1, $2, $3, $4::jsonb)
       ON CONFLICT (workflow, "trigger", key) DO UPDATE SET updated_at = now() RETURNING state`,
      [c.trigger.workflow, c.trigger.name, c.key, JSON.stringify(EMPTY_STATE)],
    );
    return row.state;
  }

  /**
   * A start made later by the deferred-start poller. A debounced one replaces the key's pending start (serialised by
   * the state row's lock); the event that had it is told it was superseded.
   */
  private async deferStart(
    manager: EntityManager,
    event: AcceptedEvent,
    c: Candidate,
    reason: EventSkipReason.RateLimited | EventSkipReason.Debounced,
    dueAt: number,
    requester: VerifiedRequester,
    traceId: string,
  ): Promise<void> {
    const slot = reason === EventSkipReason.Debounced ? JSON.stringify([c.trigger.workflow, c.trigger.name, c.key]) : null;
    if (slot) {
      // TypeORM answers a DELETE … RETURNING with [rows, count].
      const [superseded]: [{ event_id: string }[], number] = await manager.query(`DELETE FROM event_deferred_starts WHERE debounce_slot = $1 RETURNING event_id`, [slot]);
      for (const { event_id } of superseded) {
        await setDecision(manager, event_id, c.trigger.workflow, c.trigger.name, {
          outcome: 'skipped',
          reason: EventSkipReason.Debounced,
          detail: `superseded by event ${event.id} before the key was quiet`,
        });
      }
    }
    const { user_id, product } = runOwner(event);
    await manager.query(
      `INSERT INTO event_deferred_starts (id, event_id, workflow, "trigger", key, reason, due_at, inputs, user_id, product, trace_id, publisher, debounce_slot)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13)`,
      [randomUUID(), event.id, c.trigger.workflow, c.trigger.name, c.key, reason, new Date(dueAt), JSON.stringify(c.inputs ?? {}), user_id, product ?? null, traceId, requester.id, slot],
    );
  }

  /** The stored answer for an event id (a replay, or GET). */
  async answerOf(eventId: string): Promise<EventAccepted> {
    const [row]: { trace_id: string; decisions: EventDecisionView[] }[] = await this.dataSource.query(
      `SELECT trace_id, decisions FROM events WHERE event_id = $1`,
      [eventId],
    );
    if (!row) throw new DomainException(HttpStatus.NOT_FOUND, 'event_not_found', `no event ${eventId.slice(0, 128)}`);
    return answerFromDecisions(eventId, row.trace_id, row.decisions);
  }

  private rebuild(workflows: ReadonlyMap<string, CatalogWorkflow>): void {
    const exact = new Map<string, CompiledTrigger[]>();
    const patterns: CompiledTrigger[] = [];
    for (const wf of workflows.values()) {
      const version = wf.default_version ? wf.versions.get(wf.default_version) : undefined;
      if (!version || version.retired) continue;
      for (const spec of version.manifest.triggers ?? []) {
        let trigger: CompiledTrigger;
        try {
          trigger = compileTrigger(wf.name, version.version, wf.enabled, spec);
        } catch (error) {
          // The registry refuses manifests whose expressions do not compile; this only guards a stale mirror.
          this.logger.warn({ msg: 'trigger not routed: it does not compile', workflow: wf.name, trigger: spec.name, error: (error as Error).message });
          continue;
        }
        if (spec.event === '*' || spec.event.endsWith('.*')) patterns.push(trigger);
        else exact.set(spec.event, [...(exact.get(spec.event) ?? []), trigger]);
      }
    }
    this.exact = exact;
    this.patterns = patterns;
  }
}

/** Rewrites one trigger's decision in an event's trail (a deferred start made, or superseded). */
export async function setDecision(manager: EntityManager, eventId: string, workflow: string, trigger: string, patch: Partial<EventDecisionView>): Promise<void> {
  await manager.query(
    `UPDATE events SET decisions = (
       SELECT jsonb_agg(CASE WHEN d->>'workflow' = $2 AND d->>'trigger' = $3 AND d->>'outcome' = 'deferred' THEN (d - 'due_at') || $4::jsonb ELSE d END ORDER BY n)
       FROM jsonb_array_elements(decisions) WITH ORDINALITY AS t(d, n))
     WHERE event_id = $1`,
    [eventId, workflow, trigger, JSON.stringify(patch)],
  );
}

export function answerFromDecisions(eventId: string, traceId: string, decisions: EventDecisionView[]): EventAccepted {
  const answer: EventAccepted = { event_id: eventId, trace_id: traceId, runs: [], skipped: [], deferred: [] };
  for (const d of decisions) {
    if (d.outcome === 'run') answer.runs.push({ workflow: d.workflow, version: d.version ?? '', run_id: d.run_id!, trigger: d.trigger });
    else if (d.outcome === 'deferred') answer.deferred.push({ workflow: d.workflow, trigger: d.trigger, reason: d.reason as EventDeferred['reason'], due_at: d.due_at! });
    else answer.skipped.push({ workflow: d.workflow, trigger: d.trigger, reason: d.reason!, ...(d.detail ? { detail: d.detail } : {}) });
  }
  return answer;
}

/** Who a run started by an event is for: `data.user_id`, else the event's subject, else the event type. */
export function runOwner(event: RoutedEvent): { user_id: string; product?: string } {
  const data = isRecord(event.data) ? event.data : {};
  const user = typeof data.user_id === 'string' && data.user_id !== '' ? data.user_id : (event.subject ?? `event:${event.type}`);
  return { user_id: user.slice(0, 128), ...(typeof data.product === 'string' && data.product !== '' ? { product: data.product.slice(0, 128) } : {}) };
}

function owner(event: RoutedEvent): { user_id?: string; product?: string } {
  const data = isRecord(event.data) ? event.data : {};
  return {
    ...(typeof data.user_id === 'string' && data.user_id !== '' ? { user_id: data.user_id.slice(0, 255) } : {}),
    ...(typeof data.product === 'string' && data.product !== '' ? { product: data.product.slice(0, 128) } : {}),
  };
}

/** A start the run checks refuse (disabled, retired, bad inputs) is a recorded skip, never an error of the event. */
export function startRefusal(error: unknown): { reason: EventSkipReason; detail: string } {
  if (error instanceof DomainException) {
    const status = error.getStatus();
    const detail = error.errors?.length ? `${error.message}: ${error.errors.map((e) => `${e.field} ${e.messages.join(', ')}`).join('; ')}` : error.message;
    if (status === HttpStatus.CONFLICT || status === HttpStatus.NOT_FOUND) return { reason: EventSkipReason.WorkflowDisabled, detail };
    if (status === HttpStatus.SERVICE_UNAVAILABLE) throw error;
    return { reason: EventSkipReason.Invalid, detail };
  }
  throw error;
}

function compare(a: Candidate, b: Candidate): number {
  return cmp(a.trigger.workflow, b.trigger.workflow) || cmp(a.trigger.name, b.trigger.name) || cmp(a.key ?? '', b.key ?? '');
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function traceIdOf(traceparent: string | undefined): string | undefined {
  return traceparent?.split('-')[1];
}
