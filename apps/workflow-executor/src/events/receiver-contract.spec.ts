// The executor must never emit an event its receiver will refuse: such an event is dead-lettered after the
// executor answered 200, i.e. lost. For any request the executor accepts and any result an adapter returns,
// the Bucket and Karma events it builds pass the receivers' own DTOs (from libs/contracts) and body limits.
import {
  EventTopic,
  ExecuteWorkflowRequestDto,
  ExecutorErrorCode,
  FIELD_LIMITS,
  KarmaEventRequestDto,
  LifeEventDataDto,
  MAX_BODY_BYTES,
  MAX_JSON_DEPTH,
  type ExecutionResult,
  WriteEventRequestDto,
} from '@pancha/contracts';
import { findUnstorableJson, toStorableJson } from '@pancha/service-kit';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import fc from 'fast-check';
import { scopeOf } from '../execution/execution.service';
import { boundedResult, workflowOutboxMessages } from './workflow-events';

const on = { WORKFLOW_EVENTS_ENABLED: true, WORKFLOW_BEHAVIORAL_TRACKING: true };

function errorsOf(dto: new () => object, body: unknown): string[] {
  const errors = validateSync(plainToInstance(dto, body), { whitelist: false });
  const paths = (list: typeof errors, parent = ''): string[] =>
    list.flatMap((e) => [...(e.constraints ? [`${parent}${e.property}`] : []), ...paths(e.children ?? [], `${parent}${e.property}.`)]);
  return paths(errors);
}

/** Everything a receiver checks before it stores a body: size, storable JSON, its DTOs. */
function refusals(topic: string, payload: unknown): string[] {
  const problems: string[] = [];
  if (Buffer.byteLength(JSON.stringify(payload)) > MAX_BODY_BYTES) problems.push('body over MAX_BODY_BYTES');
  problems.push(...findUnstorableJson(payload, MAX_JSON_DEPTH).map((e) => `${e.field}: ${e.messages.join()}`));
  if (topic === EventTopic.BucketWorkflowEvent) problems.push(...errorsOf(WriteEventRequestDto, payload));
  if (topic === EventTopic.KarmaLifeEvent) {
    const body = payload as { data: unknown };
    problems.push(...errorsOf(KarmaEventRequestDto, body), ...errorsOf(LifeEventDataDto, body.data).map((f) => `data.${f}`));
  }
  return problems;
}

/** Any string, including control characters, astral characters and lone surrogates. */
const anyText = (maxLength: number, minLength = 0) => fc.string({ unit: 'binary', minLength, maxLength, size: 'max' });
/** Mostly within the limit, sometimes beyond it (the executor must refuse those before executing anything). */
const limited = (limit: number) => fc.oneof({ arbitrary: anyText(limit), weight: 3 }, { arbitrary: anyText(5000, limit + 1), weight: 1 });
const id = (limit: number) => fc.option(limited(limit), { nil: undefined });

/** What an adapter (or a provider through it) can put in a result. */
const anyResult: fc.Arbitrary<ExecutionResult> = fc.oneof(
  fc.record({
    success: fc.constant(true as const),
    request_id: fc.option(anyText(200), { nil: null }),
    response: anyText(2000),
    model: anyText(300),
    message_id: anyText(300),
  }),
  fc.record({
    success: fc.constant(false as const),
    error_code: fc.constantFrom(...Object.values(ExecutorErrorCode)),
    message: anyText(2000),
  }),
);

describe('events against their receivers\' contracts', () => {
  it('for any accepted request and any adapter result, Bucket and Karma accept both events', () => {
    fc.assert(
      fc.property(
        fc.record({
          trace_id: limited(FIELD_LIMITS.traceId),
          action_type: id(FIELD_LIMITS.actionType),
          user_id: id(FIELD_LIMITS.userId),
          product: id(FIELD_LIMITS.product),
          payload_trace_id: id(FIELD_LIMITS.traceId),
        }),
        anyResult,
        fc.boolean(),
        (req, result, succeeded) => {
          const payload = { action_type: req.action_type, user_id: req.user_id, product: req.product, trace_id: req.payload_trace_id };
          const request = { trace_id: req.trace_id, decision: 'workflow', data: { workflow_type: 'workflow', payload } };
          // Only requests the executor accepts (its DTO and storable-JSON check) are executed at all.
          fc.pre(errorsOf(ExecuteWorkflowRequestDto, request).length === 0 && findUnstorableJson(request, MAX_JSON_DEPTH).length === 0);
          const scope = scopeOf(req.trace_id, payload);
          const messages = workflowOutboxMessages(
            {
              executionKey: scope.key,
              traceId: scope.traceId,
              actionType: scope.actionType,
              status: succeeded ? 'success' : 'failed',
              result: toStorableJson(result),
              userId: scope.userId,
              product: scope.product,
              completedAt: new Date(),
            },
            on,
          );
          for (const m of messages) expect(refusals(m.topic, m.payload)).toEqual([]);
        },
      ),
      // Huge provider texts have their own cases below; shrinking multi-kilobyte strings would take minutes.
      { numRuns: 120, endOnFailure: true },
    );
  });

  it('the executor refuses up front (422) the over-long action_type that used to be dead-lettered at Karma', () => {
    const request = { trace_id: 't', decision: 'workflow', data: { payload: { action_type: 'x'.repeat(5000), user_id: 'u' } } };
    expect(errorsOf(ExecuteWorkflowRequestDto, request)).toEqual(['data.payload']);
  });

  it('cuts a huge AI reply in the Bucket event, names the cut field, and leaves the rest alone', () => {
    const response = `${'a'.repeat(FIELD_LIMITS.resultText - 1)}😀${'b'.repeat(1_000_000)}`;
    const bounded = boundedResult({ success: true, request_id: 'r-1', response, model: 'm' });
    expect(bounded).toEqual({ success: true, request_id: 'r-1', response: 'a'.repeat(FIELD_LIMITS.resultText - 1), model: 'm', truncated_fields: ['response'] });
    expect(boundedResult({ success: true, task_id: 't' })).toEqual({ success: true, task_id: 't' });
  });

  it('fits the whole result into its byte budget even when every field is long and escapes to six bytes a character', () => {
    const control = '\u0001'.repeat(FIELD_LIMITS.resultText);
    const bounded = boundedResult({ success: true, a: control, b: control, c: control, d: control });
    expect(Buffer.byteLength(JSON.stringify(bounded))).toBeLessThanOrEqual(FIELD_LIMITS.resultBytes);
    expect(bounded.truncated_fields).toEqual(['a', 'b', 'c', 'd']);
  });
});
