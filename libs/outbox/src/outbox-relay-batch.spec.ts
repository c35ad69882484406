import { Logger } from '@nestjs/common';
import { eventually } from '@pancha/testing';
import { getTracer, installInMemoryTracing } from '@pancha/trace-context';
import { SpanKind, trace } from '@opentelemetry/api';
import { OutboxDeliveryError } from './outbox-delivery.error';
import type { OutboxBatchResult, OutboxHandler, OutboxMessage } from './outbox-handler.interface';
import { OutboxRelay } from './outbox-relay.service';
import type { OutboxOptions } from './outbox.options';
import { InMemoryOutboxStore } from './testing/in-memory-outbox.store';

const tracing = installInMemoryTracing();
const fast: Partial<OutboxOptions> = { enabled: false, pollIntervalMs: 5, baseDelayMs: 0, maxDelayMs: 0, maxAttempts: 5 };

interface BatchingHandler extends OutboxHandler {
  batches: OutboxMessage[][];
  singles: OutboxMessage[];
}

/** A handler with deliverBatch; `answer` decides each message's result (default: delivered). */
function batchingHandler(
  topic: string,
  answer: (m: OutboxMessage) => OutboxBatchResult = () => ({ ok: true }),
  extra: Partial<OutboxHandler> = {},
): BatchingHandler {
  const handler: BatchingHandler = {
    topic,
    batches: [],
    singles: [],
    async deliver(message) {
      handler.singles.push(message);
      const result = answer(message);
      if (!result.ok) throw result.error;
    },
    async deliverBatch(messages) {
      handler.batches.push([...messages]);
      return messages.map(answer);
    },
    ...extra,
  };
  return handler;
}

const rowsByKey = (store: InMemoryOutboxStore) => new Map([...store.rows.values()].map((r) => [r.messageKey, r]));

