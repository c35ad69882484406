import { eventBatchErrors, MAX_EVENT_BATCH } from './event-batches';

const fields = (envelope: unknown) => eventBatchErrors(envelope).map((e) => e.field);

describe('eventBatchErrors (a batch request envelope)', () => {
  it('accepts items with any body and optional trace headers', () => {
    expect(eventBatchErrors({ events: [{ body: { a: [1, { b: 2 }] } }, { body: 'x', traceparent: '00-ab-cd-01', tracestate: 'k=v' }, { body: 0 }] })).toEqual([]);
    expect(eventBatchErrors({ events: Array.from({ length: MAX_EVENT_BATCH }, () => ({ body: {} })) })).toEqual([]);
  });

  it.each([
    [undefined, 'events must be an array'],
    [null, 'events must be an array'],
    [{}, 'events must be an array'],
    [{ events: 'x' }, 'events must be an array'],
    [{ events: [] }, 'events must contain at least 1 elements'],
    [{ events: Array.from({ length: MAX_EVENT_BATCH + 1 }, () => ({ body: {} })) }, `events must contain no more than ${MAX_EVENT_BATCH} elements`],
  ])('refuses the list itself: %j', (envelope, message) => {
    expect(eventBatchErrors(envelope)).toEqual([{ field: 'events', messages: [message] }]);
  });

  it('names every bad item field, and only those', () => {
    const errors = eventBatchErrors({
      events: [
        { body: {} },
        'x',
        [],
        null,
        { traceparent: 'y' },
        { body: null },
        { body: {}, traceparent: 7, tracestate: 'z'.repeat(513) },
        { body: {}, traceparent: null, tracestate: 'z'.repeat(512) },
      ],
    });
    expect(errors.map((e) => e.field)).toEqual(['events.1', 'events.2', 'events.3', 'events.4.body', 'events.5.body', 'events.6.traceparent', 'events.6.tracestate']);
    expect(errors[3].messages).toEqual(['events.4.body should not be null or undefined']);
    expect(errors[6].messages).toEqual(['events.6.tracestate must be shorter than or equal to 512 characters']);
  });

  it('looks at nothing but the envelope (a body is never walked)', () => {
    const body = {};
    Object.defineProperty(body, 'trap', { enumerable: true, get: () => { throw new Error('walked'); } });
    expect(fields({ events: [{ body }] })).toEqual([]);
  });
});
