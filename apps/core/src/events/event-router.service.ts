import { createHash, randomUUID } from 'node:crypto';
import { HttpStatus, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  type EventAccepted,
  type EventDecisionView,
  type EventDeferred,
  type EventRoutedAuditEvent,
  EventSkipReason,
  EventTopic,
  ID_LIMITS,
  isNotBlank,
  MAX_JSON_DEPTH,
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
import { productFilter, type VerifiedRequester } from '@pancha/governance';
import { type EnqueueInput, OutboxService } from '@pancha/outbox';
import { DomainException, findUnstorableJson, GroupCommit, toStorableJson, type GroupItemOutcome, outcomesPerList } from '@pancha/service-kit';
import { currentTraceId, currentTraceparent, injectTraceHeaders, runInTraceContext, SpanKind } from '@pancha/trace-context';
import { DataSource, type EntityManager } from 'typeorm';
import type { CatalogWorkflow } from '../workflows/workflow-catalog.service';
import { WorkflowCatalogService } from '../workflows/workflow-catalog.service';
import { type PreparedStart, UUID, WorkflowRunsService } from '../workflows/workflow-runs.service';
import { CoreConfig } from '../config/env.validation';
import { EventErrorCode } from './event-intake';

/** An event that passed validation and permission, ready to route. */
export interface AcceptedEvent extends RoutedEvent {
  traceparent?: string;
}

/** One trigger's way through an event, before the transaction. */
interface Candidate {
  trigger: CompiledTrigger;
  key: string | null;
  /**
   * The product whose state of the key this trigger uses: the event's (`data.product`), '' for an event without one.
   * Set once the run's owner is known (a candidate that reaches the stateful filters always has it).
   */
  product?: string;
  values?: { threshold?: number; delta?: number };
  inputs?: Record<string, unknown>;
  prepared?: PreparedStart;
  skip?: { reason: EventSkipReason; detail: string };
}

/** One event on its way into a group commit: everything decided before the transaction. */
interface Routing {
  event: AcceptedEvent;
  requester: VerifiedRequester;
  traceId: string;
  candidates: Candidate[];
  /** The event's span, for its outbox messages (the run starts and the audit entry stay in the event's trace). */
  headers: Record<string, string>;
}

/** An event's outcome in its group: its answer, or "this id was already received" (answered from the stored record). */
type Routed = EventAccepted | typeof ALREADY_RECEIVED;
const ALREADY_RECEIVED = Symbol('already received');

/**
 * Events routed per transaction at most (a request's events are never split between two; a request holds at most
 * EVENT_LIMITS.batch). Groups commit one after another (their filter states are locked in one order), so a process
 * routes at most MAX_GROUP events per commit's latency: at 100, fifty clients sending batches of 100 waited on ten
 * commits in turn (606 events/s in the bench); at 1,000 one commit carries them (1,100-1,850).
 */
const MAX_GROUP = 1000;

/**
 * Core's event router (SPEC §5, WORKFLOWS.md "Events and triggers"): matches an event to the triggers of every
 * workflow's default version and runs their filters in the manifest's order. Events are committed with group commit,
 * a request's events as one item (they commit together or not at all): those that arrive while a commit runs share
 * the next transaction, which claims their ids, locks every key's filter state they touch in one global order
 * (workflow, trigger, key: replicas serialise one key's events and never deadlock), evaluates the events one after
 * another in arrival order (a sequential evaluation), and stores the state, the run starts with their outbox
 * messages (the path POST /workflows/:name/runs takes), the decisions and the Bucket audit entries. Each event is
 * answered only after that commit.
 */
@Injectable()
export class EventRouterService implements OnModuleInit {
  private readonly logger = new Logger(EventRouterService.name);
  private exact = new Map<string, CompiledTrigger[]>();
  private patterns: CompiledTrigger[] = [];
  private readonly group = new GroupCommit<readonly Routing[], Routed[]>((items) => this.dataSource.transaction((manager) => this.decide(manager, items)), {
    maxBatch: MAX_GROUP,
    weight: (routings) => routings.length,
    onIsolate: (size, error) => this.logger.warn({ msg: 'event group failed; routing its requests one by one', size, error: (error as Error).message }),
  });

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly catalog: WorkflowCatalogService,
    private readonly runs: WorkflowRunsService,
    private readonly outbox: OutboxService,
    private readonly config: CoreConfig,
  ) {}

  onModuleInit(): void {
    this.catalog.onChange((workflows) => this.rebuild(workflows));
  }

  /** Requests (one event, or a batch's events) waiting for the next commit (not those of the commit running now). */
  get queued(): number {
    return this.group.queued;
  }

  /** The triggers an event of `type` is routed to (every version's default, enabled or not: a disabled one records why). */
  triggersFor(type: string): CompiledTrigger[] {
    const exact = this.exact.get(type) ?? [];
    const matching = this.patterns.filter((t) => typeMatches(t.event, type));
    return matching.length === 0 ? exact : [...exact, ...matching];
  }

  /** Routes one event alone: a group item of its own (see routeAll). */
  async route(event: AcceptedEvent, requester: VerifiedRequester): Promise<EventAccepted> {
    return (await this.routeAll([event], requester))[0];
  }

  /**
   * Routes events as one group item: they commit together, in their order, or none does (the request answers the
   * error). Each is routed in its own span (a child of the publisher's traceparent when it sent one), and its answer
   * comes from the commit, or from the stored record when its id was already received (before, or earlier in `events`).
   */
  async routeAll(events: readonly AcceptedEvent[], requester: VerifiedRequester): Promise<EventAccepted[]> {
    if (!this.catalog.known) await this.runs.catalogKnown();
    // Each span builds its event's routing; the last one built submits them all, and every span waits on that commit.
    const routings: Routing[] = [];
    let waiting = events.length;
    let settle!: { resolve: (routed: Promise<Routed[]>) => void; reject: (error: unknown) => void };
    const committed = new Promise<Routed[]>((resolve, reject) => (settle = { resolve, reject }));
    // Its spans rethrow a refusal; this only keeps a lone event's from being an unhandled rejection.
    committed.catch(() => undefined);
    return Promise.all(
      events.map((event, i) => {
        const carrier = { traceparent: event.traceparent ?? currentTraceparent() ?? '' };
        const attributes = { 'pancha.event.id': event.id, 'pancha.event.type': event.type };
        return runInTraceContext(carrier, `event.route ${event.type}`, SpanKind.INTERNAL, async () => {
          try {
            routings[i] = this.routing(event, requester);
          } catch (error) {
            settle.reject(error);
            throw error;
          }
          if (--waiting === 0) settle.resolve(this.group.submit(routings));
          const routed = (await committed)[i];
          return routed === ALREADY_RECEIVED ? { ...(await this.answerOf(event.id)), replayed: true } : routed;
        }, attributes);
      }),
    );
  }

  /** An event's way through its triggers before the transaction, in the active (its own) span. */
  private routing(event: AcceptedEvent, requester: VerifiedRequester): Routing {
    const traceId = currentTraceId() ?? traceIdOf(event.traceparent) ?? randomUUID().replace(/-/g, '');
    const candidates = this.triggersFor(event.type).map((trigger) => this.candidate(trigger, event, requester, traceId));
    candidates.sort((a, b) => compare(a, b));
    return { event, requester, traceId, candidates, headers: injectTraceHeaders() };
  }

  /**
   * Everything that needs no state: enabled, `if`, key, filter fields, inputs and the start's own checks. A key or
   * inputs the expressions rendered that PostgreSQL cannot store (a U+0000 made with CEL's `"\u0000"`), and a run
   * owner longer than a run holds, are this trigger's `invalid` skip: never the event's error (a 500), never cut.
   */
  private candidate(trigger: CompiledTrigger, event: AcceptedEvent, requester: VerifiedRequester, traceId: string): Candidate {
    const pre = prefilter(trigger, event);
    // The key is stored in the decision (and the state row) whatever the outcome; the event's own data was checked.
    const badKey = pre.key === null ? undefined : unstorable(pre.key, 'key');
    if (badKey) return { trigger, key: null, skip: { reason: EventSkipReason.Invalid, detail: badKey } };
    // A CEL error's message may quote a value the expression made (a U+0000 too).
    if (!pre.ok) return { trigger, key: pre.key, skip: { reason: pre.reason, detail: toStorableJson(pre.detail) } };
    if (isRunEnd(event.type) && isRecord(event.data) && event.data.workflow === trigger.workflow) {
      // A run whose end starts its own workflow again would never stop (each run's end is a new event).
      return { trigger, key: pre.key, skip: { reason: EventSkipReason.SelfTriggered, detail: `${event.type} of ${trigger.workflow} itself: a workflow does not trigger on its own runs' ends` } };
    }
    const inputs = isRecord(pre.inputs) ? pre.inputs : { value: pre.inputs };
    const badInputs = unstorable(inputs, 'inputs');
    if (badInputs) return { trigger, key: pre.key, skip: { reason: EventSkipReason.Invalid, detail: badInputs } };
    const owner = runOwner(event);
    if ('invalid' in owner) return { trigger, key: pre.key, skip: { reason: EventSkipReason.Invalid, detail: owner.invalid } };
    const candidate: Candidate = { trigger, key: pre.key, product: owner.product ?? '', values: pre.values, inputs };
    try {
      candidate.prepared = this.runs.prepare(
        {
          workflow: trigger.workflow,
          version: trigger.version,
          inputs,
          ...owner,
          actor: requester.id,
          source: `event:${event.id}`,
          trace_id: traceId,
          // The run acts on the event's product, which EventPublishService held to the publisher's products already;
          // a start's own check would also imply a product for an event without one (or refuse it, 422, for a
          // credential of several products): such an event's runs stay product-less, as they always were.
          checkProduct: false,
        },
        requester,
      );
    } catch (error) {
      candidate.skip = startRefusal(error);
    }
    return candidate;
  }

  /** One group's transaction: see the class comment. Answers one outcome per request, in order. */
  private async decide(manager: EntityManager, requests: readonly (readonly Routing[])[]): Promise<GroupItemOutcome<Routed[]>[]> {
    const items = requests.flat();
    const depths = await this.chainDepths(manager, items);
    // 1. Claim the ids (in one order; the placeholder decisions are replaced in step 5). An id another transaction
    //    is inserting waits for it; one already stored, or earlier in this group, is a replay.
    const firstOf = new Map<string, number>();
    items.forEach((item, i) => firstOf.has(item.event.id) || firstOf.set(item.event.id, i));
    const claimed = new Set(
      (
        (await manager.query(
          `INSERT INTO events (event_id, type, source, subject, time, trace_id, publisher, data, decisions, chain_depth)
           SELECT e.event_id, e.type, e.source, e.subject, e.time, e.trace_id, e.publisher, COALESCE(e.data, 'null'::jsonb), '[]'::jsonb, e.chain_depth
           FROM jsonb_to_recordset($1::jsonb) AS e(ord int, event_id text, type text, source text, subject text, time timestamptz, trace_id text, publisher text, data jsonb, chain_depth int)
           ORDER BY e.ord
           ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
          [
            JSON.stringify(
              [...firstOf.values()]
                .map((i) => items[i])
                .sort((a, b) => cmp(a.event.id, b.event.id))
                .map(({ event, traceId, requester }, ord) => ({
                  chain_depth: depths.get(event.id) ?? 0,
                  ord,
                  event_id: event.id,
                  type: event.type,
                  source: event.source ?? null,
                  subject: event.subject ?? null,
                  time: event.time,
                  trace_id: traceId,
                  publisher: requester.id,
                  data: event.data ?? null,
                })),
            ),
          ],
        )) as { event_id: string }[]
      ).map((row) => row.event_id),
    );
    const refused = await refuseRepeats(manager, requests, firstOf, claimed);
    const routing = items.filter((item, i) => firstOf.get(item.event.id) === i && claimed.has(item.event.id));

    // 2. Lock every key's state the group needs, in the global order, in one statement.
    const states = await this.lockStates(manager, routing.flatMap((item) => item.candidates.filter((c) => !c.skip && c.trigger.stateful)));

    // 3. The events one after another, as a sequential evaluation would take them.
    const decisionsOf = new Map<string, EventDecisionView[]>();
    const answers = new Map<string, EventAccepted>();
    const starts: { prepared: PreparedStart; headers: Record<string, string> }[] = [];
    for (const item of routing) {
      const decisions: EventDecisionView[] = [];
      decisionsOf.set(item.event.id, decisions);
      for (const c of item.candidates) {
        const base = { workflow: c.trigger.workflow, version: c.trigger.version, trigger: c.trigger.name, key: c.key };
        if (c.skip) {
          decisions.push({ ...base, outcome: 'skipped', reason: c.skip.reason, detail: c.skip.detail });
          continue;
        }
        let result: FilterResult = { outcome: 'run' };
        let seq: { seq: number } | Record<string, never> = {};
        if (c.trigger.stateful) {
          const slot = states.get(stateKey(c.trigger.workflow, c.trigger.name, c.product, c.key))!;
          const next = applyFilters(c.trigger.filters, c.values ?? {}, slot.state, Date.now());
          slot.state = next.state;
          result = next.result;
          seq = { seq: next.state.seq };
        }
        if (result.outcome === 'skipped') {
          decisions.push({ ...base, ...seq, outcome: 'skipped', reason: result.reason, detail: result.detail });
        } else if (result.outcome === 'deferred') {
          const dueAt = new Date(result.due_at).toISOString();
          for (const superseded of await this.deferStart(manager, item, c, result.reason, result.due_at)) {
            const patch = { outcome: 'skipped' as const, reason: EventSkipReason.Debounced, detail: `superseded by event ${item.event.id} before the key was quiet` };
            // An event of this group has its decisions here, not yet in its row.
            const inGroup = decisionsOf.get(superseded);
            if (inGroup) patchDeferred(inGroup, c.trigger.workflow, c.trigger.name, patch);
            else await setDecision(manager, superseded, c.trigger.workflow, c.trigger.name, patch);
          }
          decisions.push({ ...base, ...seq, outcome: 'deferred', reason: result.reason, due_at: dueAt });
        } else {
          const prepared = c.prepared!;
          starts.push({ prepared, headers: item.headers });
          decisions.push({ ...base, ...seq, outcome: 'run', run_id: prepared.start.run_id });
        }
      }
      // The event's answer and audit entry say what its evaluation decided; a later event of the group that
      // supersedes its debounced start rewrites only its stored trail (as it would a committed event's).
      answers.set(item.event.id, answerFromDecisions(item.event.id, item.traceId, decisions));
    }

    // 4. The new states, the run starts (with their messages) …
    const changed = [...states.values()];
    if (changed.length > 0) {
      await manager.query(
        `UPDATE event_filter_state s SET state = v.state, updated_at = now()
         FROM jsonb_to_recordset($1::jsonb) AS v(workflow text, "trigger" text, product text, key text, state jsonb)
         WHERE s.workflow = v.workflow AND s."trigger" = v."trigger" AND s.product = v.product AND s.key = v.key`,
        [JSON.stringify(changed)],
      );
    }
    await this.runs.commitAll(manager, starts);

    // 5. … each event's decisions, and its audit entry for Bucket.
    if (routing.length > 0) {
      await manager.query(
        `UPDATE events e SET decisions = v.decisions FROM jsonb_to_recordset($1::jsonb) AS v(event_id text, decisions jsonb) WHERE e.event_id = v.event_id`,
        [JSON.stringify(routing.map((item) => ({ event_id: item.event.id, decisions: decisionsOf.get(item.event.id) })))],
      );
    }
    const audits: EnqueueInput[] = [];
    for (const item of routing) {
      const { event, requester, traceId } = item;
      const answer = answers.get(event.id)!;
      const audit: EventRoutedAuditEvent = {
        event_id: randomUUID(),
        event_type: 'event_routed',
        trace_id: traceId,
        routed_event_id: event.id,
        type: event.type,
        source: event.source ?? null,
        subject: event.subject ?? null,
        publisher: requester.id,
        runs: answer.runs,
        skipped: answer.skipped,
        deferred: answer.deferred,
        timestamp: new Date().toISOString(),
        ...owner(event),
      };
      audits.push({ topic: EventTopic.BucketCoreEvent, messageKey: `event_routed:${audit.event_id}`, payload: { event_data: audit }, headers: item.headers });
    }
    await this.outbox.enqueueAll(manager, audits);
    const outcomes = items.map((item, i): Routed => (firstOf.get(item.event.id) === i ? answers.get(item.event.id) : undefined) ?? ALREADY_RECEIVED);
    return outcomesPerList(requests, outcomes).map((outcome, r) => (refused.has(r) ? { ok: false, error: refused.get(r) } : outcome));
  }

  /**
   * The keys' states, locked until the transaction ends. One statement, in the global order (workflow, trigger,
   * product, key): the upsert creates a row the first time and otherwise takes its row lock (a concurrent event of the
   * same key and product, on any replica, waits here) and returns the latest committed state. Each product has its
   * own state of a key (T9: one product's events use up nothing of another's, and a skip's detail tells nothing of
   * it); events without a product share the state of product ''.
   */
  private async lockStates(manager: EntityManager, candidates: readonly Candidate[]): Promise<Map<string, StateSlot>> {
    const slots = new Map<string, StateSlot>();
    for (const c of candidates) {
      const id = stateKey(c.trigger.workflow, c.trigger.name, c.product, c.key);
      if (!slots.has(id)) slots.set(id, { workflow: c.trigger.workflow, trigger: c.trigger.name, product: c.product ?? '', key: c.key ?? '', state: EMPTY_STATE });
    }
    if (slots.size === 0) return slots;
    const ordered = [...slots.values()].sort((a, b) => cmp(a.workflow, b.workflow) || cmp(a.trigger, b.trigger) || cmp(a.product, b.product) || cmp(a.key, b.key));
    const rows: { workflow: string; trigger: string; product: string; key: string; state: TriggerState }[] = await manager.query(
      `INSERT INTO event_filter_state (workflow, "trigger", product, key, state)
       SELECT k.workflow, k."trigger", k.product, k.key, $2::jsonb
       FROM jsonb_to_recordset($1::jsonb) AS k(ord int, workflow text, "trigger" text, product text, key text)
       ORDER BY k.ord
       ON CONFLICT (workflow, "trigger", product, key) DO UPDATE SET updated_at = now() RETURNING workflow, "trigger", product, key, state`,
      [JSON.stringify(ordered.map(({ workflow, trigger, product, key }, ord) => ({ ord, workflow, trigger, product, key }))), JSON.stringify(EMPTY_STATE)],
    );
    for (const row of rows) slots.get(stateKey(row.workflow, row.trigger, row.product, row.key))!.state = row.state;
    return slots;
  }

  /**
   * A start made later by the deferred-start poller. A debounced one replaces the pending start of its key and product
   * (serialised by the state row's lock: the slot names the same (workflow, trigger, key, product) as the state row,
   * built in SQL, as migration 1765850000000 renamed the rows waiting then); answers the events whose pending start it
   * replaced.
   */
  private async deferStart(
    manager: EntityManager,
    { event, requester, traceId }: Routing,
    c: Candidate,
    reason: EventSkipReason.RateLimited | EventSkipReason.Debounced,
    dueAt: number,
  ): Promise<string[]> {
    const debounced = reason === EventSkipReason.Debounced;
    let superseded: string[] = [];
    if (debounced) {
      // TypeORM answers a DELETE … RETURNING with [rows, count].
      const [rows]: [{ event_id: string }[], number] = await manager.query(
        `DELETE FROM event_deferred_starts WHERE debounce_slot = ${DEBOUNCE_SLOT} RETURNING event_id`,
        [c.trigger.workflow, c.trigger.name, c.key ?? '', c.product ?? ''],
      );
      superseded = rows.map((row) => row.event_id);
    }
    // Only a candidate whose owner fits gets here (candidate()).
    const { user_id, product } = runOwner(event) as RunOwner;
    // The start runs the version whose trigger matched (its decision names it), whatever the default is when it fires.
    // $1, $2, $3, $4 are the slot's parts (DEBOUNCE_SLOT): workflow, trigger, key, product ('' for none).
    await manager.query(
      `INSERT INTO event_deferred_starts (id, event_id, workflow, version, "trigger", key, reason, due_at, inputs, user_id, product, trace_id, publisher, debounce_slot)
       VALUES ($5, $6, $1::text, $7, $2::text, $3::text, $8, $9, $10::jsonb, $11, $12, $13, $14, CASE WHEN $15::boolean THEN ${DEBOUNCE_SLOT} END)`,
      [
        c.trigger.workflow,
        c.trigger.name,
        c.key ?? '',
        c.product ?? '',
        randomUUID(),
        event.id,
        c.trigger.version,
        reason,
        new Date(dueAt),
        JSON.stringify(c.inputs ?? {}),
        user_id,
        product ?? null,
        traceId,
        requester.id,
        debounced,
      ],
    );
    return superseded;
  }

  /** The stored answer for an event id (a replay, or GET). */
  /**
   * Each run-end event's place in a chain of event-started runs (docs/events.md, "Chains"): its run's (the root run's,
   * for a sub-workflow) starting event's depth + 1, or 0 when no event started that run. An event at
   * EVENTS_MAX_CHAIN_DEPTH or deeper starts nothing: its triggers are skipped as `chain_too_deep`. One query, and only
   * for a group that holds run ends some trigger would start a run from (others keep depth 0, never read).
   */
  private async chainDepths(manager: EntityManager, items: readonly Routing[]): Promise<Map<string, number>> {
    const runOf = new Map<string, string>();
    for (const { event, candidates } of items) {
      // An event that starts nothing needs no depth: only a started run's starting event's is ever read.
      if (!isRunEnd(event.type) || !isRecord(event.data) || candidates.every((c) => c.skip)) continue;
      const run = event.data.root_run_id ?? event.data.run_id;
      if (typeof run === 'string' && UUID.test(run)) runOf.set(event.id, run.toLowerCase());
    }
    const depths = new Map<string, number>();
    if (runOf.size === 0) return depths;
    const rows: { run_id: string; chain_depth: number; event_id: string }[] = await manager.query(
      `SELECT r.run_id::text AS run_id, e.chain_depth, e.event_id FROM workflow_run_requests r JOIN events e ON e.event_id = substring(r.source FROM 7)
       WHERE r.run_id = ANY($1::uuid[]) AND r.source LIKE 'event:%'`,
      [[...new Set(runOf.values())]],
    );
    const startedBy = new Map(rows.map((row) => [row.run_id, row]));
    const max = this.config.EVENTS_MAX_CHAIN_DEPTH;
    for (const item of items) {
      const from = startedBy.get(runOf.get(item.event.id) ?? '');
      if (!from) continue;
      const depth = from.chain_depth + 1;
      depths.set(item.event.id, depth);
      if (depth < max) continue;
      const detail = `run ${runOf.get(item.event.id)} was started by event ${from.event_id.slice(0, 128)}: this is run end ${depth} of a chain of runs started by one another's events (EVENTS_MAX_CHAIN_DEPTH ${max})`;
      for (const c of item.candidates) c.skip ??= { reason: EventSkipReason.ChainTooDeep, detail };
    }
    return depths;
  }

  async answerOf(eventId: string): Promise<EventAccepted> {
    const [row]: { trace_id: string; decisions: EventDecisionView[] }[] = await this.dataSource.query(
      `SELECT trace_id, decisions FROM events WHERE event_id = $1`,
      [eventId],
    );
    if (!row) throw new DomainException(HttpStatus.NOT_FOUND, EventErrorCode.EventNotFound, `no event ${eventId.slice(0, 128)}`);
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

/** The deferred decision of one trigger in a trail, rewritten in memory (what setDecision does to a stored row). */
function patchDeferred(decisions: EventDecisionView[], workflow: string, trigger: string, patch: Partial<EventDecisionView>): void {
  decisions.forEach((d, i) => {
    if (d.workflow !== workflow || d.trigger !== trigger || d.outcome !== 'deferred') return;
    // What it was deferred for (due_at, reason) is replaced by what became of it.
    const { due_at: _dueAt, reason: _reason, detail: _detail, ...rest } = d;
    decisions[i] = { ...rest, ...patch };
  });
}

/** Rewrites one trigger's decision in an event's trail (a deferred start made, or superseded): why it waited goes. */
export async function setDecision(manager: EntityManager, eventId: string, workflow: string, trigger: string, patch: Partial<EventDecisionView>): Promise<void> {
  await manager.query(
    `UPDATE events SET decisions = (
       SELECT jsonb_agg(CASE WHEN d->>'workflow' = $2 AND d->>'trigger' = $3 AND d->>'outcome' = 'deferred' THEN (d - 'due_at' - 'reason' - 'detail') || $4::jsonb ELSE d END ORDER BY n)
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

export interface RunOwner {
  user_id: string;
  product?: string;
}

/**
 * Who a run started by an event is for: `data.user_id` (not only whitespace: Karma scores the run's end for that user
 * and refuses a blank one), else the event's subject, else the event type; and the product, `data.product`. A value
 * longer than a run holds (what POST /workflows/:name/runs refuses with a 422) is never cut (two users sharing a
 * prefix would become one): `invalid` names the field and the limit.
 */
export function runOwner(event: RoutedEvent): RunOwner | { invalid: string } {
  const data = isRecord(event.data) ? event.data : {};
  const [field, user] = isNotBlank(data.user_id) ? ['data.user_id', data.user_id] : event.subject !== undefined ? ['subject', event.subject] : ['type', typeOwner(event.type)];
  if (user.length > ID_LIMITS.userId) {
    return { invalid: `${field} is ${user.length} characters long; a run's user_id holds at most ${ID_LIMITS.userId} (it is not cut)` };
  }
  const product = productOf(event.data);
  if (product !== undefined && product.length > ID_LIMITS.product) {
    return { invalid: `data.product is ${product.length} characters long; a run's product holds at most ${ID_LIMITS.product} (it is not cut)` };
  }
  return { user_id: user, ...(product !== undefined ? { product } : {}) };
}

/**
 * The owner of a run an event with neither `data.user_id` nor `subject` starts: `event:<type>`, or, for a type too long
 * for a run's user_id, `event:sha256:<hex of the type>` (a name for the type, not a person: nothing merges).
 */
function typeOwner(type: string): string {
  const owner = `event:${type}`;
  return owner.length <= ID_LIMITS.userId ? owner : `event:sha256:${createHash('sha256').update(type).digest('hex')}`;
}

/**
 * An event's product: its `data.product` when that is a non-empty string (the product its runs act on, whose filter
 * state its triggers use; what GET /events/:id scopes by, event-queries.service.ts inScope). readEvent refuses an
 * event whose `data.product` is present (not null) and anything else (422), so for an event accepted now undefined
 * means none; an event stored before that rule with `product: 5` or `""` reads as one without a product everywhere.
 */
export function productOf(data: unknown): string | undefined {
  return isRecord(data) && typeof data.product === 'string' && data.product !== '' ? data.product : undefined;
}

/** Whether `requester` may see an event of `data` (GET /events/:id's scope): one without a product is everyone's. */
export function eventInScope(requester: VerifiedRequester, data: unknown): boolean {
  const products = productFilter(requester);
  const product = productOf(data);
  return products === undefined || product === undefined || products.includes(product);
}

/** Why `value`, rendered for `field`, cannot be stored (PostgreSQL text and jsonb), naming the path; else undefined. */
function unstorable(value: unknown, field: string): string | undefined {
  const [problem] = findUnstorableJson(value, MAX_JSON_DEPTH);
  if (!problem) return undefined;
  const at = problem.field === '(body)' ? field : `${field}.${problem.field}`;
  // The path may hold the very character refused (an object key): it goes in the detail made storable (U+FFFD).
  return `${toStorableJson(at)} ${problem.messages.join(', ')}`;
}

function owner(event: RoutedEvent): { user_id?: string; product?: string } {
  const data = isRecord(event.data) ? event.data : {};
  return {
    ...(isNotBlank(data.user_id) ? { user_id: data.user_id.slice(0, 255) } : {}),
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

/** One key's filter state (of one product, '' for none) in a group: the locked row's, then each event's result in turn. */
interface StateSlot {
  workflow: string;
  trigger: string;
  product: string;
  key: string;
  state: TriggerState;
}

function stateKey(workflow: string, trigger: string, product: string | undefined, key: string | null): string {
  return JSON.stringify([workflow, trigger, product ?? '', key ?? '']);
}

/**
 * The name of a key's pending debounced start (`event_deferred_starts.debounce_slot`, unique), from the parameters
 * $1 workflow, $2 trigger, $3 key, $4 product ('' for none): one pending start per state row. Built in SQL so that
 * migration 1765850000000 could name the rows already waiting the same way.
 */
const DEBOUNCE_SLOT = `jsonb_build_array($1::text, $2::text, $3::text, $4::text)::text`;

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

/**
 * A repeated id (received before, or earlier in this group) is a replay only when it is the same event, of the same
 * publisher, that the caller may see; else the whole request that carries it is refused (an array is one transaction):
 * - another publisher sent it first: ids are their publishers' own (CloudEvents: unique per source), so this is not a
 *   retry. Answering it as a replay would hand this publisher the other's runs and trace and drop its event silently;
 *   it is a 409 `event_id_conflict` that tells nothing of the other event;
 * - the event's product is outside the caller's products (GET /events/:id answers 404 to it): the same 409, telling
 *   nothing (a replay would hand it that product's runs and trace), and not claiming another publisher when the
 *   caller is the publisher: its event was stored under a credential of other products (an event outside the
 *   caller's own products never gets here: EventPublishService refuses it, 403). A repeat inside the same request is
 *   exempt;
 * - the publisher sent the id before with other content (type, source, subject or data, compared as stored: jsonb
 *   equality, so key order and number spelling do not count; `time` does not count, as Core fills in an absent one
 *   at receipt and a retry resends the same event): a 409 `event_id_reused` naming what differs.
 * Found after the group's ids are claimed, against the stored rows (an id claimed earlier in this group is in its
 * row already): the refused requests' rows are taken back in the same transaction, and the rest of the group goes on
 * in it (one publisher that keeps reusing ids costs its own requests, not everyone's group commit). Only when a
 * request that goes on shares an id with a refused one is the whole group retried request by request (GroupCommit).
 * Costs a query only when the group holds an id received before.
 */
async function refuseRepeats(
  manager: EntityManager,
  requests: readonly (readonly Routing[])[],
  firstOf: ReadonlyMap<string, number>,
  claimed: Set<string>,
): Promise<Map<number, DomainException>> {
  const refused = new Map<number, DomainException>();
  const items = requests.flat();
  const requestOf = requests.flatMap((request, r) => request.map(() => r));
  const repeated = items.flatMap((item, i) => (firstOf.get(item.event.id) !== i || !claimed.has(item.event.id) ? [i] : []));
  if (repeated.length === 0) return refused;
  const rows = (await manager.query(
    `SELECT r.ord, e.publisher, e.data -> 'product' AS product,
            e.type IS DISTINCT FROM r.type AS type, e.source IS DISTINCT FROM r.source AS source,
            e.subject IS DISTINCT FROM r.subject AS subject, e.data IS DISTINCT FROM COALESCE(r.data, 'null'::jsonb) AS data
     FROM jsonb_to_recordset($1::jsonb) AS r(ord int, event_id text, type text, source text, subject text, data jsonb)
     JOIN events e ON e.event_id = r.event_id`,
    [
      JSON.stringify(
        repeated.map((i) => {
          const { event } = items[i];
          return { ord: i, event_id: event.id, type: event.type, source: event.source ?? null, subject: event.subject ?? null, data: event.data ?? null };
        }),
      ),
    ],
  )) as ({ ord: number; publisher: string; product: unknown } & Record<'type' | 'source' | 'subject' | 'data', boolean>)[];
  const storedOf = new Map(rows.map((row) => [row.ord, row]));
  for (const i of repeated) {
    const { event, requester } = items[i];
    const row = storedOf.get(i);
    if (row === undefined || refused.has(requestOf[i])) continue;
    const first = firstOf.get(event.id)!;
    const sameRequest = claimed.has(event.id) && requestOf[first] === requestOf[i];
    const id = event.id.slice(0, 128);
    if (row.publisher !== requester.id) {
      refused.set(requestOf[i], new DomainException(HttpStatus.CONFLICT, EventErrorCode.EventIdConflict, `event id ${id} was already received from another publisher; use an id of your own`));
      continue;
    }
    if (!sameRequest && !eventInScope(requester, { product: row.product })) {
      // Its own publisher, under a credential of other products (this request's own events are within its products).
      refused.set(requestOf[i], new DomainException(HttpStatus.CONFLICT, EventErrorCode.EventIdConflict, `event id ${id} is already taken; use another id`));
      continue;
    }
    const differs = (['type', 'source', 'subject', 'data'] as const).filter((field) => row[field]);
    if (differs.length === 0) continue;
    refused.set(
      requestOf[i],
      new DomainException(
        HttpStatus.CONFLICT,
        EventErrorCode.EventIdReused,
        `event id ${id} was already received with another ${differs.join(', ')}: a retry resends the same event (time aside); a new event needs an id of its own`,
      ),
    );
  }
  if (refused.size === 0) return refused;
  const takenBack = new Set(items.flatMap((item, i) => (refused.has(requestOf[i]) && firstOf.get(item.event.id) === i && claimed.has(item.event.id) ? [item.event.id] : [])));
  if (items.some((item, i) => !refused.has(requestOf[i]) && takenBack.has(item.event.id))) throw refused.values().next().value;
  if (takenBack.size > 0) {
    await manager.query(`DELETE FROM events WHERE event_id = ANY($1::text[])`, [[...takenBack]]);
    for (const id of takenBack) claimed.delete(id);
  }
  return refused;
}

/** The executor's events for a run's end (apps/workflow-executor/src/events/router-events.ts). */
function isRunEnd(type: string): boolean {
  return type === 'workflow.completed' || type === 'workflow.failed';
}
