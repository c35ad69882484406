/**
 * The event router on Core (SPEC §5, WORKFLOWS.md "Events and triggers"): what a publisher sends to
 * `POST /events`, what Core answers, and what `GET /events…` show. CloudEvents attribute names.
 */

/** Why an event routed to a workflow's trigger did not start it (recorded for every non-run). */
export enum EventSkipReason {
  ConditionFalse = 'condition_false',
  BelowThreshold = 'below_threshold',
  DeltaTooSmall = 'delta_too_small',
  Duplicate = 'duplicate',
  RateLimited = 'rate_limited',
  Debounced = 'debounced',
  WorkflowDisabled = 'workflow_disabled',
  Invalid = 'invalid',
  /** A workflow.completed / workflow.failed of the trigger's own workflow: a run would start itself again without end. */
  SelfTriggered = 'self_triggered',
  /** The event ends a chain of runs started by one another's workflow events longer than EVENTS_MAX_CHAIN_DEPTH. */
  ChainTooDeep = 'chain_too_deep',
}

export const EVENT_SKIP_REASONS: readonly EventSkipReason[] = Object.values(EventSkipReason);

/** Field limits of an event (characters); longer values are a 422. */
export const EVENT_LIMITS = {
  id: 128,
  type: 128,
  source: 512,
  subject: 255,
  /** The most events one batch may carry. */
  batch: 500,
} as const;

/** `POST /events` body (or an array of them). */
export interface PublishEventRequest {
  /** The publisher's id for the event: the same id twice starts nothing the second time. Default: a new uuid. */
  id?: string;
  type: string;
  source?: string;
  subject?: string;
  /** ISO 8601; default: when Core received it. */
  time?: string;
  data: unknown;
  /** W3C traceparent: the runs the event starts join that trace. */
  traceparent?: string;
}

export interface EventRunStarted {
  workflow: string;
  version: string;
  run_id: string;
  trigger: string;
}

export interface EventSkip {
  workflow: string;
  trigger: string;
  reason: EventSkipReason;
  /** What exactly (the failed check, the run that made it a duplicate, …). */
  detail?: string;
}

/** A start the router will make later (rate_limit with mode delay, debounce): when it is due. */
export interface EventDeferred {
  workflow: string;
  trigger: string;
  reason: EventSkipReason.RateLimited | EventSkipReason.Debounced;
  due_at: string;
}

/** 202 answer of `POST /events` (one per event; a batch answers `{ events: [...] }`). */
export interface EventAccepted {
  event_id: string;
  trace_id: string;
  runs: EventRunStarted[];
  skipped: EventSkip[];
  deferred: EventDeferred[];
  /** True when this id was already received: nothing was started this time; the first answer is returned. */
  replayed?: boolean;
}

export interface EventBatchAccepted {
  events: EventAccepted[];
}

/** One trigger's decision on an event, as recorded. `outcome: deferred` becomes `run` when the start is made. */
export interface EventDecisionView {
  workflow: string;
  version: string | null;
  trigger: string;
  key: string | null;
  /** For a trigger with stateful filters: this event's place among the key's events (the order they were serialised in). */
  seq?: number;
  outcome: 'run' | 'skipped' | 'deferred';
  reason?: EventSkipReason;
  detail?: string;
  run_id?: string;
  due_at?: string;
}

/** `GET /events/:event_id`: the event and its decision trail. */
export interface EventView {
  event_id: string;
  type: string;
  source: string | null;
  subject: string | null;
  time: string;
  received_at: string;
  trace_id: string;
  publisher: string;
  data: unknown;
  decisions: EventDecisionView[];
}

export interface EventListResponse {
  events: Omit<EventView, 'data'>[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  next_cursor?: string;
}

export interface EventStatsCounts {
  received: number;
  matched: number;
  runs_started: number;
  skipped: Partial<Record<EventSkipReason, number>>;
  deferred: number;
}

/** `GET /events/stats?since=`. */
export interface EventStats extends EventStatsCounts {
  since: string;
  by_type: Record<string, EventStatsCounts>;
  /** By `<workflow>/<trigger>`. */
  by_trigger: Record<string, Omit<EventStatsCounts, 'received'>>;
  /** The ten keys with the most events routed to a trigger. */
  noisiest_keys: { workflow: string; trigger: string; key: string; events: number }[];
}

/** Bucket `core` channel entry for every routed event: what it started and why it did not start the rest. */
export interface EventRoutedAuditEvent {
  /** uuid v4: Bucket's idempotency key. */
  event_id: string;
  event_type: 'event_routed';
  trace_id: string;
  routed_event_id: string;
  type: string;
  source: string | null;
  subject: string | null;
  publisher: string;
  runs: EventRunStarted[];
  skipped: EventSkip[];
  deferred: EventDeferred[];
  timestamp: string;
  product?: string;
  user_id?: string;
  [field: string]: unknown;
}
