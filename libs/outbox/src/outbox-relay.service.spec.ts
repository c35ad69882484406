import { Logger } from '@nestjs/common';
import { deferred, eventually } from '@pancha/testing';
import { describesRelayTimeout } from './outbox-delivery.error';
import type { OutboxHandler, OutboxMessage } from './outbox-handler.interface';
import { OutboxRelay } from './outbox-relay.service';
import type { OutboxOptions } from './outbox.options';
import { InMemoryOutboxStore } from './testing/in-memory-outbox.store';

const fast: Partial<OutboxOptions> = { enabled: false, pollIntervalMs: 5, baseDelayMs: 0, maxDelayMs: 0, maxAttempts: 5 };

function recordingHandler(topic: string, deliver: (m: OutboxMessage) => Promise<void> = async () => undefined) {
  const received: OutboxMessage[] = [];
  const handler: OutboxHandler = {
    topic,
    async deliver(message) {
      received.push(message);
      await deliver(message);
    },
  };
  return { handler, received };
}

const waitFor = (predicate: () => boolean, timeoutMs = 4000): Promise<void> =>
  eventually(() => expect(predicate()).toBe(true), { timeoutMs, intervalMs: 5 });

const only = (store: InMemoryOutboxStore) => [...store.rows.values()][0];

describe('OutboxRelay', () => {
  let relays: OutboxRelay[] = [];
  const make = (store: InMemoryOutboxStore, handlers: OutboxHandler[], options: Partial<OutboxOptions> = {}) => {
    const relay = new OutboxRelay(store, handlers, { ...fast, ...options });
    relays.push(relay);
    return relay;
  };

  beforeAll(() => Logger.overrideLogger(false));
  afterEach(async () => {
    await Promise.all(relays.map((r) => r.stop()));
    relays = [];
  });

  it('refuses two handlers for one topic', () => {
    const store = new InMemoryOutboxStore();
    expect(() => make(store, [recordingHandler('t').handler, recordingHandler('t').handler])).toThrow(/Two outbox handlers for topic "t"/);
  });

  it('hands the handler the stored payload, headers and attempts, and marks the row delivered', async () => {
    const store = new InMemoryOutboxStore();
    const { handler, received } = recordingHandler('t');
    store.insert('t', 'k1', { hello: 'world' }, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    await make(store, [handler]).drainOnce();
    expect(received).toEqual([
      {
        id: only(store).id,
        topic: 't',
        messageKey: 'k1',
        orderingKey: null,
        payload: { hello: 'world' },
        headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
        attempts: 0,
      },
    ]);
    expect(only(store)).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('treats a handler that throws synchronously as a retryable failure', async () => {
    const store = new InMemoryOutboxStore();
    const handler: OutboxHandler = {
      topic: 't',
      deliver: () => {
        throw new Error('sync boom');
      },
    };
    store.insert('t', 'k', {});
    await make(store, [handler]).drainOnce();
    expect(only(store)).toMatchObject({ status: 'pending', attempts: 1, lastError: 'sync boom' });
  });

  it('gives up on a delivery that outlives deliveryTimeoutMs and schedules a retry', async () => {
    const store = new InMemoryOutboxStore();
    const { handler } = recordingHandler('t', () => new Promise(() => undefined));
    store.insert('t', 'k', {});
    await make(store, [handler], { deliveryTimeoutMs: 30 }).drainOnce();
    expect(only(store)).toMatchObject({ status: 'pending', attempts: 1, lastError: 'delivery timed out after 30 ms' });
    // What a handler's beforeDeadLetter reads to tell the relay's timeout from the receiver's answer.
    expect(describesRelayTimeout(only(store).lastError ?? '')).toBe(true);
    expect(describesRelayTimeout('non_retryable: 422 invalid_payload')).toBe(false);
  });

  it('delivers at most `concurrency` messages at once', async () => {
    const store = new InMemoryOutboxStore();
    let inFlight = 0;
    let peak = 0;
    const { handler } = recordingHandler('t', async () => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
    });
    for (let i = 0; i < 20; i++) store.insert('t', `k${i}`, {});
    expect(await make(store, [handler], { concurrency: 3, batchSize: 50, deliveryTimeoutMs: 1000 }).drainOnce()).toBe(20);
    expect(peak).toBe(3);
    expect([...store.rows.values()].every((r) => r.status === 'delivered')).toBe(true);
  });

  it('keeps polling while the database is unreachable and delivers once it is back', async () => {
    const store = new InMemoryOutboxStore();
    const { handler, received } = recordingHandler('t');
    store.failClaimsWith = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    const claims = jest.spyOn(store, 'claim');
    const relay = make(store, [handler]);
    relay.start();
    store.insert('t', 'k', {});
    // It has failed and come back for more, still running.
    await waitFor(() => claims.mock.calls.length >= 3);
    expect(relay.isRunning).toBe(true);
    expect(received).toHaveLength(0);
    store.failClaimsWith = undefined;
    await waitFor(() => only(store).status === 'delivered', 8000);
    expect(received).toHaveLength(1);
  });

  it('does not crash when the outcome cannot be recorded; the lease then expires and the row is retried', async () => {
    const store = new InMemoryOutboxStore();
    const { handler, received } = recordingHandler('t');
    store.insert('t', 'k', {});
    const settle = jest.spyOn(store, 'settle').mockRejectedValueOnce(new Error('connection terminated'));
    const relay = make(store, [handler], { leaseMs: 100_000 });
    await relay.drainOnce();
    expect(only(store)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(await relay.drainOnce()).toBe(0); // still leased
    store.now += 100_001;
    await relay.drainOnce();
    expect(received).toHaveLength(2);
    expect(only(store).status).toBe('delivered');
    settle.mockRestore();
  });

  it('starts delivering at once when poked instead of waiting for the next poll', async () => {
    const store = new InMemoryOutboxStore();
    const { handler } = recordingHandler('t');
    const claims = jest.spyOn(store, 'claim');
    const relay = make(store, [handler], { pollIntervalMs: 60_000 });
    relay.start();
    // The first round has looked at the (empty) table; the next one is a minute away.
    await waitFor(() => claims.mock.calls.length === 1);
    await claims.mock.results[0].value;
    store.insert('t', 'k', {});
    relay.poke();
    await waitFor(() => only(store).status === 'delivered');
    expect(claims).toHaveBeenCalledTimes(2);
  });

  it('on stop, waits for the deliveries in flight and records them', async () => {
    const store = new InMemoryOutboxStore();
    const delivering = deferred();
    const release = deferred();
    const { handler } = recordingHandler('t', async () => {
      delivering.resolve();
      await release.promise;
    });
    store.insert('t', 'k', {});
    const relay = make(store, [handler]);
    relay.start();
    await delivering.promise;
    let stopped = false;
    const stopping = relay.stop().then(() => (stopped = true));
    await new Promise((r) => setImmediate(r));
    expect(relay.isRunning).toBe(false);
    expect(stopped).toBe(false); // still waiting for the delivery
    release.resolve();
    await stopping;
    expect(only(store).status).toBe('delivered');
  });

  it('bounds the wait on stop by shutdownTimeoutMs', async () => {
    const store = new InMemoryOutboxStore();
    const delivering = deferred();
    const { handler } = recordingHandler('t', () => {
      delivering.resolve();
      return new Promise(() => undefined);
    });
    store.insert('t', 'k', {});
    const relay = make(store, [handler], { shutdownTimeoutMs: 5000, deliveryTimeoutMs: 60_000, leaseMs: 10_000_000 });
    relay.start();
    await delivering.promise;
    // The shutdown clock is the test's: stop() gives up exactly at shutdownTimeoutMs, not before.
    jest.useFakeTimers();
    try {
      let stopped = false;
      const stopping = relay.stop().then(() => (stopped = true));
      await jest.advanceTimersByTimeAsync(4999);
      expect(stopped).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      expect(stopped).toBe(true);
      await stopping;
    } finally {
      jest.useRealTimers();
    }
    // Stopped here already: another stop() (afterEach) would wait the 5 s out again for the delivery that hangs.
    relays = relays.filter((r) => r !== relay);
    expect(only(store).status).toBe('pending');
  });
});
