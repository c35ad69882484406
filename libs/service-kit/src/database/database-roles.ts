import { DataSource } from 'typeorm';
import type { DataSourceOptions } from 'typeorm';
import { runMigrationsLocked } from './locked-migrations';

/** Table privileges a runtime role can be given (never TRUNCATE, REFERENCES or TRIGGER). */
export type RuntimePrivilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

/**
 * Tables whose runtime privileges are narrower than the default SELECT, INSERT, UPDATE, DELETE
 * (Bucket's chain: SELECT, INSERT). Applied after every migration run, so a new table of a later release gets the
 * default and a listed one exactly what is listed.
 */
export type RuntimeGrants = Readonly<Record<string, readonly RuntimePrivilege[]>>;

/** A misconfigured role split: retrying does not fix it, so the service stops at once naming the problem. */
export class DatabaseRoleError extends Error {}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The role a connection URL logs in as (libpq's default, the OS user, is not guessed: it must be in the URL). */
export function roleOfUrl(url: string): string {
  const user = decodeURIComponent(new URL(url).username);
  if (!user) throw new DatabaseRoleError('a database URL used with DATABASE_MIGRATION_URL must name its role (postgres://role:password@host/db)');
  return user;
}

/**
 * Runs the migrations as the owner role (DATABASE_MIGRATION_URL), then gives the runtime role (DATABASE_URL's)
 * exactly what serving needs: USAGE on the schema, DML on every table (narrowed per `runtimeGrants`), sequences,
 * and nothing on the migrations bookkeeping. The runtime role owns nothing, so it can never ALTER, DROP, disable
 * a trigger or TRUNCATE; and the service refuses to serve as a superuser or as the owner itself.
 */
export async function migrateAsOwner(
  options: DataSourceOptions,
  migrationUrl: string,
  runtimeUrl: string,
  runtimeGrants: RuntimeGrants = {},
): Promise<void> {
  const runtime = roleOfUrl(runtimeUrl);
  const owner = roleOfUrl(migrationUrl);
  if (runtime === owner) {
    throw new DatabaseRoleError(`DATABASE_URL and DATABASE_MIGRATION_URL both log in as ${JSON.stringify(owner)}: serve with a runtime role that owns nothing`);
  }
  // Two connections: one holds the migration lock while the other runs them (locked-migrations.ts).
  const ds = new DataSource({ ...options, url: migrationUrl, migrationsRun: false, extra: { max: 2, connectionTimeoutMillis: 3000 } } as DataSourceOptions);
  await ds.initialize();
  try {
    const [role] = (await ds.query('SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = $1', [runtime])) as Array<
      Record<string, boolean>
    >;
    if (!role) throw new DatabaseRoleError(`DATABASE_URL's role ${JSON.stringify(runtime)} does not exist`);
    const powers = Object.entries(role).filter(([, on]) => on).map(([name]) => name);
    if (powers.length) {
      throw new DatabaseRoleError(`DATABASE_URL's role ${JSON.stringify(runtime)} has ${powers.join(', ')}: a runtime role must be LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS`);
    }
    await runMigrationsLocked(ds);
    const r = quoteIdent(runtime);
    await ds.transaction(async (manager) => {
      await manager.query(`GRANT USAGE ON SCHEMA public TO ${r}`);
      await manager.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${r}`);
      // UPDATE: setval (Karma moves its ledger sequence past a batch it numbered itself); it cannot ALTER the sequence.
      await manager.query(`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${r}`);
      // TypeORM's bookkeeping: the runtime role runs no migrations and may not fake one as applied.
      const migrationsTable = quoteIdent(ds.options.migrationsTableName ?? 'migrations');
      await manager.query(`REVOKE ALL ON ${migrationsTable} FROM ${r}`);
      for (const [table, privileges] of Object.entries(runtimeGrants)) {
        await manager.query(`REVOKE ALL ON ${quoteIdent(table)} FROM ${r}`);
        if (privileges.length) await manager.query(`GRANT ${privileges.join(', ')} ON ${quoteIdent(table)} TO ${r}`);
      }
      // Whatever the runtime role owns it could alter or drop: it must own nothing here.
      const owned = (await manager.query(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = $1`,
        [runtime],
      )) as Array<{ relname: string }>;
      if (owned.length) throw new DatabaseRoleError(`DATABASE_URL's role ${JSON.stringify(runtime)} owns ${owned.map((o) => o.relname).join(', ')}: it must own nothing`);
    });
  } finally {
    await ds.destroy();
  }
}
