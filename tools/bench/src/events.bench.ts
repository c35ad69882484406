/**
 * `npm run bench -- --events`: Core's event router through the whole stack (Core, executor, Bucket, Karma).
 *
 * Five workflows with mixed triggers (stateless `if`, threshold crossing, dedup, rate limit, delta + dedup) over
 * two event types and 1,000 keys, tuned so most events are filtered out (where the volume is). BENCH_CONNECTIONS
 * (50) clients POST one event each per request for BENCH_DURATION (20) s, then batches of BENCH_BATCH (20) for
 * BENCH_COMPARE_DURATION (10) s. Prints events/s accepted (each one is routed before its 202: its decisions, state
 * updates and run starts are committed), p50/p99 accept latency, the decisions by outcome from GET /events/stats,
 * and, after each phase, how long its Bucket audit entries, its run starts and the runs themselves took to drain,
 * with the CPU per event of every process and its PostgreSQL backends over the phase and its drain.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventTopic, RequesterId } from '@pancha/contracts';
import { queryRows } from '@pancha/testing';
import { cpuSeconds, inParallel, latencyLine, positive, runBench, send, startBenchStack } from './bench-support';
import { cpuPerItemLines, stackCpuMeter } from './load';

const DURATION_S = positive('BENCH_DURATION', 20);
const BATCH_S = positive('BENCH_COMPARE_DURATION', 10);
const CONNECTIONS = positive('BENCH_CONNECTIONS', 50);
const BATCH = positive('BENCH_BATCH', 20);
const KEYS = 1000;
const DRAIN_TIMEOUT_MS = positive('BENCH_DRAIN_TIMEOUT', 180) * 1000;

const step = `security: { actions: [task] }\nsteps: [{ id: only, action: task, with: { title: "bench event" } }]\n`;
const WORKFLOWS: Record<string, string> = {
  'bench-if': `name: bench-if\nversion: 1.0.0\ntriggers:\n  - { event: kpi.metric_updated, if: "event.data.value > 98.5" }\n${step}`,
  'bench-crossing': `name: bench-crossing\nversion: 1.0.0\ntriggers:\n  - event: kpi.metric_updated\n    key: event.data.metric\n    threshold: { field: event.data.value, above: 97, on: crossing }\n${step}`,
  'bench-dedup': `name: bench-dedup\nversion: 1.0.0\ntriggers:\n  - event: kpi.metric_updated\n    key: event.data.metric\n    if: event.data.value > 90\n    dedup: { window: 1m }\n${step}`,
  'bench-rate': `name: bench-rate\nversion: 1.0.0\ntriggers:\n  - event: kpi.*\n    key: event.data.metric\n    if: event.data.value > 95\n    rate_limit: { max: 1, per: 1m, mode: drop }\n${step}`,
  'bench-delta': `name: bench-delta\nversion: 1.0.0\ntriggers:\n  - event: trust.score_updated\n    key: event.data.subject_id\n    delta: { field: event.data.score, min_change: 80, relative: true }\n    dedup: { window: 30s }\n${step}`,
};

function eventOf(i: number): Record<string, unknown> {
  // Cheap deterministic noise: 90 % KPI values, 10 % trust scores.
  const r = (i * 2654435761) % 4294967296;
  if (i % 10 === 9) return { type: 'trust.score_updated', data: { subject_id: `u${r % KEYS}`, score: (r % 1000) / 1000 } };
  return { type: 'kpi.metric_updated', data: { metric: `m${r % KEYS}`, value: (r % 10_000) / 100 } };
}

async function main(): Promise<boolean> {
  const workflowsDir = mkdtempSync(path.join(tmpdir(), 'bench-events-'));
  for (const [name, text] of Object.entries(WORKFLOWS)) writeFileSync(path.join(workflowsDir, `${name}.yaml`), text);
  const bench = await startBenchStack('bench-events', ['karma', 'bucket', 'core', 'workflow-executor'], {
    env: { RATE_LIMIT_ANONYMOUS_LIMIT: '0', WORKFLOW_CATALOG_REFRESH_MS: '500' },
    serviceEnv: {
      'workflow-executor': { WORKFLOWS_DIR: workflowsDir },
    },
  });
  const { stack, keys } = bench;
  const coreDb = stack.databaseUrls.core;
  const executorDb = stack.databaseUrls['workflow-executor'];
  const corePid = stack.pidOf('core');
  const meter = stackCpuMeter(process.env.DATABASE_URL ?? coreDb, stack);
  await meter.connect();
  try {
    // Core routes to the workflows once its catalog mirror has them.
    for (const deadline = Date.now() + 30_000; ; await new Promise((resolve) => setTimeout(resolve, 250))) {
      const probe = await send('POST', `${stack.urls.core}/events`, { type: 'kpi.metric_updated', data: { metric: 'probe', value: 1 } }, await keys.bearer(RequesterId.Operator, 'core'));
      const routed = (probe.body as { skipped?: unknown[] }).skipped?.length ?? 0;
      if (probe.status === 202 && routed >= 4) break;
      if (Date.now() > deadline) {
        console.error(`[bench-events] Core does not route to the bench workflows: ${probe.status} ${JSON.stringify(probe.body)}`);
        return false;
      }
    }
    let n = 0;
    // ---- warm-up ----
    await inParallel(500, 10, async () => void (await send('POST', `${stack.urls.core}/events`, eventOf(n++), await keys.bearer(RequesterId.Operator, 'core'))));

    const phase = async (label: string, seconds: number, perRequest: number) => {
      await meter.start();
      const latencies: number[] = [];
      let accepted = 0;
      let refused = 0;
      const cpu0 = cpuSeconds(corePid);
      const startedAt = Date.now();
      await inParallel(
        Number.MAX_SAFE_INTEGER,
        CONNECTIONS,
        async () => {
          const body = perRequest === 1 ? eventOf(n++) : Array.from({ length: perRequest }, () => eventOf(n++));
          const reply = await send('POST', `${stack.urls.core}/events`, body, await keys.bearer(RequesterId.Operator, 'core'));
          latencies.push(reply.ms);
          if (reply.status === 202) accepted += perRequest;
          else refused += perRequest;
        },
        startedAt + seconds * 1000,
      );
      const elapsed = (Date.now() - startedAt) / 1000;
      const cpu = cpuSeconds(corePid) - cpu0;
      latencies.sort((a, b) => a - b);
      console.log(
        `${label}: ${accepted} events accepted and routed (${refused} refused) in ${elapsed.toFixed(1)} s = ${(accepted / elapsed).toFixed(0)} events/s; ` +
          `accept latency per request ${latencyLine(latencies)}; Core CPU ${((cpu / accepted) * 1e6).toFixed(0)} µs/event`,
      );
      await drained(label);
      // Over the phase and its drain, per event accepted.
      for (const line of cpuPerItemLines((await meter.stop()).cpu, accepted)) console.log(line);
      return { accepted, elapsed };
    };

    // After the load: Core's outbox delivers the audit entries to Bucket and the run starts to the executor, which
    // then runs them. Each is timed until nothing of it is left.
    const drained = async (label: string) => {
      const start = Date.now();
      const left = {
        'Bucket audit entries': async () => (await queryRows<{ n: number }>(coreDb, `SELECT count(*)::int AS n FROM outbox WHERE status = 'pending' AND topic = $1`, [EventTopic.BucketCoreEvent]))[0].n,
        'run starts': async () => (await queryRows<{ n: number }>(coreDb, `SELECT count(*)::int AS n FROM outbox WHERE status = 'pending' AND topic <> $1`, [EventTopic.BucketCoreEvent]))[0].n,
        'runs finished': async () => (await queryRows<{ n: number }>(executorDb, `SELECT count(*)::int AS n FROM workflow_runs WHERE status IN ('pending', 'running')`))[0].n,
      };
      const times: string[] = [];
      for (const [what, count] of Object.entries(left)) {
        for (;;) {
          const n = await count();
          if (n === 0) {
            times.push(`${what} ${((Date.now() - start) / 1000).toFixed(1)} s`);
            break;
          }
          if (Date.now() - start > DRAIN_TIMEOUT_MS) {
            times.push(`${what}: ${n} left after ${DRAIN_TIMEOUT_MS / 1000} s`);
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
      console.log(`  ${label}: drained after the load: ${times.join(', ')}`);
    };

    console.log(`[bench-events] ${CONNECTIONS} connections, 5 workflows, ${KEYS} keys per type`);
    const single = await phase('single events', DURATION_S, 1);
    const batched = await phase(`batches of ${BATCH}`, BATCH_S, BATCH);

    const stats = await send('GET', `${stack.urls.core}/events/stats`, undefined, await keys.bearer(RequesterId.Operator, 'core'));
    const s = stats.body as { received: number; matched: number; runs_started: number; skipped: Record<string, number>; deferred: number };
    const skippedTotal = Object.values(s.skipped).reduce((a, b) => a + b, 0);
    console.log(
      `decisions: ${s.received} events received, ${s.matched} matched a trigger, ${s.runs_started} runs started, ${skippedTotal} skips ` +
        `(${Object.entries(s.skipped).map(([k, v]) => `${k} ${v}`).join(', ')}); ` +
        `${(100 * (1 - s.runs_started / Math.max(1, s.received))).toFixed(1)} % of events started nothing`,
    );

    console.log(`summary: single ${(single.accepted / single.elapsed).toFixed(0)} events/s, batched ${(batched.accepted / batched.elapsed).toFixed(0)} events/s`);
    return true;
  } finally {
    await meter.close();
    await bench.stop();
  }
}

export function runEventsBench(): void {
  runBench('bench-events', main);
}
