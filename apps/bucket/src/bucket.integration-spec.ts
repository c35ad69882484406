import { BucketErrorCode, ChainFault, CommonErrorCode, GENESIS_HASH, MAX_BODY_BYTES, RequesterId } from '@pancha/contracts';
import type { BucketEntry, SignedCheckpoint } from '@pancha/contracts';
import { verifyCheckpoint } from '@pancha/bucket-client';
import type { ServiceWithDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import request from 'supertest';
import { bootBucket } from './testing/bucket-test-app';

jest.setTimeout(60_000);

describe('bucket (HTTP, real PostgreSQL)', () => {
  let bucket: ServiceWithDatabase;

  /** A new service token per request for `who`, optionally naming only some products (T9). */
  const tokenOf = (who: RequesterId, products?: string[]): Promise<string> =>
    bucket.keys.mint(who, 'bucket', products ? { products } : undefined);

  // One real listener: supertest on an unbound server opens a new ephemeral one per request, which
  // resets connections under hundreds of parallel requests.
  const http = () => request(bucket.url);
  const post = async (url: string, body: unknown, who: RequesterId = RequesterId.Core, products?: string[]) =>
    http().post(url).set('authorization', `Bearer ${await tokenOf(who, products)}`).send(body as object);
  const get = async (url: string, who: RequesterId = RequesterId.Core, products?: string[]) =>
    http().get(url).set('authorization', `Bearer ${await tokenOf(who, products)}`);

  const countRows = async (): Promise<number> => (await bucket.dataSource.query('SELECT count(*)::int AS n FROM bucket_entries'))[0].n;
  const rowOf = async (eventId: string) => (await bucket.dataSource.query('SELECT * FROM bucket_entries WHERE event_id = $1', [eventId]))[0];

  function newEvent(extra: Record<string, unknown> = {}) {
    return { event_id: randomUUID(), event_type: 'task_received', ...extra };
  }
  const coreWrite = (eventData: Record<string, unknown>) =>
    post('/core/write-event', { requester_id: RequesterId.Core, event_data: eventData });

  beforeAll(async () => {
    bucket = await bootBucket({ database: 'bucket_app', env: { BUCKET_VERIFY_BATCH_SIZE: '50' } });
  });

  afterAll(() => bucket?.close());

  describe('GET /health', () => {
    it('answers without a credential', async () => {
      const res = await http().get('/health');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ status: 'ok', service: 'bucket' });
    });
  });

  describe('POST /core/write-event', () => {
    it('appends a new entry (201) and stores event_data verbatim, channel and indexed columns', async () => {
      const data = newEvent({ trace_id: 'a'.repeat(32), product: 'p1', user_id: 'u-1', nested: { b: [1, 'two', null], a: true } });
      const res = await coreWrite(data);
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ success: true, message: 'event recorded at seq 1', event_id: data.event_id, seq: 1, hash: expect.stringMatching(/^[0-9a-f]{64}$/), replayed: false });
      const row = await rowOf(data.event_id);
      expect(row).toMatchObject({
        seq: '1',
        requester_id: 'bhiv_core',
        channel: 'core',
        event_type: 'task_received',
        trace_id: 'a'.repeat(32),
        product: 'p1',
        user_id: 'u-1',
        event_data: data,
        prev_hash: GENESIS_HASH,
        hash: res.body.hash,
      });
    });

    it('returns the original entry (200) for the same event in another key order, storing nothing', async () => {
      const data = newEvent({ x: 1, y: { k: 'v', j: 2 } });
      const first = await coreWrite(data);
      const before = await countRows();
      const reordered = { y: { j: 2, k: 'v' }, x: 1, event_type: data.event_type, event_id: data.event_id };
      const again = await coreWrite(reordered);
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ ...first.body, message: `event already recorded at seq ${first.body.seq}`, replayed: true });
      expect(await countRows()).toBe(before);
    });

    it('refuses the same event_id with other content (409 event_id_conflict), storing nothing', async () => {
      const data = newEvent({ x: 1 });
      await coreWrite(data);
      const before = await countRows();
      const res = await coreWrite({ ...data, x: 2 });
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ code: BucketErrorCode.EventIdConflict });
      expect(await countRows()).toBe(before);
    });

    it('rejects a forged requester_id (403) and stores nothing', async () => {
      const before = await countRows();
      const res = await post('/core/write-event', { requester_id: RequesterId.WorkflowExecutor, event_data: newEvent() }, RequesterId.Core);
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ code: CommonErrorCode.RequesterMismatch });
      expect(await countRows()).toBe(before);
    });

    it('rejects a request without a credential or with a bad one (401)', async () => {
      const body = { requester_id: RequesterId.Core, event_data: newEvent() };
      expect((await http().post('/core/write-event').send(body)).status).toBe(401);
      expect((await http().post('/core/write-event').set('authorization', 'Bearer not.a.jwt').send(body)).status).toBe(401);
    });

    it.each([
      ['no requester_id', { event_data: newEvent() }, ['requester_id']],
      ['no event_data', { requester_id: 'bhiv_core' }, ['event_data']],
      ['event_data is an array', { requester_id: 'bhiv_core', event_data: [1] }, ['event_data']],
      ['event_id not a uuid, no event_type', { requester_id: 'bhiv_core', event_data: { event_id: 'nope' } }, ['event_data.event_id', 'event_data.event_type']],
      ['trace_id and product not strings', { requester_id: 'bhiv_core', event_data: newEvent({ trace_id: 5, product: {} }) }, ['event_data.trace_id', 'event_data.product']],
      ['a NUL character', { requester_id: 'bhiv_core', event_data: newEvent({ note: 'a\u0000b' }) }, ['event_data.note']],
      ['nesting 40 levels deep', { requester_id: 'bhiv_core', event_data: newEvent({ deep: JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`) }) }, [['event_data', 'deep', ...Array<string>(30).fill('0')].join('.')]],
    ])('rejects %s (422 naming the fields) and stores nothing', async (_name, body, fields) => {
      const before = await countRows();
      const res = await post('/core/write-event', body);
      expect(res.status).toBe(422);
      expect(res.body.code).toBe(CommonErrorCode.ValidationFailed);
      // Every bad field is named (class-validator may add the members of a wrong-typed array).
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(expect.arrayContaining(fields));
      expect(await countRows()).toBe(before);
    });

    it('rejects a number JSON cannot store (1e400 parses to Infinity) with 422, not a 500', async () => {
      const before = await countRows();
      const { event_id } = newEvent();
      const res = await http()
        .post('/core/write-event')
        .set('authorization', `Bearer ${await tokenOf(RequesterId.Core)}`)
        .set('content-type', 'application/json')
        .send(`{"requester_id":"bhiv_core","event_data":{"event_id":"${event_id}","event_type":"x","n":1e400}}`);
      expect(res.status).toBe(422);
      expect(res.body.errors).toEqual([{ field: 'event_data.n', messages: ['must be a finite number'] }]);
      expect(await countRows()).toBe(before);
    });

    it('rejects 100k levels of nesting with 422, not a crash', async () => {
      const raw = `{"requester_id":"bhiv_core","event_data":{"event_id":"${randomUUID()}","event_type":"t","d":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
      const res = await http().post('/core/write-event').set('authorization', `Bearer ${await tokenOf(RequesterId.Core)}`).set('content-type', 'application/json').send(raw);
      expect(res.status).toBe(422);
    });

    it('rejects a body over 256 KiB (413) and stores nothing', async () => {
      const before = await countRows();
      const res = await coreWrite(newEvent({ blob: 'x'.repeat(MAX_BODY_BYTES) }));
      expect(res.status).toBe(413);
      expect(await countRows()).toBe(before);
    });

    it('refuses a product the credential does not name (403)', async () => {
      const res = await post('/core/write-event', { requester_id: 'bhiv_core', event_data: newEvent({ product: 'p2' }) }, RequesterId.Core, ['p1']);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe(BucketErrorCode.ProductForbidden);
    });
  });

  describe('POST /workflow/write-event', () => {
    it('records the executor\'s workflow_execution event on the workflow channel', async () => {
      const data = {
        event_id: randomUUID(),
        event_type: 'workflow_execution',
        trace_id: 'b'.repeat(32),
        action_type: 'email',
        status: 'success',
        execution_result: { success: true, message_id: 'm-1' },
        timestamp: new Date().toISOString(),
      };
      const res = await post('/workflow/write-event', { requester_id: 'workflow_executor', event_data: data }, RequesterId.WorkflowExecutor);
      expect(res.status).toBe(201);
      expect(await rowOf(data.event_id)).toMatchObject({ channel: 'workflow', requester_id: 'workflow_executor', trace_id: 'b'.repeat(32), event_data: data });
    });
  });

  describe('readers', () => {
    it.each(['/core/events', '/core/stats', '/core/read-context?agent_id=a', '/audit/verify', '/audit/checkpoint', '/bucket/prana/user/u'])(
      'refuse the executor on GET %s (403)',
      async (url) => {
        const res = await get(url, RequesterId.WorkflowExecutor);
        expect(res.status).toBe(403);
      },
    );

    it('GET /core/events filters by trace_id and pages by after_seq', async () => {
      const trace = randomUUID().replace(/-/g, '');
      const written: number[] = [];
      for (let i = 0; i < 5; i++) written.push((await coreWrite(newEvent({ trace_id: trace, i }))).body.seq);
      const first = await get(`/core/events?trace_id=${trace}&limit=2`);
      expect(first.status).toBe(200);
      expect(first.body.events.map((e: BucketEntry) => e.seq)).toEqual(written.slice(0, 2));
      expect(first.body.next_after_seq).toBe(written[1]);
      const rest = await get(`/core/events?trace_id=${trace}&after_seq=${written[1]}&limit=10`);
      expect(rest.body.events.map((e: BucketEntry) => e.event_data.i)).toEqual([2, 3, 4]);
      expect(rest.body.next_after_seq).toBeNull();
      expect(rest.body.events[0]).toEqual({
        seq: written[2],
        event_id: expect.any(String),
        requester_id: 'bhiv_core',
        channel: 'core',
        event_type: 'task_received',
        trace_id: trace,
        product: null,
        user_id: null,
        event_data: expect.objectContaining({ i: 2 }),
        content_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        prev_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      });
    });

    it('GET /core/events filters by user_id (alone and with trace_id) and pages within the filter', async () => {
      const trace = randomUUID().replace(/-/g, '');
      const asha = `asha-${randomUUID()}`;
      const ravi = `ravi-${randomUUID()}`;
      const mine: number[] = [];
      for (let i = 0; i < 5; i++) {
        const user = i % 2 === 0 ? asha : ravi;
        const seq = (await coreWrite(newEvent({ trace_id: trace, user_id: user, i }))).body.seq as number;
        if (user === asha) mine.push(seq);
      }
      const first = await get(`/core/events?user_id=${asha}&limit=2`);
      expect(first.status).toBe(200);
      expect(first.body.events.map((e: BucketEntry) => [e.seq, e.user_id])).toEqual([
        [mine[0], asha],
        [mine[1], asha],
      ]);
      expect(first.body.next_after_seq).toBe(mine[1]);
      const rest = await get(`/core/events?user_id=${asha}&after_seq=${first.body.next_after_seq}&limit=2`);
      expect(rest.body.events.map((e: BucketEntry) => e.event_data.i)).toEqual([4]);
      expect(rest.body.next_after_seq).toBeNull();
      const both = await get(`/core/events?user_id=${ravi}&trace_id=${trace}`);
      expect(both.body.events.map((e: BucketEntry) => e.event_data.i)).toEqual([1, 3]);
      expect((await get(`/core/events?user_id=${ravi}&trace_id=${'f'.repeat(32)}`)).body).toEqual({ events: [], next_after_seq: null });
      expect((await get(`/core/events?user_id=${'x'.repeat(300)}`)).status).toBe(422);
    });

    it.each([
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['limit=abc', 'limit'],
      ['after_seq=-1', 'after_seq'],
      ['after_seq=99999999999999999999', 'after_seq'],
      ['after_seq=9223372036854775807', 'after_seq'],
      ['limit=1&limit=2', 'limit'],
    ])('GET /core/events?%s is 422 naming %s', async (query, field) => {
      const res = await get(`/core/events?${query}`);
      expect(res.status).toBe(422);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual([field]);
    });

    it('GET /core/events with a NUL in a filter is 422, not a database error', async () => {
      const res = await get('/core/events?trace_id=a%00b');
      expect(res.status).toBe(422);
    });

    it('GET /core/stats counts by event type, channel and requester', async () => {
      const res = await get('/core/stats');
      expect(res.status).toBe(200);
      const total = await countRows();
      expect(res.body).toMatchObject({ size: total, visible: total, head_hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(res.body.by_channel).toEqual({ core: total - 1, workflow: 1 });
      expect(res.body.by_event_type.workflow_execution).toBe(1);
      expect(res.body.by_requester).toEqual({ bhiv_core: total - 1, workflow_executor: 1 });
    });

    it('GET /core/read-context returns the agent\'s latest entries (user_id or event_data.agent_id), newest first', async () => {
      const agent = `agent-${randomUUID()}`;
      const a = await coreWrite(newEvent({ user_id: agent }));
      const b = await coreWrite(newEvent({ agent_id: agent }));
      await coreWrite(newEvent({ user_id: 'someone-else' }));
      const res = await get(`/core/read-context?agent_id=${agent}`);
      expect(res.status).toBe(200);
      expect(res.body.agent_id).toBe(agent);
      expect(res.body.events.map((e: BucketEntry) => e.seq)).toEqual([b.body.seq, a.body.seq]);
      const missing = await get('/core/read-context');
      expect(missing.status).toBe(422);
      expect(missing.body.errors.map((e: { field: string }) => e.field)).toEqual(['agent_id']);
    });
  });

  describe('POST /bucket/prana/ingest and GET /bucket/prana/user/:user_id', () => {
    const packet = (user: string, state: string, extra: Record<string, unknown> = {}) => ({
      event_id: randomUUID(),
      user_id: user,
      session_id: 's-1',
      state,
      timestamp: new Date().toISOString(),
      duration_ms: 5000,
      ...extra,
    });

    it('appends each packet as a prana_packet entry and deduplicates by event_id', async () => {
      const user = `u-${randomUUID()}`;
      const packets = [packet(user, 'DEEP_FOCUS'), packet(user, 'DEEP_FOCUS'), packet(user, 'IDLE')];
      const first = await post('/bucket/prana/ingest', { packets }, RequesterId.Prana);
      expect(first.status).toBe(201);
      expect(first.body).toMatchObject({ accepted: 3, duplicates: 0, conflicts: 0 });
      const seqs = first.body.entries.map((e: { seq: number }) => e.seq);
      expect(seqs).toEqual([seqs[0], seqs[0] + 1, seqs[0] + 2]);

      const extra = packet(user, 'AWAY');
      const second = await post('/bucket/prana/ingest', { packets: [packets[0], extra, packets[2]] }, RequesterId.Prana);
      expect(second.status).toBe(201);
      expect(second.body).toEqual({
        accepted: 1,
        duplicates: 2,
        conflicts: 0,
        entries: [
          { event_id: packets[0].event_id, seq: seqs[0], duplicate: true, conflict: false },
          { event_id: extra.event_id, seq: seqs[2] + 1, duplicate: false, conflict: false },
          { event_id: packets[2].event_id, seq: seqs[2], duplicate: true, conflict: false },
        ],
      });

      // The same event_id with other content is refused (409), not silently taken for a duplicate.
      const changed = { ...packets[1], state: 'AWAY' };
      const conflict = await post('/bucket/prana/ingest', { packets: [changed] }, RequesterId.Prana);
      expect(conflict.status).toBe(409);
      expect(conflict.body).toMatchObject({ code: BucketErrorCode.EventIdConflict, errors: [{ field: 'packets.0.event_id', messages: [expect.stringContaining(`seq ${seqs[1]}`)] }] });

      // Only the PRANA client speaks for a user's attention.
      const forged = await post('/bucket/prana/ingest', { packets: [packet(user, 'DEEP_FOCUS')] }, RequesterId.WorkflowExecutor);
      expect(forged.status).toBe(403);
      expect(await rowOf(extra.event_id)).toMatchObject({ channel: 'prana', event_type: 'prana_packet', requester_id: 'prana', user_id: user });

      const view = await get(`/bucket/prana/user/${user}`, RequesterId.Prana);
      expect(view.status).toBe(200);
      expect(view.body).toMatchObject({
        user_id: user,
        total: 4,
        counts: { AWAY: 1, DISTRACTED: 0, IDLE: 1, OFF_TASK: 0, DEEP_FOCUS: 2, THINKING: 0, ON_TASK: 0 },
      });
      expect(view.body.packets.map((p: { state: string }) => p.state)).toEqual(['DEEP_FOCUS', 'DEEP_FOCUS', 'IDLE', 'AWAY']);
      expect(view.body.packets[0]).toMatchObject({ ...packets[0], seq: seqs[0] });
    });

    /** The original client's packet (docs/PRANA.md), as the PRANA BFF forwards it. */
    const original = (user: string, extra: Record<string, unknown> = {}) =>
      packet(user, 'ON_TASK', {
        lesson_id: 'lesson-7',
        system_type: 'gurukul',
        role: 'student',
        active_seconds: 3.5,
        idle_seconds: 1,
        away_seconds: 0.5,
        focus_score: 61,
        raw_signals: {
          keystrokes: 12, mouse_moves: 40, mouse_velocity_peak: 812.5, mouse_velocity_avg: 230.25, scrolls: 2, clicks: 3, rapid_clicks: 0,
          tab_switches: 0, dwell_seconds: 42.5, idle_seconds: null, visible: true, window_focused: true, panel_focused: true,
        },
        ...extra,
      });

    it("keeps the original packet's fields (seconds, focus_score, lesson_id, system_type, role, raw_signals) in the entry and the user view", async () => {
      const user = `u-${randomUUID()}`;
      const sent = original(user);
      const res = await post('/bucket/prana/ingest', { packets: [sent] }, RequesterId.Prana);
      expect(res.status).toBe(201);
      const { user_id, state, ...rest } = sent;
      const row = await rowOf(sent.event_id);
      expect(row).toMatchObject({ user_id, event_type: 'prana_packet' });
      expect(row.event_data).toEqual({ ...rest, user_id, state, event_type: 'prana_packet' });
      const view = await get(`/bucket/prana/user/${user}`, RequesterId.Prana);
      expect(view.body.packets).toEqual([{ ...sent, seq: Number(row.seq), created_at: expect.any(String) }]);
      // Unknown keys inside raw_signals are dropped, not stored.
      const padded = original(user, { raw_signals: { keystrokes: 1, secret: 'x'.repeat(10_000) } });
      expect((await post('/bucket/prana/ingest', { packets: [padded] }, RequesterId.Prana)).status).toBe(201);
      expect((await rowOf(padded.event_id)).event_data.raw_signals).toEqual({ keystrokes: 1 });
    });

    it.each([
      ['seconds that do not sum to 5.0', { active_seconds: 4, idle_seconds: 4, away_seconds: 0 }, ['packets.0.active_seconds', 'packets.0.idle_seconds', 'packets.0.away_seconds']],
      ['one of the three seconds alone', { active_seconds: 5, idle_seconds: undefined, away_seconds: undefined }, ['packets.0.active_seconds']],
      ['a focus_score over 100', { focus_score: 101 }, ['packets.0.focus_score']],
      ['an unknown system_type and role', { system_type: 'school', role: 'teacher' }, ['packets.0.system_type', 'packets.0.role']],
      ['an over-long lesson_id', { lesson_id: 'l'.repeat(256) }, ['packets.0.lesson_id']],
      ['raw_signals that are not an object', { raw_signals: 'lots' }, ['packets.0.raw_signals']],
      ['raw_signals with a negative count and a string', { raw_signals: { keystrokes: -1, visible: 'yes' } }, ['packets.0.raw_signals.keystrokes', 'packets.0.raw_signals.visible']],
    ])('rejects a packet with %s (422 naming the fields) and stores nothing', async (_name, extra, fields) => {
      const before = await countRows();
      const res = await post('/bucket/prana/ingest', { packets: [original('u', extra)] }, RequesterId.Prana);
      expect(res.status).toBe(422);
      expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([...fields].sort());
      expect(await countRows()).toBe(before);
    });

    it.each([
      ['no packets', { packets: [] }, ['packets']],
      ['an unknown state and a bad timestamp', { packets: [packet('u', 'SLEEPING', { timestamp: 'yesterday' })] }, ['packets.0.state', 'packets.0.timestamp']],
      ['501 packets', { packets: Array.from({ length: 501 }, () => packet('u', 'IDLE')) }, ['packets']],
      ['a packet without user_id', { packets: [packet('u', 'IDLE'), { ...packet('u', 'IDLE'), user_id: undefined }] }, ['packets.1.user_id']],
    ])('rejects %s (422 naming the fields) and stores nothing', async (_name, body, fields) => {
      const before = await countRows();
      const res = await post('/bucket/prana/ingest', body, RequesterId.Prana);
      expect(res.status).toBe(422);
      expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([...fields].sort());
      expect(await countRows()).toBe(before);
    });
  });

  describe('product isolation (T9)', () => {
    const p1Token: [RequesterId, string[]] = [RequesterId.Prana, ['p1']];

    it('a credential naming only p1 sees only p1 entries everywhere', async () => {
      const agent = `agent-${randomUUID()}`;
      await coreWrite(newEvent({ product: 'p1', user_id: agent }));
      await coreWrite(newEvent({ product: 'p2', user_id: agent }));
      await coreWrite(newEvent({ user_id: agent }));
      await post('/bucket/prana/ingest', { packets: [{ event_id: randomUUID(), user_id: agent, state: 'IDLE', timestamp: new Date().toISOString(), product: 'p2' }] }, RequesterId.Prana);

      const events = await get('/core/events?limit=1000', ...p1Token);
      expect(events.status).toBe(200);
      expect(events.body.events.length).toBeGreaterThan(0);
      expect(new Set(events.body.events.map((e: BucketEntry) => e.product))).toEqual(new Set(['p1']));

      const context = await get(`/core/read-context?agent_id=${agent}`, ...p1Token);
      expect(context.body.events.map((e: BucketEntry) => e.product)).toEqual(['p1']);
      const unrestricted = await get(`/core/read-context?agent_id=${agent}`, RequesterId.Prana);
      expect(unrestricted.body.events).toHaveLength(4);

      const stats = await get('/core/stats', ...p1Token);
      expect(stats.body.visible).toBe(events.body.events.length);
      // The chain's size and head describe every product: not for a p1-only reader.
      expect(stats.body.size).toBeUndefined();

      expect((await get(`/bucket/prana/user/${agent}`, ...p1Token)).body.total).toBe(0);
      expect((await get(`/bucket/prana/user/${agent}`, RequesterId.Prana)).body.total).toBe(1);
    });

    it('asking for another product explicitly is 403', async () => {
      const res = await get('/core/events?product=p2', ...p1Token);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe(BucketErrorCode.ProductForbidden);
      expect((await get('/core/events?product=p1', ...p1Token)).status).toBe(200);
    });
  });

  describe('the chain under load', () => {
    it('keeps seq contiguous under 200 concurrent writes from parallel requests', async () => {
      const before = await countRows();
      const results = await Promise.all(Array.from({ length: 200 }, () => coreWrite(newEvent())));
      expect(results.every((r) => r.status === 201)).toBe(true);
      const seqs = results.map((r) => r.body.seq as number).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => before + i + 1));
      const verify = await get('/audit/verify');
      expect(verify.body).toMatchObject({ ok: true, size: before + 200 });
    });
  });

  describe('GET /audit/checkpoint', () => {
    it('is signed with the bucket key over size, head_hash and timestamp', async () => {
      const res = await get('/audit/checkpoint');
      expect(res.status).toBe(200);
      const checkpoint = res.body as SignedCheckpoint;
      const [head] = await bucket.dataSource.query('SELECT seq, hash FROM bucket_entries ORDER BY seq DESC LIMIT 1');
      expect(checkpoint).toEqual({
        size: Number(head.seq),
        head_hash: head.hash,
        timestamp: expect.stringMatching(/Z$/),
        signature: expect.any(String),
        key_id: 'bucket',
        alg: 'Ed25519',
      });
      const publicPem = bucket.keys.publicKeyPem(RequesterId.Bucket);
      expect(verifyCheckpoint(checkpoint, publicPem)).toBe(true);
      expect(verifyCheckpoint({ ...checkpoint, size: checkpoint.size - 1 }, publicPem)).toBe(false);
      expect(verifyCheckpoint(checkpoint, bucket.keys.publicKeyPem(RequesterId.Core))).toBe(false);
    });
  });

  describe('append-only and tamper evidence', () => {
    let superuser: Client;

    beforeAll(async () => {
      superuser = new Client({ connectionString: bucket.db.url });
      await superuser.connect();
    });
    afterAll(async () => superuser?.end());

    /** What an attacker with the database superuser can do: switch the guards off, change rows, switch them on. */
    async function tamper(sql: string, params: unknown[] = []): Promise<void> {
      await superuser.query('BEGIN');
      await superuser.query('ALTER TABLE bucket_entries DISABLE TRIGGER ALL');
      await superuser.query(sql, params);
      await superuser.query('ALTER TABLE bucket_entries ENABLE TRIGGER ALL');
      await superuser.query('COMMIT');
    }

    it('refuses UPDATE, DELETE and TRUNCATE through the application\'s own connection', async () => {
      const before = await countRows();
      for (const sql of [
        `UPDATE bucket_entries SET event_type = 'changed' WHERE seq = 1`,
        'DELETE FROM bucket_entries WHERE seq = 1',
        'TRUNCATE bucket_entries',
      ]) {
        await expect(bucket.dataSource.query(sql)).rejects.toThrow(/append-only/);
      }
      expect(await countRows()).toBe(before);
    });

    it('finds a changed event_data at its seq, and recovers when it is put back', async () => {
      const [original] = await superuser.query('SELECT event_data FROM bucket_entries WHERE seq = 5').then((r) => r.rows);
      await tamper(`UPDATE bucket_entries SET event_data = event_data || '{"tampered": true}' WHERE seq = 5`);
      expect((await get('/audit/verify?full=true')).body).toMatchObject({ ok: false, first_bad_seq: 5, reason: ChainFault.ContentHashMismatch });
      await tamper('UPDATE bucket_entries SET event_data = $1 WHERE seq = 5', [original.event_data]);
      expect((await get('/audit/verify?full=true')).body.ok).toBe(true);
    });

    it('finds a changed column outside event_data (requester_id) at its seq', async () => {
      const [original] = await superuser.query('SELECT requester_id FROM bucket_entries WHERE seq = 7').then((r) => r.rows);
      await tamper(`UPDATE bucket_entries SET requester_id = 'karma' WHERE seq = 7`);
      expect((await get('/audit/verify?full=true')).body).toMatchObject({ ok: false, first_bad_seq: 7, reason: ChainFault.HashMismatch });
      await tamper('UPDATE bucket_entries SET requester_id = $1 WHERE seq = 7', [original.requester_id]);
      expect((await get('/audit/verify?full=true')).body.ok).toBe(true);
    });

    const swapContents = `
      UPDATE bucket_entries AS t SET event_data = s.event_data, content_hash = s.content_hash
      FROM bucket_entries AS s WHERE (t.seq, s.seq) IN ((20, 30), (30, 20))`;

    it('finds two rows whose contents were swapped at the first of them', async () => {
      await tamper(swapContents);
      expect((await get('/audit/verify?full=true')).body).toMatchObject({ ok: false, first_bad_seq: 20, reason: ChainFault.HashMismatch });
      await tamper(swapContents);
      expect((await get('/audit/verify?full=true')).body.ok).toBe(true);
    });

    it('finds a deleted row at the gap', async () => {
      const size = await countRows();
      await tamper('DELETE FROM bucket_entries WHERE seq = 100');
      expect((await get('/audit/verify?full=true')).body).toMatchObject({ ok: false, size: size - 1, first_bad_seq: 100, reason: ChainFault.SeqGap });
    });
  });
});
