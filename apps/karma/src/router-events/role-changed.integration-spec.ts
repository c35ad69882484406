import { CORE_EVENTS_BATCH_ROUTE, KARMA_EVENTS_ROUTE, RequesterId } from '@pancha/contracts';
import { eventually, StandInServer, type ServiceWithDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { FixedClock } from '../clock/clock';
import { bootKarma } from '../testing/karma-test-app';

jest.setTimeout(240_000);

const T0 = Date.parse('2025-06-01T08:00:00.000Z');

interface OutboxRow {
  message_key: string;
  topic: string;
  status: string;
  payload: { id: string; type: string; subject: string; data: Record<string, unknown> };
}

describe('karma.role_changed (real PostgreSQL, outbox to a stand-in Core)', () => {
  let karma: ServiceWithDatabase;
  const core = new StandInServer(() => ({ status: 202, body: { event_id: 'x', trace_id: 't', runs: [], skipped: [], deferred: [] } })).speaksBatch(CORE_EVENTS_BATCH_ROUTE, '/events');

  const life = async (user_id: string, action: string, event_id: string = randomUUID()) =>
    request(karma.url)
      .post('/v1/event/')
      .set('authorization', `Bearer ${await karma.keys.mint(RequesterId.Core, 'karma')}`)
      .send({ type: 'life_event', data: { user_id, action, event_id }, source: 'test' });
  const outboxRows = (): Promise<OutboxRow[]> =>
    karma.dataSource.query(`SELECT message_key, topic, status, payload, created_at FROM outbox ORDER BY created_at, message_key`);

  beforeAll(async () => {
    await core.start();
    karma = await bootKarma({ database: 'karma_role_events', coreUrl: core.url, clock: new FixedClock(T0) });
  });

  afterAll(async () => {
    await karma?.close();
    await core.close();
  });

  it('a role change is enqueued in the ledger transaction, with an id from the ledger row, and reaches Core once', async () => {
    const eventId = randomUUID();
    const res = await life('riser', 'selfless_service', eventId); // 25 PunyaTokens × 3 = 75 merit: learner → volunteer
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ role_before: 'learner', role_after: 'volunteer' });

    const [ledger] = await karma.dataSource.query(`SELECT seq::text AS seq FROM karma_ledger WHERE event_id = $1 ORDER BY seq LIMIT 1`, [eventId]);
    const rows = await outboxRows();
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row.topic).toBe('core.karma-event');
    expect(row.message_key).toBe(`karma:role_changed:${ledger.seq}`);
    expect(row.payload).toMatchObject({
      id: `karma:role_changed:${ledger.seq}`,
      type: 'karma.role_changed',
      subject: 'riser',
      data: { user_id: 'riser', role: 'volunteer', previous_role: 'learner', net_karma: 75, merit: 75, ledger_seq: Number(ledger.seq), karma_event_id: eventId, at: new Date(T0).toISOString() },
    });

    const sent = await eventually(() => {
      const posts = core.requests.filter((r) => r.method === 'POST' && r.path === '/events');
      expect(posts).toHaveLength(1);
      return posts[0];
    }, { what: 'the role change to reach Core' });
    expect(sent.headers.authorization).toMatch(/^Bearer /);
    expect(sent.body).toEqual(row.payload);
    await eventually(async () => expect((await outboxRows())[0].status).toBe('delivered'));

    // The same event again is a replay: nothing new in the ledger, nothing new to publish.
    expect((await life('riser', 'selfless_service', eventId)).status).toBe(200);
    expect(await outboxRows()).toHaveLength(1);
  });

  it('the ledger rows and the event commit together: when the enqueue fails, the event is not recorded either', async () => {
    await karma.dataSource.query(`
      CREATE FUNCTION refuse_doomed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.payload->>'subject' = 'doomed' THEN RAISE EXCEPTION 'outbox refuses doomed'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER refuse_doomed BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_doomed();`);
    const before = (await outboxRows()).length;
    const eventId = randomUUID();
    try {
      const refused = await life('doomed', 'selfless_service', eventId);
      expect(refused.status).toBeGreaterThanOrEqual(500);
      expect(await karma.dataSource.query(`SELECT seq FROM karma_ledger WHERE user_id = 'doomed'`)).toEqual([]);
      expect(await karma.dataSource.query(`SELECT event_id FROM karma_event WHERE event_id = $1`, [eventId])).toEqual([]);
      expect(await outboxRows()).toHaveLength(before);
    } finally {
      await karma.dataSource.query(`DROP TRIGGER refuse_doomed ON outbox; DROP FUNCTION refuse_doomed();`);
    }
    // The caller's retry (same event id) records it, with its role change.
    expect((await life('doomed', 'selfless_service', eventId)).status).toBe(200);
    const rows = await outboxRows();
    expect(rows).toHaveLength(before + 1);
    expect(rows[rows.length - 1].payload).toMatchObject({ subject: 'doomed', data: { role: 'volunteer', previous_role: 'learner' } });
    await eventually(() => expect(core.requests.filter((r) => r.path === '/events')).toHaveLength(before + 1));
  });

  it('a blank user id is a 422 on every route that takes one: nothing recorded, no role change for Core to refuse', async () => {
    const token = () => karma.keys.mint(RequesterId.Core, 'karma');
    const count = async (table: string): Promise<number> => (await karma.dataSource.query(`SELECT count(*)::int AS n FROM ${table}`))[0].n;
    const stored = async () => [await count('karma_event'), await count('karma_ledger'), await count('outbox')];
    const before = await stored();
    const fields = (body: { errors?: { field: string }[] }) => body.errors?.map((e) => e.field);

    for (const blank of ['   ', '\t\n', '\u00a0']) {
      const single = await life(blank, 'selfless_service'); // 75 merit: a role change, were it recorded
      expect([single.status, single.body.code, fields(single.body)]).toEqual([422, 'validation_failed', ['data.user_id']]);
      const stats = await request(karma.url).post('/v1/event/').set('authorization', `Bearer ${await token()}`).send({ type: 'stats_request', data: { user_id: blank } });
      expect([stats.status, fields(stats.body)]).toEqual([422, ['data.user_id']]);

      const events = [
        { type: 'life_event', data: { user_id: blank, action: 'selfless_service', event_id: randomUUID() } },
        { type: 'stats_request', data: { user_id: blank } },
        { type: 'death_event', data: { user_id: blank, event_id: randomUUID() } },
      ];
      const batch = await request(karma.url).post(KARMA_EVENTS_ROUTE).set('authorization', `Bearer ${await token()}`).send({ events: events.map((body) => ({ body })) });
      expect(batch.status).toBe(200);
      expect(batch.body.results.map((r: { status: number; body: { code: string; errors?: { field: string }[] } }) => [r.status, r.body.code, fields(r.body)])).toEqual(
        events.map(() => [422, 'validation_failed', ['data.user_id']]),
      );

      const user = encodeURIComponent(blank);
      for (const path of [`/api/v1/karma/${user}`, `/v1/stats/user/${user}`, `/v1/karma/${user}/history`, `/v1/karma/${user}/head`]) {
        const read = await request(karma.url).get(path).set('authorization', `Bearer ${await token()}`);
        expect([path, read.status, read.body.code, fields(read.body)]).toEqual([path, 422, 'validation_failed', ['user_id']]);
      }
    }
    expect(await stored()).toEqual(before);
  });

  it('an event that does not change the role publishes nothing; the next change is a new event', async () => {
    const before = (await outboxRows()).length;
    const helped = await life('riser', 'helping_peers'); // +12 merit: still volunteer
    expect(helped.status).toBe(200);
    expect(helped.body.data).toMatchObject({ role_before: 'volunteer', role_after: 'volunteer' });
    expect((await life('riser', 'cheat')).body.data).toMatchObject({ role_before: 'volunteer', role_after: 'volunteer' });
    expect(await outboxRows()).toHaveLength(before);

    const up = await life('riser', 'selfless_service'); // 87 − 2 + 75 = 160: still volunteer
    expect(up.body.data.role_after).toBe('volunteer');
    expect(await outboxRows()).toHaveLength(before);
    const seva = await life('riser', 'selfless_service'); // 235: seva
    expect(seva.body.data).toMatchObject({ role_before: 'volunteer', role_after: 'seva' });
    const rows = await outboxRows();
    expect(rows).toHaveLength(before + 1);
    expect(rows[rows.length - 1].payload.data).toMatchObject({ role: 'seva', previous_role: 'volunteer' });
    await eventually(() => expect(core.requests.filter((r) => r.path === '/events')).toHaveLength(before + 1));
  });
});
