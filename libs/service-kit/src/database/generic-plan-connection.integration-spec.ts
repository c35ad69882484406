/**
 * A serial writer's statement is planned once on its own connection, and that connection never serves anyone else:
 * the pool's connections keep planning every execution, and a connection that failed or was closed is destroyed.
 */
import { createTestDatabase, poll, type TestDatabase } from '@pancha/testing';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { isDatabaseUnavailableError } from '../errors/database-errors';
import { buildDataSourceOptions } from './data-source-options';
import { GenericPlanConnection } from './generic-plan-connection';
import { PREPARE_AFTER } from './preparing-client';

jest.setTimeout(60_000);

const INSERT = `INSERT INTO notes (id, body) SELECT n.id, n.body FROM jsonb_to_recordset($1::jsonb) AS n(id uuid, body text)
  ON CONFLICT DO NOTHING RETURNING id -- generic-plan-connection spec`;

describe('GenericPlanConnection against PostgreSQL', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let admin: Client;

  const backendAlive = async (pid: number) => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 1;
  /** Until the server has no session `pid` (a destroyed client's backend exits once it reads the Terminate). */
  const gone = (pid: number) => poll(`session ${pid} to end`, async () => !(await backendAlive(pid)));
  const pidOf = async (connection: GenericPlanConnection) => (await connection.query<{ pid: number }>('SELECT pg_backend_pid() AS pid', []))[0].pid;
  const planMode = async (connection: GenericPlanConnection) =>
    (await connection.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode', []))[0].plan_cache_mode;
  /** A connection for one test, closed after it whatever happens. */
  const withConnection = async (test: (connection: GenericPlanConnection) => Promise<void>) => {
    const connection = new GenericPlanConnection(dataSource);
    try {
      await test(connection);
    } finally {
      await connection.close();
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase('generic_plan_connection');
    dataSource = new DataSource({ ...buildDataSourceOptions({ url: db.url, entities: [], migrations: [] }), migrationsRun: false });
    await dataSource.initialize();
    await dataSource.query('CREATE TABLE notes (id uuid PRIMARY KEY, body text NOT NULL)');
    admin = new Client({ connectionString: db.url });
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
    await dataSource?.destroy();
    await db?.drop();
  });

  it('runs a hot statement on one connection with one generic plan, answering its rows', () =>
    withConnection(async (connection) => {
      const pid = await pidOf(connection);
      const runs = PREPARE_AFTER + 5;
      for (let i = 0; i < runs; i++) {
        const id = randomUUID();
        expect(await connection.query(INSERT, [JSON.stringify([{ id, body: `note ${i}` }])])).toEqual([{ id }]);
      }
      expect(await pidOf(connection)).toBe(pid);
      expect(await planMode(connection)).toBe('force_generic_plan');
      const [prepared] = await connection.query<{ generic_plans: string; custom_plans: string }>(
        'SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1',
        [INSERT],
      );
      // Prepared once hot; every execution of it since used the generic plan, none was planned for its values.
      expect(Number(prepared.generic_plans)).toBe(runs - PREPARE_AFTER + 1);
      expect(Number(prepared.custom_plans)).toBe(0);
      expect((await dataSource.query('SELECT count(*)::int AS n FROM notes'))[0].n).toBeGreaterThanOrEqual(runs);
    }));

  it('destroys a connection whose query failed, and takes another for the next query', () =>
    withConnection(async (connection) => {
      const first = await pidOf(connection);
      await expect(connection.query('SELECT 1 / 0', [])).rejects.toThrow(/division by zero/);
      expect(await gone(first)).toBe(true);
      const second = await pidOf(connection);
      expect(second).not.toBe(first);
      expect(await planMode(connection)).toBe('force_generic_plan');
    }));

  it('replaces a connection the server closed while it waited, without an unhandled error event', () =>
    withConnection(async (connection) => {
      const first = await pidOf(connection);
      await admin.query('SELECT pg_terminate_backend($1)', [first]);
      expect(await gone(first)).toBe(true);
      // The client has usually seen the connection close by now (its 'error' event gave it back destroyed) and the
      // query takes another; if not, the query fails as the database being unavailable (a 503, never a crash).
      const outcome = await connection.query<{ pid: number }>('SELECT pg_backend_pid() AS pid', []).then(
        (rows) => ({ pid: rows[0].pid }),
        (error: unknown) => ({ error }),
      );
      if ('error' in outcome) expect(isDatabaseUnavailableError(outcome.error)).toBe(true);
      else expect(outcome.pid).not.toBe(first);
      expect(await pidOf(connection)).not.toBe(first);
    }));

  it('closes only after the statement running on it has finished: a group that may commit is never cut', async () => {
    const connection = new GenericPlanConnection(dataSource);
    const key = 7_300_001;
    await admin.query('SELECT pg_advisory_lock($1)', [key]);
    const pid = await pidOf(connection);
    // The statement waits for the lock the test holds; close() is asked for while it waits.
    const statement = connection.query<{ n: number }>('SELECT 1 AS n FROM (SELECT pg_advisory_xact_lock($1::bigint)) AS locked', [key]);
    await poll('the statement to wait for the lock', async () =>
      (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, [pid])).rowCount === 1,
    );
    let closed = false;
    const closing = connection.close().then(() => (closed = true));
    expect(await backendAlive(pid)).toBe(true);
    expect(closed).toBe(false);
    await admin.query('SELECT pg_advisory_unlock($1)', [key]);
    expect((await statement).map((r) => r.n)).toEqual([1]);
    await closing;
    expect(await gone(pid)).toBe(true);
  });

  it('never hands its setting to the pool: close() destroys the connection and later queries go through the pool', async () => {
    const connection = new GenericPlanConnection(dataSource);
    const pid = await pidOf(connection);
    await connection.close();
    expect(await gone(pid)).toBe(true);
    expect(await planMode(connection)).toBe('force_custom_plan');
    // Every connection the pool holds now plans each execution.
    const pool = (dataSource.driver as unknown as { master: { totalCount: number } }).master;
    const modes = await Promise.all(Array.from({ length: Math.max(1, pool.totalCount) }, () => dataSource.query('SHOW plan_cache_mode')));
    expect(new Set(modes.map((rows: { plan_cache_mode: string }[]) => rows[0].plan_cache_mode))).toEqual(new Set(['force_custom_plan']));
  });
});
