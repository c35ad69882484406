/**
 * `npm start`: the whole stack on one machine — embedded PostgreSQL under .data/, keys generated on first
 * start, Karma → Bucket → Core → Executor launched in order, URLs printed, service logs on the console.
 * Ctrl-C (or SIGTERM) stops the services in reverse order, then PostgreSQL, and exits 0.
 *
 * PRANA (the console, http://127.0.0.1:4200) starts last, with the embedded development OIDC provider
 * unless OIDC_ISSUER names a real one; the first start creates the dev users and prints their passwords once.
 *
 *   node dist/tools/stack/src/main.js [--data-dir DIR] [--database-url URL] [--services a,b] [--log-dir DIR] [--no-prana] [--prana-dev]
 */
// @pancha/contracts' DTO classes carry class-transformer decorators, which need the metadata polyfill first.
import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { isServiceName, type ServiceName } from '@pancha/contracts';
import { startStack, STACK_SERVICES, StackStartError, type PranaStackOptions, type RunningStack } from './stack';

// dist/tools/<tool>/src → the repository root.
const ROOT = path.resolve(__dirname, '../../../..');
/** Signals closer together than this are one Ctrl-C (the terminal and `npm start` both deliver it). */
const REPEAT_SIGNAL_WINDOW_MS = 2000;

interface CliOptions {
  dataDir?: string;
  databaseUrl?: string;
  logDir?: string;
  services?: ServiceName[];
  /** PRANA and its provider: on unless --no-prana, or --services names only some services. */
  prana: boolean;
  /** nx serve prana: Vite middleware (hot reload) and a BFF restarted when its build changes. */
  pranaDev: boolean;
  /** Undocumented: a script standing in for every app, `{service}` replaced by the name (supervision tests). */
  entry?: string;
}

const USAGE = `usage: npm start -- [--data-dir DIR] [--database-url URL] [--services karma,bucket,core,workflow-executor] [--log-dir DIR]
  --data-dir      embedded PostgreSQL cluster and keys (default .data)
  --database-url  use this PostgreSQL server instead of the embedded one (also env DATABASE_URL)
  --services      launch only these services
  --log-dir       write each service's output to DIR/<service>.log instead of the console
  --no-prana      do not start PRANA (the console) and its development OIDC provider
  --prana-dev     PRANA with Vite in middleware mode (hot reload) and a BFF that restarts on rebuild (nx serve prana)
  env OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_AUDIENCE, OIDC_ROLES_CLAIM: sign in with a real provider`;

function parseArgs(argv: string[]): CliOptions {
  const options: CliOptions = { prana: true, pranaDev: false };
  let pranaAsked = false;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') fail(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--data-dir':
        options.dataDir = path.resolve(value());
        break;
      case '--database-url':
        options.databaseUrl = value();
        break;
      case '--log-dir':
        options.logDir = path.resolve(value());
        break;
      case '--services': {
        const names = value().split(',').map((s) => s.trim());
        const bad = names.filter((n) => !isServiceName(n));
        if (bad.length) fail(`unknown service(s): ${bad.join(', ')} (known: ${STACK_SERVICES.join(', ')})`);
        options.services = names as ServiceName[];
        break;
      }
      case '--no-prana':
        options.prana = false;
        break;
      case '--prana':
        pranaAsked = true;
        break;
      case '--prana-dev':
        options.pranaDev = true;
        pranaAsked = true;
        break;
      case '--entry':
        options.entry = path.resolve(value());
        break;
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        fail(`unknown option ${argv[i]}`);
    }
  }
  options.databaseUrl ??= process.env.DATABASE_URL || undefined;
  // `--services karma` (nx serve karma) is one service alone; PRANA joins only when asked for.
  if (options.services && !pranaAsked) options.prana = false;
  if (pranaAsked && options.prana === false) fail('--no-prana and --prana/--prana-dev contradict each other');
  return options;
}

function pranaOptions(options: CliOptions): PranaStackOptions | undefined {
  if (!options.prana) return undefined;
  const env = process.env;
  const oidc = env.OIDC_ISSUER
    ? {
        issuer: env.OIDC_ISSUER,
        clientId: env.OIDC_CLIENT_ID || 'prana',
        clientSecret: env.OIDC_CLIENT_SECRET || undefined,
        audience: env.OIDC_AUDIENCE || undefined,
        rolesClaim: env.OIDC_ROLES_CLAIM || undefined,
      }
    : undefined;
  return { oidc, webMode: options.pranaDev ? 'vite' : 'static', watch: options.pranaDev };
}

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

async function fetchHealth(stack: RunningStack, name: ServiceName): Promise<string> {
  const p = name === 'workflow-executor' ? '/healthz' : '/health';
  try {
    const res = await fetch(`${stack.urls[name]}${p}`, { signal: AbortSignal.timeout(2000) });
    return `${res.status} ${await res.text()}`;
  } catch (error) {
    return `unreachable (${(error as Error).message})`;
  }
}

