/**
 * `npm run bench [-- <mode> <flags>]`: the stack's benchmarks (scripts that print numbers, not tests).
 *   (no mode)       the suite: floor, Pancha tasks and 3-step runs end to end, pg-boss, CPU and RSS (suite.bench.ts)
 *   --handle-task   POST /handle_task under autocannon for BENCH_DURATION, then the drain (handle-task.bench.ts)
 *   --workflow      durable workflow runs: runs/s, scheduling overhead, CPU per step (workflow-runs.bench.ts)
 *   --events        the event router: events/s accepted and routed, accept latency (events.bench.ts)
 *   --wakeup        CPU per cross-process round trip, back to back and paced (wakeup.bench.ts)
 */
import { runEventsBench } from './events.bench';
import { runHandleTaskBench } from './handle-task.bench';
import { runSuiteBench } from './suite.bench';
import { runWakeupBench } from './wakeup.bench';
import { runWorkflowBench } from './workflow-runs.bench';

const flags = new Set(process.argv.slice(2));
if (flags.has('--events')) runEventsBench();
else if (flags.has('--workflow')) runWorkflowBench();
else if (flags.has('--handle-task')) runHandleTaskBench();
else if (flags.has('--wakeup')) runWakeupBench();
else runSuiteBench();
