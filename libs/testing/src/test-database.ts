import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export interface TestDatabase {
  /** Connection URL of the fresh database. */
  url: string;
  name: string;
  /** Drops the database (terminating leftover connections). */
  drop(): Promise<void>;
}

/** The server the tests run against: DATABASE_URL (CI: the machine's PostgreSQL; else `npm test` starts an embedded one). */
export function testServerUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) {
    throw new Error('DATABASE_URL is not set: run the suite through `npm test`, which provides a real PostgreSQL');
  }
  return url;
}

function withDatabase(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates an empty database with a unique name on the test server, so suites never share state. */
export async function createTestDatabase(prefix: string, options: { timeZone?: string } = {}): Promise<TestDatabase> {
  const server = testServerUrl();
  const name = `t_${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: withDatabase(server, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
    // The database's own default, as a server configured for another zone would give every session.
    if (options.timeZone) await admin.query(`ALTER DATABASE "${name}" SET timezone TO ${escapeLiteral(options.timeZone)}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(server, name),
    async drop() {
      const c = new Client({ connectionString: withDatabase(server, 'postgres') });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

function escapeLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
