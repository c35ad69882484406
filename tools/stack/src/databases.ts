import { Client } from 'pg';

/** The URL of `database` on the server of `serverUrl` (credentials, host and query string kept). */
export function databaseUrl(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Creates the missing databases on an existing server, connecting to its maintenance database
 * (`postgres`). CREATE DATABASE cannot run in a transaction, hence one statement each.
 */
export async function ensureServerDatabases(serverUrl: string, names: readonly string[]): Promise<void> {
  const client = new Client({ connectionString: databaseUrl(serverUrl, 'postgres') });
  await client.connect();
  try {
    for (const name of names) {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (rowCount) continue;
      try {
        await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
      } catch (error) {
        // Another launcher may have created it between the check and the CREATE.
        if ((error as { code?: string }).code !== '42P04') throw error;
      }
    }
  } finally {
    await client.end();
  }
}

/** Drops the databases, disconnecting whoever is still attached (PostgreSQL 13+). */
export async function dropServerDatabases(serverUrl: string, names: readonly string[]): Promise<void> {
  const client = new Client({ connectionString: databaseUrl(serverUrl, 'postgres') });
  await client.connect();
  try {
    for (const name of names) await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** The two roles of one service database: the owner runs migrations, the runtime role serves. */
export interface ServiceDatabaseRoles {
  database: string;
  owner: string;
  runtime: string;
  /** Both roles' password (one per database; the stack keeps it in <dataDir>/database-roles.json, mode 0600). */
  password: string;
}

/** `serverUrl` logged in as `role` on `database`. */
export function roleUrl(serverUrl: string, database: string, role: string, password: string): string {
  const u = new URL(databaseUrl(serverUrl, database));
  u.username = role;
  u.password = password;
  return u.toString();
}

/**
 * Creates (or updates) each database's owner role and runtime role and hands the database and everything in its
 * public schema to the owner, as the server's administrator (the launcher's URL). Objects an older stack created
 * as the administrator are handed over too, so an existing `.data` moves to the split on its next start. The
 * runtime role gets CONNECT here; its table privileges are granted by the service's own start (service-kit's
 * migrateAsOwner), from the tables its migrations made.
 */
export async function ensureServiceRoles(serverUrl: string, roles: readonly ServiceDatabaseRoles[]): Promise<void> {
  const admin = new Client({ connectionString: databaseUrl(serverUrl, 'postgres') });
  await admin.connect();
  try {
    for (const r of roles) {
      for (const [role, extra] of [[r.owner, ''], [r.runtime, ' NOINHERIT']] as const) {
        const exists = (await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount;
        const verb = exists ? 'ALTER' : 'CREATE';
        await admin.query(`${verb} ROLE ${quoteIdent(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS${verb === 'CREATE' ? extra : ''} PASSWORD ${quoteLiteral(r.password)}`);
      }
      await admin.query(`ALTER DATABASE ${quoteIdent(r.database)} OWNER TO ${quoteIdent(r.owner)}`);
      await admin.query(`REVOKE ALL ON DATABASE ${quoteIdent(r.database)} FROM PUBLIC`);
      await admin.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${quoteIdent(r.database)} TO ${quoteIdent(r.runtime)}`);
    }
  } finally {
    await admin.end();
  }
  for (const r of roles) {
    const db = new Client({ connectionString: databaseUrl(serverUrl, r.database) });
    await db.connect();
    try {
      await db.query(`ALTER SCHEMA public OWNER TO ${quoteIdent(r.owner)}`);
      await db.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
      // Tables, sequences, views and functions made by an older stack that migrated as the administrator.
      await db.query(
        `DO $$
         DECLARE o record;
         BEGIN
           -- Tables first: a table's owned sequences (serial) follow it; the other sequences after.
           FOR o IN SELECT c.relname, c.relkind FROM pg_class c
                    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
                      AND pg_get_userbyid(c.relowner) <> ${quoteLiteral(r.owner)} LOOP
             EXECUTE format(CASE o.relkind WHEN 'v' THEN 'ALTER VIEW %I OWNER TO %I'
                                           WHEN 'm' THEN 'ALTER MATERIALIZED VIEW %I OWNER TO %I'
                                           ELSE 'ALTER TABLE %I OWNER TO %I' END, o.relname, ${quoteLiteral(r.owner)});
           END LOOP;
           FOR o IN SELECT c.relname FROM pg_class c
                    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
                      AND pg_get_userbyid(c.relowner) <> ${quoteLiteral(r.owner)} LOOP
             EXECUTE format('ALTER SEQUENCE %I OWNER TO %I', o.relname, ${quoteLiteral(r.owner)});
           END LOOP;
           FOR o IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                    WHERE p.pronamespace = 'public'::regnamespace AND pg_get_userbyid(p.proowner) <> ${quoteLiteral(r.owner)} LOOP
             EXECUTE format('ALTER FUNCTION %s OWNER TO %I', o.sig, ${quoteLiteral(r.owner)});
           END LOOP;
         END $$`,
      );
    } finally {
      await db.end();
    }
  }
}

/** Drops the roles (after their databases: a role that still owns a database cannot be dropped). */
export async function dropServiceRoles(serverUrl: string, roles: readonly ServiceDatabaseRoles[]): Promise<void> {
  const admin = new Client({ connectionString: databaseUrl(serverUrl, 'postgres') });
  await admin.connect();
  try {
    for (const r of roles) for (const role of [r.runtime, r.owner]) await admin.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
  } finally {
    await admin.end();
  }
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
