/**
 * `npm run bench`: the whole stack under load on POST /handle_task, then how long the fire-and-forget
 * work behind the last accepted task and the outbox backlog take to land.
 *
 * 1. startStack on DATABASE_URL (fresh `bench_<hex>_` databases, dropped afterwards) or an embedded
 *    PostgreSQL in a temporary directory, every port free-picked so a running `npm start` is left alone.
 * 2. autocannon: BENCH_CONNECTIONS (50) connections for BENCH_DURATION (20) seconds, body
 *    "create a task to review the auth module" with a varying user_id.
 * 3. Accepted req/s (202s per second), non-202 count, p50 / p97.5 / p99 latency.
 * 4. From the moment the load stops: time until Bucket holds the last accepted task's workflow_execution
 *    event, and until Core's and the Executor's outboxes have nothing pending. Gives up after
 *    BENCH_DRAIN_TIMEOUT (120) seconds.
 */
// @pancha/contracts' DTO classes carry class-transformer decorators, which need the metadata polyfill first.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RequesterId, type ServiceName } from '@pancha/contracts';
import { startStack, STACK_SERVICES, type RunningStack } from '@pancha/stack';
import { freePort, testKeysAt, type TestKeys } from '@pancha/testing';

// dist/tools/<tool>/src → the repository root.
const ROOT = path.resolve(__dirname, '../../../..');
const DURATION_S = positive('BENCH_DURATION', 20);
const CONNECTIONS = positive('BENCH_CONNECTIONS', 50);
const DRAIN_TIMEOUT_MS = positive('BENCH_DRAIN_TIMEOUT', 120) * 1000;
const USERS = 1000;
const INPUT = 'create a task to review the auth module';
const POLL_MS = 250;

// autocannon is CommonJS without type declarations: the slice of its API used here.
interface Histogram {
  average: number;
  p50: number;
  p97_5: number;
  p99: number;
  max: number;
}
interface AutocannonResult {
  duration: number;
  latency: Histogram;
  requests: Histogram & { total: number };
  statusCodeStats: Record<string, { count: number }>;
  errors: number;
  timeouts: number;
  non2xx: number;
}
interface AutocannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  setupRequest?: (req: AutocannonRequest) => AutocannonRequest;
  onResponse?: (status: number, body: string) => void;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;
const autocannon = require('autocannon') as Autocannon;

function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`${name} must be a positive number, got ${raw}`);
    process.exit(2);
  }
  return n;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

interface JsonReply {
  status: number;
  body: unknown;
}

async function request(method: string, url: string, body?: unknown, token?: string): Promise<JsonReply> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as unknown };
  } catch {
    return { status: res.status, body: text };
  }
}

interface OutboxStats {
  emitted: number;
  delivered: number;
  pending: number;
  dead: number;
}

/** Polls until probe() returns a value or the deadline passes (undefined). Errors count as "not yet". */
async function pollUntil<T>(deadline: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {
      // The service may be busy draining; the next round asks again.
    }
    await sleep(POLL_MS);
  }
  return undefined;
}

class Bench {
  private stack?: RunningStack;
  private tempDir?: string;
  private keys?: TestKeys;

