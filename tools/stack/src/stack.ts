/**
 * The integrated stack as one programmatic call: a PostgreSQL (embedded, or a server you name), one
 * database per service, the service key pairs, and the four compiled services as child processes in
 * SPEC order (Karma → Bucket → Core → Executor), each waited on until healthy. Used by `npm start`
 * (main.ts), `npm run bench` and the stack end-to-end test.
 */
// @pancha/contracts' DTO classes carry class-transformer decorators, which need the metadata polyfill first.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { REQUESTER_IDS, type ServiceName } from '@pancha/contracts';
import { startDevIdp, type DevUser, type RunningDevIdp } from '@pancha/dev-idp';
import { ensureKeyPairs } from '@pancha/governance';
import {
  databaseUrl,
  dropServerDatabases,
  dropServiceRoles,
  ensureServerDatabases,
  ensureServiceRoles,
  roleUrl,
  type ServiceDatabaseRoles,
} from './databases';
import { startEmbeddedPostgres, type RunningPostgres } from './embedded-postgres';
import { logFileFor, ServiceProcess, type StackLog } from './service-process';

/** Start order (SPEC §1); stop runs in reverse. */
export const STACK_SERVICES: readonly ServiceName[] = ['karma', 'bucket', 'core', 'workflow-executor'];

export const DEFAULT_PORTS: Readonly<Record<ServiceName, number>> = {
  karma: 8000,
  bucket: 8001,
  core: 8002,
  'workflow-executor': 8003,
};

/** Database name per service (before the optional prefix). */
export const SERVICE_DATABASES: Readonly<Record<ServiceName, string>> = {
  karma: 'karma',
  bucket: 'bucket',
  core: 'core',
  'workflow-executor': 'executor',
};

export const DEFAULT_EMBEDDED_PG_PORT = 54329;

/** PRANA (the console) and the embedded development OIDC provider it signs people in with. */
export const DEFAULT_PRANA_PORT = 4200;
export const DEFAULT_DEV_IDP_PORT = 4300;
/** The audience of people's access tokens (Core and the executor accept them) and the client id of PRANA. */
export const DEV_OIDC_AUDIENCE = 'urn:pancha:api';
export const DEV_OIDC_CLIENT_ID = 'prana';

/** PRANA in the stack. Without `oidc`, the embedded provider (oidc-provider) signs in the users of <dataDir>/dev-users.json. */
export interface PranaStackOptions {
  /** Default env PRANA_PORT, else 4200. */
  port?: number;
  /** The embedded provider's port. Default env PANCHA_IDP_PORT, else 4300. */
  idpPort?: number;
  /** A real provider instead of the embedded one. */
  oidc?: { issuer: string; clientId: string; clientSecret?: string; audience?: string; rolesClaim?: string };
  /** `vite`: the console from apps/prana/web through Vite (hot reload) instead of dist/apps/prana/web. */
  webMode?: 'static' | 'vite';
  /** Restart the BFF when its compiled files change (nx serve prana). */
  watch?: boolean;
}

export interface RunningPrana {
  url: string;
  issuer: string;
  /** The embedded provider's users (absent with a real provider). */
  usersFile?: string;
  users?: DevUser[];
  /** True when this start created the users file (their passwords are printed once). */
  usersCreated: boolean;
}

const HEALTH_PATHS: Readonly<Record<ServiceName, string>> = {
  karma: '/health',
  bucket: '/health',
  core: '/health',
  'workflow-executor': '/healthz',
};

const URL_ENV: Readonly<Record<ServiceName, string>> = {
  karma: 'KARMA_URL',
  bucket: 'BUCKET_URL',
  core: 'CORE_URL',
  'workflow-executor': 'WORKFLOW_EXECUTOR_URL',
};

const HEALTH_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

