import { CORE_EVENTS_BATCH_ROUTE, RequesterId } from '@pancha/contracts';
import { eventually, StandInServer, type ServiceWithDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { FixedClock } from '../clock/clock';
import { DAY_MS } from '../model/ledger-entry';
import { bootKarma } from '../testing/karma-test-app';

jest.setTimeout(240_000);

const T0 = Date.parse('2025-06-01T08:00:00.000Z');
const YEAR_AND_A_DAY = T0 + 366 * DAY_MS;

interface RoleEvent {
  id: string;
  time: string;
  data: { user_id: string; role: string; previous_role: string; cause: string; ledger_seq: number; karma_event_id: string; merit: number };
}

/**
 * A role that moves with time alone (Dharma grants expire after 365 days) is published by the user's next event, so
 * the previous_role of every karma.role_changed is the role of the one published before it (real PostgreSQL, the
 * outbox, a stand-in Core).
 */
describe('karma.role_changed over time (real PostgreSQL, outbox to a stand-in Core)', () => {
  let karma: ServiceWithDatabase;
  const clock = new FixedClock(T0);
  const core = new StandInServer(() => ({ status: 202, body: { event_id: 'x', trace_id: 't', runs: [], skipped: [], deferred: [] } })).speaksBatch(CORE_EVENTS_BATCH_ROUTE, '/events');

  const life = async (user_id: string, action: string, event_id: string = randomUUID()) => {
    const res = await request(karma.url)
      .post('/v1/event/')
      .set('authorization', `Bearer ${await karma.keys.mint(RequesterId.Core, 'karma')}`)
      .send({ type: 'life_event', data: { user_id, action, event_id }, source: 'test' });
    expect(res.status).toBe(200);
    return res;
  };
  /** The user's role events in the order they were enqueued (outbox seq). */
  const enqueued = async (user: string): Promise<RoleEvent[]> =>
    (await karma.dataSource.query(`SELECT payload FROM outbox WHERE payload->>'subject' = $1 ORDER BY seq`, [user])).map((r: { payload: RoleEvent }) => r.payload);
  const transitions = (events: RoleEvent[]) => events.map((e) => [e.data.previous_role, e.data.role, e.data.cause]);
  const storedRole = async (user: string) =>
    (await karma.dataSource.query(`SELECT role, ledger_seq::int AS ledger_seq FROM karma_published_role WHERE user_id = $1`, [user]))[0];

  beforeAll(async () => {
    await core.start();
    karma = await bootKarma({ database: 'karma_role_over_time', coreUrl: core.url, clock });
  });

  afterAll(async () => {
    await karma?.close();
    await core.close();
  });

  it("the reviewer's case: volunteer, the grants expire, an idle event, volunteer again: the loss is published in between", async () => {
    clock.set(T0);
    for (let i = 0; i < 10; i++) await life('lapser', 'completing_lessons'); // 10 × 5 Dharma = 50 merit: volunteer
    expect(transitions(await enqueued('lapser'))).toEqual([['learner', 'volunteer', 'event']]);

    clock.set(YEAR_AND_A_DAY);
    const profile = await request(karma.url).get('/api/v1/karma/lapser').set('authorization', `Bearer ${await karma.keys.mint(RequesterId.Core, 'karma')}`);
    expect(profile.body).toMatchObject({ role: 'learner', merit: 0 });
    const idleId = randomUUID();
    const idle = await life('lapser', 'idle', idleId);
    expect(idle.body.data).toMatchObject({ role_before: 'learner', role_after: 'learner' });
    const [idleEntry] = await karma.dataSource.query(`SELECT seq::int AS seq FROM karma_ledger WHERE event_id = $1`, [idleId]);
    const lapse = (await enqueued('lapser'))[1];
    expect(lapse).toMatchObject({
      id: `karma:role_changed:${idleEntry.seq}:time`,
      time: new Date(YEAR_AND_A_DAY).toISOString(),
      data: { user_id: 'lapser', previous_role: 'volunteer', role: 'learner', cause: 'time', merit: 0, ledger_seq: idleEntry.seq, karma_event_id: idleId },
    });
    expect(await storedRole('lapser')).toEqual({ role: 'learner', ledger_seq: idleEntry.seq });

    // The same idle event again is a replay: nothing new enqueued.
    await life('lapser', 'idle', idleId);
    expect(await enqueued('lapser')).toHaveLength(2);

    for (let i = 0; i < 10; i++) await life('lapser', 'completing_lessons');
    const events = await enqueued('lapser');
    expect(transitions(events)).toEqual([
      ['learner', 'volunteer', 'event'],
      ['volunteer', 'learner', 'time'],
      ['learner', 'volunteer', 'event'],
    ]);
    expect(new Set(events.map((e) => e.id)).size).toBe(3);

    // Core receives each of them once.
    await eventually(() => {
      const sent = core.requests.filter((r) => r.path === '/events' && (r.body as RoleEvent).data?.user_id === 'lapser').map((r) => (r.body as RoleEvent).id);
      expect([...sent].sort()).toEqual(events.map((e) => e.id).sort());
    }, { what: "the lapser's three role changes to reach Core" });
  });

  it('an event that wins back a role lost to time enqueues the loss, then its own change, in one transaction', async () => {
    clock.set(T0);
    for (let i = 0; i < 10; i++) await life('returner', 'completing_lessons');
    clock.set(YEAR_AND_A_DAY);
    const eventId = randomUUID();
    const back = await life('returner', 'selfless_service', eventId); // 0 → 75
    expect(back.body.data).toMatchObject({ role_before: 'learner', role_after: 'volunteer' });
    const [entry] = await karma.dataSource.query(`SELECT min(seq)::int AS seq FROM karma_ledger WHERE event_id = $1`, [eventId]);
    const events = await enqueued('returner');
    expect(events.map((e) => [e.id, ...transitions([e])[0]])).toEqual([
      [expect.any(String), 'learner', 'volunteer', 'event'],
      [`karma:role_changed:${entry.seq}:time`, 'volunteer', 'learner', 'time'],
      [`karma:role_changed:${entry.seq}`, 'learner', 'volunteer', 'event'],
    ]);
    expect(await storedRole('returner')).toEqual({ role: 'volunteer', ledger_seq: entry.seq });
    // One ordering key per user: the relay delivers the loss before the gain, a retry of the first holding back the second.
    const keys = await karma.dataSource.query(`SELECT DISTINCT ordering_key FROM outbox WHERE payload->>'subject' = $1`, ['returner']);
    expect(keys).toEqual([{ ordering_key: 'karma:role:returner' }]);
  });

  it('no change published while the role is the one last published, however much time passes between events', async () => {
    clock.set(T0);
    await life('steady', 'selfless_service'); // 75 PunyaTokens merit, which last two years: volunteer
    clock.set(YEAR_AND_A_DAY);
    await life('steady', 'idle');
    await life('steady', 'helping_peers');
    expect(transitions(await enqueued('steady'))).toEqual([['learner', 'volunteer', 'event']]);

    await life('never', 'completing_lessons');
    expect(await enqueued('never')).toEqual([]);
    expect(await storedRole('never')).toBeUndefined();
  });
});
