import { MetricName, ROUTER_DECISION_LABELS, type RouterOutcome, type RouterSkipReason } from '@pancha/contracts';
import { metricsRegistry } from '@pancha/service-kit';
import { Counter } from 'prom-client';

/**
 * The event router's Prometheus metrics (docs/metrics.md). Registered when Core starts, every decision label set
 * present at 0, so dashboards and alerts see the series before the first event. The router increments them:
 *   routerMetrics.received.inc()                                      once per event accepted by POST /events
 *   routerMetrics.decisions.inc({ outcome: 'run_started', reason: 'none' })   once per run an event started
 *   routerMetrics.decisions.inc({ outcome: 'skipped', reason })       once per trigger an event did not fire
 *   routerMetrics.decisions.inc({ outcome: 'rejected', reason: 'invalid' })   once per event refused (schema)
 */
export const routerMetrics = {
  received: new Counter({
    name: MetricName.RouterEventsReceived,
    help: 'Events accepted by the router (POST /events and the JetStream subject), before trigger evaluation',
    registers: [metricsRegistry],
  }),
  decisions: new Counter<'outcome' | 'reason'>({
    name: MetricName.RouterDecisions,
    help: 'Router decisions per event and trigger, by outcome (run_started, skipped, rejected) and reason',
    labelNames: ['outcome', 'reason'],
    registers: [metricsRegistry],
  }),
};
for (const labels of ROUTER_DECISION_LABELS) routerMetrics.decisions.inc(labels, 0);

export type RouterDecisionLabels = { outcome: RouterOutcome; reason: RouterSkipReason | 'none' };
