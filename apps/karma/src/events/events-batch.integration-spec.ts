// POST /v1/events (the batch twin of POST /v1/event/) on the real app and PostgreSQL.
import { CommonErrorCode, KARMA_EVENTS_ROUTE, RequesterId } from '@pancha/contracts';
import type { ServiceWithDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { BatchKarmaStore } from '../ledger/batch-karma.store';
import { PgKarmaStore } from '../ledger/pg-karma.store';
import { bootKarma } from '../testing/karma-test-app';

jest.setTimeout(60_000);

describe('karma batch events (HTTP, real PostgreSQL)', () => {
  let karma: ServiceWithDatabase;

  const tokenOf = (who: RequesterId): Promise<string> => karma.keys.mint(who, 'karma');
  const postWith = (url: string, body: unknown, token: string) => request(karma.url).post(url).set('authorization', `Bearer ${token}`).send(body as object);
  const batch = async (bodies: unknown[], who: RequesterId = RequesterId.WorkflowExecutor) =>
    postWith(KARMA_EVENTS_ROUTE, { events: bodies.map((body) => ({ body })) }, await tokenOf(who));
  const lifeEvent = (action: string, extra: Record<string, unknown> = {}) => ({
    type: 'life_event',
    source: 'workflow_executor',
    data: { event_id: randomUUID(), user_id: 'batch-user', action, context: { trace_id: 't', action_type: null }, ...extra },
  });
  const recorded = async (ids: string[]): Promise<number> =>
    (await karma.dataSource.query('SELECT count(*)::int AS n FROM karma_event WHERE event_id = ANY($1)', [ids]))[0].n;
  const statuses = (res: request.Response) => res.body.results.map((r: { status: number }) => r.status);

  beforeAll(async () => {
    karma = await bootKarma({ database: 'karma_batch' });
  });

  afterAll(() => karma?.close());

  it('answers each event on its own: the good ones are recorded, a bad one gets its own 4xx', async () => {
    const good = [lifeEvent('workflow_success'), lifeEvent('workflow_failure')];
    const conflicting = lifeEvent('workflow_success');
    expect(statuses(await batch([conflicting]))).toEqual([200]);

    const res = await batch([
      good[0],
      { type: 'life_event', data: { user_id: 'batch-user', action: 'no_such_action' } }, // 422 unknown action
      lifeEvent('cheat'), // 403: the executor may only report workflow outcomes
      { ...conflicting, data: { ...conflicting.data, action: 'workflow_failure' } }, // 409 event_id_conflict
      { type: 'nonsense', data: {} }, // 422 validation
      good[1],
    ]);
    expect(res.status).toBe(200);
    expect(statuses(res)).toEqual([200, 422, 403, 409, 422, 200]);
    expect(res.body.results[0]).toMatchObject({ replayed: false, body: { status: 'success', event_type: 'life_event' } });
    expect(res.body.results[3].body.code).toBe('event_id_conflict');
    expect(res.body.results[4].body.code).toBe(CommonErrorCode.ValidationFailed);
    expect(await recorded(good.map((e) => e.data.event_id))).toBe(2);
  });

  it('deduplicates a retried batch: the first replies come back as replays and nothing is recorded twice', async () => {
    const events = [lifeEvent('workflow_success'), lifeEvent('workflow_success')];
    const first = await batch(events);
    const ledger = async () => (await karma.dataSource.query('SELECT count(*)::int AS n FROM karma_ledger'))[0].n;
    const before = await ledger();
    const retry = await batch([...events, events[1]]);
    expect(retry.body.results.map((r: { status: number; replayed: boolean }) => [r.status, r.replayed])).toEqual([[200, true], [200, true], [200, true]]);
    expect(retry.body.results[0].body).toEqual(first.body.results[0].body);
    expect(await ledger()).toBe(before);
    expect(await recorded(events.map((e) => e.data.event_id))).toBe(2);
  });

  it('applies governance as the single route does: 401 without or with a reused token, 403 without the write operation', async () => {
    const body = { events: [{ body: lifeEvent('workflow_success') }] };
    expect((await request(karma.url).post(KARMA_EVENTS_ROUTE).send(body)).status).toBe(401);
    const token = await tokenOf(RequesterId.WorkflowExecutor);
    expect((await postWith(KARMA_EVENTS_ROUTE, body, token)).status).toBe(200);
    expect((await postWith(KARMA_EVENTS_ROUTE, { events: [{ body: lifeEvent('workflow_success') }] }, token)).status).toBe(401);
    // Bucket has no grant on Karma at all.
    const refused = lifeEvent('workflow_success');
    expect((await batch([refused], RequesterId.Bucket)).status).toBe(403);
    expect(await recorded([refused.data.event_id])).toBe(0);
  });

  it("a batch's one read (json_agg) loads exactly what column reads return: entries, events, Q-table, last seq", async () => {
    const user = `read-${randomUUID()}`;
    const ofUser = (action: string) => ({ ...lifeEvent(action), data: { ...lifeEvent(action).data, user_id: user } });
    const outcomes = [ofUser('workflow_success'), ofUser('workflow_failure'), ofUser('workflow_success')];
    expect(statuses(await batch(outcomes))).toEqual([200, 200, 200]);
    // A paap entry (details, a class) from Core's report of a cheat.
    expect(statuses(await batch([ofUser('cheat')], RequesterId.Core))).toEqual([200]);

    const ids = [...outcomes, ofUser('cheat')].map((e) => e.data.event_id);
    const columns = new PgKarmaStore(karma.dataSource.manager);
    await karma.dataSource.transaction(async (manager) => {
      const store = await BatchKarmaStore.open(manager, ids, [user]);
      const entries = await store.userEntries(user);
      expect(entries.length).toBeGreaterThanOrEqual(4);
      expect(entries).toEqual(await columns.userEntries(user));
      expect(await store.qTable()).toEqual(await columns.qTable());
      for (const id of ids.slice(0, 3)) expect(await store.findEvent(id)).toEqual(await columns.findEvent(id));
      expect(await store.findEvent(ids[3])).toBeNull(); // not recorded: a fresh id
      // The next seq follows the last stored one.
      const [{ max }] = await manager.query('SELECT max(seq)::int AS max FROM karma_ledger');
      const [appended] = await store.append([{ ...entries[0], eventId: randomUUID() }]);
      expect(appended.seq).toBe(max + 1);
    });
  });

  it('answers a stats_request after the events before it in the batch, as POST /v1/event/ would answer it in order', async () => {
    const fresh = `fresh-${randomUUID()}`;
    const known = `known-${randomUUID()}`;
    const life = (user_id: string, action: string) => ({ type: 'life_event', data: { event_id: randomUUID(), user_id, action } });
    const stats = (user_id: string) => ({ type: 'stats_request', data: { user_id } });
    expect(statuses(await batch([life(known, 'completing_lessons')], RequesterId.Core))).toEqual([200]);

    const res = await batch(
      [life(fresh, 'completing_lessons'), stats(fresh), life(known, 'completing_lessons'), stats(known), life(known, 'helping_peers'), stats(known)],
      RequesterId.Core,
    );
    expect(statuses(res)).toEqual([200, 200, 200, 200, 200, 200]);
    const seen = (k: number) => res.body.results[k].body.data.stats;
    expect(seen(1)).toMatchObject({ events: 1, actions: { completing_lessons: 1 } });
    expect(seen(3)).toMatchObject({ events: 2, actions: { completing_lessons: 2 } });
    expect(seen(5)).toMatchObject({ events: 3, actions: { completing_lessons: 2, helping_peers: 1 } });
    expect(res.body.results[5].body.data.merit).toBeCloseTo(res.body.results[4].body.data.merit_after, 6);
  });

  it('refuses a malformed envelope whole (422)', async () => {
    expect((await postWith(KARMA_EVENTS_ROUTE, { events: [] }, await tokenOf(RequesterId.WorkflowExecutor))).status).toBe(422);
    expect((await postWith(KARMA_EVENTS_ROUTE, { events: 'x' }, await tokenOf(RequesterId.WorkflowExecutor))).status).toBe(422);
  });
});