export interface StackOptions {
  /** Repository root: dist/ and config/policy.yaml are found under it. */
  rootDir: string;
  /** Embedded cluster (<dataDir>/pg) and keys (<dataDir>/keys). Default <rootDir>/.data. */
  dataDir?: string;
  /**
   * A PostgreSQL server URL (e.g. postgres://postgres@127.0.0.1:5432/postgres): the service databases are
   * created on it. Without it an embedded PostgreSQL runs with its data under <dataDir>/pg.
   */
  databaseUrl?: string;
  /** Prefix for the four database names (`bench_` → bench_karma, …) so a test or benchmark gets fresh ones. */
  databasePrefix?: string;
  /** Drop the (prefixed) databases on stop(). For throw-away stacks; never the default. */
  dropDatabasesOnStop?: boolean;
  /**
   * Per service database an owner role (`<db>_owner`, runs the migrations: DATABASE_MIGRATION_URL) and a runtime
   * role (`<db>_app`, serves: DATABASE_URL) that owns nothing and is not a superuser. Default true; on a server
   * whose URL cannot create roles the stack says so and runs every service as that URL's role.
   */
  databaseRoles?: boolean;
  /** Embedded PostgreSQL port. Default env PANCHA_PG_PORT, else 54329 (a system server may hold 5432). */
  postgresPort?: number;
  ports?: Partial<Record<ServiceName, number>>;
  /** Extra environment for every service (OTEL_*, WORKFLOW_TIMEOUT, LOG_LEVEL, …). */
  env?: Record<string, string>;
  serviceEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  /** Node options per service, before the entry point (e.g. `--cpu-prof`, which NODE_OPTIONS does not allow). */
  nodeArgs?: Partial<Record<ServiceName, string[]>>;
  /** Each service's stdout/stderr goes to <logDir>/<service>.log; without it, to the console prefixed `[service]`. */
  logDir?: string;
  /** Launch only these (still in start order); the others' URLs are handed out anyway. */
  services?: readonly ServiceName[];
  /** How long each service may take to answer its health check. Default 60 s. */
  healthTimeoutMs?: number;
  /** Also start PRANA (and its development OIDC provider) after the services. Off unless given (npm start gives it). */
  prana?: PranaStackOptions;
  /** Aborting stops whatever was started and rejects startStack. */
  signal?: AbortSignal;
  /** Stack messages (not service output). Default console.error. */
  log?: StackLog;
  /**
   * The script each service runs. Default <rootDir>/dist/apps/<service>/src/main.js. Lets a test drive the
   * supervision with a stand-in app.
   */
  entryFor?: (service: ServiceName) => string;
}

export interface RunningStack {
  urls: Record<ServiceName, string>;
  /** What each service serves with (its runtime role when databaseRoles is on). */
  databaseUrls: Record<ServiceName, string>;
  /** Each database's owner URL (migrations), when the roles are split; else undefined. */
  migrationUrls?: Record<ServiceName, string>;
  keysDir: string;
  /** PRANA, when started (options.prana). */
  prana?: RunningPrana;
  /** Health bodies as first seen at start, per launched service. */
  health: Partial<Record<ServiceName, unknown>>;
  /** SIGTERM every service in reverse order (SIGKILL after 10 s), then stop the embedded PostgreSQL. Idempotent. */
  stop(): Promise<void>;
  /** Stop one service (graceful degradation tests). */
  stopService(name: ServiceName): Promise<void>;
  /** (Re)start one service and wait until it is healthy; resolves with its health body. */
  startService(name: ServiceName): Promise<unknown>;
  /** Whether the service's process is running. */
  isRunning(name: ServiceName): boolean;
  /** The service's process id while it runs (CPU accounting in benchmarks). */
  pidOf(name: ServiceName): number | undefined;
  /** SIGKILL one service (crash-recovery tests); startService brings it back. */
  killService(name: ServiceName): Promise<void>;
  /**
   * Another process of a service on the same database and configuration, on its own port (replica tests); it is
   * stopped with the stack.
   */
  startReplica(name: ServiceName, port: number): Promise<{ url: string; kill(): Promise<void>; stop(): Promise<void> }>;
}

