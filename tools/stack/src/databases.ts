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
