import type { ApiErrorBody, FieldError } from '../common/api-error';
import type { BucketWriteChannel } from '../bucket/bucket-event';

/**
 * Batch receivers of the event hops: one request carries many events of one hop, each validated, governed and
 * deduplicated on its own exactly as the single route would, committed together, and answered one by one, so
 * one bad event never fails its neighbours. The single routes stay (original clients use them).
 */

/** Bucket's batch write route per channel (the batch twin of `POST /<channel>/write-event`). */
export const BUCKET_WRITE_EVENTS_ROUTES: Readonly<Record<BucketWriteChannel, string>> = {
  core: '/core/write-events',
  workflow: '/workflow/write-events',
};

/** Karma's batch route (the batch twin of `POST /v1/event/`). */
export const KARMA_EVENTS_ROUTE = '/v1/events';

/**
 * The executor's batch routes for Core's two commands (Core's outbox relay sends its claimed rows of a topic in one
 * request): the twins of `POST /api/workflow/execute` (items: ExecuteWorkflowRequest) and `POST /api/runs` (items:
 * ExecutorStartRunDto). Each item is answered with what its single request would have answered.
 */
export const EXECUTOR_EXECUTE_BATCH_ROUTE = '/api/workflow/execute-batch';
export const EXECUTOR_RUN_STARTS_ROUTE = '/api/runs/batch';

/**
 * Core's batch route for the pillars' events (the batch twin of `POST /events` with one event; items:
 * PublishEventRequest): each event is read, checked against its type's schema and the publisher's right to it, and
 * routed on its own, so one bad event fails alone (the public array form of `POST /events` refuses a batch whole).
 */
export const CORE_EVENTS_BATCH_ROUTE = '/events/batch';

/** Most events one batch request may carry; a longer list is refused whole (422). */
export const MAX_EVENT_BATCH = 100;

/** Longest accepted `traceparent` / `tracestate` of a batch item. */
const MAX_TRACE_HEADER = 512;

/** One event of a batch: the body exactly as the single route takes it, and the trace it continues. */
export interface EventBatchItem<B = unknown> {
  body: B;
  /** W3C trace context of the producer's delivery of this event: the receiver's span for it continues that trace. */
  traceparent?: string;
  tracestate?: string;
}

/** Body of a batch route. */
export interface EventBatchRequest<B = unknown> {
  events: EventBatchItem<B>[];
}

/** What the single route would have answered for this event alone: its status and body. */
export interface EventBatchOutcome<R = unknown> {
  status: number;
  body: R | ApiErrorBody;
  /** True when the event was already recorded and the first answer is returned (the single route's `idempotent-replay`). */
  replayed?: boolean;
}

/**
 * 200 with one outcome per event, in request order. A failure of the request itself (token, policy, a malformed
 * envelope, the database unavailable) is an ordinary error answer and concerns every event of it.
 */
export interface EventBatchReply<R = unknown> {
  results: EventBatchOutcome<R>[];
}

/**
 * What is wrong with a batch request's envelope (one entry per bad field, class-validator's wording), or nothing.
 * The envelope only: each `body` is validated on its own by the receiver, so a bad one fails alone. Checked by hand
 * rather than through a DTO because class-transformer deep-copies every member it is given, and the bodies, which
 * the receivers read from the raw items anyway, are most of a batch's bytes.
 */
export function eventBatchErrors(envelope: unknown): FieldError[] {
  const events = (envelope as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) return [{ field: 'events', messages: ['events must be an array'] }];
  if (events.length < 1) return [{ field: 'events', messages: ['events must contain at least 1 elements'] }];
  if (events.length > MAX_EVENT_BATCH) return [{ field: 'events', messages: [`events must contain no more than ${MAX_EVENT_BATCH} elements`] }];
  const errors: FieldError[] = [];
  events.forEach((item: unknown, index) => {
    const field = `events.${index}`;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      errors.push({ field, messages: [`${field} must be an object`] });
      return;
    }
    const { body, traceparent, tracestate } = item as Partial<EventBatchItem>;
    if (body === undefined || body === null) errors.push({ field: `${field}.body`, messages: [`${field}.body should not be null or undefined`] });
    for (const [name, value] of [['traceparent', traceparent], ['tracestate', tracestate]] as const) {
      if (value === undefined || value === null) continue;
      if (typeof value !== 'string') errors.push({ field: `${field}.${name}`, messages: [`${field}.${name} must be a string`] });
      else if (value.length > MAX_TRACE_HEADER) {
        errors.push({ field: `${field}.${name}`, messages: [`${field}.${name} must be shorter than or equal to ${MAX_TRACE_HEADER} characters`] });
      }
    }
  });
  return errors;
}
