import { CORE_EVENTS_BATCH_ROUTE } from '@pancha/contracts';
import { buildDataSourceOptions } from '@pancha/service-kit';
import { createTestDatabase, StandInServer, type ServiceWithDatabase, type TestDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { FixedClock } from '../clock/clock';
import { KARMA_MIGRATIONS } from '../database';
import { KarmaRoleSweep } from '../ledger/role-sweep.service';
import { DAY_MS } from '../model/ledger-entry';
import { bootKarma } from '../testing/karma-test-app';
import { KarmaRoleSweep1766000000000 } from './1766000000000-karma-role-sweep';
import { KarmaRoleSweepClaim1766100000000 } from './1766100000000-karma-role-sweep-claim';

jest.setTimeout(240_000);

const T0 = Date.parse('2025-06-01T08:00:00.000Z');

/**
 * The upgrade to the role sweep on a database of the release before it (karma_published_role with a role per row):
 * every user who can have a role is due at once, the upgrade publishes nothing, the first round publishes the change
 * time made that nobody published, stores when to look next, and leaves the others alone.
 */
describe('migration KarmaRoleSweep1766000000000 (real PostgreSQL)', () => {
  let db: TestDatabase;
  let karma: ServiceWithDatabase;
  const clock = new FixedClock(T0 + 367 * DAY_MS);
  const core = new StandInServer(() => ({ status: 202, body: { event_id: 'x', trace_id: 't', runs: [], skipped: [], deferred: [] } })).speaksBatch(CORE_EVENTS_BATCH_ROUTE, '/events');
  const before = KARMA_MIGRATIONS.filter((m) => m !== KarmaRoleSweep1766000000000 && m !== KarmaRoleSweepClaim1766100000000);

  /** One event as the release before recorded it: its karma_event row and its one ledger entry. */
  async function entry(old: DataSource, user: string, kind: string, token: string | null, amount: number, at: number): Promise<number> {
    const eventId = randomUUID();
    await old.query(
      `INSERT INTO karma_event (event_id, type, user_id, fingerprint, source, occurred_at, recorded_at, reply) VALUES ($1, $2, $3, $4, 'test', $5, $5, '{}')`,
      [eventId, kind === 'appeal' ? 'appeal' : 'life_event', user, 'f'.repeat(64), new Date(at)],
    );
    const [row] = await old.query(
      `INSERT INTO karma_ledger (event_id, user_id, kind, action, token, amount, details, effective_at, occurred_at)
       VALUES ($1, $2, $3, 'x', $4, $5, '{}', $6, $6) RETURNING seq::int AS seq`,
      [eventId, user, kind, token, amount, new Date(at)],
    );
    return row.seq;
  }
  const rows = () =>
    karma.dataSource.query(
      `SELECT user_id, role, next_time_change_at, unpublished_event_seq FROM karma_published_role ORDER BY user_id`,
    ) as Promise<Array<{ user_id: string; role: string | null; next_time_change_at: Date | null; unpublished_event_seq: string | null }>>;

  beforeAll(async () => {
    await core.start();
    db = await createTestDatabase('karma_role_sweep_upgrade');
    const old = new DataSource({ ...buildDataSourceOptions({ url: db.url, entities: [], migrations: before }), migrationsRun: false });
    await old.initialize();
    try {
      await old.runMigrations();
      // lapser: volunteer published; the grant expired a year on and nobody published the loss.
      const lapser = await entry(old, 'lapser', 'action', 'DharmaPoints', 50, T0);
      // steady: volunteer published, Punya for two years: still volunteer.
      const steady = await entry(old, 'steady', 'action', 'PunyaTokens', 25, T0);
      await old.query(
        `INSERT INTO karma_published_role (user_id, role, ledger_seq, published_at) VALUES ('lapser', 'volunteer', $1, $3), ('steady', 'volunteer', $2, $3)`,
        [lapser, steady, new Date(T0)],
      );
      // penalised: never published; 60 − 20 = 40 then, ≈ 57.8 once the penalty expired: a gain time made.
      await entry(old, 'penalised', 'action', 'DharmaPoints', -20, T0);
      await entry(old, 'penalised', 'action', 'PunyaTokens', 20, T0 + 1);
      // quiet: a learner; appealer: no token entry at all.
      await entry(old, 'quiet', 'action', 'DharmaPoints', 5, T0);
      await entry(old, 'appealer', 'appeal', null, 0, T0);
    } finally {
      await old.destroy();
    }
    karma = await bootKarma({ database: db, coreUrl: core.url, clock });
  });

  afterAll(async () => {
    await karma?.close();
    await db?.drop();
    await core.close();
  });

  it('makes every user with a token entry due at once, and publishes nothing by itself', async () => {
    expect((await rows()).map((r) => [r.user_id, r.role, r.next_time_change_at?.getTime()])).toEqual([
      ['lapser', 'volunteer', 0],
      ['penalised', null, 0],
      ['quiet', null, 0],
      ['steady', 'volunteer', 0],
    ]);
    expect(await karma.dataSource.query(`SELECT id FROM outbox`)).toEqual([]);
  });

  it('the first round publishes what time changed before the upgrade, and stores when to look next', async () => {
    await expect(karma.app.get(KarmaRoleSweep).runOnce()).resolves.toEqual({ checked: 4, published: 2 });
    const sent = (await karma.dataSource.query(`SELECT payload FROM outbox ORDER BY seq`)).map(
      (r: { payload: { data: { user_id: string; previous_role: string; role: string; cause: string } } }) => r.payload.data,
    );
    expect(sent.map((d: { user_id: string; previous_role: string; role: string; cause: string }) => [d.user_id, d.previous_role, d.role, d.cause]).sort()).toEqual([
      ['lapser', 'volunteer', 'learner', 'time'],
      ['penalised', 'learner', 'volunteer', 'time'],
    ]);
    expect((await rows()).map((r) => [r.user_id, r.role, r.next_time_change_at?.getTime() ?? null])).toEqual([
      ['lapser', 'learner', null],
      ['penalised', 'volunteer', T0 + 1 + 730 * DAY_MS], // the Punya grant's expiry (its decay keeps it above 50 until then)
      ['quiet', null, null],
      ['steady', 'volunteer', T0 + 730 * DAY_MS],
    ]);
    await expect(karma.app.get(KarmaRoleSweep).runOnce()).resolves.toEqual({ checked: 0, published: 0 });
  });

  it('reverts: the rows with nothing published go, the published roles stay', async () => {
    const revert = new DataSource({ ...buildDataSourceOptions({ url: db.url, entities: [], migrations: KARMA_MIGRATIONS }), migrationsRun: false });
    await revert.initialize();
    try {
      const last = await revert.query(`SELECT name FROM migrations ORDER BY id DESC LIMIT 2`);
      expect(last.map((m: { name: string }) => m.name)).toEqual(['KarmaRoleSweepClaim1766100000000', 'KarmaRoleSweep1766000000000']);
      await revert.undoLastMigration();
      await revert.undoLastMigration();
      expect(await revert.query(`SELECT user_id, role FROM karma_published_role ORDER BY user_id`)).toEqual([
        { user_id: 'lapser', role: 'learner' },
        { user_id: 'penalised', role: 'volunteer' },
        { user_id: 'steady', role: 'volunteer' },
      ]);
      const columns = await revert.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'karma_published_role' ORDER BY ordinal_position`);
      expect(columns.map((c: { column_name: string }) => c.column_name)).toEqual(['user_id', 'role', 'ledger_seq', 'published_at']);
    } finally {
      await revert.destroy();
    }
  });
});
