/**
 * Ordering keys: rows with the same key reach their handler one at a time, in enqueue order; a failing row
 * holds back its successors until it is delivered or dead; other keys and unkeyed rows are not held back.
 */
import { createTestDatabase, eventually } from '@pancha/testing';
import { OutboxDeliveryError } from './outbox-delivery.error';
import type { OutboxMessage } from './outbox-handler.interface';
import { outboxSuite, recordingHandler, relayOn } from './testing/outbox-test-kit';

jest.setTimeout(60_000);

describe('outbox ordering keys', () => {
  const suite = outboxSuite(() => createTestDatabase('outbox_ordering'));
  const db = () => suite.dataSource;

  const status = async (key: string): Promise<string> =>
    (await db().query(`SELECT status FROM outbox WHERE message_key = $1`, [key]))[0]?.status;

  it('delivers each key strictly in enqueue order, one at a time, across two relays, without serialising other rows', async () => {
    const order = new Map<string, string[]>();
    const inFlight = new Map<string, number>();
    let peakPerKey = 0;
    let inFlightAll = 0;
    let peakAll = 0;
    const deliver = async (m: OutboxMessage): Promise<void> => {
      const key = m.orderingKey ?? `solo:${m.messageKey}`;
      inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
      peakPerKey = Math.max(peakPerKey, m.orderingKey ? (inFlight.get(key) as number) : 0);
      peakAll = Math.max(peakAll, ++inFlightAll);
      await new Promise((r) => setTimeout(r, Math.random() * 4));
      if (m.orderingKey) order.set(m.orderingKey, [...(order.get(m.orderingKey) ?? []), m.messageKey]);
      inFlight.set(key, (inFlight.get(key) as number) - 1);
      inFlightAll--;
    };
    const second = await suite.openPool();
    const a = relayOn(db(), [recordingHandler('run-event', deliver).handler], { concurrency: 8, batchSize: 10 });
    const b = relayOn(second, [recordingHandler('run-event', deliver).handler], { concurrency: 8, batchSize: 10 });
    suite.relays.push(a.relay, b.relay);

    const expected = new Map<string, string[]>();
    for (let tx = 0; tx < 10; tx++) {
      await db().transaction(async (manager) => {
        for (let i = 0; i < 9; i++) {
          const n = tx * 9 + i;
          const run = i % 3 === 2 ? undefined : `run-${i % 3}`;
          const messageKey = `e${String(n).padStart(3, '0')}`;
          if (run) expected.set(run, [...(expected.get(run) ?? []), messageKey]);
          await a.outbox.enqueue(manager, { topic: 'run-event', messageKey, payload: { n }, orderingKey: run });
        }
      });
    }
    await eventually(async () => {
      const [{ n }] = await db().query(`SELECT count(*)::int AS n FROM outbox WHERE status = 'delivered'`);
      expect(n).toBe(90);
    }, 30_000);
    expect(order).toEqual(expected);
    expect(peakPerKey).toBe(1);
    // The unkeyed rows and the other keys still went out side by side.
    expect(peakAll).toBeGreaterThan(1);
  });

  it('a failing row holds back the later rows of its key until it is delivered, but not other keys', async () => {
    const seen: string[] = [];
    // k1 fails until the test lets it through: a retry that comes early (full jitter may draw any wait) fails
    // again instead of releasing k2 and k3 before the test has looked.
    let k1Fails = true;
    const handler = recordingHandler('run-event', (m) => {
      seen.push(m.messageKey);
      if (m.messageKey === 'k1' && k1Fails) throw new OutboxDeliveryError('HTTP 503', { retryable: true });
    });
    // A retry is up to a minute away (then pinned to an hour below), so "held back" is observable.
    const { relay, outbox } = relayOn(db(), [handler.handler], { baseDelayMs: 60_000, maxDelayMs: 60_000 });
    suite.relays.push(relay);
    await db().transaction(async (m) => {
      for (const key of ['k1', 'k2', 'k3']) await outbox.enqueue(m, { topic: 'run-event', messageKey: key, payload: {}, orderingKey: 'run-K' });
    });
    await eventually(async () => {
      const [row] = await db().query(`SELECT attempts FROM outbox WHERE message_key = 'k1'`);
      expect(row.attempts).toBeGreaterThanOrEqual(1);
    });
    await db().query(`UPDATE outbox SET next_attempt_at = now() + interval '1 hour' WHERE message_key = 'k1'`);
    // Its successors must wait, another key must not.
    await db().transaction(async (m) => {
      await outbox.enqueue(m, { topic: 'run-event', messageKey: 'l1', payload: {}, orderingKey: 'run-L' });
      await outbox.enqueue(m, { topic: 'run-event', messageKey: 'solo', payload: {} });
    });
    await eventually(async () => expect([await status('l1'), await status('solo')]).toEqual(['delivered', 'delivered']));
    expect(new Set(seen.filter((k) => k.startsWith('k')))).toEqual(new Set(['k1']));
    expect([await status('k1'), await status('k2'), await status('k3')]).toEqual(['pending', 'pending', 'pending']);

    k1Fails = false;
    await db().query(`UPDATE outbox SET next_attempt_at = now() WHERE message_key = 'k1'`);
    await eventually(async () => expect(await status('k3')).toBe('delivered'));
    // k1 (however often it failed), then k2 and k3, each once and in order.
    const ks = seen.filter((k) => k.startsWith('k'));
    expect(ks.slice(ks.lastIndexOf('k1'))).toEqual(['k1', 'k2', 'k3']);
    expect(ks.filter((k) => k !== 'k1')).toEqual(['k2', 'k3']);
  });

  it('a dead row releases the rows after it', async () => {
    const handler = recordingHandler('run-event', (m) => {
      if (m.messageKey === 'd1') throw new OutboxDeliveryError('HTTP 422', { retryable: false });
    });
    const { relay, outbox } = relayOn(db(), [handler.handler]);
    suite.relays.push(relay);
    await db().transaction(async (m) => {
      for (const key of ['d1', 'd2', 'd3']) await outbox.enqueue(m, { topic: 'run-event', messageKey: key, payload: {}, orderingKey: 'run-D' });
    });
    await eventually(async () => expect(await status('d3')).toBe('delivered'));
    expect(handler.calls.map((c) => c.messageKey)).toEqual(['d1', 'd2', 'd3']);
    expect(await status('d1')).toBe('dead');
  });

  it('a row waits behind an earlier row of its key that only another process can deliver', async () => {
    const old = recordingHandler('old-topic');
    const { relay, outbox } = relayOn(db(), [old.handler]);
    suite.relays.push(relay);
    await db().transaction(async (m) => {
      await outbox.enqueue(m, { topic: 'new-topic', messageKey: 'n1', payload: {}, orderingKey: 'run-R' });
      await outbox.enqueue(m, { topic: 'old-topic', messageKey: 'o2', payload: {}, orderingKey: 'run-R' });
      await outbox.enqueue(m, { topic: 'old-topic', messageKey: 'free', payload: {} });
    });
    await eventually(async () => expect(await status('free')).toBe('delivered'));
    expect(await status('o2')).toBe('pending');
    expect(old.calls.map((c) => c.messageKey)).toEqual(['free']);

    const newer = await suite.openPool();
    suite.relays.push(relayOn(newer, [recordingHandler('new-topic').handler]).relay);
    await eventually(async () => expect(await status('o2')).toBe('delivered'));
    expect(await status('n1')).toBe('delivered');
  });

  it('transactions enqueuing the same key take turns, so a later commit is never delivered first', async () => {
    const handler = recordingHandler('run-event');
    const { relay, outbox } = relayOn(db(), [handler.handler]);
    suite.relays.push(relay);
    const first = db().createQueryRunner();
    const second = db().createQueryRunner();
    try {
      await first.connect();
      await second.connect();
      await first.startTransaction();
      await outbox.enqueue(first.manager, { topic: 'run-event', messageKey: 'A', payload: {}, orderingKey: 'run-T' });
      await second.startTransaction();
      let secondEnqueued = false;
      const enqueueB = outbox
        .enqueue(second.manager, { topic: 'run-event', messageKey: 'B', payload: {}, orderingKey: 'run-T' })
        .then(() => {
          secondEnqueued = true;
        });
      // The second transaction waits for the first one's turn on the key...
      await eventually(async () => {
        const [{ waiting }] = await db().query(`SELECT count(*)::int AS waiting FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`);
        expect(waiting).toBe(1);
      }, 10_000);
      expect(secondEnqueued).toBe(false);
      // ...and an unrelated key does not.
      await db().transaction((m) => outbox.enqueue(m, { topic: 'run-event', messageKey: 'other', payload: {}, orderingKey: 'run-U' }));

      await first.commitTransaction();
      await enqueueB;
      await second.commitTransaction();
    } finally {
      await first.release();
      await second.release();
    }
    await eventually(async () => expect(await status('B')).toBe('delivered'));
    expect(handler.calls.map((c) => c.messageKey).filter((k) => k !== 'other')).toEqual(['A', 'B']);
    const seqs: { message_key: string }[] = await db().query(`SELECT message_key FROM outbox WHERE ordering_key = 'run-T' ORDER BY seq`);
    expect(seqs.map((r) => r.message_key)).toEqual(['A', 'B']);
  });
});
