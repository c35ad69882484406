import { MetricName } from '@pancha/contracts';
import { exemplarHistogram, metricsRegistry } from '@pancha/service-kit';
import { Counter, Histogram } from 'prom-client';

/** A W3C traceparent's trace as an exemplar label set (empty when there is none). */
export function traceparentExemplar(traceparent: string | undefined): Record<string, string> {
  const traceId = traceparent?.split('-')[1];
  return traceId && /^[0-9a-f]{32}$/.test(traceId) ? { trace_id: traceId } : {};
}

/**
 * The engine's Prometheus metrics (GET /metrics; docs/metrics.md). Labels are bounded: workflow names come from
 * the registry, actions from the action catalog, statuses from fixed sets. The duration histograms carry the
 * trace of their latest observation per bucket as an exemplar (OpenMetrics exposition).
 */
export const workflowMetrics = {
  runsEnded: new Counter({
    name: MetricName.WorkflowRuns,
    help: 'Workflow runs that ended, by workflow, version and final status',
    labelNames: ['workflow', 'version', 'status'],
    registers: [metricsRegistry],
  }),
  runDuration: exemplarHistogram({
    name: MetricName.WorkflowRunDuration,
    help: 'Time from a run starting to ending, by workflow and final status (exemplar: the run trace)',
    labelNames: ['workflow', 'status'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400],
  }),
  attempts: new Counter({
    name: MetricName.WorkflowSteps,
    help: 'Action attempts (steps), by workflow, action and outcome (completed, failed, cancelled)',
    labelNames: ['workflow', 'action', 'outcome'],
    registers: [metricsRegistry],
  }),
  attemptDuration: exemplarHistogram({
    name: MetricName.WorkflowStepDuration,
    help: 'How long an action attempt took, by workflow and action (exemplar: the step trace)',
    labelNames: ['workflow', 'action'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  }),
  scheduling: new Histogram({
    name: MetricName.WorkflowStepScheduling,
    help: "Engine overhead between steps: from an action's result arriving to the next actions it unblocked starting (their round written)",
    buckets: [0.00025, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25],
    registers: [metricsRegistry],
  }),
};
