/**
 * `npm run bench [-- --workflow]`: the stack's benchmarks (scripts that print numbers, not tests).
 *   (no flag)    POST /handle_task under load, then the fire-and-forget work behind it (handle-task.bench.ts)
 *   --workflow   durable workflow runs: runs/s, scheduling overhead, CPU per step (workflow-runs.bench.ts)
 *   --events     the event router: events/s accepted and routed, accept latency (events.bench.ts)
 */
import { runEventsBench } from './events.bench';
import { runHandleTaskBench } from './handle-task.bench';
import { runWorkflowBench } from './workflow-runs.bench';

const flags = new Set(process.argv.slice(2));
if (flags.has('--events')) runEventsBench();
else if (flags.has('--workflow')) runWorkflowBench();
else runHandleTaskBench();