/** Error from startStack: the message names the service and carries the tail of its log. */
export class StackStartError extends Error {
  constructor(
    message: string,
    readonly service?: ServiceName,
  ) {
    super(message);
    this.name = 'StackStartError';
  }
}

export async function startStack(options: StackOptions): Promise<RunningStack> {
  const rootDir = path.resolve(options.rootDir);
  const dataDir = path.resolve(options.dataDir ?? path.join(rootDir, '.data'));
  const log = options.log ?? ((line: string) => console.error(line));
  const prefix = options.databasePrefix ?? '';
  if (!/^[a-z0-9_]*$/i.test(prefix)) throw new StackStartError(`databasePrefix must be letters, digits and _: ${prefix}`);
  const selected = STACK_SERVICES.filter((s) => !options.services || options.services.includes(s));
  const ports = { ...DEFAULT_PORTS, ...options.ports };
  const urls = Object.fromEntries(STACK_SERVICES.map((s) => [s, `http://127.0.0.1:${ports[s]}`])) as Record<
    ServiceName,
    string
  >;
  const dbNames = Object.fromEntries(STACK_SERVICES.map((s) => [s, `${prefix}${SERVICE_DATABASES[s]}`])) as Record<
    ServiceName,
    string
  >;

  checkBuilt(rootDir, selected, options.entryFor, options.prana !== undefined);
  ensureDir(dataDir, 0o755);
  // As root the embedded cluster runs as the `postgres` OS user, which must be able to reach <dataDir>/pg.
  if (!options.databaseUrl && process.getuid?.() === 0) chmodSync(dataDir, 0o755);

  // 1. PostgreSQL and the databases.
  let postgres: RunningPostgres | undefined;
  let serverUrl: string;
  if (options.databaseUrl) {
    serverUrl = options.databaseUrl;
  } else {
    const port = options.postgresPort ?? Number(process.env.PANCHA_PG_PORT || DEFAULT_EMBEDDED_PG_PORT);
    const pgDir = path.join(dataDir, 'pg');
    const fresh = !existsSync(path.join(pgDir, 'PG_VERSION'));
    log(`[stack] ${fresh ? 'initialising' : 'starting'} embedded PostgreSQL on 127.0.0.1:${port} (data ${pgDir})`);
    postgres = await startEmbeddedPostgres({ dataDir: pgDir, port, ownSignals: true });
    serverUrl = postgres.url('postgres');
  }
  let databaseUrls = Object.fromEntries(STACK_SERVICES.map((s) => [s, databaseUrl(serverUrl, dbNames[s])])) as Record<
    ServiceName,
    string
  >;
  let migrationUrls: Record<ServiceName, string> | undefined;
  const names = selected.map((s) => dbNames[s]);
  // A fresh password per start (set on the roles below): nothing to keep on disk, and the services get it in their URLs.
  const roles: ServiceDatabaseRoles[] = selected.map((s) => ({
    database: dbNames[s],
    owner: `${dbNames[s]}_owner`,
    runtime: `${dbNames[s]}_app`,
    password: randomBytes(18).toString('base64url'),
  }));
  let rolesCreated = false;
  const dropDatabases = async () => {
    if (!options.dropDatabasesOnStop) return;
    await dropServerDatabases(serverUrl, names);
    if (rolesCreated) await dropServiceRoles(serverUrl, roles);
  };

  const processes = new Map<ServiceName, ServiceProcess>();
  let pranaProcess: ServiceProcess | undefined;
  let idp: RunningDevIdp | undefined;
  const replicas: ServiceProcess[] = [];
  const killAll = () => {
    for (const p of processes.values()) p.signal('SIGTERM');
    pranaProcess?.signal('SIGTERM');
  };
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (pranaProcess?.running) log('[stack] stopping prana');
      await pranaProcess?.stop(STOP_GRACE_MS);
      await pranaProcess?.closeLog();
      for (const replica of replicas) await replica.stop(STOP_GRACE_MS);
      for (const name of [...selected].reverse()) {
        const p = processes.get(name);
        if (p?.running) log(`[stack] stopping ${name}`);
        await p?.stop(STOP_GRACE_MS);
        await p?.closeLog();
      }
      process.removeListener('exit', killAll);
      await idp?.close();
      await dropDatabases().catch((error: Error) => log(`[stack] could not drop databases: ${error.message}`));
      if (postgres) {
        log('[stack] stopping PostgreSQL');
        await postgres.stop();
      }
    })());

  try {
    await ensureServerDatabases(serverUrl, names).catch((error: Error) => {
      throw new StackStartError(`could not create the databases ${names.join(', ')} on ${redact(serverUrl)}: ${error.message}`);
    });
    if (options.databaseRoles !== false) {
      try {
        await ensureServiceRoles(serverUrl, roles);
        rolesCreated = true;
        const byService = new Map(selected.map((s, i) => [s, roles[i]]));
        const urlFor = (s: ServiceName, kind: 'owner' | 'runtime') => {
          const r = byService.get(s);
          return r ? roleUrl(serverUrl, r.database, r[kind], r.password) : databaseUrl(serverUrl, dbNames[s]);
        };
        databaseUrls = Object.fromEntries(STACK_SERVICES.map((s) => [s, urlFor(s, 'runtime')])) as Record<ServiceName, string>;
        migrationUrls = Object.fromEntries(STACK_SERVICES.map((s) => [s, urlFor(s, 'owner')])) as Record<ServiceName, string>;
        log(`[stack] databases migrate as <db>_owner and serve as <db>_app (owns nothing, not a superuser)`);
      } catch (error) {
        if ((error as { code?: string }).code !== '42501') throw error;
        // A server we may not create roles on: the services run as the URL's role, and the append-only guarantee
        // then rests on that role not being a superuser or the owner (docs/ARCHITECTURE.md "Database roles").
        log(`[stack] WARNING: ${redact(serverUrl)} may not create roles (${(error as Error).message}): every service runs as its role`);
      }
    }

    // 2. Keys: generated once, reused by every later start.
    const keysDir = path.join(dataDir, 'keys');
    const generated = ensureKeyPairs(keysDir, REQUESTER_IDS);
    if (generated.length) log(`[stack] generated key pairs for ${generated.join(', ')} in ${keysDir}`);
    restrictPrivateKeys(keysDir);

    // 3. The services, in order, each healthy before the next.
    if (options.logDir) ensureDir(options.logDir, 0o755);
    // People's sign-in: the provider comes first, since Core and the executor verify people's tokens against it.
    const pranaPort = options.prana?.port ?? Number(process.env.PRANA_PORT || DEFAULT_PRANA_PORT);
    const pranaUrl = `http://127.0.0.1:${pranaPort}`;
    const clientSecret = randomBytes(24).toString('base64url');
    let oidcEnv: Record<string, string> = {};
    if (options.prana) {
      const given = options.prana.oidc;
      if (!given) {
        const idpPort = options.prana.idpPort ?? Number(process.env.PANCHA_IDP_PORT || DEFAULT_DEV_IDP_PORT);
        idp = await startDevIdp({
          dataDir,
          port: idpPort,
          audience: DEV_OIDC_AUDIENCE,
          clients: [
            {
              client_id: DEV_OIDC_CLIENT_ID,
              client_secret: clientSecret,
              redirect_uris: [`${pranaUrl}/auth/callback`],
              post_logout_redirect_uris: [`${pranaUrl}/`],
            },
          ],
        }).catch((error: Error) => {
          throw new StackStartError(`could not start the development OIDC provider on port ${idpPort}: ${error.message}`);
        });
        log(`[stack] development OIDC provider at ${idp.issuer} (users in ${idp.usersFile})`);
      }
      oidcEnv = {
        OIDC_ISSUER: given?.issuer ?? (idp as RunningDevIdp).issuer,
        OIDC_AUDIENCE: given?.audience ?? DEV_OIDC_AUDIENCE,
        // The embedded provider issues JWT access tokens per API (RFC 8707 resource); a real one may choose itself.
        ...(given ? {} : { OIDC_RESOURCE: DEV_OIDC_AUDIENCE }),
        OIDC_ROLES_CLAIM: given?.rolesClaim ?? 'roles',
      };
    }
    const shared: Record<string, string> = {
      PANCHA_KEYS_DIR: keysDir,
      PANCHA_POLICY_FILE: path.join(rootDir, 'config', 'policy.yaml'),
      ...Object.fromEntries(STACK_SERVICES.map((s) => [URL_ENV[s], urls[s]])),
      ...oidcEnv,
    };
    const register = path.join(rootDir, 'dist/libs/trace-context/src/register.js');
    const processFor = (name: ServiceName, port: number, logName: string): ServiceProcess =>
      new ServiceProcess(
        {
          name,
          port,
          url: `http://127.0.0.1:${port}`,
          healthPath: HEALTH_PATHS[name],
          command: process.execPath,
          args: [...(options.nodeArgs?.[name] ?? []), '--require', register, entryPath(rootDir, name, options.entryFor)],
          cwd: rootDir,
          env: {
            ...process.env,
            // A development stack answers on loopback only; set HOST in options.env to expose it.
            HOST: '127.0.0.1',
            ...shared,
            PORT: String(port),
            DATABASE_URL: databaseUrls[name],
            ...(migrationUrls ? { DATABASE_MIGRATION_URL: migrationUrls[name] } : {}),
            OTEL_SERVICE_NAME: name,
            ...options.env,
            ...options.serviceEnv?.[name],
          },
          logFile: options.logDir ? (logName === name ? logFileFor(options.logDir, name) : path.join(options.logDir, `${logName}.log`)) : undefined,
        },
        log,
      );
    for (const name of selected) processes.set(name, processFor(name, ports[name], name));
    // If the launcher dies without stop(), the services must not outlive it holding their ports.
    process.on('exit', killAll);

    const health: Partial<Record<ServiceName, unknown>> = {};
    const startService = async (name: ServiceName): Promise<unknown> => {
      const p = processes.get(name);
      if (!p) throw new StackStartError(`${name} is not part of this stack (services option)`, name);
      if (stopping) throw new StackStartError('the stack is stopping', name);
      log(`[stack] starting ${name} on ${urls[name]}`);
      const started = Date.now();
      try {
        await p.start();
        const body = await p.waitHealthy({ timeoutMs: options.healthTimeoutMs ?? HEALTH_TIMEOUT_MS, signal: options.signal });
        log(`[stack] ${name} healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        return body;
      } catch (error) {
        throw new StackStartError((error as Error).message, name);
      }
    };

    for (const name of selected) {
      if (options.signal?.aborted) throw new StackStartError('stack start aborted');
      health[name] = await startService(name);
    }

    let prana: RunningPrana | undefined;
    if (options.prana) {
      if (options.signal?.aborted) throw new StackStartError('stack start aborted');
      const watch = options.prana.watch === true;
      pranaProcess = new ServiceProcess(
        {
          name: 'prana',
          port: pranaPort,
          url: pranaUrl,
          healthPath: '/api/health',
          command: process.execPath,
          args: [
            ...(watch ? ['--watch-path', path.join(rootDir, 'dist/apps/prana'), '--watch-path', path.join(rootDir, 'dist/libs')] : []),
            '--require',
            register,
            path.join(rootDir, 'dist/apps/prana/src/main.js'),
          ],
          cwd: rootDir,
          env: {
            ...process.env,
            HOST: '127.0.0.1',
            ...shared,
            PORT: String(pranaPort),
            PRANA_PUBLIC_URL: pranaUrl,
            PRANA_WEB_MODE: options.prana.webMode ?? 'static',
            OIDC_CLIENT_ID: options.prana.oidc?.clientId ?? DEV_OIDC_CLIENT_ID,
            ...(options.prana.oidc ? (options.prana.oidc.clientSecret ? { OIDC_CLIENT_SECRET: options.prana.oidc.clientSecret } : {}) : { OIDC_CLIENT_SECRET: clientSecret }),
            SESSION_SECRET: randomBytes(32).toString('base64url'),
            OTEL_SERVICE_NAME: 'prana',
            ...options.env,
          },
          logFile: options.logDir ? logFileFor(options.logDir, 'prana') : undefined,
        },
        log,
      );
      log(`[stack] starting prana on ${pranaUrl}`);
      const started = Date.now();
      try {
        await pranaProcess.start();
        await pranaProcess.waitHealthy({ timeoutMs: options.healthTimeoutMs ?? HEALTH_TIMEOUT_MS, signal: options.signal });
      } catch (error) {
        throw new StackStartError((error as Error).message);
      }
      log(`[stack] prana healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      prana = {
        url: pranaUrl,
        issuer: oidcEnv.OIDC_ISSUER,
        usersFile: idp?.usersFile,
        users: idp?.users,
        usersCreated: idp?.usersCreated ?? false,
      };
    }

    return {
      urls,
      databaseUrls,
      migrationUrls,
      keysDir,
      prana,
      health,
      stop,
      async stopService(name) {
        log(`[stack] stopping ${name}`);
        await processes.get(name)?.stop(STOP_GRACE_MS);
      },
      startService,
      isRunning: (name) => processes.get(name)?.running ?? false,
      pidOf: (name) => processes.get(name)?.pid,
      async killService(name) {
        log(`[stack] killing ${name} (SIGKILL)`);
        await processes.get(name)?.kill();
      },
      async startReplica(name, port) {
        const replica = processFor(name, port, `${name}-replica-${replicas.length + 1}`);
        replicas.push(replica);
        log(`[stack] starting a replica of ${name} on port ${port}`);
        await replica.start();
        await replica.waitHealthy({ timeoutMs: options.healthTimeoutMs ?? HEALTH_TIMEOUT_MS, signal: options.signal });
        return { url: replica.spec.url, kill: () => replica.kill(), stop: () => replica.stop(STOP_GRACE_MS) };
      },
    };
  } catch (error) {
    // The error carries the details (and the log tail); here only what happens next.
    log('[stack] start failed: stopping what was started');
    await stop();
    throw error;
  }
}

function entryPath(rootDir: string, name: ServiceName, entryFor?: (s: ServiceName) => string): string {
  return entryFor ? entryFor(name) : path.join(rootDir, 'dist/apps', name, 'src/main.js');
}

/** Fails early, naming the missing file, instead of four crash loops. */
function checkBuilt(rootDir: string, services: readonly ServiceName[], entryFor?: (s: ServiceName) => string, prana = false): void {
  const required = [
    path.join(rootDir, 'dist/libs/trace-context/src/register.js'),
    ...services.map((s) => entryPath(rootDir, s, entryFor)),
    ...(prana ? [path.join(rootDir, 'dist/apps/prana/src/main.js')] : []),
  ];
  const missing = required.filter((f) => !existsSync(f));
  if (missing.length) {
    throw new StackStartError(`not built: ${missing.join(', ')} missing. Run \`npm run build\` first.`);
  }
}

function ensureDir(dir: string, mode: number): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode });
}

/** Private keys are secrets: owner-only, also when an older or hand-copied file is more open. */
function restrictPrivateKeys(keysDir: string): void {
  for (const file of readdirSync(keysDir)) {
    if (file.endsWith('.key.pem')) chmodSync(path.join(keysDir, file), 0o600);
  }
}

/** A server URL fit for messages: the password replaced. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}
