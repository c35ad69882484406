/**
 * The suite's load generator and CPU accounting. Load: closed-loop clients on one keep-alive undici Pool (one
 * request in flight per connection), timing each request. CPU: /proc times of given processes and of the
 * PostgreSQL backends serving given databases (pg_stat_activity), so PostgreSQL's work is charged to the service
 * whose database it is.
 */
import { readFileSync } from 'node:fs';
import type { ServiceName } from '@pancha/contracts';
import type { RunningStack } from '@pancha/stack';
import { Client } from 'pg';
import { Pool } from 'undici';
import { cpuSeconds, percentile, rssMiB } from './bench-support';

export interface LoadResult {
  sent: number;
  ok: number;
  statuses: Record<number, number>;
  errors: number;
  latenciesMs: number[];
  startedAt: number;
  endedAt: number;
  /** The load generator's own CPU seconds (this process) during the load. */
  selfCpu: number;
}

export interface LoadOptions {
  origin: string;
  connections: number;
  /** Stop after this many requests (a fixed batch) … */
  count?: number;
  /** … or after this many seconds. */
  seconds?: number;
  path: (i: number) => string;
  body: (i: number) => string;
  headers?: (i: number) => Record<string, string> | Promise<Record<string, string>>;
  okStatus?: number;
}

