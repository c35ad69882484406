/**
 * Key runs: for a topic whose handler applies a batch in order (ordersBatch), one claim takes an ordering key's
 * consecutive rows and one batch carries them in enqueue order; everything the ordering keys promise still holds.
 */
import { randomUUID } from 'node:crypto';
import { createTestDatabase, eventually } from '@pancha/testing';
import { OutboxDeliveryError } from './outbox-delivery.error';
import type { OutboxBatchResult, OutboxHandler, OutboxMessage } from './outbox-handler.interface';
import type { OutboxRelay } from './outbox-relay.service';
import { PgOutboxStore } from './pg-outbox.store';
import { outboxSuite, relayOn } from './testing/outbox-test-kit';

jest.setTimeout(60_000);

/** An ordered batch handler that records each call's message keys (in `batches`, which a test may share). */
function orderedHandler(topic: string, answer: (m: OutboxMessage) => OutboxBatchResult = () => ({ ok: true })): { handler: OutboxHandler; batches: string[][] } {
  const recorder: { handler: OutboxHandler; batches: string[][] } = {
    batches: [],
    handler: {
      topic,
      ordersBatch: true,
      async deliver(m) {
        recorder.batches.push([m.messageKey]);
        const result = answer(m);
        if (!result.ok) throw result.error;
      },
      async deliverBatch(messages) {
        recorder.batches.push(messages.map((m) => m.messageKey));
        return messages.map(answer);
      },
    },
  };
  return recorder;
}

