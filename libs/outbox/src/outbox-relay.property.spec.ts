import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import { OutboxDeliveryError } from './outbox-delivery.error';
import type { OutboxHandler, OutboxMessage } from './outbox-handler.interface';
import { OutboxRelay } from './outbox-relay.service';
import { InMemoryOutboxStore } from './testing/in-memory-outbox.store';

type Step = 'success' | 'retryable' | 'plain_error' | 'fatal';

interface Scenario {
  maxAttempts: number;
  batchSize: number;
  concurrency: number;
  /** Topic 'a''s handler also implements deliverBatch (at most maxBatch messages per call). */
  batching: boolean;
  /**
   * With batching: topic 'a''s handler orders its batches (ordersBatch), as Bucket does: it applies a batch in order,
   * refuses a message only for itself for good, and a transient failure fails the whole batch (nothing applied).
   */
  ordered: boolean;
  maxBatch: number;
  /** (topic, key, ordering key); repeats exercise the dedup, topic 'orphan' has no handler in this process. */
  messages: { topic: 'a' | 'b' | 'orphan'; key: number; orderingKey: string | null }[];
  /** How many of the remaining messages to enqueue before each relay round. */
  arrivals: number[];
  /** Handler outcomes, consumed in call order; once exhausted every call succeeds. */
  steps: Step[];
}

const HANDLED = ['a', 'b'];

const scenario: fc.Arbitrary<Scenario> = fc.record({
  maxAttempts: fc.integer({ min: 1, max: 6 }),
  batchSize: fc.integer({ min: 1, max: 8 }),
  concurrency: fc.integer({ min: 1, max: 4 }),
  batching: fc.boolean(),
  ordered: fc.boolean(),
  maxBatch: fc.integer({ min: 1, max: 5 }),
  messages: fc.array(
    fc.record({
      topic: fc.constantFrom('a' as const, 'b' as const, 'orphan' as const),
      key: fc.integer({ min: 0, max: 25 }),
      orderingKey: fc.constantFrom(null, null, 'run-1', 'run-2'),
    }),
    { minLength: 1, maxLength: 40 },
  ),
  arrivals: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 30 }),
  steps: fc.array(fc.constantFrom<Step>('success', 'retryable', 'plain_error', 'fatal'), { maxLength: 200 }),
});

