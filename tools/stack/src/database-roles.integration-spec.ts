/**
 * npm start's database roles on a server: per service database an owner (migrations) and a runtime role
 * (serves; owns nothing, not a superuser). An existing `.data` whose objects the administrator made is handed over.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { databaseUrl, dropServerDatabases, dropServiceRoles, ensureServerDatabases, ensureServiceRoles, roleUrl } from './databases';

const server = process.env.DATABASE_URL;
const describeWithServer = server ? describe : describe.skip;

async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

describeWithServer('ensureServiceRoles (DATABASE_URL server)', () => {
  const serverUrl = server as string;
  const database = `t_stack_roles_${randomBytes(4).toString('hex')}`;
  const roles = [{ database, owner: `${database}_owner`, runtime: `${database}_app`, password: randomBytes(12).toString('hex') }];

  afterAll(async () => {
    await dropServerDatabases(serverUrl, [database]);
    await dropServiceRoles(serverUrl, roles);
  });

  it('creates both roles, hands an older stack\'s objects to the owner, and leaves the runtime role owning nothing', async () => {
    await ensureServerDatabases(serverUrl, [database]);
    // What an older stack left: tables and a trigger function made by the administrator.
    await query(databaseUrl(serverUrl, database), `CREATE TABLE old_table (id serial PRIMARY KEY); CREATE FUNCTION old_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'`);
    await ensureServiceRoles(serverUrl, roles);
    await ensureServiceRoles(serverUrl, roles); // a second start changes nothing but the password

    const r = roles[0];
    const owners = await query<{ name: string; owner: string }>(
      databaseUrl(serverUrl, database),
      `SELECT relname AS name, pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relnamespace = 'public'::regnamespace
       UNION ALL SELECT proname, pg_get_userbyid(proowner) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
       UNION ALL SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1`,
      [database],
    );
    expect(new Set(owners.map((o) => o.owner))).toEqual(new Set([r.owner]));
    const [runtime] = await query<{ rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean }>(
      roleUrl(serverUrl, database, r.runtime, r.password),
      'SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user',
    );
    expect(runtime).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false });
    await expect(query(roleUrl(serverUrl, database, r.runtime, r.password), 'CREATE TABLE x (id int)')).rejects.toThrow(/permission denied/);
  });
});
