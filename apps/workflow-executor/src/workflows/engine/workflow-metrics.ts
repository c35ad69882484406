import { metricsRegistry } from '@pancha/service-kit';
import { Counter, Histogram } from 'prom-client';

/**
 * The engine's Prometheus metrics (GET /metrics). Labels are bounded: workflow names come from the registry,
 * actions from the action catalog, statuses from fixed sets.
 */
export const workflowMetrics = {
  runsEnded: new Counter({
    name: 'pancha_workflow_runs_total',
    help: 'Workflow runs that ended, by workflow, version and final status',
    labelNames: ['workflow', 'version', 'status'],
    registers: [metricsRegistry],
  }),
  runDuration: new Histogram({
    name: 'pancha_workflow_run_duration_seconds',
    help: 'Time from a run starting to ending, by workflow and final status',
    labelNames: ['workflow', 'status'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400],
    registers: [metricsRegistry],
  }),
  attempts: new Counter({
    name: 'pancha_workflow_step_attempts_total',
    help: 'Action attempts, by workflow, action and outcome (completed, failed, cancelled)',
    labelNames: ['workflow', 'action', 'outcome'],
    registers: [metricsRegistry],
  }),
  attemptDuration: new Histogram({
    name: 'pancha_workflow_step_attempt_duration_seconds',
    help: 'How long an action attempt took, by workflow and action',
    labelNames: ['workflow', 'action'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [metricsRegistry],
  }),
  scheduling: new Histogram({
    name: 'pancha_workflow_step_scheduling_seconds',
    help: "Engine overhead between steps: from an action's result arriving to the next actions it unblocked starting (their round written)",
    buckets: [0.00025, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25],
    registers: [metricsRegistry],
  }),
};
