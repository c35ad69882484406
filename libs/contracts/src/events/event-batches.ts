import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsDefined, IsOptional, IsString, MaxLength, ValidateNested } from 'class-validator';
import type { ApiErrorBody } from '../common/api-error';
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

/** The envelope only: each `body` is validated on its own by the receiver, so a bad one fails alone. */
export class EventBatchItemDto implements EventBatchItem<unknown> {
  @IsDefined()
  body: unknown;

  @IsOptional() @IsString() @MaxLength(MAX_TRACE_HEADER)
  traceparent?: string;

  @IsOptional() @IsString() @MaxLength(MAX_TRACE_HEADER)
  tracestate?: string;
}

export class EventBatchRequestDto implements EventBatchRequest<unknown> {
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(MAX_EVENT_BATCH) @ValidateNested({ each: true }) @Type(() => EventBatchItemDto)
  events: EventBatchItemDto[];
}
