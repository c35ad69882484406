/**
 * What the original clients send and what a hostile requester tries: writes without event_id, the original
 * reply fields, channel ownership, malformed PRANA batches, the ingest 409 shape and whole-chain views.
 */
import { BucketErrorCode, CommonErrorCode, RequesterId } from '@pancha/contracts';
import type { ServiceWithDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { deriveEventId } from './chain/derived-event-id';
import { bootBucket } from './testing/bucket-test-app';

jest.setTimeout(120_000);

describe('bucket: the original contract and channel ownership (HTTP, real PostgreSQL)', () => {
  /** The one error shape: exactly code, message and trace_id (null here: no OTel SDK in the test process), plus errors. */
  const errorShape = (body: Record<string, unknown>, withErrors = false) =>
    expect(Object.keys(body).sort()).toEqual(withErrors ? ['code', 'errors', 'message', 'trace_id'] : ['code', 'message', 'trace_id']);
  let bucket: ServiceWithDatabase;

  /** A fresh token per request (tokens live 60 s; a cached one fails a slow run). */
  const tokenOf = (who: RequesterId, products?: string[]) => bucket.keys.mint(who, 'bucket', products ? { products } : undefined);
  const post = async (url: string, body: unknown, who: RequesterId = RequesterId.Core, products?: string[]) =>
    request(bucket.url).post(url).set('authorization', `Bearer ${await tokenOf(who, products)}`).send(body as object);
  const get = async (url: string, who: RequesterId = RequesterId.Core, products?: string[]) =>
    request(bucket.url).get(url).set('authorization', `Bearer ${await tokenOf(who, products)}`);
  const countRows = async (): Promise<number> => (await bucket.dataSource.query('SELECT count(*)::int AS n FROM bucket_entries'))[0].n;

  beforeAll(async () => {
    bucket = await bootBucket({ database: 'bucket_original' });
  });

  afterAll(() => bucket?.close());

  describe('event_data without event_id (the original clients)', () => {
    // What the original executor sends: no event_id at all.
    const original = () => ({
      event_type: 'workflow_execution',
      trace_id: randomUUID().replace(/-/g, ''),
      action_type: 'email',
      status: 'success',
      execution_result: { success: true, message_id: `m-${randomUUID()}` },
      timestamp: new Date().toISOString(),
    });

    it('is accepted (201) with the original reply fields beside Pancha\'s, keyed by requester and content', async () => {
      const data = original();
      const res = await post('/workflow/write-event', { requester_id: 'workflow_executor', event_data: data }, RequesterId.WorkflowExecutor);
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        success: true,
        message: expect.stringMatching(/recorded/),
        event_id: deriveEventId('workflow_executor', data),
        seq: expect.any(Number),
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        replayed: false,
      });
      const [row] = await bucket.dataSource.query('SELECT event_id, event_data FROM bucket_entries WHERE seq = $1', [res.body.seq]);
      // Stored verbatim: Bucket does not add the derived id to what the client sent.
      expect(row).toEqual({ event_id: res.body.event_id, event_data: data });
    });

    it('records a retried original write once (200, the first entry), whatever the key order', async () => {
      const data = original();
      const first = await post('/workflow/write-event', { requester_id: 'workflow_executor', event_data: data }, RequesterId.WorkflowExecutor);
      const before = await countRows();
      const reordered = Object.fromEntries(Object.entries(data).reverse());
      const again = await post('/workflow/write-event', { requester_id: 'workflow_executor', event_data: reordered }, RequesterId.WorkflowExecutor);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ success: true, event_id: first.body.event_id, seq: first.body.seq, hash: first.body.hash, replayed: true });
      expect(again.body.message).toMatch(/already recorded/);
      expect(await countRows()).toBe(before);
    });

    it('keeps different content apart, and an explicit event_id still says "same event"', async () => {
      const data = original();
      const a = await post('/workflow/write-event', { requester_id: 'workflow_executor', event_data: data }, RequesterId.WorkflowExecutor);
      const b = await post('/workflow/write-event', { requester_id: 'workflow_executor', event_data: { ...data, status: 'failed' } }, RequesterId.WorkflowExecutor);
      expect([a.status, b.status]).toEqual([201, 201]);
      expect(b.body.event_id).not.toBe(a.body.event_id);

      const explicit = { ...original(), event_id: randomUUID() };
      const c = await post('/workflow/write-event', { requester_id: 'workflow_executor', event_data: explicit }, RequesterId.WorkflowExecutor);
      expect(c.status).toBe(201);
      expect(c.body.event_id).toBe(explicit.event_id);
      const conflict = await post('/workflow/write-event', { requester_id: 'workflow_executor', event_data: { ...explicit, status: 'failed' } }, RequesterId.WorkflowExecutor);
      expect(conflict.status).toBe(409);
      errorShape(conflict.body);
      expect(conflict.body).toMatchObject({ code: BucketErrorCode.EventIdConflict, message: expect.any(String) });
    });

    it('still refuses an event_id that is not a uuid (422) and stores nothing', async () => {
      const before = await countRows();
      const res = await post('/core/write-event', { requester_id: 'bhiv_core', event_data: { event_id: 'not-a-uuid', event_type: 't' } });
      expect(res.status).toBe(422);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['event_data.event_id']);
      expect(await countRows()).toBe(before);
    });
  });

  describe('a derived event id cannot be squatted by another requester', () => {
    // The executor's original write (no event_id): its key is derived from requester and content, so anyone who can
    // guess the content can compute it and write first under it with an explicit event_id.
    const original = () => ({ event_type: 'workflow_execution', action_type: 'email', status: 'success', run: randomUUID() });
    const executorWrite = (data: Record<string, unknown>) =>
      post('/workflow/write-event', { requester_id: 'workflow_executor', event_data: data }, RequesterId.WorkflowExecutor);
    const rowOf = async (eventId: string) =>
      (await bucket.dataSource.query('SELECT seq::int AS seq, requester_id, event_data FROM bucket_entries WHERE event_id = $1', [eventId]))[0];

    it('records the producer\'s write (201, its own entry) when Core wrote first under its derived id, and dedupes its retry', async () => {
      const data = original();
      const squatted = deriveEventId('workflow_executor', data);
      const squat = await post('/core/write-event', { requester_id: 'bhiv_core', event_data: { event_type: 'task_received', event_id: squatted } });
      expect(squat.status).toBe(201);

      const first = await executorWrite(data);
      expect(first.status).toBe(201);
      expect(first.body).toMatchObject({ success: true, replayed: false, event_id: deriveEventId('workflow_executor', data, 1) });
      expect(await rowOf(first.body.event_id)).toEqual({ seq: first.body.seq, requester_id: 'workflow_executor', event_data: data });
      // The squatter's entry is untouched.
      expect(await rowOf(squatted)).toMatchObject({ seq: squat.body.seq, requester_id: 'bhiv_core' });

      const before = await countRows();
      const retry = await executorWrite(Object.fromEntries(Object.entries(data).reverse()));
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ replayed: true, event_id: first.body.event_id, seq: first.body.seq, hash: first.body.hash });
      expect(await countRows()).toBe(before);
    });

    it('still finds a free id when several candidates are squatted (HTTP, PRANA packets and the batch route)', async () => {
      const data = original();
      const core = await post('/core/write-event', { requester_id: 'bhiv_core', event_data: { event_type: 't', event_id: deriveEventId('workflow_executor', data) } });
      const prana = await post(
        '/bucket/prana/ingest',
        { packets: [{ event_id: deriveEventId('workflow_executor', data, 1), user_id: 'u', state: 'IDLE', timestamp: new Date().toISOString() }] },
        RequesterId.Prana,
      );
      expect([core.status, prana.status]).toEqual([201, 201]);

      const batch = async () =>
        post('/workflow/write-events', { events: [{ body: { requester_id: 'workflow_executor', event_data: data } }] }, RequesterId.WorkflowExecutor);
      const first = await batch();
      expect(first.status).toBe(200);
      expect(first.body.results[0]).toMatchObject({ status: 201, body: { event_id: deriveEventId('workflow_executor', data, 2), replayed: false } });
      const again = await batch();
      expect(again.body.results[0]).toMatchObject({ status: 200, body: { event_id: first.body.results[0].body.event_id, replayed: true } });
      // The single route agrees with the batch route.
      const single = await executorWrite(data);
      expect(single.status).toBe(200);
      expect(single.body.seq).toBe(first.body.results[0].body.seq);
      expect(await rowOf(single.body.event_id)).toMatchObject({ requester_id: 'workflow_executor', event_data: data });
    });

    it('keeps an entry written before this fix under the first derived id: its retry is still the replay', async () => {
      const data = original();
      const first = await executorWrite(data);
      expect(first.body.event_id).toBe(deriveEventId('workflow_executor', data));
      const retry = await executorWrite(data);
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ event_id: first.body.event_id, seq: first.body.seq, replayed: true });
    });
  });

  describe('channels belong to requesters (config/policy.yaml channels.bucket)', () => {
    it.each([
      ['prana writes a task_dispatched to the core channel', '/core/write-event', RequesterId.Prana, 'core'],
      ['the executor writes a task event to the core channel', '/core/write-event', RequesterId.WorkflowExecutor, 'core'],
      ['core writes a workflow_execution to the workflow channel', '/workflow/write-event', RequesterId.Core, 'workflow'],
      ['prana writes a workflow_execution to the workflow channel', '/workflow/write-event', RequesterId.Prana, 'workflow'],
    ])('refuses when %s (403 channel_forbidden), storing nothing', async (_what, url, who, channel) => {
      const before = await countRows();
      const res = await post(url, { requester_id: who, event_data: { event_id: randomUUID(), event_type: 'task_dispatched', trace_id: 'f'.repeat(32) } }, who);
      expect(res.status).toBe(403);
      errorShape(res.body);
      expect(res.body).toMatchObject({ code: BucketErrorCode.ChannelForbidden, message: expect.stringContaining(channel) });
      expect(await countRows()).toBe(before);
    });

    it('gives karma no write on Bucket at all (least privilege)', async () => {
      const res = await post('/workflow/write-event', { requester_id: 'karma', event_data: { event_id: randomUUID(), event_type: 'workflow_execution' } }, RequesterId.Karma);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe(CommonErrorCode.Forbidden);
    });

    it('lets each owner write its own channel', async () => {
      const core = await post('/core/write-event', { requester_id: 'bhiv_core', event_data: { event_id: randomUUID(), event_type: 'task_received' } });
      const workflow = await post('/workflow/write-event', { requester_id: 'workflow_executor', event_data: { event_id: randomUUID(), event_type: 'workflow_execution' } }, RequesterId.WorkflowExecutor);
      expect([core.status, workflow.status]).toEqual([201, 201]);
    });
  });

  describe('POST /bucket/prana/ingest', () => {
    const packet = (extra: Record<string, unknown> = {}) => ({
      event_id: randomUUID(),
      user_id: 'u-prana',
      state: 'DEEP_FOCUS',
      timestamp: new Date().toISOString(),
      ...extra,
    });

    it.each([
      ['an array as a packet', { packets: [[]] }],
      ['a number as a packet', { packets: [1] }],
      ['null as a packet', { packets: [null] }],
      ['a string as a packet', { packets: ['x'] }],
      ['packets as an object', { packets: { 0: {} } }],
    ])('answers %s with 422, not a 500, storing nothing', async (_what, body) => {
      const before = await countRows();
      const res = await post('/bucket/prana/ingest', body, RequesterId.Prana);
      expect(res.status).toBe(422);
      errorShape(res.body, true);
      expect(res.body.code).toBe(CommonErrorCode.ValidationFailed);
      expect(res.body.errors.length).toBeGreaterThan(0);
      expect(await countRows()).toBe(before);
    });

    it('answers a batch of only conflicts with 409 in the {code, message, trace_id} shape, naming each packet', async () => {
      const a = packet();
      const b = packet();
      expect((await post('/bucket/prana/ingest', { packets: [a, b] }, RequesterId.Prana)).status).toBe(201);
      const res = await post('/bucket/prana/ingest', { packets: [a, { ...b, state: 'IDLE' }] }, RequesterId.Prana);
      expect(res.status).toBe(409);
      errorShape(res.body, true);
      expect(res.body).toMatchObject({
        code: BucketErrorCode.EventIdConflict,
        message: expect.stringMatching(/1 packet/),
        errors: [{ field: 'packets.1.event_id', messages: [expect.stringContaining(b.event_id)] }],
      });
    });

    it('is the prana channel\'s: another requester is refused (403 channel_forbidden)', async () => {
      const res = await post('/bucket/prana/ingest', { packets: [packet()] }, RequesterId.Core);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe(BucketErrorCode.ChannelForbidden);
    });
  });

  describe('whole-chain views are for callers that see every product', () => {
    it('GET /core/stats gives a product-scoped reader its counts but not the chain\'s size and head', async () => {
      await post('/core/write-event', { requester_id: 'bhiv_core', event_data: { event_id: randomUUID(), event_type: 't', product: 'p1' } });
      await post('/core/write-event', { requester_id: 'bhiv_core', event_data: { event_id: randomUUID(), event_type: 't', product: 'p2' } });
      const scoped = await get('/core/stats', RequesterId.Prana, ['p1']);
      expect(scoped.status).toBe(200);
      expect(scoped.body).not.toHaveProperty('size');
      expect(scoped.body).not.toHaveProperty('head_hash');
      const [{ n }] = await bucket.dataSource.query(`SELECT count(*)::int AS n FROM bucket_entries WHERE product = 'p1'`);
      expect(scoped.body).toMatchObject({ visible: n, by_channel: { core: n } });

      const all = await get('/core/stats');
      expect(all.body).toMatchObject({ size: await countRows(), head_hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    });

    it.each(['/audit/verify', '/audit/checkpoint'])('GET %s is 403 whole_chain_forbidden for a product-scoped reader', async (url) => {
      const res = await get(url, RequesterId.Prana, ['p1']);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe(BucketErrorCode.WholeChainForbidden);
      expect((await get(url, RequesterId.Prana)).status).toBe(200);
    });
  });
});