/** Runs the real OutboxRelay (and so the real decideTransition) over the in-memory store. */
async function runScenario(s: Scenario): Promise<void> {
  const store = new InMemoryOutboxStore();
  const successCalls = new Map<string, number>();
  const calls = new Map<string, number>();
  const lastStep = new Map<string, Step>();
  /** Per ordering key, the seqs in the order the handler saw them finish (delivered or given up). */
  const finishedInOrder = new Map<string, number[]>();
  let cursor = 0;

  const handler = (topic: string): OutboxHandler => {
    /** `sameBatch`: the messages handed over with it; an ordered batch may carry earlier rows of its key, before it. */
    const check = (message: OutboxMessage, sameBatch: readonly OutboxMessage[] = [message]) => {
      const row = store.rows.get(message.id);
      // The relay must only ever hand a handler a row that is still pending and claimed.
      expect(row?.status).toBe('pending');
      expect(message.attempts).toBe(row?.attempts);
      expect(message.orderingKey).toBe(row?.orderingKey);
      // Nothing earlier of its ordering key may still be pending, unless it comes before it in the same ordered batch.
      if (row?.orderingKey) {
        const before = new Set(sameBatch.slice(0, sameBatch.indexOf(message)).map((m) => m.id));
        for (const other of store.rows.values()) {
          if (other.orderingKey === row.orderingKey && other.seq < row.seq && other.status === 'pending') expect(before.has(other.id)).toBe(true);
        }
      }
      calls.set(message.id, (calls.get(message.id) ?? 0) + 1);
      const step = s.steps[cursor++] ?? 'success';
      lastStep.set(message.id, step);
      return row;
    };
    const succeed = (message: OutboxMessage): void => {
      const row = store.rows.get(message.id);
      successCalls.set(message.id, (successCalls.get(message.id) ?? 0) + 1);
      if (row?.orderingKey) finishedInOrder.set(row.orderingKey, [...(finishedInOrder.get(row.orderingKey) ?? []), row.seq]);
    };
    const one = async (message: OutboxMessage): Promise<void> => {
      check(message);
      const step = lastStep.get(message.id);
      if (step === 'retryable') throw new OutboxDeliveryError('HTTP 503', { retryable: true });
      if (step === 'plain_error') throw new Error('socket hang up');
      if (step === 'fatal') throw new OutboxDeliveryError('HTTP 422', { retryable: false });
      succeed(message);
    };
    if (!s.batching || topic !== 'a') return { topic, deliver: one };
    if (s.ordered) {
      return {
        topic,
        deliver: one,
        maxBatch: s.maxBatch,
        ordersBatch: true,
        async deliverBatch(messages) {
          expect(messages.length).toBeLessThanOrEqual(s.maxBatch);
          for (const m of messages) check(m, messages);
          const steps = messages.map((m) => lastStep.get(m.id));
          // A transient failure is the whole batch's (Bucket's transaction rolls back): nothing of it is applied.
          if (steps.some((step) => step === 'retryable' || step === 'plain_error')) {
            for (const m of messages) lastStep.set(m.id, 'retryable');
            throw new OutboxDeliveryError('HTTP 503', { retryable: true });
          }
          return messages.map((m, i) => {
            if (steps[i] === 'fatal') return { ok: false as const, error: new OutboxDeliveryError('HTTP 422', { retryable: false }) };
            succeed(m);
            return { ok: true as const };
          });
        },
      };
    }
    return {
      topic,
      deliver: one,
      maxBatch: s.maxBatch,
      async deliverBatch(messages) {
        expect(messages.length).toBeLessThanOrEqual(s.maxBatch);
        expect(new Set(messages.map((m) => m.topic))).toEqual(new Set([topic]));
        return Promise.all(messages.map((m) => one(m).then(() => ({ ok: true as const }), (error: unknown) => ({ ok: false as const, error }))));
      },
    };
  };

  const relay = new OutboxRelay(store, [handler('a'), handler('b')], {
    enabled: false,
    maxAttempts: s.maxAttempts,
    batchSize: s.batchSize,
    concurrency: s.concurrency,
    baseDelayMs: 10,
    maxDelayMs: 500,
    deliveryTimeoutMs: 1000,
    leaseMs: 60_000,
  });

  const emitted = new Set<string>();
  const remaining = [...s.messages];
  const enqueue = (n: number): void => {
    for (const m of remaining.splice(0, n)) {
      store.insert(m.topic, String(m.key), { key: m.key }, {}, m.orderingKey);
      emitted.add(`${m.topic}/${m.key}`);
    }
  };

  const checkInvariants = async (): Promise<void> => {
    const counts = await store.countByTopicAndStatus();
    const total = counts.reduce((n, c) => n + c.count, 0);
    const by = (status: string): number => counts.filter((c) => c.status === status).reduce((n, c) => n + c.count, 0);
    // Nothing disappears, nothing is duplicated, and the identity holds.
    expect(store.rows.size).toBe(emitted.size);
    expect(total).toBe(emitted.size);
    expect(by('delivered') + by('pending') + by('dead')).toBe(total);
    for (const row of store.rows.values()) {
      const successes = successCalls.get(row.id) ?? 0;
      expect(successes).toBeLessThanOrEqual(1);
      expect(row.status === 'delivered').toBe(successes === 1);
      expect(row.status === 'dead').toBe(store.deadLetters.has(row.id));
      expect(row.attempts).toBe(calls.get(row.id) ?? 0);
      expect(row.attempts).toBeLessThanOrEqual(s.maxAttempts);
      if (row.status === 'pending') expect(row.attempts).toBeLessThan(s.maxAttempts);
      // A topic nobody here handles is never touched: it waits for a process that has the handler.
      if (row.topic === 'orphan') expect(row).toMatchObject({ status: 'pending', attempts: 0 });
    }
  };

  let rounds = 0;
  const budget = 20 + (s.messages.length + s.arrivals.length) * (s.maxAttempts + 2) * 2;
  for (let i = 0; remaining.length > 0 || store.nextDueAt(HANDLED) !== undefined; i++) {
    expect(++rounds).toBeLessThan(budget);
    enqueue(i < s.arrivals.length ? s.arrivals[i] : remaining.length);
    const claimed = await relay.drainOnce();
    await checkInvariants();
    const due = store.nextDueAt(HANDLED);
    if (claimed === 0 && due !== undefined) store.now = Math.max(store.now, due);
  }

  // Settled: every handled message ended delivered or dead for the reason its history says, except those
  // held back behind an orphan of their ordering key.
  for (const row of store.rows.values()) {
    if (row.status === 'pending') {
      expect(
        row.topic === 'orphan' ||
          [...store.rows.values()].some((o) => o.topic === 'orphan' && o.orderingKey !== null && o.orderingKey === row.orderingKey && o.seq < row.seq),
      ).toBe(true);
      continue;
    }
    if (row.status !== 'dead') continue;
    const reason = store.deadLetters.get(row.id)?.reason;
    if (lastStep.get(row.id) === 'fatal') expect(reason).toBe('non_retryable: HTTP 422');
    else {
      expect(reason).toMatch(/^max_attempts_exceeded: /);
      expect(row.attempts).toBe(s.maxAttempts);
    }
  }
  // Each ordering key's successes happened in enqueue order.
  for (const seqs of finishedInOrder.values()) expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
}

describe('OutboxRelay state machine (property)', () => {
  beforeAll(() => Logger.overrideLogger(false));

  it('keeps emitted = delivered + pending + dead, delivers each message at most once, in order per key, and loses none, batched or not', async () => {
    await fc.assert(fc.asyncProperty(scenario, runScenario), { numRuns: 300 });
  });
});