describe('OutboxRelay batch delivery', () => {
  let relays: OutboxRelay[] = [];
  const make = (store: InMemoryOutboxStore, handlers: OutboxHandler[], options: Partial<OutboxOptions> = {}) => {
    const relay = new OutboxRelay(store, handlers, { ...fast, ...options });
    relays.push(relay);
    return relay;
  };

  beforeAll(() => Logger.overrideLogger(false));
  beforeEach(() => tracing.reset());
  afterEach(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    relays = [];
  });

  it('hands a topic\'s claimed rows to deliverBatch in one call, bounded by maxBatch, and records them all with one statement', async () => {
    const store = new InMemoryOutboxStore();
    const handler = batchingHandler('t');
    for (let i = 0; i < 12; i++) store.insert('t', `k${i}`, { n: i });
    await make(store, [handler], { batchSize: 50, maxBatch: 5, concurrency: 1 }).drainOnce();
    expect(handler.batches.map((b) => b.length)).toEqual([5, 5, 2]);
    expect(handler.batches.flat().map((m) => m.messageKey)).toEqual(Array.from({ length: 12 }, (_, i) => `k${i}`));
    expect(handler.singles).toHaveLength(0);
    expect([...store.rows.values()].every((r) => r.status === 'delivered' && r.attempts === 1)).toBe(true);
    // The first batch's outcomes are in flight while the others finish: a few settle statements, not twelve.
    expect(store.statements.settle).toBeLessThanOrEqual(3);
  });

  it('claims at most once per lingerMs while pokes keep coming, so the rows of commits close together leave in one claim and one batch', async () => {
    const store = new InMemoryOutboxStore();
    const handler = batchingHandler('t');
    // A long linger so the three pokes below fall inside it however busy the machine is; the poll never fires.
    const relay = make(store, [handler], { lingerMs: 2_000, pollIntervalMs: 600_000, concurrency: 4 });
    store.insert('t', 'first', {});
    relay.start();
    // The start's claim took a row: the pokes below come less than lingerMs after it.
    await eventually(() => expect(handler.singles.map((m) => m.messageKey)).toEqual(['first']));
    for (let i = 0; i < 3; i++) {
      store.insert('t', `k${i}`, { n: i });
      relay.poke();
      // A turn of the event loop between commits: without the linger the first poke's claim would run here.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await eventually(() => expect(handler.batches.flat().length).toBe(3));
    expect(handler.batches.map((b) => b.map((m) => m.messageKey))).toEqual([['k0', 'k1', 'k2']]);
    expect(store.statements.claim).toBe(2);
  }, 20_000);

  it('claims at once on the first poke after a claim that found nothing (a lone commit does not wait)', async () => {
    const store = new InMemoryOutboxStore();
    const handler = batchingHandler('t');
    const relay = make(store, [handler], { lingerMs: 600_000, pollIntervalMs: 600_000 });
    relay.start();
    await eventually(() => expect(store.statements.claim).toBe(1)); // found nothing
    store.insert('t', 'lone', {});
    relay.poke();
    await eventually(() => expect(handler.singles.map((m) => m.messageKey)).toEqual(['lone']));
  });

  it('does not linger for the next row of an ordering key: a chain of one key is delivered back to back', async () => {
    const store = new InMemoryOutboxStore();
    const handler = batchingHandler('t');
    // A linger and a poll far beyond the test's patience: only a claim right after each delivery finishes the chain.
    const relay = make(store, [handler], { lingerMs: 600_000, pollIntervalMs: 600_000 });
    for (let i = 0; i < 3; i++) store.insert('t', `k${i}`, { n: i }, {}, 'run-1');
    relay.start();
    await eventually(() => expect(handler.singles.map((m) => m.messageKey)).toEqual(['k0', 'k1', 'k2']));
  });

  it("lets a handler's own maxBatch win, and sends a lone row through deliver", async () => {
    const store = new InMemoryOutboxStore();
    const handler = batchingHandler('t', undefined, { maxBatch: 2 });
    for (let i = 0; i < 5; i++) store.insert('t', `k${i}`, {});
    await make(store, [handler], { maxBatch: 50, concurrency: 1 }).drainOnce();
    expect(handler.batches.map((b) => b.length)).toEqual([2, 2]);
    expect(handler.singles.map((m) => m.messageKey)).toEqual(['k4']);
  });

  it('batches only rows of one topic, and leaves handlers without deliverBatch to single deliveries', async () => {
    const store = new InMemoryOutboxStore();
    const a = batchingHandler('a');
    const singles: string[] = [];
    const b: OutboxHandler = { topic: 'b', deliver: async (m) => void singles.push(m.messageKey) };
    for (let i = 0; i < 4; i++) {
      store.insert('a', `a${i}`, {});
      store.insert('b', `b${i}`, {});
    }
    await make(store, [a, b], { concurrency: 2 }).drainOnce();
    expect(a.batches.map((batch) => batch.map((m) => m.topic))).toEqual([['a', 'a', 'a', 'a']]);
    expect(singles.sort()).toEqual(['b0', 'b1', 'b2', 'b3']);
  });

  it('records each message of a batch on its own: delivered, retried, dead-lettered', async () => {
    const store = new InMemoryOutboxStore();
    const handler = batchingHandler('t', (m) => {
      if (m.messageKey === 'poison') return { ok: false, error: new OutboxDeliveryError('422 validation_failed', { retryable: false }) };
      if (m.messageKey === 'busy') return { ok: false, error: new Error('503 database_unavailable') };
      return { ok: true };
    });
    for (const key of ['a', 'poison', 'b', 'busy', 'c']) store.insert('t', key, {});
    await make(store, [handler]).drainOnce();
    expect(handler.batches).toHaveLength(1);
    const rows = rowsByKey(store);
    expect(['a', 'b', 'c'].map((k) => rows.get(k)?.status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(rows.get('poison')).toMatchObject({ status: 'dead', attempts: 1 });
    expect(store.deadLetters.get(rows.get('poison')?.id as string)?.reason).toBe('non_retryable: 422 validation_failed');
    expect(rows.get('busy')).toMatchObject({ status: 'pending', attempts: 1, lastError: '503 database_unavailable' });
    expect(store.deadLetters.size).toBe(1);
  });

  it('fails every message of a batch, retryably, when deliverBatch throws, answers the wrong count or outlives the timeout', async () => {
    for (const behaviour of ['throws', 'short', 'hangs'] as const) {
      const store = new InMemoryOutboxStore();
      const handler = batchingHandler('t', undefined, {
        deliverBatch: async (messages) => {
          if (behaviour === 'throws') throw new Error('connection reset');
          if (behaviour === 'short') return messages.slice(1).map(() => ({ ok: true as const }));
          return new Promise<never>(() => undefined);
        },
      });
      for (let i = 0; i < 3; i++) store.insert('t', `k${i}`, {});
      await make(store, [handler], { deliveryTimeoutMs: 30 }).drainOnce();
      const rows = [...store.rows.values()];
      expect(rows.map((r) => [r.status, r.attempts])).toEqual([['pending', 1], ['pending', 1], ['pending', 1]]);
      expect(rows[0].lastError).toBe(
        { throws: 'connection reset', short: 'deliverBatch answered 2 results for 3 messages', hangs: 'delivery timed out after 30 ms' }[behaviour],
      );
    }
  });

  it('never puts two rows of one ordering key in a batch, and delivers each key in order', async () => {
    const store = new InMemoryOutboxStore();
    const seen: string[][] = [];
    const handler = batchingHandler('t');
    const original = handler.deliverBatch?.bind(handler) as NonNullable<OutboxHandler['deliverBatch']>;
    handler.deliverBatch = async (messages) => {
      seen.push(messages.map((m) => `${m.orderingKey}:${m.messageKey}`));
      return original(messages);
    };
    for (let i = 0; i < 3; i++) for (const key of ['x', 'y', 'z']) store.insert('t', `${key}${i}`, {}, {}, key);
    const relay = make(store, [handler]);
    while ((await relay.drainOnce()) > 0);
    for (const batch of seen) expect(new Set(batch.map((s) => s.split(':')[0])).size).toBe(batch.length);
    const order = (key: string) => [...seen.flat(), ...handler.singles.map((m) => `${m.orderingKey}:${m.messageKey}`)].filter((s) => s.startsWith(`${key}:`));
    for (const key of ['x', 'y', 'z']) expect(order(key)).toEqual([`${key}:${key}0`, `${key}:${key}1`, `${key}:${key}2`]);
    expect([...store.rows.values()].every((r) => r.status === 'delivered')).toBe(true);
  });

  it("hands an ordered handler each key's claimed run whole, in enqueue order, and keeps a run that does not fit for the next batch", async () => {
    const store = new InMemoryOutboxStore();
    const handler = batchingHandler('t', undefined, { ordersBatch: true });
    // Claim order: a0 a1 a2 (key a), b0 b1 b2 b3 (key b), then c0 and u (unkeyed), each key's rows enqueued together.
    for (const key of ['a0', 'a1', 'a2', 'b0', 'b1', 'b2', 'b3', 'c0']) store.insert('t', key, {}, {}, key[0]);
    store.insert('t', 'u', {});
    await make(store, [handler], { batchSize: 50, maxBatch: 5, concurrency: 1 }).drainOnce();
    const batches = handler.batches.map((b) => b.map((m) => m.messageKey));
    // Key b's run of four does not fit beside a's three: the rest of the first batch is c0 and u, and b goes next.
    expect(batches).toEqual([
      ['a0', 'a1', 'a2', 'c0', 'u'],
      ['b0', 'b1', 'b2', 'b3'],
    ]);
    expect([...store.rows.values()].every((r) => r.status === 'delivered')).toBe(true);
    // One claim took them all: the runs came with their heads.
    expect(store.statements.claim).toBe(1);
  });

  it('takes no key runs for a handler that does not order its batches', async () => {
    const store = new InMemoryOutboxStore();
    const ordered = batchingHandler('o', undefined, { ordersBatch: true });
    const plain = batchingHandler('p');
    for (const key of ['o0', 'o1', 'p0', 'p1']) store.insert(key[0], key, {}, {}, `key-${key[0]}`);
    const relay = make(store, [ordered, plain], { batchSize: 50, maxBatch: 5, concurrency: 2 });
    await relay.drainOnce();
    expect(ordered.batches.map((b) => b.map((m) => m.messageKey))).toEqual([['o0', 'o1']]);
    expect(plain.singles.map((m) => m.messageKey)).toEqual(['p0']);
    await relay.drainOnce();
    expect(plain.singles.map((m) => m.messageKey)).toEqual(['p0', 'p1']);
  });

  it("gives each message a delivery span in its own trace, hands that context to the handler, and links the batch's span to them", async () => {
    const store = new InMemoryOutboxStore();
    const handler = batchingHandler('t', (m) => (m.messageKey === 'bad' ? { ok: false, error: new Error('nope') } : { ok: true }));
    const producers = ['good', 'bad'].map((key) => {
      const span = getTracer().startSpan(`enqueue ${key}`, { kind: SpanKind.INTERNAL });
      span.end();
      const { traceId, spanId } = span.spanContext();
      store.insert('t', key, {}, { traceparent: `00-${traceId}-${spanId}-01` });
      return span.spanContext();
    });
    await make(store, [handler]).drainOnce();

    const spans = tracing.spans();
    const deliveries = spans.filter((s) => s.name === 'outbox deliver t');
    expect(deliveries).toHaveLength(2);
    const batch = spans.find((s) => s.name === 'outbox deliver batch t');
    expect(batch?.links.map((l) => l.context.spanId).sort()).toEqual(deliveries.map((d) => d.spanContext().spanId).sort());
    expect(batch?.parentSpanContext).toBeUndefined();
    handler.batches[0].forEach((message, i) => {
      const delivery = deliveries.find((d) => d.spanContext().traceId === producers[i].traceId);
      expect(delivery?.parentSpanContext?.spanId).toBe(producers[i].spanId);
      expect(delivery?.kind).toBe(SpanKind.PRODUCER);
      // What the receiver continues: this message's delivery span.
      expect(message.headers.traceparent).toBe(`00-${producers[i].traceId}-${delivery?.spanContext().spanId}-01`);
    });
    expect(deliveries.find((d) => d.spanContext().traceId === producers[1].traceId)?.status.message).toBe('nope');
    expect(trace.getActiveSpan()).toBeUndefined();
  });

  it('keeps renewing the leases of every row of a batch that takes longer than the lease', async () => {
    const store = new InMemoryOutboxStore();
    let release: () => void = () => undefined;
    const handler = batchingHandler('t', undefined, {
      deliverBatch: (messages) =>
        new Promise((resolve) => {
          release = () => resolve(messages.map(() => ({ ok: true as const })));
        }),
    });
    for (let i = 0; i < 3; i++) store.insert('t', `k${i}`, {});
    const renew = jest.spyOn(store, 'renew');
    const relay = make(store, [handler], { leaseMs: 300, deliveryTimeoutMs: 10_000 });
    const drained = relay.drainOnce();
    await new Promise((r) => setTimeout(r, 450));
    expect(renew.mock.calls.length).toBeGreaterThanOrEqual(2);
    expect(renew.mock.calls.at(-1)?.[0].map((e) => e.messageKey).sort()).toEqual(['k0', 'k1', 'k2']);
    release();
    await drained;
    expect([...store.rows.values()].every((r) => r.status === 'delivered')).toBe(true);
  });
});
