// The batch write routes (POST /core/write-events, /workflow/write-events) on the real app and PostgreSQL.
import { BUCKET_WRITE_EVENTS_ROUTES, BucketErrorCode, CommonErrorCode, MAX_EVENT_BATCH, RequesterId } from '@pancha/contracts';
import type { ServiceWithDatabase } from '@pancha/testing';
import { randomBytes, randomUUID } from 'node:crypto';
import request from 'supertest';
import { bootBucket } from '../testing/bucket-test-app';

jest.setTimeout(60_000);

describe('bucket batch writes (HTTP, real PostgreSQL)', () => {
  let bucket: ServiceWithDatabase;

  const tokenOf = (who: RequesterId, products?: string[]): Promise<string> => bucket.keys.mint(who, 'bucket', products ? { products } : undefined);
  const postWith = (url: string, body: unknown, token: string) => request(bucket.url).post(url).set('authorization', `Bearer ${token}`).send(body as object);
  const post = async (url: string, body: unknown, who: RequesterId = RequesterId.Core, products?: string[]) => postWith(url, body, await tokenOf(who, products));
  const coreBatch = (events: unknown[], who: RequesterId = RequesterId.Core, products?: string[]) =>
    post(BUCKET_WRITE_EVENTS_ROUTES.core, { events }, who, products);

  const countRows = async (): Promise<number> => (await bucket.dataSource.query('SELECT count(*)::int AS n FROM bucket_entries'))[0].n;
  const rowOf = async (eventId: string) => (await bucket.dataSource.query('SELECT * FROM bucket_entries WHERE event_id = $1', [eventId]))[0];
  const newEvent = (extra: Record<string, unknown> = {}) => ({ event_id: randomUUID(), event_type: 'task_received', ...extra });
  const coreItem = (eventData: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    body: { requester_id: RequesterId.Core, event_data: eventData },
    ...extra,
  });

  beforeAll(async () => {
    bucket = await bootBucket({ database: 'bucket_batch' });
  });

  afterAll(() => bucket?.close());

  it('answers each event on its own: the good ones commit, a bad one gets its own 4xx and stores nothing', async () => {
    const before = await countRows();
    const conflicting = newEvent({ x: 1 });
    expect((await coreBatch([coreItem(conflicting)])).status).toBe(200);

    const good = [newEvent({ n: 1, nested: { keep: ['every', 'member'] } }), newEvent({ n: 2 })];
    const res = await coreBatch([
      coreItem(good[0]),
      coreItem({ event_id: 'not-a-uuid' }), // 422: event_id, event_type
      { body: { requester_id: RequesterId.WorkflowExecutor, event_data: newEvent() } }, // 403 requester_mismatch
      coreItem({ ...conflicting, x: 2 }), // 409: same event_id, other content
      { body: 'not an object' }, // 422
      coreItem(good[1]),
    ]);

    expect(res.status).toBe(200);
    const results = res.body.results as { status: number; body: { code?: string; seq?: number; errors?: { field: string }[] } }[];
    expect(results.map((r) => r.status)).toEqual([201, 422, 403, 409, 422, 201]);
    expect(results[1].body.code).toBe(CommonErrorCode.ValidationFailed);
    expect(results[1].body.errors?.map((e) => e.field)).toEqual(expect.arrayContaining(['event_data.event_id', 'event_data.event_type']));
    expect(results[2].body.code).toBe(CommonErrorCode.RequesterMismatch);
    expect(results[3].body.code).toBe(BucketErrorCode.EventIdConflict);
    // The good ones went into one append: consecutive seqs, event_data stored verbatim.
    expect((results[5].body.seq as number) - (results[0].body.seq as number)).toBe(1);
    expect((await rowOf(good[0].event_id)).event_data).toEqual(good[0]);
    expect(await countRows()).toBe(before + 3);
  });

  it('an agent_id longer than read-context can index is that event\'s 422, never a 500 for it or its neighbours', async () => {
    const before = await countRows();
    const good = newEvent({ agent_id: 'agent-7' });
    const res = await coreBatch([coreItem(newEvent({ agent_id: randomBytes(3000).toString('hex') })), coreItem(good), coreItem(newEvent({ agent_id: { big: 'x' } }))]);
    expect(res.status).toBe(200);
    const results = res.body.results as { status: number; body: { errors?: { field: string }[] } }[];
    expect(results.map((r) => r.status)).toEqual([422, 201, 422]);
    expect(results[0].body.errors?.map((e) => e.field)).toEqual(['event_data.agent_id']);
    expect(results[2].body.errors?.map((e) => e.field)).toEqual(['event_data.agent_id']);
    expect(await countRows()).toBe(before + 1);
    const single = await post('/core/write-event', { requester_id: RequesterId.Core, event_data: newEvent({ agent_id: 'a'.repeat(256) }) });
    expect([single.status, single.body.errors?.[0]?.field]).toEqual([422, 'event_data.agent_id']);
  });

  it('answers an event holding text PostgreSQL cannot store, or nested too deep, with its own 422 naming the field, storing its neighbours', async () => {
    const before = await countRows();
    const good = [newEvent({ n: 1 }), newEvent({ n: 2 })];
    const deep = JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`);
    const res = await coreBatch([
      coreItem(newEvent({ note: 'lone \ud800 surrogate' })),
      coreItem(good[0]),
      coreItem(newEvent({ deep })),
      coreItem(newEvent({ 'k\u0000': 'NUL in a key' })),
      coreItem(good[1]),
    ]);
    expect(res.status).toBe(200);
    const results = res.body.results as { status: number; body: { code?: string; errors?: { field: string; messages: string[] }[] } }[];
    expect(results.map((r) => r.status)).toEqual([422, 201, 422, 422, 201]);
    expect(results[0].body).toMatchObject({ code: CommonErrorCode.ValidationFailed, errors: [{ field: 'event_data.note', messages: ['must be well-formed Unicode (unpaired surrogate)'] }] });
    // The item's body is measured as the single route measures its body: the same 32 levels, the same path.
    expect(results[2].body.errors?.map((e) => e.field)).toEqual([['event_data', 'deep', ...Array<string>(30).fill('0')].join('.')]);
    expect(results[3].body.errors?.map((e) => e.field)).toEqual(['event_data.k\u0000']);
    expect((await rowOf(good[1].event_id)).event_data).toEqual(good[1]);
    expect(await countRows()).toBe(before + 2);
  });

  it('answers an event nested 100k levels deep with its own 422, not a crash', async () => {
    const good = newEvent();
    const raw = `{"events":[{"body":{"requester_id":"bhiv_core","event_data":{"event_id":"${randomUUID()}","event_type":"t","d":${'['.repeat(100_000)}${']'.repeat(100_000)}}}},${JSON.stringify(coreItem(good))}]}`;
    const res = await request(bucket.url)
      .post(BUCKET_WRITE_EVENTS_ROUTES.core)
      .set('authorization', `Bearer ${await tokenOf(RequesterId.Core)}`)
      .set('content-type', 'application/json')
      .send(raw);
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { status: number }) => r.status)).toEqual([422, 201]);
    expect(await rowOf(good.event_id)).toBeDefined();
  });

  it("still refuses the whole request when the envelope itself holds what cannot be stored (an item's traceparent)", async () => {
    const before = await countRows();
    const res = await coreBatch([coreItem(newEvent()), coreItem(newEvent(), { traceparent: 'a\u0000b' })]);
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['events.1.traceparent']);
    expect(await countRows()).toBe(before);
  });

  it('deduplicates a retried batch (and a repeat inside one batch): the originals are answered 200, nothing is stored twice', async () => {
    const events = [newEvent({ a: 1 }), newEvent({ b: 2 })];
    const first = await coreBatch(events.map((e) => coreItem(e)));
    expect(first.body.results.map((r: { status: number }) => r.status)).toEqual([201, 201]);
    const before = await countRows();
    // The relay retries a batch whose answer it never heard (crash between commit and acknowledgement).
    const retry = await coreBatch([...events.map((e) => coreItem(e)), coreItem(events[0])]);
    expect(retry.status).toBe(200);
    expect(retry.body.results.map((r: { status: number; replayed: boolean }) => [r.status, r.replayed])).toEqual([[200, true], [200, true], [200, true]]);
    expect(retry.body.results[0].body).toMatchObject({ event_id: events[0].event_id, seq: first.body.results[0].body.seq, replayed: true });
    expect(await countRows()).toBe(before);

    const fresh = newEvent();
    const twice = await coreBatch([coreItem(fresh), coreItem(fresh)]);
    expect(twice.body.results.map((r: { status: number }) => r.status)).toEqual([201, 200]);
    expect(await countRows()).toBe(before + 1);
  });

  it('continues the trace each event carries when the event names none itself', async () => {
    const traceId = 'c'.repeat(32);
    const own = newEvent({ trace_id: 'd'.repeat(32) });
    const carried = newEvent();
    await coreBatch([coreItem(carried, { traceparent: `00-${traceId}-${'1'.repeat(16)}-01` }), coreItem(own, { traceparent: `00-${traceId}-${'2'.repeat(16)}-01` })]);
    expect((await rowOf(carried.event_id)).trace_id).toBe(traceId);
    expect((await rowOf(own.event_id)).trace_id).toBe('d'.repeat(32));
  });

  describe('governance, as on the single routes', () => {
    it('refuses a request without a credential, with a bad one, or with a write token used twice (401)', async () => {
      const body = { events: [coreItem(newEvent())] };
      expect((await request(bucket.url).post(BUCKET_WRITE_EVENTS_ROUTES.core).send(body)).status).toBe(401);
      expect((await postWith(BUCKET_WRITE_EVENTS_ROUTES.core, body, 'not.a.jwt')).status).toBe(401);
      const token = await tokenOf(RequesterId.Core);
      expect((await postWith(BUCKET_WRITE_EVENTS_ROUTES.core, body, token)).status).toBe(200);
      const before = await countRows();
      expect((await postWith(BUCKET_WRITE_EVENTS_ROUTES.core, { events: [coreItem(newEvent())] }, token)).status).toBe(401);
      expect(await countRows()).toBe(before);
    });

    it('refuses a requester without the write operation (403) and stores nothing', async () => {
      const before = await countRows();
      const res = await post(BUCKET_WRITE_EVENTS_ROUTES.core, { events: [{ body: { requester_id: RequesterId.Karma, event_data: newEvent() } }] }, RequesterId.Karma);
      expect(res.status).toBe(403);
      expect(await countRows()).toBe(before);
    });

    it("refuses, per event, a channel the requester does not own and a product outside the token's scope", async () => {
      const before = await countRows();
      const wrongChannel = await post(BUCKET_WRITE_EVENTS_ROUTES.core, { events: [{ body: { requester_id: RequesterId.WorkflowExecutor, event_data: newEvent() } }] }, RequesterId.WorkflowExecutor);
      expect(wrongChannel.status).toBe(200);
      expect(wrongChannel.body.results[0]).toMatchObject({ status: 403, body: { code: BucketErrorCode.ChannelForbidden } });

      const scoped = await coreBatch([coreItem(newEvent({ product: 'p1' })), coreItem(newEvent({ product: 'p2' }))], RequesterId.Core, ['p1']);
      expect(scoped.body.results.map((r: { status: number }) => r.status)).toEqual([201, 403]);
      expect(scoped.body.results[1].body.code).toBe(BucketErrorCode.ProductForbidden);
      expect(await countRows()).toBe(before + 1);
    });

    it('takes the workflow channel from the executor', async () => {
      const event = newEvent({ event_type: 'workflow_execution' });
      const res = await post(BUCKET_WRITE_EVENTS_ROUTES.workflow, { events: [{ body: { requester_id: RequesterId.WorkflowExecutor, event_data: event } }] }, RequesterId.WorkflowExecutor);
      expect(res.body.results[0].status).toBe(201);
      expect((await rowOf(event.event_id)).channel).toBe('workflow');
    });
  });

  it('refuses a malformed envelope whole (422 naming it): no events, too many, an item without a body', async () => {
    const before = await countRows();
    for (const [body, field] of [
      [{}, 'events'],
      [{ events: [] }, 'events'],
      [{ events: Array.from({ length: MAX_EVENT_BATCH + 1 }, () => coreItem(newEvent())) }, 'events'],
      [{ events: [{ traceparent: 'x' }] }, 'events.0.body'],
    ] as const) {
      const res = await post(BUCKET_WRITE_EVENTS_ROUTES.core, body);
      expect(res.status).toBe(422);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    expect(await countRows()).toBe(before);
  });

  it('keeps the single route working unchanged', async () => {
    const event = newEvent();
    const res = await post('/core/write-event', { requester_id: RequesterId.Core, event_data: event });
    expect(res.status).toBe(201);
    const batched = await coreBatch([coreItem(event)]);
    expect(batched.body.results[0]).toMatchObject({ status: 200, body: { seq: res.body.seq, replayed: true } });
  });
});
