// Writes under a credential narrowed to some products (T9), on the real app and PostgreSQL: an entry naming no product
// takes the writer's only product (or is a 422 when it has several), and a 409 tells no seq of another product's entry.
import { BUCKET_WRITE_EVENTS_ROUTES, BucketErrorCode, CommonErrorCode, RequesterId } from '@pancha/contracts';
import type { BucketEntry } from '@pancha/contracts';
import type { ServiceWithDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { bootBucket } from '../testing/bucket-test-app';

jest.setTimeout(60_000);

describe('bucket writes under a products-narrowed credential (HTTP, real PostgreSQL)', () => {
  let bucket: ServiceWithDatabase;

  const tokenOf = (who: RequesterId, products?: string[]): Promise<string> => bucket.keys.mint(who, 'bucket', products ? { products } : undefined);
  const post = async (url: string, body: unknown, who: RequesterId, products?: string[]) =>
    request(bucket.url).post(url).set('authorization', `Bearer ${await tokenOf(who, products)}`).send(body as object);
  const get = async (url: string, who: RequesterId, products?: string[]) =>
    request(bucket.url).get(url).set('authorization', `Bearer ${await tokenOf(who, products)}`);
  const coreWrite = (eventData: Record<string, unknown>, products?: string[]) =>
    post('/core/write-event', { requester_id: RequesterId.Core, event_data: eventData }, RequesterId.Core, products);
  const prana = (packets: unknown[], products?: string[]) => post('/bucket/prana/ingest', { packets }, RequesterId.Prana, products);

  const countRows = async (): Promise<number> => (await bucket.dataSource.query('SELECT count(*)::int AS n FROM bucket_entries'))[0].n;
  const rowOf = async (eventId: string) => (await bucket.dataSource.query('SELECT * FROM bucket_entries WHERE event_id = $1', [eventId]))[0];
  const newEvent = (extra: Record<string, unknown> = {}) => ({ event_id: randomUUID(), event_type: 'task_received', ...extra });
  const packet = (extra: Record<string, unknown> = {}) => ({
    event_id: randomUUID(),
    user_id: `u-${randomUUID()}`,
    state: 'DEEP_FOCUS',
    timestamp: new Date().toISOString(),
    ...extra,
  });
  /** Whether any member of the body, at any depth, is or mentions the seq (a number or "seq N" in text). */
  const mentionsSeq = (body: unknown, seq: number) => /"seq"/.test(JSON.stringify(body)) || new RegExp(`\\bseq ${seq}\\b`).test(JSON.stringify(body));

  beforeAll(async () => {
    bucket = await bootBucket({ database: 'bucket_write_product_scope' });
  });

  afterAll(() => bucket?.close());

  describe('an entry naming no product', () => {
    it("from a writer narrowed to one product is that product's, and the writer reads it back", async () => {
      const trace_id = randomUUID().replace(/-/g, '');
      const data = newEvent({ trace_id });
      const res = await coreWrite(data, ['acme']);
      expect(res.status).toBe(201);
      expect(await rowOf(data.event_id)).toMatchObject({ product: 'acme', event_data: data });

      const read = await get(`/core/events?trace_id=${trace_id}`, RequesterId.Core, ['acme']);
      expect(read.status).toBe(200);
      expect(read.body.events.map((e: BucketEntry) => [e.event_id, e.product, e.seq])).toEqual([[data.event_id, 'acme', res.body.seq]]);
      // The entry hashes what is stored: the chain still verifies.
      expect((await get('/audit/verify?full=true', RequesterId.Core)).body).toMatchObject({ ok: true });
    });

    it('resent by the same one-product writer is the replay (200, the original entry), not a 409', async () => {
      const data = newEvent({ x: 1 });
      const first = await coreWrite(data, ['acme']);
      expect(first.status).toBe(201);
      expect((await rowOf(data.event_id)).product).toBe('acme');
      const before = await countRows();
      const again = await coreWrite({ x: 1, event_type: data.event_type, event_id: data.event_id }, ['acme']);
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ ...first.body, message: `event already recorded at seq ${first.body.seq}`, replayed: true });
      expect(await countRows()).toBe(before);

      // Without an event_id (the id derived from requester and content) too.
      const derived = { event_type: 'task_received', note: randomUUID() };
      const once = await coreWrite(derived, ['acme']);
      expect(once.status).toBe(201);
      expect((await rowOf(once.body.event_id)).product).toBe('acme');
      const twice = await coreWrite(derived, ['acme']);
      expect(twice.status).toBe(200);
      expect(twice.body).toMatchObject({ event_id: once.body.event_id, seq: once.body.seq, replayed: true });
    });

    it('from a writer narrowed to several products is a 422 naming event_data.product, storing nothing', async () => {
      const before = await countRows();
      const data = newEvent();
      const res = await coreWrite(data, ['acme', 'beta']);
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ code: CommonErrorCode.ValidationFailed });
      expect(res.body.errors).toEqual([{ field: 'event_data.product', messages: [expect.stringMatching(/^product is required: .*acme, beta/)] }]);
      expect(await countRows()).toBe(before);
      expect(await rowOf(data.event_id)).toBeUndefined();
      // Naming one of them is fine; `product: null` names none.
      expect((await coreWrite({ ...data, product: null }, ['acme', 'beta'])).status).toBe(422);
      expect((await coreWrite({ ...data, product: 'beta' }, ['acme', 'beta'])).status).toBe(201);
    });

    it('from an unrestricted writer stays without a product', async () => {
      const data = newEvent();
      expect((await coreWrite(data)).status).toBe(201);
      expect((await rowOf(data.event_id)).product).toBeNull();
    });

    it('in a batch: each event is judged alone; the one that must name a product gets its own 422', async () => {
      const before = await countRows();
      const named = newEvent({ product: 'beta' });
      const unnamed = newEvent();
      const res = await post(
        BUCKET_WRITE_EVENTS_ROUTES.core,
        { events: [named, unnamed].map((event_data) => ({ body: { requester_id: RequesterId.Core, event_data } })) },
        RequesterId.Core,
        ['acme', 'beta'],
      );
      expect(res.status).toBe(200);
      expect(res.body.results.map((r: { status: number }) => r.status)).toEqual([201, 422]);
      expect(res.body.results[1].body.errors.map((e: { field: string }) => e.field)).toEqual(['event_data.product']);
      expect(await countRows()).toBe(before + 1);
      expect(await rowOf(unnamed.event_id)).toBeUndefined();

      const single = newEvent();
      const one = await post(BUCKET_WRITE_EVENTS_ROUTES.core, { events: [{ body: { requester_id: RequesterId.Core, event_data: single } }] }, RequesterId.Core, ['acme']);
      expect(one.body.results[0].status).toBe(201);
      expect((await rowOf(single.event_id)).product).toBe('acme');
    });

    it('in a PRANA batch: a one-product writer\'s packet is that product\'s; several products and none named refuse the batch (422)', async () => {
      const mine = packet();
      const ok = await prana([mine], ['acme']);
      expect(ok.status).toBe(201);
      expect(await rowOf(mine.event_id)).toMatchObject({ product: 'acme', event_data: { product: 'acme' } });
      const view = await get(`/bucket/prana/user/${mine.user_id}`, RequesterId.Prana, ['acme']);
      expect(view.body).toMatchObject({ total: 1, packets: [{ event_id: mine.event_id, product: 'acme' }] });
      // Its retry is a duplicate, not a conflict.
      expect((await prana([mine], ['acme'])).body).toMatchObject({ accepted: 0, duplicates: 1, conflicts: 0 });

      const before = await countRows();
      const refused = await prana([packet({ product: 'beta' }), packet(), packet()], ['acme', 'beta']);
      expect(refused.status).toBe(422);
      expect(refused.body.code).toBe(CommonErrorCode.ValidationFailed);
      expect(refused.body.errors.map((e: { field: string }) => e.field)).toEqual(['packets.1.product', 'packets.2.product']);
      expect(await countRows()).toBe(before);

      const unrestricted = packet();
      expect((await prana([unrestricted])).status).toBe(201);
      expect((await rowOf(unrestricted.event_id)).product).toBeNull();
      expect((await rowOf(unrestricted.event_id)).event_data.product).toBeUndefined();
    });
  });

  describe('a 409 for an event_id already recorded', () => {
    it("names no seq of another product's entry", async () => {
      const data = newEvent({ product: 'acme', x: 1 });
      const first = await coreWrite(data, ['acme']);
      expect(first.status).toBe(201);
      const before = await countRows();

      const res = await coreWrite({ ...data, product: 'beta', x: 2 }, ['beta']);
      expect(res.status).toBe(409);
      expect(res.body.code).toBe(BucketErrorCode.EventIdConflict);
      expect(res.body.message).toBe(`event_id ${data.event_id} is already recorded`);
      expect(mentionsSeq(res.body, first.body.seq)).toBe(false);
      expect(await countRows()).toBe(before);

      // The batch route answers the same.
      const batch = await post(BUCKET_WRITE_EVENTS_ROUTES.core, { events: [{ body: { requester_id: RequesterId.Core, event_data: { ...data, product: 'beta', x: 3 } } }] }, RequesterId.Core, ['beta']);
      expect(batch.body.results[0].status).toBe(409);
      expect(mentionsSeq(batch.body.results[0].body, first.body.seq)).toBe(false);
    });

    it('still names the seq of an entry of the caller\'s products', async () => {
      const data = newEvent({ product: 'acme', x: 1 });
      const first = await coreWrite(data, ['acme']);
      const res = await coreWrite({ ...data, x: 2 }, ['acme']);
      expect(res.status).toBe(409);
      expect(res.body.message).toBe(`event_id ${data.event_id} is already recorded (seq ${first.body.seq}) with different content or by another requester`);
      // An unrestricted caller sees every product.
      expect((await coreWrite({ ...data, x: 3 })).body.message).toContain(`(seq ${first.body.seq})`);
    });

    it("in PRANA's errors[]: no seq of another product's entry, the seq of one of the caller's", async () => {
      const acme = packet({ product: 'acme' });
      const first = await prana([acme], ['acme']);
      expect(first.status).toBe(201);
      const seq = first.body.entries[0].seq as number;

      const outside = await prana([{ ...acme, product: 'beta', state: 'IDLE' }], ['beta']);
      expect(outside.status).toBe(409);
      expect(outside.body.errors).toEqual([{ field: 'packets.0.event_id', messages: [`event_id ${acme.event_id} is already recorded`] }]);
      expect(mentionsSeq(outside.body, seq)).toBe(false);

      const inside = await prana([{ ...acme, state: 'IDLE' }], ['acme']);
      expect(inside.status).toBe(409);
      expect(inside.body.errors).toEqual([{ field: 'packets.0.event_id', messages: [`event_id ${acme.event_id} is already recorded (seq ${seq}) with other content`] }]);
    });
    it("in a PRANA batch that stores others: the conflicting packet's entry has no seq of another product's entry", async () => {
      const acme = packet({ product: 'acme' });
      const first = await prana([acme], ['acme']);
      expect(first.status).toBe(201);
      const seq = first.body.entries[0].seq as number;

      const fresh = packet({ product: 'beta' });
      const mixed = await prana([{ ...acme, product: 'beta', state: 'IDLE' }, fresh], ['beta']);
      expect(mixed.status).toBe(201);
      expect(mixed.body).toMatchObject({ accepted: 1, duplicates: 0, conflicts: 1 });
      expect(mixed.body.entries[0]).toEqual({ event_id: acme.event_id, duplicate: false, conflict: true });
      expect(mixed.body.entries[1]).toEqual({ event_id: fresh.event_id, seq: expect.any(Number), duplicate: false, conflict: false });
      expect(mentionsSeq(mixed.body.entries[0], seq)).toBe(false);

      // The caller whose products name the entry still sees its seq.
      const own = await prana([{ ...acme, state: 'IDLE' }, packet({ product: 'acme' })], ['acme']);
      expect(own.status).toBe(201);
      expect(own.body.entries[0]).toEqual({ event_id: acme.event_id, seq, duplicate: false, conflict: true });
    });
  });

  describe('an entry the release before implied products stored with no product (upgrade)', () => {
    // The old release stored a one-product writer's product-less write with product NULL; the same requester writing
    // with an unrestricted credential stores exactly that row (same requester, same content, no product), so the two
    // cannot be told apart: such an entry is the replay of the same requester's same content with an implied product.
    it('resent with its event_id by the narrowed writer is the replay (200, same seq), not a 409', async () => {
      const data = newEvent({ note: randomUUID() });
      const old = await coreWrite(data);
      expect(old.status).toBe(201);
      expect((await rowOf(data.event_id)).product).toBeNull();
      const before = await countRows();

      const retry = await coreWrite(data, ['acme']);
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ event_id: data.event_id, seq: old.body.seq, hash: old.body.hash, replayed: true });
      expect(await countRows()).toBe(before);
      expect((await rowOf(data.event_id)).product).toBeNull();
    });

    it('resent without an event_id (derived id) by the narrowed writer is the replay, not a second entry', async () => {
      const derived = { event_type: 'task_received', note: randomUUID() };
      const old = await coreWrite(derived);
      expect(old.status).toBe(201);
      expect((await rowOf(old.body.event_id)).product).toBeNull();
      const before = await countRows();

      const retry = await coreWrite(derived, ['acme']);
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ event_id: old.body.event_id, seq: old.body.seq, replayed: true });
      expect(await countRows()).toBe(before);
    });
  });
});
