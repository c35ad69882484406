/**
 * The append-only guarantee must not rest on a role that can lift it: migrations run as the database owner
 * (DATABASE_MIGRATION_URL) and Bucket serves as a runtime role (DATABASE_URL) that owns nothing and is not a
 * superuser, so it cannot change, delete, truncate, disable the triggers of, alter or drop the chain.
 */
import type { INestApplication } from '@nestjs/common';
import { RequesterId } from '@pancha/contracts';
import { createTestDatabase, createTestKeys, testServerUrl, type TestDatabase, type TestKeys } from '@pancha/testing';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import request from 'supertest';
import { bootBucket } from './testing/bucket-test-app';

jest.setTimeout(120_000);

function urlAs(base: string, role: string, password: string): string {
  const u = new URL(base);
  u.username = role;
  u.password = password;
  return u.toString();
}

async function asAdmin<T>(fn: (c: Client) => Promise<T>, database = 'postgres'): Promise<T> {
  const u = new URL(testServerUrl());
  u.pathname = `/${database}`;
  const c = new Client({ connectionString: u.toString() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('bucket serves as a runtime role that cannot lift the append-only guarantee (real PostgreSQL)', () => {
  const suffix = randomBytes(4).toString('hex');
  const owner = `t_bucket_owner_${suffix}`;
  const runtime = `t_bucket_app_${suffix}`;
  const password = randomBytes(12).toString('hex');
  let db: TestDatabase;
  let keys: TestKeys;
  let app: INestApplication | undefined;
  let runtimeUrl: string;
  let ownerUrl: string;

  /** Bucket on the test's database, connecting as `databaseUrl` and migrating as `migrationUrl`. */
  const boot = async (databaseUrl: string, migrationUrl?: string): Promise<INestApplication> =>
    (await bootBucket({ database: db, keys, env: { DATABASE_URL: databaseUrl, DATABASE_MIGRATION_URL: migrationUrl ?? '' } })).app;

  beforeAll(async () => {
    db = await createTestDatabase('bucket_roles');
    keys = createTestKeys('bucket-roles');
    // What tools/stack, deploy/postgres/init-databases.sh and the k8s notes provision for each service database.
    await asAdmin(async (c) => {
      await c.query(`CREATE ROLE ${owner} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${password}'`);
      await c.query(`CREATE ROLE ${runtime} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD '${password}'`);
      await c.query(`ALTER DATABASE ${db.name} OWNER TO ${owner}`);
      await c.query(`REVOKE ALL ON DATABASE ${db.name} FROM PUBLIC`);
      await c.query(`GRANT CONNECT ON DATABASE ${db.name} TO ${runtime}`);
    });
    await asAdmin(async (c) => {
      await c.query(`ALTER SCHEMA public OWNER TO ${owner}`);
      await c.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    }, db.name);
    runtimeUrl = urlAs(db.url, runtime, password);
    ownerUrl = urlAs(db.url, owner, password);
    app = await boot(runtimeUrl, ownerUrl);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
    await asAdmin(async (c) => {
      await c.query(`DROP ROLE IF EXISTS ${runtime}`);
      await c.query(`DROP ROLE IF EXISTS ${owner}`);
    });
    keys?.remove();
  });

  const write = async () => {
    const token = await keys.mint(RequesterId.Core, 'bucket');
    return request(await (app as INestApplication).getUrl())
      .post('/core/write-event')
      .set('authorization', `Bearer ${token}`)
      .send({ requester_id: 'bhiv_core', event_data: { event_id: randomUUID(), event_type: 'task_received' } });
  };

  it('migrates as the owner and serves as the runtime role: the tables belong to the owner, writes work', async () => {
    for (let i = 0; i < 3; i++) expect((await write()).status).toBe(201);
    const owners = await asAdmin(
      (c) => c.query(`SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relnamespace = 'public'::regnamespace`),
      db.name,
    );
    expect(owners.rows).toEqual([{ owner }]);
    const grants = await asAdmin(
      (c) => c.query(`SELECT privilege_type FROM information_schema.role_table_grants WHERE grantee = $1 AND table_name = 'bucket_entries' ORDER BY 1`, [runtime]),
      db.name,
    );
    expect(grants.rows.map((r) => r.privilege_type)).toEqual(['INSERT', 'SELECT']);
  });

  it.each([
    ['UPDATE', `UPDATE bucket_entries SET event_type = 'x' WHERE seq = 1`],
    ['DELETE', 'DELETE FROM bucket_entries WHERE seq = 1'],
    ['TRUNCATE', 'TRUNCATE bucket_entries'],
    ['disable the triggers', 'ALTER TABLE bucket_entries DISABLE TRIGGER ALL'],
    ['drop a trigger', 'DROP TRIGGER bucket_entries_append_only ON bucket_entries'],
    ['replace the trigger function', `CREATE OR REPLACE FUNCTION bucket_entries_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`],
    ['add a trigger', `CREATE TRIGGER t BEFORE INSERT ON bucket_entries FOR EACH ROW EXECUTE FUNCTION bucket_entries_guard_insert()`],
    ['ALTER the table', 'ALTER TABLE bucket_entries ADD COLUMN x int'],
    ['take the table over', `ALTER TABLE bucket_entries OWNER TO ${'CURRENT_USER'}`],
    ['DROP the table', 'DROP TABLE bucket_entries'],
    ['act as a replica (skip triggers)', 'SET session_replication_role = replica'],
    ['fake an applied migration', `INSERT INTO migrations (timestamp, name) VALUES (1, 'x')`],
    ['create objects in the schema', 'CREATE TABLE public.shadow (x int)'],
  ])('refuses to %s as the runtime role', async (_what, sql) => {
    const c = new Client({ connectionString: runtimeUrl });
    await c.connect();
    try {
      await expect(c.query(sql)).rejects.toThrow(/permission denied|must be owner|append-only|must be superuser/);
    } finally {
      await c.end();
    }
    const [{ n }] = (await asAdmin((a) => a.query('SELECT count(*)::int AS n FROM bucket_entries'), db.name)).rows;
    expect(n).toBeGreaterThanOrEqual(3);
  });

  it('keeps the chain whole and verifiable after every attempt', async () => {
    const token = await keys.mint(RequesterId.Core, 'bucket');
    const res = await request(await (app as INestApplication).getUrl()).get('/audit/verify?full=true').set('authorization', `Bearer ${token}`);
    expect(res.body).toMatchObject({ ok: true, size: 3 });
  });

  it('refuses to start when DATABASE_URL is a superuser or the owner itself', async () => {
    await expect(boot(testServerUrl().replace(/\/[^/]*$/, `/${db.name}`), ownerUrl)).rejects.toThrow(/rolsuper|runtime role/);
    await expect(boot(ownerUrl, ownerUrl)).rejects.toThrow(/both log in as/);
  });
});
