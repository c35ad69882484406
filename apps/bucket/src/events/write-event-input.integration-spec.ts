// What a write stores when the producer spells its event_id in upper case, or names a member __proto__, constructor
// or prototype: the single and batch routes on the real app and PostgreSQL.
import { BUCKET_WRITE_EVENTS_ROUTES, canonicalJson, RequesterId } from '@pancha/contracts';
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
    /** The row's event_data as PostgreSQL holds it (its text: a member named __proto__ shows as written). */
    const storedText = async (eventId: string) =>
      ((await bucket.dataSource.query('SELECT event_data::text AS t FROM bucket_entries WHERE event_id = $1', [eventId])) as { t: string }[])[0]?.t;

    it.each(['__proto__', 'constructor', 'prototype'])('a write naming %s is stored with it as sent, read back with it, and the chain verifies', async (name) => {
      const id = randomUUID();
      const res = await postRaw(
        '/core/write-event',
        `{"requester_id":"bhiv_core","event_data":{"event_id":"${id}","event_type":"x","detail":{"list":[{"${name}":{"polluted":true}}]}}}`,
      );
      expect(res.status).toBe(201);
      expect(JSON.parse((await storedText(id)) ?? 'null').detail.list[0]).toEqual(JSON.parse(`{"${name}":{"polluted":true}}`));
      const read = await request(bucket.url).get(`/core/events?after_seq=${Number(res.body.seq) - 1}&limit=1`).set('authorization', `Bearer ${await token()}`);
      expect(read.status).toBe(200);
      expect(JSON.stringify(read.body)).toContain(`"${name}":{"polluted":true}`);
      // The retry as sent is the replay, not a conflict: the same content was hashed.
      const retry = await postRaw(
        '/core/write-event',
        `{"requester_id":"bhiv_core","event_data":{"event_id":"${id}","event_type":"x","detail":{"list":[{"${name}":{"polluted":true}}]}}}`,
      );
      expect([retry.status, retry.body.replayed]).toEqual([200, true]);
      expect(await verify()).toMatchObject({ ok: true });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('a batch item naming them is stored as sent beside its neighbours', async () => {
      const before = await countRows();
      const [good, odd, other] = [randomUUID(), randomUUID(), randomUUID()];
      const res = await postRaw(
        BUCKET_WRITE_EVENTS_ROUTES.core,
        `{"events":[${JSON.stringify(coreItem({ event_id: good, event_type: 'x' }))},` +
          `{"body":{"requester_id":"bhiv_core","event_data":{"event_id":"${odd}","event_type":"x","__proto__":{"a":1},"nested":{"constructor":"c"}}}},` +
          `${JSON.stringify(coreItem({ event_id: other, event_type: 'x' }))}]}`,
      );
      expect(res.status).toBe(200);
      expect((res.body.results as { status: number }[]).map((r) => r.status)).toEqual([201, 201, 201]);
      expect(await storedText(odd)).toContain('"__proto__": {"a": 1}');
      expect(await storedText(odd)).toContain('"constructor": "c"');
      expect(await countRows()).toBe(before + 3);
      expect(await verify()).toMatchObject({ ok: true });
    });
  });
});
