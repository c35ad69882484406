import { Body, HttpStatus, type PipeTransform } from '@nestjs/common';
import { context } from '@opentelemetry/api';
import { type EventBatchItem, type EventBatchOutcome, type EventBatchRequest, eventBatchErrors, MAX_JSON_DEPTH } from '@pancha/contracts';
import { extractTraceContext, getTracer, SpanKind, SpanStatusCode } from '@pancha/trace-context';
import { type ClassConstructor, plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { ApiExceptionFilter } from '../errors/api-exception.filter';
import { asSentPathsOf, holdsStrippedMembers, restoreAsSent, withoutStrippedMembers } from './as-sent-json';
import { StorableItemsCheckedAlone } from './storable-json.guard';
import { findUnstorableJson } from './storable-json';
import { flattenValidationErrors, validationException } from './validation.pipe';

const filter = new ApiExceptionFilter();

/** Checks a batch request's envelope (422 naming every bad field) and answers its items exactly as sent. */
class EventBatchPipe implements PipeTransform<unknown, EventBatchItem[]> {
  transform(envelope: unknown): EventBatchItem[] {
    const errors = eventBatchErrors(envelope);
    if (errors.length) throw validationException(errors);
    return (envelope as EventBatchRequest).events;
  }
}

/**
 * The items of a batch route's body (`{ events: [...] }`), its envelope checked; each item's body is left as sent
 * for the route to validate on its own, so a bad one fails alone. Declare the parameter as `EventBatchItem[]` (an
 * array type, which the global validation pipe leaves alone).
 *
 *
 * An item's body holding what PostgreSQL cannot store (U+0000, an unpaired surrogate) or nested too deep is that
 * item's 422, not the whole request's: StorableJsonGuard checks only the envelope of these routes, and every item is
 * read through validateBatchItem, answerEachItem or answerEachItemWith, which check its body.
 */
export const BatchEvents = (): ParameterDecorator => (target, key, index) => {
  Body(new EventBatchPipe())(target, key, index);
  if (key !== undefined) StorableItemsCheckedAlone()(target, key, Object.getOwnPropertyDescriptor(target, key) as PropertyDescriptor);
};

/** The 422 naming every member of `plain` PostgreSQL cannot store, or nested deeper than MAX_JSON_DEPTH (a batch item's body). */
export function assertStorableJson(plain: unknown): void {
  const unstorable = findUnstorableJson(plain, MAX_JSON_DEPTH);
  if (unstorable.length) throw validationException(unstorable);
}

/**
 * One body of a batch request validated as the global validation pipe validates a single request's body
 * (unknown members dropped, declared conversions applied, members declared free-form kept as sent: keepAsSent);
 * throws the same 422 naming every bad field.
 */
export function validateBatchItem<T extends object>(cls: ClassConstructor<T>, plain: unknown): Promise<T> {
  // The guard checked only the envelope (BatchEvents); before class-transformer walks (and recurses) the body.
  assertStorableJson(plain);
  return validateStorableItem(cls, plain);
}

/** validateBatchItem of a body already found storable (answerEachItemWith checks every item's). */
async function validateStorableItem<T extends object>(cls: ClassConstructor<T>, plain: unknown): Promise<T> {
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) {
    throw validationException([{ field: '(body)', messages: ['must be a JSON object'] }]);
  }
  // As the global pipe (AsSentValidationPipe): class-transformer walks a copy without members named __proto__,
  // constructor or prototype (it cannot copy them: a 500, or a changed prototype), and the members `cls` declares
  // free-form get their values as sent. The item's body itself is never changed.
  const held = holdsStrippedMembers(plain);
  const instance = plainToInstance(cls, held ? withoutStrippedMembers(plain) : plain);
  const errors = await validate(instance, { whitelist: true, stopAtFirstError: false, validationError: { target: false, value: false } });
  if (errors.length) throw validationException(flattenValidationErrors(errors));
  if (held) restoreAsSent(instance, plain, asSentPathsOf(cls));
  return instance;
}

/** The status and error body the single route would have answered for `error` (the exception filter's rendering). */
export function batchErrorOutcome(error: unknown): EventBatchOutcome<never> {
  const { status, body } = filter.toBody(error);
  return { status: status || HttpStatus.INTERNAL_SERVER_ERROR, body };
}

/** What one item of a batch answered: the single route's status and body. */
export interface BatchItemAnswer<R> {
  status: number;
  body: R;
  replayed?: boolean;
}

/**
 * Answers every item of a batch request the way its single route would, each on its own and concurrently: the
 * body validated as `cls`, then `handle` run inside a span of its own (`spanName`) that continues the trace the
 * item carries, so what the item causes (its outbox messages, its calls) stays in the producer's trace. A refusal
 * or failure of one item (thrown) becomes that item's error outcome and never fails its neighbours.
 */
export function answerEachItem<T extends object, R>(
  items: readonly EventBatchItem[],
  cls: ClassConstructor<T>,
  spanName: string,
  handle: (body: T) => Promise<BatchItemAnswer<R>>,
): Promise<EventBatchOutcome<R>[]> {
  return answerEachItemWith(items, (plain) => validateStorableItem(cls, plain), spanName, handle);
}

/** answerEachItem for a body read by the route's own reader (`read` throws the 4xx that names what is wrong). */
export function answerEachItemWith<T, R>(
  items: readonly EventBatchItem[],
  read: (plain: unknown) => T | Promise<T>,
  spanName: string,
  handle: (body: T) => Promise<BatchItemAnswer<R>>,
): Promise<EventBatchOutcome<R>[]> {
  return Promise.all(
    items.map((item, index) => {
      const parent = item.traceparent ? extractTraceContext({ traceparent: item.traceparent, tracestate: item.tracestate }) : context.active();
      return getTracer().startActiveSpan(spanName, { kind: SpanKind.SERVER, attributes: { 'pancha.batch.index': index } }, parent, async (span) => {
        let outcome: EventBatchOutcome<R>;
        try {
          assertStorableJson(item.body);
          outcome = await handle(await read(item.body));
        } catch (error) {
          outcome = batchErrorOutcome(error);
        }
        span.setAttribute('http.response.status_code', outcome.status);
        if (outcome.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
        return outcome;
      });
    }),
  );
}