describe('outbox key runs', () => {
  const suite = outboxSuite(() => createTestDatabase('outbox_key_runs'));
  const db = () => suite.dataSource;

  const status = async (key: string): Promise<string> =>
    (await db().query(`SELECT status FROM outbox WHERE message_key = $1`, [key]))[0]?.status;

  /** Rows as one producer transaction enqueues them: [topic, messageKey, orderingKey?]. */
  const enqueue = async (rows: [string, string, string?][]): Promise<void> => {
    const { outbox } = relayOn(db(), [], { enabled: false });
    await db().transaction((m) =>
      outbox.enqueueAll(
        m,
        rows.map(([topic, messageKey, orderingKey]) => ({ topic, messageKey, payload: {}, ...(orderingKey ? { orderingKey } : {}) })),
      ),
    );
  };

  describe('the claim', () => {
    const claim = (store: PgOutboxStore, orderedTopics: string[], keyRun: number, limit = 10) =>
      store.claim({ limit, leaseMs: 60_000, topics: ['run', 'plain', 'other'], lease: randomUUID(), orderedTopics, keyRun });

    it("takes an ordered topic's key run from its head, in enqueue order, up to keyRun rows; other topics one row per key", async () => {
      await enqueue([
        ['run', 'a1', 'A'],
        ['plain', 'p1', 'P'],
        ['run', 'a2', 'A'],
        ['plain', 'p2', 'P'],
        ['run', 'a3', 'A'],
        ['run', 'a4', 'A'],
        ['run', 'solo'],
      ]);
      const store = new PgOutboxStore(db());
      const first = await claim(store, ['run'], 3);
      expect(first.map((e) => e.messageKey)).toEqual(['a1', 'p1', 'a2', 'a3', 'solo']);
      // a4 waits behind rows this claim holds; p2 behind p1: another claim takes neither.
      expect(await claim(store, ['run'], 3)).toEqual([]);
      await store.settle(first.map((entry) => ({ entry, transition: { kind: 'delivered', attempts: 1 } })));
      expect((await claim(store, ['run'], 3)).map((e) => e.messageKey)).toEqual(['p2', 'a4']);
    });

    it('without ordered topics a key gives one row per claim, as before', async () => {
      await enqueue([
        ['run', 'a1', 'A'],
        ['run', 'a2', 'A'],
      ]);
      const store = new PgOutboxStore(db());
      expect((await claim(store, [], 50)).map((e) => e.messageKey)).toEqual(['a1']);
    });

    it('a run stops at the first row it cannot take: another topic, one not due yet, one leased elsewhere', async () => {
      await enqueue([
        ['run', 'a1', 'A'],
        ['run', 'a2', 'A'],
        ['other', 'a3', 'A'],
        ['run', 'a4', 'A'],
        ['run', 'b1', 'B'],
        ['run', 'b2', 'B'],
        ['run', 'b3', 'B'],
        ['run', 'c1', 'C'],
        ['run', 'c2', 'C'],
        ['run', 'c3', 'C'],
      ]);
      await db().query(`UPDATE outbox SET next_attempt_at = now() + interval '1 hour' WHERE message_key = 'b2'`);
      // c2 under a lease that has not lapsed (as if another relay held it).
      await db().query(`UPDATE outbox SET locked_until = now() + interval '1 hour', lease_token = $1 WHERE message_key = 'c2'`, [randomUUID()]);
      const store = new PgOutboxStore(db());
      expect((await claim(store, ['run', 'other'], 50)).map((e) => e.messageKey)).toEqual(['a1', 'a2', 'b1', 'c1']);
    });

    it('concurrent claims never split a key: what each holds of a key is an unbroken run from its earliest pending row', async () => {
      const rows: [string, string, string?][] = [];
      for (let i = 0; i < 240; i++) rows.push(['run', `r${String(i).padStart(3, '0')}`, `K${i % 12}`]);
      await enqueue(rows);
      const pools = await Promise.all([suite.openPool(), suite.openPool(), suite.openPool()]);
      const stores = pools.map((p) => new PgOutboxStore(p));
      const held = new Set<string>();
      for (let round = 0; round < 40 && held.size < rows.length; round++) {
        const claims = await Promise.all(stores.map((store) => claim(store, ['run'], 5, 4)));
        const keysThisRound = new Set<string>();
        for (const entries of claims) {
          const byKey = new Map<string, string[]>();
          for (const e of entries) byKey.set(e.orderingKey as string, [...(byKey.get(e.orderingKey as string) ?? []), e.messageKey]);
          for (const [key, keys] of byKey) {
            // One claim per key at a time...
            expect(keysThisRound.has(key)).toBe(false);
            keysThisRound.add(key);
            // ...taking the key's earliest rows not delivered yet (every earlier round was delivered below).
            const pendingOfKey = rows.filter(([, k, ok]) => ok === key && !held.has(k)).map(([, k]) => k);
            expect(keys).toEqual(pendingOfKey.slice(0, keys.length));
            for (const k of keys) held.add(k);
          }
        }
        // Deliver what was claimed, so the next round finds the next runs.
        await Promise.all(
          claims.map((entries, i) => stores[i].settle(entries.map((entry) => ({ entry, transition: { kind: 'delivered', attempts: 1 } })))),
        );
      }
      expect(held.size).toBe(rows.length);
    });
  });

  describe('the relay', () => {
    it("hands a key's rows to an ordered handler in one batch, and each key reaches it in enqueue order across two relays", async () => {
      const second = await suite.openPool();
      // One log for both relays, in call order: a key's next rows are claimed only once its batch is recorded.
      const log: string[][] = [];
      const a = orderedHandler('run');
      const b = orderedHandler('run');
      a.batches = log;
      b.batches = log;
      const expected = new Map<string, string[]>();
      for (let tx = 0; tx < 12; tx++) {
        const rows: [string, string, string?][] = [];
        for (let i = 0; i < 6; i++) {
          const key = `K${(tx + i) % 5}`;
          const messageKey = `m${tx}-${i}`;
          rows.push(['run', messageKey, key]);
          expected.set(key, [...(expected.get(key) ?? []), messageKey]);
        }
        await enqueue(rows);
      }
      const options = { concurrency: 4, batchSize: 3, maxBatch: 8, enabled: false };
      const first = relayOn(db(), [a.handler], options).relay;
      const other = relayOn(second, [b.handler], options).relay;
      suite.relays.push(first, other);
      first.start();
      other.start();
      await eventually(async () => {
        const [{ n }] = await db().query(`SELECT count(*)::int AS n FROM outbox WHERE status = 'delivered'`);
        expect(n).toBe(72);
      }, 30_000);
      const keyOf = new Map([...expected].flatMap(([key, keys]) => keys.map((k) => [k, key] as const)));
      const delivered = new Map<string, string[]>();
      for (const batch of log) for (const k of batch) delivered.set(keyOf.get(k) as string, [...(delivered.get(keyOf.get(k) as string) ?? []), k]);
      expect(delivered).toEqual(expected);
      // Runs did happen: a batch carried several rows of one key (the first claims find up to 12 rows of each).
      expect(log.some((batch) => new Set(batch.map((k) => keyOf.get(k))).size < batch.length)).toBe(true);
      expect(log.every((batch) => batch.length <= 8)).toBe(true);
    });

    it('a refused row is dead-lettered alone and the rows after it are delivered; a failed batch is retried whole, in order', async () => {
      let failBatches = 1;
      const h = orderedHandler('run', (m) =>
        m.messageKey === 'k2' ? { ok: false, error: new OutboxDeliveryError('HTTP 422', { retryable: false }) } : { ok: true },
      );
      const deliverBatch = h.handler.deliverBatch?.bind(h.handler) as NonNullable<OutboxHandler['deliverBatch']>;
      h.handler.deliverBatch = async (messages) => {
        if (failBatches-- > 0) {
          h.batches.push(messages.map((m) => `failed:${m.messageKey}`));
          throw new OutboxDeliveryError('HTTP 503', { retryable: true });
        }
        return deliverBatch(messages);
      };
      const { relay, outbox } = relayOn(db(), [h.handler]);
      suite.relays.push(relay);
      await db().transaction((m) =>
        outbox.enqueueAll(m, ['k1', 'k2', 'k3'].map((messageKey) => ({ topic: 'run', messageKey, payload: {}, orderingKey: 'K' }))),
      );
      await eventually(async () => expect(await status('k3')).toBe('delivered'));
      // The retries' backoffs are drawn per row, so the second time they may leave in one batch or several.
      expect(h.batches[0]).toEqual(['failed:k1', 'failed:k2', 'failed:k3']);
      expect(h.batches.slice(1).flat()).toEqual(['k1', 'k2', 'k3']);
      expect([await status('k1'), await status('k2')]).toEqual(['delivered', 'dead']);
      const dead: { id: string }[] = await db().query(`SELECT id FROM outbox_dead_letter WHERE message_key = 'k2'`);
      expect(dead).toHaveLength(1);
    });

    it('a retried row holds back the rows after it that were not in its batch', async () => {
      let k1Fails = true;
      const h = orderedHandler('run', (m) =>
        m.messageKey === 'k1' && k1Fails ? { ok: false, error: new OutboxDeliveryError('HTTP 503', { retryable: true }) } : { ok: true },
      );
      const { relay, outbox } = relayOn(db(), [h.handler], { baseDelayMs: 60_000, maxDelayMs: 60_000 });
      suite.relays.push(relay);
      await db().transaction((m) => outbox.enqueue(m, { topic: 'run', messageKey: 'k1', payload: {}, orderingKey: 'K' }));
      await eventually(async () => {
        const [row] = await db().query(`SELECT attempts FROM outbox WHERE message_key = 'k1'`);
        expect(row.attempts).toBeGreaterThanOrEqual(1);
      });
      await db().query(`UPDATE outbox SET next_attempt_at = now() + interval '1 hour' WHERE message_key = 'k1'`);
      await db().transaction((m) =>
        outbox.enqueueAll(m, [
          { topic: 'run', messageKey: 'k2', payload: {}, orderingKey: 'K' },
          { topic: 'run', messageKey: 'free', payload: {} },
        ]),
      );
      await eventually(async () => expect(await status('free')).toBe('delivered'));
      expect(await status('k2')).toBe('pending');
      expect(h.batches.flat().filter((k) => k === 'k2')).toEqual([]);
      k1Fails = false;
      await db().query(`UPDATE outbox SET next_attempt_at = now() WHERE message_key = 'k1'`);
      await eventually(async () => expect(await status('k2')).toBe('delivered'));
      expect(h.batches[h.batches.length - 1]).toEqual(['k1', 'k2']);
    });
  });
});