async function printSummary(stack: RunningStack, options: CliOptions, launched: readonly ServiceName[]): Promise<void> {
  const rows = await Promise.all(
    launched.map(async (name) => [name, stack.urls[name], await fetchHealth(stack, name)] as const),
  );
  const w = [Math.max(...rows.map((r) => r[0].length), 7), Math.max(...rows.map((r) => r[1].length), 3)];
  const line = (a: string, b: string, c: string) => `  ${a.padEnd(w[0])}  ${b.padEnd(w[1])}  ${c}`;
  const out = [
    '',
    'Pancha stack is up',
    line('service', 'url', 'health'),
    ...rows.map((r) => line(...r)),
    '',
    `  databases: ${launched.map((n) => withoutPassword(stack.databaseUrls[n])).join('  ')}`,
    ...(stack.migrationUrls ? ['  roles:     migrations as <db>_owner, services as <db>_app (not a superuser, owns nothing)'] : []),
    `  keys:      ${stack.keysDir}`,
    ...pranaLines(stack),
    options.logDir ? `  logs:      ${options.logDir}/<service>.log` : '  logs:      below, prefixed [service]',
    '',
    'Try it:',
    `  curl -H 'content-type: application/json' -d '{"input":"create a task to review the auth module","user_id":"u1"}' ${stack.urls.core.replace('http://127.0.0.1', 'localhost')}/handle_task`,
    `  curl ${stack.urls.core.replace('http://127.0.0.1', 'localhost')}/tasks/<task_id>`,
    'Workflows (workflows/*.yaml; starting one needs a token, e.g. the operator\'s):',
    `  TOKEN=$(npm run -s token -- --requester operator --audience core)`,
    `  curl -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"user_id":"u1","inputs":{"user_id":"u1","email":"u1@example.com"}}' ${stack.urls.core.replace('http://127.0.0.1', 'localhost')}/workflows/onboard-learner/runs`,
    `  curl -H "authorization: Bearer $TOKEN" ${stack.urls.core.replace('http://127.0.0.1', 'localhost')}/runs/<run_id>`,
    'A service token for the protected endpoints (e.g. Bucket reads):',
    '  npm run token -- --requester bhiv_core --audience bucket',
    `  curl -H "authorization: Bearer <token>" '${stack.urls.bucket.replace('http://127.0.0.1', 'localhost')}/core/events?limit=5'`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  console.log(out.join('\n'));
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const aborter = new AbortController();
  let stack: RunningStack | undefined;
  let firstSignalAt = 0;
  let shuttingDown: Promise<void> | undefined;

  const shutdown = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (firstSignalAt && now - firstSignalAt > REPEAT_SIGNAL_WINDOW_MS) {
      console.error(`[stack] ${signal} again: exiting without waiting (services get SIGTERM)`);
      process.exit(130);
    }
    if (firstSignalAt) return;
    firstSignalAt = now;
    console.error(`[stack] ${signal}: stopping (Ctrl-C again to force)`);
    aborter.abort();
    // Still starting: startStack notices the abort, stops what it started and main() exits.
    if (!stack) return;
    shuttingDown = stack.stop().then(
      () => {
        console.error('[stack] stopped');
        process.exit(0);
      },
      (error: Error) => {
        console.error(`[stack] stop failed: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  process.on('SIGHUP', shutdown);

  const entryTemplate = options.entry;
  // nx serve prana: SWC recompiles the BFF (and the libraries) into dist/ on every change; node --watch-path restarts it.
  const compiler = options.pranaDev ? watchBackEnd() : undefined;
  process.on('exit', () => compiler?.kill('SIGTERM'));
  try {
    stack = await startStack({
      rootDir: ROOT,
      dataDir: options.dataDir,
      databaseUrl: options.databaseUrl,
      logDir: options.logDir,
      services: options.services,
      // A development stack may call handlers on this machine from `http` workflow steps (the examples do);
      // an operator's own WORKFLOW_HTTP_ALLOWED_HOSTS wins.
      serviceEnv: { 'workflow-executor': { WORKFLOW_HTTP_ALLOWED_HOSTS: process.env.WORKFLOW_HTTP_ALLOWED_HOSTS ?? '127.0.0.1,localhost' } },
      prana: pranaOptions(options),
      signal: aborter.signal,
      entryFor: entryTemplate ? (name) => entryTemplate.replace('{service}', name) : undefined,
    });
  } catch (error) {
    // A signal during start: startStack already stopped what it had started.
    if (aborter.signal.aborted) {
      console.error('[stack] stopped');
      process.exit(0);
    }
    const where = error instanceof StackStartError && error.service ? ` (${error.service})` : '';
    console.error(`\n[stack] could not start the stack${where}:\n${(error as Error).message}`);
    process.exit(1);
  }
  if (shuttingDown) return;
  await printSummary(stack, options, options.services ?? STACK_SERVICES);
}

main().catch((error: Error) => {
  console.error(error);
  process.exit(1);
});

function watchBackEnd(): ChildProcess {
  const swc = require.resolve('@swc/cli/bin/swc.js');
  const child = spawn(
    process.execPath,
    [
      swc, 'apps/prana/src', 'libs', '-d', 'dist', '--config-file', '.swcrc', '--copy-files', '--quiet', '--watch',
      '--ignore', '**/*.spec.ts,**/*.integration-spec.ts,**/*.e2e-spec.ts,**/jest.config.ts,**/*.md,**/eslint.config.mjs,**/project.json,**/tsconfig*.json',
    ],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  child.on('error', (error) => console.error(`[stack] the BFF watcher could not start: ${error.message}`));
  return child;
}

/** Where to open the console and who can sign in; the generated passwords only on the start that created them. */
function pranaLines(stack: RunningStack): string[] {
  const prana = stack.prana;
  if (!prana) return [];
  const lines = ['', `  PRANA:     ${prana.url}   (open this; sign in at ${prana.issuer})`];
  if (prana.usersFile) {
    lines.push(`  dev users: ${prana.usersFile}`);
    if (prana.usersCreated && prana.users) {
      lines.push('  created now (shown once; kept in the file above):');
      for (const u of prana.users) lines.push(`    ${u.username.padEnd(9)} ${u.password}   roles: ${u.roles.join(', ')}`);
    }
  }
  return lines;
}

/** Role passwords are fresh per start and never printed. */
function withoutPassword(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}