export async function drive(options: LoadOptions): Promise<LoadResult> {
  const pool = new Pool(options.origin, { connections: options.connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const result: LoadResult = { sent: 0, ok: 0, statuses: {}, errors: 0, latenciesMs: [], startedAt: Date.now(), endedAt: 0, selfCpu: 0 };
  const cpu0 = process.cpuUsage();
  const deadline = options.seconds === undefined ? Infinity : result.startedAt + options.seconds * 1000;
  const count = options.count ?? Number.MAX_SAFE_INTEGER;
  let next = 0;
  const client = async () => {
    while (next < count && Date.now() < deadline) {
      await post(pool, options, next++, result, false);
      result.sent++;
    }
  };
  await Promise.all(Array.from({ length: options.connections }, client));
  return finish(result, cpu0, pool);
}

/**
 * One request of a load, recorded in `result` (latency from the hand-off to the pool, status, ok, errors). Resolves
 * to the answer's body when it had the ok status and `keepBody`; otherwise the body is discarded unread.
 */
async function post(pool: Pool, options: Pick<LoadOptions, 'path' | 'body' | 'headers' | 'okStatus'>, i: number, result: LoadResult, keepBody: boolean): Promise<string | undefined> {
  const headers = { 'content-type': 'application/json', ...(await options.headers?.(i)) };
  const started = performance.now();
  try {
    const res = await pool.request({ method: 'POST', path: options.path(i), headers, body: options.body(i) });
    const ok = res.statusCode === (options.okStatus ?? 202);
    const text = ok && keepBody ? await res.body.text() : await res.body.dump().then(() => undefined);
    result.latenciesMs.push(performance.now() - started);
    result.statuses[res.statusCode] = (result.statuses[res.statusCode] ?? 0) + 1;
    if (ok) result.ok++;
    return text;
  } catch {
    result.errors++;
    return undefined;
  }
}

/** Closes a load: its end time, the generator's own CPU since `cpu0`, and the pool. */
async function finish<R extends LoadResult>(result: R, cpu0: NodeJS.CpuUsage, pool: Pool): Promise<R> {
  result.endedAt = Date.now();
  const used = process.cpuUsage(cpu0);
  result.selfCpu = (used.user + used.system) / 1e6;
  await pool.close();
  return result;
}

export interface PacedResult extends LoadResult {
  /** Per accepted task: when its request's 202 arrived (epoch ms) and the task's trace_id, to follow it downstream. */
  accepted: { at: number; traceId: string }[];
  /** How far the generator's sends fell behind their schedule at worst (ms): large means the generator lagged. */
  maxScheduleLagMs: number;
}

/**
 * Open-loop load: `rate` requests per second for `seconds`, each sent at its scheduled time whatever the answers
 * before it (a closed loop hides latency by waiting). Latency is timed from the moment a request was handed to the
 * pool, so waiting for a free connection counts. `onTick` runs about once a second (a backlog sampler).
 */
export async function driveAtRate(
  options: Omit<LoadOptions, 'count' | 'seconds' | 'connections'> & { rate: number; seconds: number; onTick?: () => void },
): Promise<PacedResult> {
  const pool = new Pool(options.origin, { connections: 256, pipelining: 1, keepAliveTimeout: 60_000 });
  const result: PacedResult = { sent: 0, ok: 0, statuses: {}, errors: 0, latenciesMs: [], startedAt: Date.now(), endedAt: 0, selfCpu: 0, accepted: [], maxScheduleLagMs: 0 };
  const cpu0 = process.cpuUsage();
  const total = Math.round(options.rate * options.seconds);
  const t0 = performance.now();
  const inFlight = new Set<Promise<void>>();
  const send = async (i: number) => {
    const text = await post(pool, options, i, result, true);
    if (text === undefined) return;
    const at = Date.now();
    // One task's 202, or a batch's (`tasks`: each task in its own trace).
    const answer = JSON.parse(text) as { trace_id: string } | { tasks: { trace_id: string }[] };
    for (const { trace_id } of 'tasks' in answer ? answer.tasks : [answer]) result.accepted.push({ at, traceId: trace_id });
  };
  let nextTick = 1000;
  while (result.sent < total) {
    const elapsed = performance.now() - t0;
    const due = Math.min(total, Math.floor((elapsed * options.rate) / 1000) + 1);
    if (due > result.sent) result.maxScheduleLagMs = Math.max(result.maxScheduleLagMs, elapsed - (result.sent * 1000) / options.rate);
    while (result.sent < due) {
      const request = send(result.sent++).finally(() => inFlight.delete(request));
      inFlight.add(request);
    }
    if (elapsed >= nextTick) {
      nextTick += 1000;
      options.onTick?.();
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(inFlight);
  return finish(result, cpu0, pool);
}

export function describeLoad(r: LoadResult): string {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const seconds = (r.endedAt - r.startedAt) / 1000;
  const other = Object.entries(r.statuses)
    .filter(([s]) => Number(s) !== 202)
    .map(([s, n]) => `${s}×${n}`)
    .join(' ');
  return `${(r.ok / seconds).toFixed(0)} accepted/s (${r.ok} in ${seconds.toFixed(1)} s${other ? `, other ${other}` : ''}${r.errors ? `, ${r.errors} errors` : ''}), p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms; generator CPU ${((100 * r.selfCpu) / seconds).toFixed(0)} % of a core`;
}

/** CPU seconds of a group of processes: named Node processes plus the PostgreSQL backends of named databases. */
export class CpuMeter {
  private readonly admin: Client;
  private pgStart = new Map<number, number>();
  private procStart = new Map<string, number>();
  private readonly peakRss = new Map<string, number>();
  private sampler?: NodeJS.Timeout;

  constructor(
    serverUrl: string,
    /** label → pid of a Node process. */
    private readonly processes: () => Record<string, number | undefined>,
    /** database name → label its backends are charged to. */
    private readonly databases: Record<string, string>,
  ) {
    this.admin = new Client({ connectionString: serverUrl, application_name: 'bench-meter' });
  }

  async connect(): Promise<void> {
    await this.admin.connect();
  }

  async close(): Promise<void> {
    this.stopSampling();
    await this.admin.end();
  }

  /** PostgreSQL backends by pid → label (ours, by database), plus the server's background processes. */
  private async backends(): Promise<Map<number, string>> {
    const { rows } = await this.admin.query<{ pid: number; datname: string | null; backend_type: string }>(
      `SELECT pid, datname, backend_type FROM pg_stat_activity WHERE pid <> pg_backend_pid()`,
    );
    const out = new Map<number, string>();
    for (const row of rows) {
      if (row.datname && this.databases[row.datname]) out.set(row.pid, `pg:${this.databases[row.datname]}`);
      else if (!row.datname && row.backend_type !== 'client backend') out.set(row.pid, 'pg:background (shared)');
    }
    return out;
  }

  /** Last CPU seen per backend (label, seconds): a backend that exits mid-phase (an idle pool connection) keeps its share. */
  private readonly seen = new Map<number, { label: string; cpu: number }>();

  private async sampleBackends(): Promise<void> {
    for (const [pid, label] of await this.backends()) {
      const cpu = cpuSeconds(pid);
      if (Number.isFinite(cpu)) this.seen.set(pid, { label, cpu });
    }
  }

  async start(): Promise<void> {
    this.procStart = new Map(Object.entries(this.processes()).map(([label, pid]) => [label, cpuSeconds(pid)]));
    this.pgStart = new Map([...(await this.backends()).keys()].map((pid) => [pid, cpuSeconds(pid)]));
    this.seen.clear();
    this.peakRss.clear();
    this.stopSampling();
    const sample = () => {
      for (const [label, pid] of Object.entries(this.processes())) {
        const rss = rssMiB(pid);
        if (Number.isFinite(rss)) this.peakRss.set(label, Math.max(this.peakRss.get(label) ?? 0, rss));
      }
      void this.sampleBackends().catch(() => undefined);
    };
    sample();
    this.sampler = setInterval(sample, 1000);
    this.sampler.unref();
  }

  private stopSampling(): void {
    clearInterval(this.sampler);
    this.sampler = undefined;
  }

  /** CPU seconds per label since start(), and the peak RSS (MiB) of each Node process. */
  async stop(): Promise<{ cpu: Record<string, number>; rss: Record<string, number> }> {
    this.stopSampling();
    await this.sampleBackends();
    const cpu: Record<string, number> = {};
    for (const [label, pid] of Object.entries(this.processes())) cpu[label] = cpuSeconds(pid) - (this.procStart.get(label) ?? 0);
    for (const [pid, { label, cpu: used }] of this.seen) {
      // A backend that started during the phase is charged all it used (it did nothing before).
      cpu[label] = (cpu[label] ?? 0) + used - (this.pgStart.get(pid) ?? 0);
    }
    return { cpu, rss: Object.fromEntries(this.peakRss) };
  }
}

/** The load average now (1 min), to print beside the numbers. */
export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

/** The database a PostgreSQL URL names. */
export const databaseOf = (url: string): string => new URL(url).pathname.slice(1);

/** The stack's four services by the labels CPU lines use. */
const SERVICE_LABELS: Readonly<Partial<Record<ServiceName, string>>> = {
  core: 'core',
  'workflow-executor': 'executor',
  bucket: 'bucket',
  karma: 'karma',
};

/**
 * A CpuMeter over the stack's services: each Node process, and its database's backends as `pg:<label>`; `others`
 * (label → pid) are counted beside them (the nats-server the hops go through).
 */
export function stackCpuMeter(serverUrl: string, stack: RunningStack, others: Record<string, number> = {}): CpuMeter {
  const services = Object.entries(SERVICE_LABELS) as [ServiceName, string][];
  return new CpuMeter(
    serverUrl,
    () => ({ ...Object.fromEntries(services.map(([service, label]) => [label, stack.pidOf(service)])), ...others }),
    Object.fromEntries(services.map(([service, label]) => [databaseOf(stack.databaseUrls[service]), label])),
  );
}

/**
 * CPU per item from a CpuMeter's seconds: all processes together (with the server's shared background apart),
 * then each process and PostgreSQL label.
 */
export function cpuPerItemLines(cpu: Record<string, number>, items: number): string[] {
  const own = Object.keys(cpu).filter((label) => !label.includes('shared')).sort();
  const total = own.reduce((sum, label) => sum + cpu[label], 0);
  const shared = Object.entries(cpu).filter(([label]) => label.includes('shared')).reduce((sum, [, v]) => sum + v, 0);
  const per = (v: number) => `${((v * 1000) / items).toFixed(2)} ms`;
  return [
    `  CPU per item: ${per(total)} in all (${total.toFixed(1)} s)${shared ? `; + PostgreSQL background ${per(shared)} (walwriter etc., shared with anything else on the server)` : ''}`,
    `    ${own.map((label) => `${label} ${per(cpu[label])}`).join(' · ')}`,
  ];
}
