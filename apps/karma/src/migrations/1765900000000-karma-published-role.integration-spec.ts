import { CORE_EVENTS_BATCH_ROUTE, RequesterId } from '@pancha/contracts';
import { buildDataSourceOptions } from '@pancha/service-kit';
import { createTestDatabase, StandInServer, type ServiceWithDatabase, type TestDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { FixedClock } from '../clock/clock';
import { KARMA_MIGRATIONS } from '../database';
import { DAY_MS } from '../model/ledger-entry';
import { bootKarma } from '../testing/karma-test-app';
import { KarmaPublishedRole1765900000000 } from './1765900000000-karma-published-role';
import { KarmaRoleSweep1766000000000 } from './1766000000000-karma-role-sweep';
import { KarmaRoleSweepClaim1766100000000 } from './1766100000000-karma-role-sweep-claim';

jest.setTimeout(240_000);

const T0 = Date.parse('2025-06-01T08:00:00.000Z');

/**
 * The upgrade to karma_published_role on a database written by the release before it: each user's last published
 * role is the role_after of their latest life_event that changed the role; the upgrade publishes nothing, and a loss
 * to time the old release never published is published by the user's next event.
 */
describe('migration KarmaPublishedRole1765900000000 (real PostgreSQL)', () => {
  let db: TestDatabase;
  let karma: ServiceWithDatabase;
  const clock = new FixedClock(T0);
  const core = new StandInServer(() => ({ status: 202, body: { event_id: 'x', trace_id: 't', runs: [], skipped: [], deferred: [] } })).speaksBatch(CORE_EVENTS_BATCH_ROUTE, '/events');
  const seqOf = new Map<string, number>();

  /** One life_event as the release before this one recorded it: its ledger entry and its reply. */
  async function recorded(old: DataSource, user: string, action: string, token: string, amount: number, at: number, roles: [string, string]): Promise<void> {
    const eventId = randomUUID();
    const reply = { status: 'success', event_type: 'life_event', data: { event_id: eventId, user_id: user, action, role_before: roles[0], role_after: roles[1] } };
    await old.query(
      `INSERT INTO karma_event (event_id, type, user_id, fingerprint, source, occurred_at, recorded_at, reply) VALUES ($1, 'life_event', $2, $3, 'test', $4, $4, $5)`,
      [eventId, user, 'f'.repeat(64), new Date(at), JSON.stringify(reply)],
    );
    const [row] = await old.query(
      `INSERT INTO karma_ledger (event_id, user_id, kind, action, token, amount, details, effective_at, occurred_at)
       VALUES ($1, $2, 'action', $3, $4, $5, '{}', $6, $6) RETURNING seq::int AS seq`,
      [eventId, user, action, token, amount, new Date(at)],
    );
    seqOf.set(`${user}:${at}`, row.seq);
  }

  beforeAll(async () => {
    await core.start();
    db = await createTestDatabase('karma_role_backfill');
    const old = new DataSource({
      // The release before: every migration but this one and those after it.
      ...buildDataSourceOptions({ url: db.url, entities: [], migrations: KARMA_MIGRATIONS.filter((m) => m !== KarmaPublishedRole1765900000000 && m !== KarmaRoleSweep1766000000000 && m !== KarmaRoleSweepClaim1766100000000) }),
      migrationsRun: false,
    });
    await old.initialize();
    try {
      await old.runMigrations();
      // riser: learner → volunteer (published), then a change-less event.
      await recorded(old, 'riser', 'selfless_service', 'PunyaTokens', 25, T0, ['learner', 'volunteer']);
      await recorded(old, 'riser', 'helping_peers', 'SevaPoints', 10, T0 + 1, ['volunteer', 'volunteer']);
      // lapser: volunteer (published); a year and a day on the grant has expired and an idle found learner → learner:
      // the old release published nothing, so subscribers still hold volunteer.
      await recorded(old, 'lapser', 'completing_lessons', 'DharmaPoints', 50, T0, ['learner', 'volunteer']);
      await recorded(old, 'lapser', 'idle', 'DharmaPoints', 0, T0 + 366 * DAY_MS, ['learner', 'learner']);
      // faller: up and down again, both published.
      await recorded(old, 'faller', 'completing_lessons', 'DharmaPoints', 50, T0, ['learner', 'volunteer']);
      await recorded(old, 'faller', 'cheat', 'DharmaPoints', -2, T0 + 1, ['volunteer', 'learner']);
      // quiet: never changed.
      await recorded(old, 'quiet', 'helping_peers', 'SevaPoints', 10, T0, ['learner', 'learner']);
    } finally {
      await old.destroy();
    }
    clock.set(T0 + 367 * DAY_MS);
    karma = await bootKarma({ database: db, coreUrl: core.url, clock });
  });

  afterAll(async () => {
    await karma?.close();
    await db?.drop();
    await core.close();
  });

  it('backfills the last published role of each user from their replies, and the upgrade publishes nothing', async () => {
    // (Rows with nothing published are the role sweep's, migration 1766000000000.)
    const rows = await karma.dataSource.query(`SELECT user_id, role, ledger_seq::int AS ledger_seq FROM karma_published_role WHERE role IS NOT NULL ORDER BY user_id`);
    expect(rows).toEqual([
      { user_id: 'faller', role: 'learner', ledger_seq: seqOf.get(`faller:${T0 + 1}`) },
      { user_id: 'lapser', role: 'volunteer', ledger_seq: seqOf.get(`lapser:${T0}`) },
      { user_id: 'riser', role: 'volunteer', ledger_seq: seqOf.get(`riser:${T0}`) },
    ]);
    expect(await karma.dataSource.query(`SELECT id FROM outbox`)).toEqual([]);
  });

  it("after the upgrade, the next event publishes the loss the old release missed, and nothing for the others", async () => {
    const life = async (user_id: string, action: string) => {
      const res = await request(karma.url)
        .post('/v1/event/')
        .set('authorization', `Bearer ${await karma.keys.mint(RequesterId.Core, 'karma')}`)
        .send({ type: 'life_event', data: { user_id, action, event_id: randomUUID() }, source: 'test' });
      expect(res.status).toBe(200);
      return res;
    };
    for (const user of ['riser', 'lapser', 'faller', 'quiet']) await life(user, 'idle');
    const sent = (await karma.dataSource.query(`SELECT payload FROM outbox ORDER BY seq`)).map(
      (r: { payload: { data: { user_id: string; previous_role: string; role: string; cause: string } } }) => r.payload.data,
    );
    expect(sent.map((d: { user_id: string; previous_role: string; role: string; cause: string }) => [d.user_id, d.previous_role, d.role, d.cause])).toEqual([
      ['lapser', 'volunteer', 'learner', 'time'],
    ]);
  });
});
