/**
 * `npm run bench -- --workflow`: durable workflow runs through the whole stack.
 *
 * 1. Runs of a 3-step workflow (three task steps: the engine's cost, not a provider's) started on Core by
 *    BENCH_CONNECTIONS (16) clients for BENCH_DURATION (20) s; then until every accepted run has completed.
 *    Prints runs/s (completed runs over the time from the first start to the last completion), step scheduling
 *    overhead p50/p99 (the executor's pancha_workflow_step_scheduling_seconds: a step's result arriving → the
 *    round that starts its successor written) and the executor's CPU per step (/proc, the executor process only).
 *    Then the same workflow at a light, paced load for BENCH_COMPARE_DURATION: the overhead without a queue.
 * 2. The same load for BENCH_COMPARE_DURATION (10) s on a one-step workflow and on POST /handle_task deciding one
 *    task action (today's single action): CPU per run of Core + executor for each, and their ratio.
 * The load generator runs on the same two cores; its own CPU is printed too, so you can see what it took.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RequesterId } from '@pancha/contracts';
import { queryRows } from '@pancha/testing';
import { cpuSeconds, inParallel, percentile, positive, runBench, send, startBenchStack } from './bench-support';

const DURATION_S = positive('BENCH_DURATION', 20);
const COMPARE_S = positive('BENCH_COMPARE_DURATION', 10);
const CONNECTIONS = positive('BENCH_CONNECTIONS', 16);
/** The light-load phase paces itself: one client starting a run every LIGHT_PAUSE_MS (about 4 runs/s). */
const LIGHT_CLIENTS = 1;
const LIGHT_PAUSE_MS = 250;
/** Runs started (and finished) before anything is measured, so the services are warm (JIT, pools, caches). */
const WARMUP_RUNS = 100;
const DRAIN_TIMEOUT_MS = positive('BENCH_DRAIN_TIMEOUT', 180) * 1000;

const THREE = `
name: bench-three
version: 1.0.0
inputs: { type: object, required: [n], properties: { n: { type: integer } } }
security: { actions: [task] }
steps:
  - { id: first, action: task, with: { title: "bench {{ inputs.n }} first" } }
  - { id: second, action: task, with: { title: "bench {{ inputs.n }} after {{ steps.first.output.reference }}" } }
  - { id: third, action: task, with: { title: "bench {{ inputs.n }} after {{ steps.second.output.reference }}" } }
`;
const ONE = `
name: bench-one
version: 1.0.0
inputs: { type: object, required: [n], properties: { n: { type: integer } } }
security: { actions: [task] }
steps:
  - { id: only, action: task, with: { title: "bench {{ inputs.n }}" } }
`;

const SCHEDULING = 'pancha_workflow_step_scheduling_seconds';
const ms = (seconds: number) => `${(seconds * 1000).toFixed(2)} ms`;

interface Histogram {
  buckets: [number, number][];
  sum: number;
  count: number;
}

