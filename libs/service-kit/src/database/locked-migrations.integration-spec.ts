/**
 * Replicas that start together (k8s prod runs two of each service) each run the pending migrations at start: under
 * the migration lock one runs them and the other then finds nothing to do, where both used to run the same
 * migration and one crashed on the other's table.
 */
import { createTestDatabase, poll, type TestDatabase } from '@pancha/testing';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { buildDataSourceOptions } from './data-source-options';
import { initializeMigrated, MIGRATION_LOCK_KEY } from './locked-migrations';

jest.setTimeout(60_000);

/** Split as pg_locks shows a bigint advisory key. */
const LOCK_CLASSID = Math.floor(MIGRATION_LOCK_KEY / 2 ** 32);
const LOCK_OBJID = MIGRATION_LOCK_KEY % 2 ** 32;

let entered = 0;

/**
 * Holds its replica inside the migration until the other replica either enters it too (no lock: both run it) or
 * waits on the migration lock (the lock serializes them), so the two starts overlap whatever the machine's pace.
 */
class RaceProbe1700000000000 implements MigrationInterface {
  name = 'RaceProbe1700000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    entered += 1;
    await poll('the other replica to enter the migration or wait on its lock', async () => {
      if (entered >= 2) return true;
      const [{ n }] = (await queryRunner.query(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = $1 AND objid = $2
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        [LOCK_CLASSID, LOCK_OBJID],
      )) as Array<{ n: number }>;
      return n > 0;
    });
    await queryRunner.query('CREATE TABLE race_probe (id int PRIMARY KEY)');
    await queryRunner.query('INSERT INTO race_probe (id) VALUES (1)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE race_probe');
  }
}

class Refused1700000000001 implements MigrationInterface {
  name = 'Refused1700000000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('SELECT * FROM no_such_table');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('SELECT 1');
  }
}

describe('migrations under the migration lock (real PostgreSQL)', () => {
  let db: TestDatabase;
  const replica = (migrations: Array<new () => MigrationInterface>) =>
    new DataSource({ ...buildDataSourceOptions({ url: db.url, entities: [], migrations, poolSize: 2 }), migrationsRun: false, logging: false });

  beforeEach(async () => {
    db = await createTestDatabase('locked_migrations');
    entered = 0;
  });

  afterEach(() => db.drop());

  it('two replicas starting together both start, and each migration runs once', async () => {
    const [a, b] = [replica([RaceProbe1700000000000]), replica([RaceProbe1700000000000])];
    try {
      const started = await Promise.allSettled([initializeMigrated(a, true), initializeMigrated(b, true)]);
      expect(started.map((s) => (s.status === 'rejected' ? String(s.reason) : s.status))).toEqual(['fulfilled', 'fulfilled']);
      expect(entered).toBe(1);
      expect(await a.query(`SELECT name FROM migrations WHERE name = 'RaceProbe1700000000000'`)).toEqual([{ name: 'RaceProbe1700000000000' }]);
      expect(await b.query('SELECT id FROM race_probe')).toEqual([{ id: 1 }]);
    } finally {
      await Promise.all([a, b].map((ds) => (ds.isInitialized ? ds.destroy() : undefined)));
    }
  });

  it('a replica whose migration fails closes its pool and lets the next one take the lock', async () => {
    const failing = replica([Refused1700000000001]);
    await expect(initializeMigrated(failing, true)).rejects.toThrow(/no_such_table/);
    expect(failing.isInitialized).toBe(false);

    // The lock went with the failed replica's session: a later start is not kept waiting.
    const next = replica([]);
    try {
      await initializeMigrated(next, true);
      const [{ n }] = (await next.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'`)) as Array<{ n: number }>;
      expect(n).toBe(0);
    } finally {
      if (next.isInitialized) await next.destroy();
    }
  });
});
