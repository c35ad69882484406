/**
 * `npm run bench -- --workflow`: durable workflow runs through the whole stack.
 *
 * 1. Runs of a 3-step workflow (three task steps: the engine's cost, not a provider's) started on Core by
 *    BENCH_CONNECTIONS (16) clients for BENCH_DURATION (20) s; then until every accepted run has completed.
 *    Prints runs/s (completed runs over the time from the first start to the last completion), step scheduling
 *    overhead p50/p99 (from a step's completion to its successor's start, from the step rows) and the executor's
 *    CPU per step (/proc, the executor process only).
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

interface Load {
  accepted: number;
  refused: number;
  startedAt: number;
}

async function load(seconds: number, send1: (i: number) => Promise<boolean>): Promise<Load> {
  const startedAt = Date.now();
  let accepted = 0;
  let refused = 0;
  await inParallel(
    Number.MAX_SAFE_INTEGER,
    CONNECTIONS,
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

    // ---- 1. the 3-step workflow -------------------------------------------------------------------------
    console.log(`[bench-workflow] 3-step runs: ${CONNECTIONS} clients for ${DURATION_S} s`);
    const cpu0 = { executor: cpuSeconds(pid.executor), self: process.cpuUsage() };
    const acceptMs: number[] = [];
    const three = await load(DURATION_S, start('bench-three', acceptMs));
    const lastDone = await waitDone('bench-three', three.accepted + 1);
    const executorCpu = cpuSeconds(pid.executor) - cpu0.executor;
    const selfCpu = (process.cpuUsage(cpu0.self).user + process.cpuUsage(cpu0.self).system) / 1e6;
    if (lastDone === undefined) {
      console.error(`[bench-workflow] runs still not done after ${DRAIN_TIMEOUT_MS / 1000} s`);
      return false;
    }
    const runs = three.accepted + 1;
    const [failed] = await queryRows<{ n: number }>(executorDb, `SELECT count(*)::int AS n FROM workflow_runs WHERE workflow = 'bench-three' AND status <> 'completed'`);
    const gaps = await queryRows<{ gap_ms: number }>(
      executorDb,
      `SELECT extract(epoch FROM (s.started_at - lag(s.completed_at) OVER (PARTITION BY s.run_id ORDER BY s.started_at))) * 1000 AS gap_ms
       FROM workflow_steps s JOIN workflow_runs r USING (run_id) WHERE r.workflow = 'bench-three'`,
    );
    const overhead = gaps.map((g) => Number(g.gap_ms)).filter((g) => Number.isFinite(g)).sort((a, b) => a - b);
    const sortedAccept = [...acceptMs].sort((a, b) => a - b);
    const elapsedS = (lastDone - three.startedAt) / 1000;
    console.log(
      [
        '',
        `3-step runs:          ${runs} accepted (${three.refused} refused), ${failed.n} not completed`,
        `throughput:           ${(runs / elapsedS).toFixed(1)} runs/s (${(3 * runs / elapsedS).toFixed(1)} steps/s) from first start to last completion (${elapsedS.toFixed(1)} s)`,
        `accept latency:       p50 ${percentile(sortedAccept, 50).toFixed(1)} ms, p99 ${percentile(sortedAccept, 99).toFixed(1)} ms (Core, ${CONNECTIONS} clients)`,
        `scheduling overhead:  p50 ${percentile(overhead, 50).toFixed(2)} ms, p99 ${percentile(overhead, 99).toFixed(2)} ms (a step's completion → its successor's start; ${overhead.length} gaps)`,
        `executor CPU:         ${((executorCpu * 1000) / (3 * runs)).toFixed(2)} ms per step (${executorCpu.toFixed(1)} s in all)`,
        `load generator CPU:   ${selfCpu.toFixed(1)} s`,
        '',
      ].join('\n'),
    );

    // ---- 2. one step vs one action --------------------------------------------------------------------
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
