import { eventHopsReceivedBy, isEventHopTopic, JETSTREAM_OUTCOMES, MetricName, type JetStreamOutcome, type ServiceName } from '@pancha/contracts';
import { metricsRegistry } from '@pancha/service-kit';
import { Counter } from 'prom-client';

/**
 * What the JetStream consumers did with the events they received (docs/metrics.md), by hop and outcome. A dead
 * letter over NATS never reaches the producer's outbox (its row was delivered on the PubAck), so this counter is
 * where an operator sees it.
 */
const events = new Counter<'topic' | 'outcome'>({
  name: MetricName.JetStreamEvents,
  help: 'Events the JetStream consumer settled, by hop topic and outcome (delivered, retry, dead); a message refused whole counts once',
  labelNames: ['topic', 'outcome'],
  registers: [metricsRegistry],
});

/** Every hop `service` receives, at 0 for each outcome, so the series exist before the first event. */
export function initJetStreamMetrics(service: ServiceName): void {
  for (const topic of eventHopsReceivedBy(service)) for (const outcome of JETSTREAM_OUTCOMES) events.inc({ topic, outcome }, 0);
}

/** `count` events of `topic` (a hop; anything else is counted as `other`, so a stray subject adds no series) settled as `outcome`. */
export function recordJetStreamEvents(topic: string, outcome: JetStreamOutcome, count = 1): void {
  if (count <= 0) return;
  events.inc({ topic: isEventHopTopic(topic) ? topic : 'other', outcome }, count);
}