/** One histogram from a service's /metrics (Prometheus text format). */
async function scrapeHistogram(baseUrl: string, name: string): Promise<Histogram> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const buckets: [number, number][] = [];
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}_bucket{`)) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      buckets.push([le === '+Inf' ? Infinity : Number(le), Number(line.split(' ').at(-1))]);
    } else if (line.startsWith(`${name}_sum`)) sum = Number(line.split(' ').at(-1));
    else if (line.startsWith(`${name}_count`)) count = Number(line.split(' ').at(-1));
  }
  return { buckets, sum, count };
}

/** What was observed between two scrapes, with quantiles as the bucket bound they fall under. */
function histogramDelta(before: Histogram, after: Histogram): { count: number; mean: number; quantile(q: number): number } {
  const count = after.count - before.count;
  const buckets = after.buckets.map(([le, n], i) => [le, n - (before.buckets[i]?.[1] ?? 0)] as const);
  return {
    count,
    mean: count > 0 ? (after.sum - before.sum) / count : NaN,
    quantile: (q) => buckets.find(([, n]) => n >= q * count)?.[0] ?? NaN,
  };
}

interface Load {
  accepted: number;
  refused: number;
  startedAt: number;
}

async function load(seconds: number, send1: (i: number) => Promise<boolean>): Promise<Load> {
  return loadWith(CONNECTIONS, seconds, send1);
}

async function loadWith(clients: number, seconds: number, send1: (i: number) => Promise<boolean>): Promise<Load> {
  const startedAt = Date.now();
  let accepted = 0;
  let refused = 0;
  await inParallel(
    Number.MAX_SAFE_INTEGER,
    clients,
    async (i) => {
      if (await send1(i)) accepted++;
      else refused++;
    },
    startedAt + seconds * 1000,
  );
  return { accepted, refused, startedAt };
}

async function main(): Promise<boolean> {
  const workflowsDir = mkdtempSync(path.join(tmpdir(), 'bench-workflows-'));
  writeFileSync(path.join(workflowsDir, 'bench-three.yaml'), THREE);
  writeFileSync(path.join(workflowsDir, 'bench-one.yaml'), ONE);
  const bench = await startBenchStack('bench-workflow', ['karma', 'bucket', 'core', 'workflow-executor'], {
    env: { RATE_LIMIT_ANONYMOUS_LIMIT: '0', WORKFLOW_CATALOG_REFRESH_MS: '500' },
    serviceEnv: { 'workflow-executor': { WORKFLOWS_DIR: workflowsDir } },
  });
  const { stack, keys } = bench;
  const executorDb = stack.databaseUrls['workflow-executor'];
  const pid = { core: stack.pidOf('core'), executor: stack.pidOf('workflow-executor') };
  try {
    const start = (workflow: string, acceptMs: number[]) => async (i: number): Promise<boolean> => {
      const reply = await send('POST', `${stack.urls.core}/workflows/${workflow}/runs`, { user_id: `bench-u${i % 500}`, inputs: { n: i } }, await keys.bearer(RequesterId.Operator, 'core'));
      acceptMs.push(reply.ms);
      return reply.status === 202;
    };
    // Core learns the workflows from the executor's catalog a moment after both are up.
    let probe: Awaited<ReturnType<typeof send>> | undefined;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 250))) {
      probe = await send('POST', `${stack.urls.core}/workflows/bench-three/runs`, { user_id: 'bench-u0', inputs: { n: 0 } }, await keys.bearer(RequesterId.Operator, 'core'));
      if (probe.status === 202) break;
    }
    if (probe?.status !== 202) {
      console.error(`[bench-workflow] Core refused the first run: ${probe?.status} ${JSON.stringify(probe?.body)}`);
      return false;
    }
    const waitDone = async (workflow: string, expected: number): Promise<number | undefined> => {
      const deadline = Date.now() + DRAIN_TIMEOUT_MS;
      while (Date.now() < deadline) {
        const [row] = await queryRows<{ n: number; last: Date | null }>(
          executorDb,
          `SELECT count(*)::int AS n, max(completed_at) AS last FROM workflow_runs WHERE workflow = $1 AND status IN ('completed', 'failed')`,
          [workflow],
        );
        if (row.n >= expected) return row.last ? new Date(row.last).getTime() : Date.now();
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      return undefined;
    };

    let lightRuns = 0;
    // ---- 0. warm-up: unmeasured runs, then a moment for the events they emitted to be delivered ----
    await inParallel(WARMUP_RUNS, 8, async (i) => void (await start('bench-three', [])(3_000_000 + i)));
    lightRuns += WARMUP_RUNS;
    await waitDone('bench-three', WARMUP_RUNS + 1);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    // ---- 1. a light load first (nothing queued yet): the engine's own overhead between steps ----
    {
      const before = await scrapeHistogram(stack.urls['workflow-executor'], SCHEDULING);
      let started = 0;
      const light = async (i: number): Promise<boolean> => {
        const ok = await start('bench-three', [])(2_000_000 + i);
        if (ok) started++;
        // A paced trickle: steps rarely queue behind other runs' work.
        await new Promise((resolve) => setTimeout(resolve, LIGHT_PAUSE_MS));
        return ok;
      };
      const lightResult = await loadWith(LIGHT_CLIENTS, COMPARE_S, light);
      lightRuns += started;
      await waitDone('bench-three', lightRuns + 1);
      const h = histogramDelta(before, await scrapeHistogram(stack.urls['workflow-executor'], SCHEDULING));
      console.log(
        `light load (${LIGHT_CLIENTS} clients): ${lightResult.accepted} runs; scheduling overhead p50 ≤ ${ms(h.quantile(0.5))}, p99 ≤ ${ms(h.quantile(0.99))}, mean ${ms(h.mean)}\n`,
      );
    }

    // ---- 2. the 3-step workflow at full load -------------------------------------------------------------------------
    console.log(`[bench-workflow] 3-step runs: ${CONNECTIONS} clients for ${DURATION_S} s`);
    const cpu0 = { executor: cpuSeconds(pid.executor), self: process.cpuUsage() };
    const schedulingBefore = await scrapeHistogram(stack.urls['workflow-executor'], SCHEDULING);
    const acceptMs: number[] = [];
    const three = await load(DURATION_S, start('bench-three', acceptMs));
    const lastDone = await waitDone('bench-three', lightRuns + three.accepted + 1);
    const executorCpu = cpuSeconds(pid.executor) - cpu0.executor;
    const selfCpu = (process.cpuUsage(cpu0.self).user + process.cpuUsage(cpu0.self).system) / 1e6;
    if (lastDone === undefined) {
      console.error(`[bench-workflow] runs still not done after ${DRAIN_TIMEOUT_MS / 1000} s`);
      return false;
    }
    const runs = three.accepted;
    const [failed] = await queryRows<{ n: number }>(executorDb, `SELECT count(*)::int AS n FROM workflow_runs WHERE workflow = 'bench-three' AND status <> 'completed'`);
    const scheduling = histogramDelta(schedulingBefore, await scrapeHistogram(stack.urls['workflow-executor'], SCHEDULING));
    const sortedAccept = [...acceptMs].sort((a, b) => a - b);
    const elapsedS = (lastDone - three.startedAt) / 1000;
    console.log(
      [
        '',
        `3-step runs:          ${runs} accepted (${three.refused} refused), ${failed.n} not completed`,
        `throughput:           ${(runs / elapsedS).toFixed(1)} runs/s (${(3 * runs / elapsedS).toFixed(1)} steps/s) from first start to last completion (${elapsedS.toFixed(1)} s)`,
        `accept latency:       p50 ${percentile(sortedAccept, 50).toFixed(1)} ms, p99 ${percentile(sortedAccept, 99).toFixed(1)} ms (Core, ${CONNECTIONS} clients)`,
        `scheduling overhead:  p50 ≤ ${ms(scheduling.quantile(0.5))}, p99 ≤ ${ms(scheduling.quantile(0.99))}, mean ${ms(scheduling.mean)} (a step's result → its successor started, ${scheduling.count} steps; histogram bounds)`,
        `executor CPU:         ${((executorCpu * 1000) / (3 * runs)).toFixed(2)} ms per step (${executorCpu.toFixed(1)} s in all)`,
        `load generator CPU:   ${selfCpu.toFixed(1)} s`,
        '',
      ].join('\n'),
    );

    // ---- 3. one step vs one action --------------------------------------------------------------------
    const perRun = async (label: string, seconds: number, fire: (i: number) => Promise<boolean>, done: () => Promise<number | undefined>): Promise<number> => {
      const before = cpuSeconds(pid.core) + cpuSeconds(pid.executor);
      const result = await load(seconds, fire);
      const finished = await done();
      const cpu = cpuSeconds(pid.core) + cpuSeconds(pid.executor) - before;
      const ms = (cpu * 1000) / Math.max(1, result.accepted);
      console.log(`${label.padEnd(22)}${result.accepted} in ${seconds} s, ${finished === undefined ? 'NOT all finished' : 'all finished'}; Core + executor CPU ${ms.toFixed(2)} ms per run`);
      return ms;
    };
    let oneRuns = 0;
    const oneStep = await perRun('one-step workflow:', COMPARE_S, async (i) => {
      const ok = await start('bench-one', [])(1_000_000 + i);
      if (ok) oneRuns++;
      return ok;
    }, () => waitDone('bench-one', oneRuns));
    let actions = 0;
    const oneAction = await perRun('single action:', COMPARE_S, async (i) => {
      const reply = await send('POST', `${stack.urls.core}/handle_task`, { input: `create a task to bench ${i}`, user_id: `bench-a${i % 500}` });
      if (reply.status === 202) actions++;
      return reply.status === 202;
    }, async () => {
      const deadline = Date.now() + DRAIN_TIMEOUT_MS;
      while (Date.now() < deadline) {
        const [row] = await queryRows<{ n: number }>(executorDb, `SELECT count(*)::int AS n FROM executions WHERE status <> 'running'`);
        if (row.n >= actions) return Date.now();
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      return undefined;
    });
    console.log(`one-step / single:    ${(oneStep / oneAction).toFixed(2)} (CPU per run, lower is cheaper)\n`);
    return failed.n === 0;
  } finally {
    await bench.stop();
    rmSync(workflowsDir, { recursive: true, force: true });
  }
}

export function runWorkflowBench(): void {
  runBench('bench-workflow', main);
}

if (require.main === module) runWorkflowBench();
