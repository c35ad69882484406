/**
 * A prepared statement is planned for the table it meets: a plan made while a table was empty is not kept once it
 * holds thousands of rows, even when nothing ever analyses it (autovacuum off, as on the CI machine's PostgreSQL).
 */
import { createTestDatabase, type TestDatabase } from '@pancha/testing';
import { PREPARE_AFTER, PreparingClient } from './preparing-client';

jest.setTimeout(60_000);

describe('PreparingClient against PostgreSQL', () => {
  let db: TestDatabase;
  let client: PreparingClient;

  beforeAll(async () => {
    db = await createTestDatabase('preparing_client');
    client = new PreparingClient({ connectionString: db.url });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it('plans each execution of a prepared statement for the table as it is now', async () => {
    await client.query(`CREATE TABLE grows (id int PRIMARY KEY, note text, status text)`);
    await client.query(`ALTER TABLE grows SET (autovacuum_enabled = false)`);
    // The shape of the outbox's settle: rows by id from a batch of ids. A generic plan made on the empty table scans it.
    const text = `SELECT g.note FROM grows g JOIN unnest($1::int[]) AS v(id) ON g.id = v.id WHERE g.status = 'pending' ORDER BY g.id -- preparing-client spec`;
    // Prepared, and run often enough while the table is empty for PostgreSQL's default to settle on a generic plan.
    for (let i = 0; i < PREPARE_AFTER + 10; i++) await client.query(text, [[1, 2, 3]]);
    const [prepared] = (await client.query(`SELECT name FROM pg_prepared_statements WHERE statement = $1`, [text])).rows;
    expect(prepared?.name).toMatch(/^select_/);

    await client.query(`INSERT INTO grows SELECT i, 'n' || i, 'pending' FROM generate_series(1, 50000) AS i`);
    const plan = (await client.query(`EXPLAIN EXECUTE ${prepared.name}('{1,2,3}')`)).rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
    expect(plan).toMatch(/Index (Only )?Scan/);
    expect(plan).not.toMatch(/Seq Scan/);
    expect((await client.query(`SHOW plan_cache_mode`)).rows[0].plan_cache_mode).toBe('force_custom_plan');
    expect((await client.query(text, [[7, 8]])).rows).toEqual([{ note: 'n7' }, { note: 'n8' }]);
  });
});
