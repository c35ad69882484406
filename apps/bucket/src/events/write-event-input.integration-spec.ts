// What a write stores when the producer spells its event_id in upper case, or names a member __proto__, constructor
// or prototype: the single and batch routes on the real app and PostgreSQL.
import { BUCKET_WRITE_EVENTS_ROUTES, canonicalJson, CommonErrorCode, RequesterId } from '@pancha/contracts';
import type { ServiceWithDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { sealEntry } from '../chain/chain-hash';
import { CHAIN_LOCK_KEY, timestampSql } from '../ledger/ledger-sql';
import { bootBucket } from '../testing/bucket-test-app';

jest.setTimeout(60_000);

describe('bucket write input (HTTP, real PostgreSQL)', () => {
  let bucket: ServiceWithDatabase;

  const token = () => bucket.keys.mint(RequesterId.Core, 'bucket');
  /** Posts `raw` as sent (a JSON text, so members such as __proto__ reach the server as they are written). */
  const postRaw = async (url: string, raw: string) =>
    request(bucket.url).post(url).set('authorization', `Bearer ${await token()}`).set('content-type', 'application/json').send(raw);
  const coreWrite = (eventData: Record<string, unknown>) =>
    postRaw('/core/write-event', JSON.stringify({ requester_id: RequesterId.Core, event_data: eventData }));
  const coreBatch = (items: unknown[]) => postRaw(BUCKET_WRITE_EVENTS_ROUTES.core, JSON.stringify({ events: items }));
  const coreItem = (eventData: Record<string, unknown>) => ({ body: { requester_id: RequesterId.Core, event_data: eventData } });

  const countRows = async (): Promise<number> => (await bucket.dataSource.query('SELECT count(*)::int AS n FROM bucket_entries'))[0].n;
  const rowsOf = async (eventId: string) =>
    (await bucket.dataSource.query('SELECT seq, event_id, event_data FROM bucket_entries WHERE event_id = $1', [eventId])) as {
      seq: string;
      event_id: string;
      event_data: Record<string, unknown>;
    }[];
  const verify = async () =>
    (await request(bucket.url).get('/audit/verify?full=true').set('authorization', `Bearer ${await token()}`)).body as { ok: boolean; size: number };

  /**
   * An entry as Bucket appended it before event ids were canonicalised: the column in lower case, event_data with
   * the id as the producer spelled it, both hashes over that. Chained after the head like any append.
   */
  async function appendLegacyEntry(eventData: Record<string, unknown> & { event_id: string }): Promise<number> {
    return bucket.dataSource.transaction(async (m) => {
      await m.query('SELECT pg_advisory_xact_lock($1)', [CHAIN_LOCK_KEY]);
      const [head] = await m.query(`SELECT ${timestampSql('clock_timestamp()')} AS now, (SELECT max(seq) FROM bucket_entries) AS seq,
        (SELECT hash FROM bucket_entries ORDER BY seq DESC LIMIT 1) AS hash`);
      const seq = Number(head.seq ?? 0) + 1;
      const entry = sealEntry(head.hash ?? '0'.repeat(64), {
        seq,
        event_id: eventData.event_id.toLowerCase(),
        requester_id: RequesterId.Core,
        channel: 'core',
        event_type: String(eventData.event_type),
        trace_id: null,
        product: null,
        user_id: null,
        event_data: eventData,
        created_at: head.now,
      });
      await m.query(
        `INSERT INTO bucket_entries (seq, event_id, requester_id, channel, event_type, trace_id, product, user_id, event_data, content_hash, prev_hash, hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13::timestamptz)`,
        [entry.seq, entry.event_id, entry.requester_id, entry.channel, entry.event_type, null, null, null, canonicalJson(eventData), entry.content_hash, entry.prev_hash, entry.hash, entry.created_at],
      );
      return seq;
    });
  }

  beforeAll(async () => {
    bucket = await bootBucket({ database: 'bucket_write_input' });
  });

  afterAll(() => bucket?.close());

  describe('an event_id in upper case', () => {
    it.each([
      ['upper case, then its retry in lower case', (id: string) => id.toUpperCase(), (id: string) => id],
      ['lower case, then its retry in upper case', (id: string) => id, (id: string) => id.toUpperCase()],
    ])('is one event: %s is answered 200 with the original entry, stored once with the id in lower case', async (_name, first, retry) => {
      const id = randomUUID();
      const created = await coreWrite({ event_id: first(id), event_type: 'task_received', n: 1 });
      expect(created.status).toBe(201);
      expect(created.body.event_id).toBe(id);
      const before = await countRows();

      const again = await coreWrite({ event_id: retry(id), event_type: 'task_received', n: 1 });
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ ...created.body, message: `event already recorded at seq ${created.body.seq}`, replayed: true });
      // The batch route answers the same.
      const batched = await coreBatch([coreItem({ event_id: retry(id), event_type: 'task_received', n: 1 })]);
      expect(batched.body.results.map((r: { status: number; replayed?: boolean }) => [r.status, r.replayed])).toEqual([[200, true]]);

      expect(await countRows()).toBe(before);
      expect(await rowsOf(id)).toEqual([{ seq: String(created.body.seq), event_id: id, event_data: { event_id: id, event_type: 'task_received', n: 1 } }]);
      // Other content under the same id, in any spelling, is still a conflict.
      expect((await coreWrite({ event_id: retry(id), event_type: 'task_received', n: 2 })).status).toBe(409);
      expect(await verify()).toMatchObject({ ok: true });
    });

    it('is one event with an entry stored before ids were canonicalised: a retry in either case is a replay, and the chain still verifies', async () => {
      const id = randomUUID();
      const sent = { event_id: id.toUpperCase(), event_type: 'task_received', note: 'stored by an earlier release' };
      const seq = await appendLegacyEntry(sent);
      expect(await verify()).toMatchObject({ ok: true, size: seq });

      for (const spelling of [id.toUpperCase(), id]) {
        const retry = await coreWrite({ ...sent, event_id: spelling });
        expect([retry.status, retry.body.seq, retry.body.replayed]).toEqual([200, seq, true]);
      }
      expect((await coreWrite({ ...sent, note: 'other content' })).status).toBe(409);
      expect(await countRows()).toBe(seq);
      // The entry is untouched (its event_data as the earlier release stored it) and the chain verifies.
      expect((await rowsOf(id))[0].event_data).toEqual(sent);
      expect(await verify()).toMatchObject({ ok: true, size: seq });
    });
  });

  describe('members named __proto__, constructor or prototype', () => {
    it.each(['__proto__', 'constructor', 'prototype'])('refuse a write naming %s (422 naming the member), storing nothing', async (name) => {
      const before = await countRows();
      const id = randomUUID();
      const res = await postRaw(
        '/core/write-event',
        `{"requester_id":"bhiv_core","event_data":{"event_id":"${id}","event_type":"x","detail":{"list":[{"${name}":{"polluted":true}}]}}}`,
      );
      expect(res.status).toBe(422);
      expect(res.body.code).toBe(CommonErrorCode.ValidationFailed);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual([`event_data.detail.list.0.${name}`]);
      expect(await countRows()).toBe(before);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('refuse that event alone in a batch (its own 422), storing its neighbours', async () => {
      const before = await countRows();
      const [good, bad, other] = [randomUUID(), randomUUID(), randomUUID()];
      const res = await postRaw(
        BUCKET_WRITE_EVENTS_ROUTES.core,
        `{"events":[${JSON.stringify(coreItem({ event_id: good, event_type: 'x' }))},` +
          `{"body":{"requester_id":"bhiv_core","event_data":{"event_id":"${bad}","event_type":"x","__proto__":{"a":1},"nested":{"constructor":"c"}}}},` +
          `${JSON.stringify(coreItem({ event_id: other, event_type: 'x' }))}]}`,
      );
      expect(res.status).toBe(200);
      const results = res.body.results as { status: number; body: { code?: string; errors?: { field: string }[] } }[];
      expect(results.map((r) => r.status)).toEqual([201, 422, 201]);
      expect(results[1].body.code).toBe(CommonErrorCode.ValidationFailed);
      expect(results[1].body.errors?.map((e) => e.field)).toEqual(['event_data.__proto__', 'event_data.nested.constructor']);
      expect(await rowsOf(bad)).toEqual([]);
      expect(await countRows()).toBe(before + 2);
    });
  });
});