  async run(): Promise<boolean> {
    const serverUrl = process.env.DATABASE_URL || undefined;
    this.tempDir = mkdtempSync(path.join(tmpdir(), 'pancha-bench-'));
    // As root the embedded cluster runs as the `postgres` user, which must reach <tempDir>/data/pg.
    chmodSync(this.tempDir, 0o755);
    const logDir = path.join(this.tempDir, 'logs');
    const ports = Object.fromEntries(
      await Promise.all(STACK_SERVICES.map(async (s) => [s, await freePort()] as const)),
    ) as Record<ServiceName, number>;

    console.log(
      `[bench] starting the stack on ${serverUrl ? `${serverUrl} (fresh bench_ databases)` : 'an embedded PostgreSQL'}; ` +
        `service logs in ${logDir}`,
    );
    this.stack = await startStack({
      rootDir: ROOT,
      dataDir: path.join(this.tempDir, 'data'),
      databaseUrl: serverUrl,
      databasePrefix: serverUrl ? `bench_${randomBytes(3).toString('hex')}_` : undefined,
      dropDatabasesOnStop: Boolean(serverUrl),
      postgresPort: serverUrl ? undefined : await freePort(),
      ports,
      logDir,
      log: (line) => console.log(line),
      // The load is anonymous POST /handle_task from one address: measure the stack, not its rate limit.
      env: { RATE_LIMIT_ANONYMOUS_LIMIT: '0' },
    });
    const stack = this.stack;
    this.keys = testKeysAt(stack.keysDir);

    const handleTask = `${stack.urls.core}/handle_task`;
    const probe = await request('POST', handleTask, { input: INPUT, user_id: 'bench-warmup' });
    if (probe.status !== 202) {
      console.error(`[bench] POST /handle_task answered ${probe.status}, not 202: ${JSON.stringify(probe.body)}`);
      return false;
    }

    console.log(`[bench] POST /handle_task: ${CONNECTIONS} connections for ${DURATION_S} s`);
    let n = 0;
    let lastTraceId: string | undefined;
    const result = await autocannon({
      url: stack.urls.core,
      connections: CONNECTIONS,
      duration: DURATION_S,
      requests: [
        {
          method: 'POST',
          path: '/handle_task',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req) => ({ ...req, body: JSON.stringify({ input: INPUT, user_id: `bench-u${n++ % USERS}` }) }),
          onResponse: (status, body) => {
            if (status !== 202) return;
            try {
              lastTraceId = (JSON.parse(body) as { trace_id?: string }).trace_id ?? lastTraceId;
            } catch {
              // A 202 without a JSON body would be a Core bug; the count still shows it.
            }
          },
        },
      ],
    });
    const loadStopped = Date.now();

    const accepted = result.statusCodeStats['202']?.count ?? 0;
    const answered = Object.values(result.statusCodeStats).reduce((sum, s) => sum + s.count, 0);
    const otherCodes = Object.entries(result.statusCodeStats)
      .filter(([code]) => code !== '202')
      .map(([code, s]) => `${code}×${s.count}`)
      .join(', ');
    console.log(
      [
        '',
        `accepted:   ${(accepted / result.duration).toFixed(1)} req/s (${accepted} × 202 in ${result.duration} s)`,
        `non-202:    ${answered - accepted}${otherCodes ? ` (${otherCodes})` : ''}; errors ${result.errors}, timeouts ${result.timeouts}`,
        `latency:    p50 ${result.latency.p50} ms, p97.5 ${result.latency.p97_5} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`,
        '',
      ].join('\n'),
    );
    if (!lastTraceId) {
      console.error('[bench] no request was accepted: nothing to follow');
      return false;
    }

