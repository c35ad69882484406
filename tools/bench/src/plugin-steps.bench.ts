/**
 * `npm run bench:plugins`: the latency of a workflow step that runs a trivial action plugin.
 *
 * Starts the workflow executor alone (tools/stack) with a PLUGINS_DIR holding one plugin that returns its input, and a
 * workflow of BENCH_PLUGIN_STEPS (3) such steps in a row. Then:
 * 1. BENCH_PLUGIN_RUNS (20) runs one after another (the latency of an idle executor);
 * 2. BENCH_PLUGIN_RUNS runs with BENCH_PLUGIN_CONCURRENCY (4) in flight (more attempts at once than warm workers).
 * For each phase it prints the step duration the executor recorded (RunStepView.duration_ms: the attempt, from the
 * step's start to its result) p50 / p95 / max / mean, and the run duration (RunView.duration_ms) p50 / p95.
 * Exit code 0 only when every run completed.
 *
 * Before/after a change to the plugin host: run it on the other build with BENCH_ROOT=<its repository root with dist/>.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RequesterId, type RunView } from '@pancha/contracts';
import { inParallel, percentile, positive, runBench, send, startBenchStack } from './bench-support';

const RUNS = positive('BENCH_PLUGIN_RUNS', 20);
const STEPS = positive('BENCH_PLUGIN_STEPS', 3);
const CONCURRENCY = positive('BENCH_PLUGIN_CONCURRENCY', 4);
const WARMUP_RUNS = 2;

const PLUGIN = `module.exports = { name: 'bench-echo', version: '1.0.0', input: { type: 'object' }, execute: (ctx, input) => ({ echoed: input }) };`;
const WORKFLOW = `
name: bench-plugin
version: 1.0.0
inputs: { type: object, required: [n], properties: { n: { type: integer } } }
security: { actions: [bench-echo] }
retry: { max_attempts: 1 }
steps:
${Array.from({ length: STEPS }, (_, i) => `  - { id: s${i}, action: bench-echo, timeout: 30s, with: { n: "{{ inputs.n }}", i: ${i} } }`).join('\n')}
`;

const line = (label: string, values: number[]): string => {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return `${label} p50 ${percentile(sorted, 50).toFixed(0)} ms  p95 ${percentile(sorted, 95).toFixed(0)} ms  max ${(sorted.at(-1) ?? NaN).toFixed(0)} ms  mean ${mean.toFixed(1)} ms  (n=${values.length})`;
};

runBench('bench-plugins', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-plugins-'));
  writeFileSync(path.join(dir, 'bench-echo.js'), PLUGIN);
  const workflowsDir = mkdtempSync(path.join(tmpdir(), 'bench-plugin-workflows-'));
  writeFileSync(path.join(workflowsDir, 'bench-plugin.yaml'), WORKFLOW);
  const bench = await startBenchStack('bench-plugins', ['workflow-executor'], {
    rootDir: process.env.BENCH_ROOT || undefined,
    serviceEnv: { 'workflow-executor': { WORKFLOWS_DIR: workflowsDir, PLUGINS_DIR: dir } },
  });
  const { stack, keys } = bench;
  const url = stack.urls['workflow-executor'];
  try {
    const once = async (n: number): Promise<RunView> => {
      const runId = randomUUID();
      const started = await send(
        'POST',
        `${url}/api/runs`,
        { run_id: runId, workflow: 'bench-plugin', version: '1.0.0', inputs: { n }, user_id: 'bench-u', trace_id: randomBytes(16).toString('hex') },
        await keys.bearer(RequesterId.Core, 'workflow-executor'),
      );
      if (started.status !== 202) throw new Error(`start: ${started.status} ${JSON.stringify(started.body)}`);
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 25))) {
        const run = (await send('GET', `${url}/api/runs/${runId}`, undefined, await keys.bearer(RequesterId.Core, 'workflow-executor'))).body as RunView;
        if (run.status === 'completed' || run.status === 'failed' || run.status === 'cancelled') return run;
      }
      throw new Error(`run ${runId} did not finish within 60 s`);
    };
    let failed = 0;
    const phase = async (label: string, concurrency: number): Promise<void> => {
      const runs: RunView[] = [];
      const t0 = performance.now();
      await inParallel(RUNS, concurrency, async (i) => void runs.push(await once(i)));
      const seconds = (performance.now() - t0) / 1000;
      failed += runs.filter((r) => r.status !== 'completed').length;
      const steps = runs.flatMap((r) => r.steps.map((s) => s.duration_ms).filter((d): d is number => d !== null));
      console.log(`\n${label}: ${runs.length} runs of ${STEPS} plugin steps in ${seconds.toFixed(1)} s, ${runs.filter((r) => r.status !== 'completed').length} not completed`);
      console.log(line('  step duration:', steps));
      console.log(line('  run duration: ', runs.map((r) => r.duration_ms ?? NaN)));
    };
    for (let i = 0; i < WARMUP_RUNS; i++) await once(-1 - i);
    const loadavg = (await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(`[bench-plugins] ${STEPS} steps per run, load average ${loadavg}, build ${process.env.BENCH_ROOT || 'this one'}`);
    await phase('one run at a time', 1);
    await phase(`${CONCURRENCY} runs in flight`, CONCURRENCY);
    const plugin = (await send('GET', `${url}/api/plugins/bench-echo`, undefined, await keys.bearer(RequesterId.Core, 'workflow-executor'))).body as { workers?: unknown };
    if (plugin.workers) console.log(`\nworkers of bench-echo: ${JSON.stringify(plugin.workers)}`);
    return failed === 0;
  } finally {
    await bench.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(workflowsDir, { recursive: true, force: true });
  }
});
