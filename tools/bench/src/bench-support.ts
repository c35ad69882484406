/**
 * What the benchmarks share: numbers from the environment, a throw-away stack (tools/stack) on DATABASE_URL
 * or an embedded PostgreSQL, tokens minted per request, and latency percentiles. A benchmark talks to the
 * services over HTTP like any client; it never imports an app's code (module boundaries).
 */
// @pancha/contracts' DTO classes carry class-transformer decorators, which need the metadata polyfill first.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ServiceName } from '@pancha/contracts';
import { startStack, STACK_SERVICES, type RunningStack } from '@pancha/stack';
import { freePort, testKeysAt, type TestKeys } from '@pancha/testing';

// dist/tools/bench/src → the repository root.
export const ROOT = path.resolve(__dirname, '../../../..');

/** A positive number from the environment, or `fallback`; anything else ends the process with a message. */
export function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`${name} must be a positive number, got ${raw}`);
    process.exit(2);
  }
  return n;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** `p50 … p95 … p99 … max …` of latencies in milliseconds. */
export function latencyLine(latenciesMs: number[]): string {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(1);
  return `p50 ${f(percentile(sorted, 50))}  p95 ${f(percentile(sorted, 95))}  p99 ${f(percentile(sorted, 99))}  max ${f(sorted.at(-1) ?? NaN)}`;
}

export interface BenchStack {
  stack: RunningStack;
  /** A new service token per call, from the stack's keys (a write may refuse a token it has seen). */
  keys: TestKeys;
  stop(): Promise<void>;
}

/**
 * Starts `services` (compiled, from dist/) on fresh `bench_<hex>_*` databases of DATABASE_URL's server (dropped
 * on stop) or on an embedded PostgreSQL in a temporary directory; every port is picked free so a running
 * `npm start` is left alone. Ctrl-C stops the stack before exiting.
 */
export interface BenchStackOptions {
  /** Another build's repository root (its dist/ and config/), for before/after numbers. Default this one. */
  rootDir?: string;
  /** Owner and runtime database roles per service (default true; false for a build that predates them). */
  databaseRoles?: boolean;
  /** Extra environment for every service, and per service. */
  env?: Record<string, string>;
  serviceEnv?: Parameters<typeof startStack>[0]['serviceEnv'];
  /** Also start PRANA and its embedded OIDC provider (on free ports). */
  prana?: boolean;
}

export async function startBenchStack(label: string, services: readonly ServiceName[], options: BenchStackOptions = {}): Promise<BenchStack> {
  const serverUrl = process.env.DATABASE_URL || undefined;
  const tempDir = mkdtempSync(path.join(tmpdir(), `pancha-${label}-`));
  // As root the embedded cluster runs as the `postgres` user, which must reach <tempDir>/data/pg.
  chmodSync(tempDir, 0o755);
  const ports = Object.fromEntries(await Promise.all(STACK_SERVICES.map(async (s) => [s, await freePort()] as const)));
  console.log(`[${label}] starting ${services.join(', ')} on ${serverUrl ? `${serverUrl} (fresh bench_ databases)` : 'an embedded PostgreSQL'}`);
  let stack: RunningStack;
  try {
    stack = await startStack({
      rootDir: options.rootDir ?? process.env.BENCH_ROOT ?? ROOT,
      dataDir: path.join(tempDir, 'data'),
      databaseUrl: serverUrl,
      databasePrefix: serverUrl ? `bench_${randomBytes(3).toString('hex')}_` : undefined,
      dropDatabasesOnStop: Boolean(serverUrl),
      databaseRoles: options.databaseRoles,
      postgresPort: serverUrl ? undefined : await freePort(),
      ports,
      services,
      logDir: path.join(tempDir, 'logs'),
      env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...options.env },
      serviceEnv: options.serviceEnv,
      // BENCH_PROFILE_DIR=/tmp/prof: a V8 CPU profile of each service in <dir>/<service>/ when the bench stops it;
      // BENCH_PROFILE_SERVICES=core,bucket profiles only those (a profiler slows the process it watches).
      nodeArgs: Object.fromEntries(
        services.map((s) => [
          s,
          [
            ...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ').filter(Boolean) : []),
            ...(process.env.BENCH_PROFILE_DIR && profiled(s) ? ['--cpu-prof', `--cpu-prof-dir=${path.join(process.env.BENCH_PROFILE_DIR, s)}`] : []),
          ],
        ]),
      ),
      prana: options.prana ? { port: await freePort(), idpPort: await freePort() } : undefined,
      log: (line) => console.log(line),
    });
  } catch (error) {
    rmSync(tempDir, { recursive: true, force: true });
    throw error;
  }
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= stack.stop().finally(() => rmSync(tempDir, { recursive: true, force: true })));
  const onSignal = () => {
    console.error(`[${label}] interrupted: stopping the stack`);
    void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { stack, keys: testKeysAt(stack.keysDir), stop };
}

/** Whether BENCH_PROFILE_SERVICES (a comma-separated list; unset: every service) names this service. */
function profiled(service: string): boolean {
  const only = process.env.BENCH_PROFILE_SERVICES;
  return !only || only.split(',').map((s) => s.trim()).includes(service);
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime and stime are fields 14 and 15 of stat, i.e. 12 and 13 after "pid (comm) ".
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** Clock ticks per second of /proc's CPU times (getconf CLK_TCK; 100 on Linux x86-64). */
const CLOCK_TICKS = 100;

/** Resident memory of a process in MiB, from /proc. */
export function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return line ? Number(line.split(/\s+/)[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export interface Reply {
  status: number;
  body: unknown;
  ms: number;
}

/** One JSON request, timed. */
export async function send(method: string, url: string, body?: unknown, authorization?: string): Promise<Reply> {
  const started = performance.now();
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  const ms = performance.now() - started;
  try {
    return { status: res.status, body: JSON.parse(text) as unknown, ms };
  } catch {
    return { status: res.status, body: text, ms };
  }
}

/** Runs `task(i)` for i = 0 … count-1 with `concurrency` in flight; stops early at `deadline` (epoch ms). */
export async function inParallel(count: number, concurrency: number, task: (i: number) => Promise<void>, deadline = Infinity): Promise<number> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count && Date.now() < deadline) await task(next++);
    }),
  );
  return next;
}

/** Runs `main`, printing a failure, and exits 0/1 by what it returns. */
export function runBench(label: string, main: () => Promise<boolean>): void {
  main()
    .then((ok) => process.exit(ok ? 0 : 1))
    .catch((error: unknown) => {
      console.error(`[${label}] failed: ${(error as Error)?.stack ?? String(error)}`);
      process.exit(1);
    });
}