    const deadline = loadStopped + DRAIN_TIMEOUT_MS;
    const [landed, drained] = await Promise.all([
      this.waitForWorkflowEvent(lastTraceId, deadline),
      this.waitForOutboxDrain(loadStopped, deadline),
    ]);
    const elapsed = (at: number | undefined) => (at === undefined ? undefined : seconds(at - loadStopped));
    console.log(
      landed === undefined
        ? `workflow_execution of the last task (trace ${lastTraceId}): not in Bucket after ${seconds(DRAIN_TIMEOUT_MS)}, gave up`
        : `workflow_execution of the last task (trace ${lastTraceId}) in Bucket ${elapsed(landed)} after the load stopped`,
    );
    for (const line of drained.lines) console.log(line);
    return landed !== undefined && drained.ok;
  }

  private async waitForWorkflowEvent(traceId: string, deadline: number): Promise<number | undefined> {
    const stack = this.stack as RunningStack;
    const token = async () => (this.keys as TestKeys).mint(RequesterId.Core, 'bucket');
    return pollUntil(deadline, async () => {
      const reply = await request(
        'GET',
        `${stack.urls.bucket}/core/events?trace_id=${traceId}&limit=100`,
        undefined,
        await token(),
      );
      const events = (reply.body as { events?: { event_type: string }[] }).events ?? [];
      return reply.status === 200 && events.some((e) => e.event_type === 'workflow_execution') ? Date.now() : undefined;
    });
  }

  /** As a reader the service's policy names: PRANA on Core, bhiv_core on the Executor. */
  private async outboxStats(service: ServiceName): Promise<JsonReply> {
    const url = `${(this.stack as RunningStack).urls[service]}/outbox/stats`;
    const reader = service === 'core' ? RequesterId.Prana : RequesterId.Core;
    return request('GET', url, undefined, await (this.keys as TestKeys).mint(reader, service));
  }

  private async waitForOutboxDrain(loadStopped: number, deadline: number): Promise<{ ok: boolean; lines: string[] }> {
    const services: ServiceName[] = ['core', 'workflow-executor'];
    const drainedAt: Partial<Record<ServiceName, number>> = {};
    const last: Partial<Record<ServiceName, OutboxStats>> = {};
    const unavailable: Partial<Record<ServiceName, string>> = {};

    await pollUntil(deadline, async () => {
      for (const service of services) {
        if (drainedAt[service] !== undefined || unavailable[service]) continue;
        const reply = await this.outboxStats(service);
        if (reply.status !== 200) {
          // A client error (no such endpoint, refused even with a token) will not change by waiting;
          // 429 and 5xx are worth another try.
          if (reply.status >= 400 && reply.status < 500 && reply.status !== 429) {
            const code = (reply.body as { code?: string } | undefined)?.code;
            unavailable[service] = `HTTP ${reply.status}${code ? ` ${code}` : ''}`;
          }
          continue;
        }
        const stats = reply.body as OutboxStats;
        last[service] = stats;
        // Core's deliveries create the Executor's rows, so the Executor is drained only once Core is.
        const upstreamDone = service === 'core' || drainedAt.core !== undefined || unavailable.core !== undefined;
        if (stats.pending === 0 && upstreamDone) drainedAt[service] = Date.now();
      }
      return services.every((s) => drainedAt[s] !== undefined || unavailable[s]) ? true : undefined;
    });

    const lines = services.map((service) => {
      const s = last[service];
      const counts = s ? ` (emitted ${s.emitted}, delivered ${s.delivered}, pending ${s.pending}, dead ${s.dead})` : '';
      if (unavailable[service]) return `outbox ${service}: no /outbox/stats (${unavailable[service]})`;
      const at = drainedAt[service];
      return at === undefined
        ? `outbox ${service}: still pending after ${seconds(DRAIN_TIMEOUT_MS)}, gave up${counts}`
        : `outbox ${service}: drained ${seconds(at - loadStopped)} after the load stopped${counts}`;
    });
    const ok = services.every((s) => drainedAt[s] !== undefined || unavailable[s]);
    return { ok, lines };
  }

  async cleanup(): Promise<void> {
    try {
      await this.stack?.stop();
    } finally {
      if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
    }
  }
}

async function main(): Promise<void> {
  const bench = new Bench();
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    console.error('[bench] interrupted: stopping the stack');
    void bench
      .cleanup()
      .catch((error: Error) => console.error(`[bench] stop failed: ${error.message}`))
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let ok = false;
  try {
    ok = await bench.run();
  } catch (error) {
    console.error(`[bench] failed: ${(error as Error).message}`);
  }
  if (interrupted) return;
  try {
    await bench.cleanup();
  } catch (error) {
    console.error(`[bench] stop failed: ${(error as Error).message}`);
    ok = false;
  }
  process.exit(ok ? 0 : 1);
}

/** The default `npm run bench`. */
export function runHandleTaskBench(): void {
  void main();
}

if (require.main === module) runHandleTaskBench();
