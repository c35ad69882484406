import { chmodSync, existsSync, lstatSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres } from './embedded-postgres';

// Real PostgreSQL processes: initdb (~2 s) and start per case.
jest.setTimeout(60_000);

const asRoot = process.getuid?.() === 0;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

describe('startEmbeddedPostgres', () => {
  let base: string;
  beforeEach(() => {
    base = mkdtempSync(path.join(tmpdir(), 'pancha-epg-'));
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('serves a UTF-8 cluster with password auth, creates databases, and an ephemeral one leaves nothing behind', async () => {
    const dataDir = path.join(base, 'tmp', 'pg');
    const pg = await startEmbeddedPostgres({ dataDir, port: await freePort(), ephemeral: true });
    try {
      await pg.ensureDatabases(['alpha', 'beta']);
      await pg.ensureDatabases(['alpha']); // already there: no error
      const [row] = await query<{ user: string; enc: string; upper: string }>(
        pg.url('alpha'),
        "SELECT current_user AS user, pg_encoding_to_char(encoding) AS enc, upper('é') AS upper FROM pg_database WHERE datname = 'alpha'",
      );
      expect(row).toEqual({ user: 'postgres', enc: 'UTF8', upper: 'É' });
      await expect(query(pg.url('alpha').replace(':postgres@', ':wrong@'), 'SELECT 1')).rejects.toThrow(/password authentication failed/);
    } finally {
      await pg.stop();
    }
    await pg.stop(); // idempotent
    expect(existsSync(dataDir)).toBe(false);
  });

  it('rejects with PostgreSQL’s own reason when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    const dataDir = path.join(base, 'pg');
    try {
      await expect(startEmbeddedPostgres({ dataDir, port, ephemeral: true, log: () => undefined })).rejects.toThrow(
        /did not start on 127\.0\.0\.1:\d+[\s\S]*Address already in use/,
      );
      expect(existsSync(dataDir)).toBe(false); // nor, as root, a cluster it linked to
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  // The bug this guards against: as root the server runs as the `postgres` user, which cannot traverse a 0700
  // directory (a clone in `mktemp -d`, or under /root).
  (asRoot ? it : it.skip)('as root, keeps a cluster under a directory the postgres user cannot reach, across restarts', async () => {
    chmodSync(base, 0o700);
    const dataDir = path.join(base, '.data', 'pg');
    const port = await freePort();
    let hidden: string | undefined;
    const notices: string[] = [];
    try {
      const first = await startEmbeddedPostgres({ dataDir, port, log: (line) => notices.push(line) });
      try {
        await first.ensureDatabases(['kept']);
      } finally {
        await first.stop();
      }
      expect(lstatSync(dataDir).isSymbolicLink()).toBe(true);
      hidden = readlinkSync(dataDir);
      expect(hidden.startsWith('/var/lib/pancha-embedded-pg/data/')).toBe(true);
      expect(lstatSync(hidden).mode & 0o777).toBe(0o700);
      expect(notices.some((line) => line.includes(`PostgreSQL data lives in ${hidden}`))).toBe(true);

      const second = await startEmbeddedPostgres({ dataDir, port, log: () => undefined });
      try {
        const rows = await query<{ datname: string }>(second.url('postgres'), "SELECT datname FROM pg_database WHERE datname = 'kept'");
        expect(rows).toEqual([{ datname: 'kept' }]);
      } finally {
        await second.stop();
      }

      const third = await startEmbeddedPostgres({ dataDir, port, ephemeral: true, log: () => undefined });
      await third.stop();
      expect(existsSync(dataDir)).toBe(false);
      expect(existsSync(hidden)).toBe(false);
    } finally {
      if (hidden) rmSync(hidden, { recursive: true, force: true });
    }
  });
});
