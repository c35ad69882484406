/**
 * Every Prometheus metric Pancha exposes on GET /metrics, named once here so the services that register them,
 * the Grafana dashboard (deploy/grafana), the alert rules (deploy/prometheus) and the tests agree. Meaning,
 * labels and units: docs/metrics.md. Names follow Prometheus conventions: `pancha_<area>_<what>_<unit>`,
 * counters end in `_total`, durations are in seconds.
 */
export const MetricName = {
  // HTTP (every service, libs/service-kit): requests by method, route template and status, with durations.
  HttpRequestDuration: 'http_server_request_duration_seconds',
  // Workflows (the executor).
  WorkflowRuns: 'pancha_workflow_runs_total',
  WorkflowRunDuration: 'pancha_workflow_run_duration_seconds',
  WorkflowSteps: 'pancha_workflow_step_attempts_total',
  WorkflowStepDuration: 'pancha_workflow_step_attempt_duration_seconds',
  WorkflowStepScheduling: 'pancha_workflow_step_scheduling_seconds',
  // Manifest validation on each registry load (the executor): the contract engine's validation errors and layer times.
  WorkflowValidationFindings: 'pancha_workflow_validation_findings_total',
  WorkflowValidationLayerDuration: 'pancha_workflow_validation_layer_duration_seconds',
  // Action plugins (the executor).
  PluginLoads: 'pancha_plugin_loads_total',
  PluginWorkerStarts: 'pancha_plugin_worker_starts_total',
  PluginWorkers: 'pancha_plugin_workers',
  // Outbox (every service with an outbox, libs/outbox), per topic.
  OutboxPending: 'pancha_outbox_pending',
  OutboxDead: 'pancha_outbox_dead',
  OutboxOldestPendingAge: 'pancha_outbox_oldest_pending_age_seconds',
  OutboxDeliveries: 'pancha_outbox_deliveries_total',
  OutboxDeliveryLatency: 'pancha_outbox_delivery_latency_seconds',
  OutboxPruned: 'pancha_outbox_pruned_total',
  // JetStream consumers (Bucket, Karma, Core with NATS_URL, libs/nats-transport), per hop.
  JetStreamEvents: 'pancha_jetstream_events_total',
  // Event router (Core).
  RouterEventsReceived: 'pancha_router_events_received_total',
  RouterDecisions: 'pancha_router_decisions_total',
  // Bucket's audit chain.
  BucketChainSize: 'pancha_bucket_chain_entries',
  BucketAppends: 'pancha_bucket_appends_total',
  BucketVerifications: 'pancha_bucket_verifications_total',
  BucketLastVerification: 'pancha_bucket_last_verification_timestamp_seconds',
  BucketLastVerificationOk: 'pancha_bucket_last_verification_ok',
  // Karma.
  KarmaEvents: 'pancha_karma_events_total',
} as const;
export type MetricName = (typeof MetricName)[keyof typeof MetricName];

/**
 * What a JetStream consumer did with an event it received (one per event, a batch message's included): `delivered`
 * (acknowledged), `retry` (its message redelivered for it) or `dead` (copied to the service's dead-letter subject).
 */
export const JETSTREAM_OUTCOMES = ['delivered', 'retry', 'dead'] as const;
export type JetStreamOutcome = (typeof JETSTREAM_OUTCOMES)[number];

/**
 * What the router decided for one (event, trigger) pair: `run_started` (reason `none`) or `skipped` with the
 * reason the event's record in Bucket carries (ISSUE 9); `rejected` counts events refused before any trigger
 * (schema, permission) with reason `invalid`.
 */
export const ROUTER_OUTCOMES = ['run_started', 'skipped', 'rejected'] as const;
export type RouterOutcome = (typeof ROUTER_OUTCOMES)[number];
export const ROUTER_SKIP_REASONS = [
  'condition_false',
  'below_threshold',
  'delta_too_small',
  'duplicate',
  'rate_limited',
  'debounced',
  'workflow_disabled',
  'invalid',
  'self_triggered',
  'chain_too_deep',
] as const;
export type RouterSkipReason = (typeof ROUTER_SKIP_REASONS)[number];
/** The label sets the router's decision counter is created with (each present at 0 before the first event). */
export const ROUTER_DECISION_LABELS: readonly { outcome: RouterOutcome; reason: RouterSkipReason | 'none' }[] = [
  { outcome: 'run_started', reason: 'none' },
  ...ROUTER_SKIP_REASONS.map((reason) => ({ outcome: 'skipped' as const, reason })),
  { outcome: 'rejected', reason: 'invalid' },
];
