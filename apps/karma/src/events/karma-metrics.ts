import { KARMA_EVENT_TYPES, MetricName } from '@pancha/contracts';
import { metricsRegistry } from '@pancha/service-kit';
import { Counter } from 'prom-client';

/**
 * Karma's Prometheus metric (docs/metrics.md): events ingested by type, and whether each was recorded or was a
 * replay of an event already recorded (the outbox's redeliveries). Every type is present from the start, at 0.
 */
export const karmaEvents = new Counter({
  name: MetricName.KarmaEvents,
  help: 'Karma events accepted, by type and result (recorded, replayed)',
  labelNames: ['type', 'result'],
  registers: [metricsRegistry],
});
for (const type of KARMA_EVENT_TYPES) for (const result of ['recorded', 'replayed']) karmaEvents.inc({ type, result }, 0);
