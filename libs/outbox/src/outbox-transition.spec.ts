import fc from 'fast-check';
import { OutboxDeliveryError, toDeliveryError } from './outbox-delivery.error';
import { type DeliveryOutcome, decideTransition, outcomeFromError } from './outbox-transition';

const policy = { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 };

describe('decideTransition', () => {
  it('marks a success delivered and counts the attempt', () => {
    expect(decideTransition(2, { kind: 'success' }, policy)).toEqual({ kind: 'delivered', attempts: 3 });
  });

  it('retries a retryable failure with a backoff delay while attempts remain', () => {
    expect(decideTransition(1, { kind: 'failure', retryable: true, reason: 'HTTP 503' }, policy, () => 0.5)).toEqual({
      kind: 'retry',
      attempts: 2,
      delayMs: 100,
      error: 'HTTP 503',
    });
  });

  it('dead-letters the failure that uses up the last attempt', () => {
    expect(decideTransition(2, { kind: 'failure', retryable: true, reason: 'HTTP 503' }, policy)).toEqual({
      kind: 'dead',
      attempts: 3,
      reason: 'max_attempts_exceeded: HTTP 503',
    });
  });

  it('dead-letters a non-retryable failure at once', () => {
    expect(decideTransition(0, { kind: 'failure', retryable: false, reason: 'HTTP 422' }, policy)).toEqual({
      kind: 'dead',
      attempts: 1,
      reason: 'non_retryable: HTTP 422',
    });
  });

  it('truncates huge reasons so one bad response cannot bloat the table', () => {
    const t = decideTransition(0, { kind: 'failure', retryable: false, reason: 'x'.repeat(10_000) }, policy);
    expect(t.kind === 'dead' && t.reason.length).toBeLessThan(2100);
  });

  it('never retries at or past maxAttempts and always counts a real attempt', () => {
    const outcome: fc.Arbitrary<DeliveryOutcome> = fc.oneof(
      fc.constant<DeliveryOutcome>({ kind: 'success' }),
      fc.record({ kind: fc.constant('failure' as const), retryable: fc.boolean(), reason: fc.string() }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.nat(25), outcome, (maxAttempts, before, o) => {
        const attemptsBefore = Math.min(before, maxAttempts - 1);
        const t = decideTransition(attemptsBefore, o, { ...policy, maxAttempts });
        expect(t.attempts).toBe(attemptsBefore + 1);
        if (t.kind === 'retry') {
          expect(t.attempts).toBeLessThan(maxAttempts);
          expect(t.delayMs).toBeLessThanOrEqual(policy.maxDelayMs);
        }
      }),
    );
  });
});

describe('outcomeFromError', () => {
  it('honours OutboxDeliveryError.retryable', () => {
    expect(outcomeFromError(new OutboxDeliveryError('bad request', { retryable: false }))).toEqual({
      kind: 'failure',
      retryable: false,
      reason: 'bad request',
    });
  });

  it('treats any other error, or a thrown non-error, as retryable', () => {
    expect(outcomeFromError(new Error('ECONNREFUSED'))).toEqual({ kind: 'failure', retryable: true, reason: 'ECONNREFUSED' });
    expect(outcomeFromError('boom')).toEqual({ kind: 'failure', retryable: true, reason: 'boom' });
  });
});

describe('toDeliveryError', () => {
  it("keeps the verdict of an error that carries one (a client's ServiceCallError, say)", () => {
    const clientError = Object.assign(new Error('bucket answered 409 event_id_conflict'), { retryable: false });
    expect(outcomeFromError(clientError)).toEqual({
      kind: 'failure',
      retryable: false,
      reason: 'bucket answered 409 event_id_conflict',
    });
    expect(toDeliveryError(Object.assign(new Error('503'), { retryable: true })).retryable).toBe(true);
  });

  it('does not trust a non-boolean retryable', () => {
    expect(toDeliveryError(Object.assign(new Error('x'), { retryable: 'no' })).retryable).toBe(true);
  });
});
