/**
 * The outbox's Prometheus series (docs/metrics.md) say what the table holds: pending, dead and the oldest pending
 * age per topic (every handled topic present, at 0 too), delivery outcomes counted as recorded, and the delivery
 * latency histogram with the message's trace as its exemplar.
 */
import { Logger } from '@nestjs/common';
import { renderMetrics } from '@pancha/service-kit';
import { createTestDatabase, eventually, type TestDatabase } from '@pancha/testing';
import type { DataSource } from 'typeorm';
import { OutboxDeliveryError } from './outbox-delivery.error';
import { OutboxMetrics } from './outbox-metrics';
import type { OutboxRelay } from './outbox-relay.service';
import { openOutboxDataSource, recordingHandler, relayOn } from './testing/outbox-test-kit';

jest.setTimeout(30_000);

/** One sample's value from the text exposition, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1).split(' ')[0]);
}

describe('outbox metrics', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let relay: OutboxRelay | undefined;
  let metrics: OutboxMetrics;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    db = await createTestDatabase('outbox_metrics');
    dataSource = await openOutboxDataSource(db.url);
    await dataSource.runMigrations();
  });

  afterAll(async () => {
    await relay?.stop();
    metrics?.onModuleDestroy();
    await dataSource?.destroy();
    await db?.drop();
  });

  it('reports pending, dead and lag per topic from the table, and counts outcomes and latency as they are recorded', async () => {
    const good = recordingHandler('metrics.good');
    const poisoned = recordingHandler('metrics.poisoned', () => {
      throw new OutboxDeliveryError('refused for good', { retryable: false });
    });
    const idle = recordingHandler('metrics.idle');
    metrics = new OutboxMetrics(dataSource, [good.handler, poisoned.handler, idle.handler]);
    metrics.onModuleInit();

    // Enqueued while no relay runs: all pending, and old enough to show an age.
    const parked = relayOn(dataSource, [good.handler, poisoned.handler, idle.handler], { enabled: false });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await dataSource.transaction(async (m) => {
      for (let i = 0; i < 3; i++) await parked.outbox.enqueue(m, { topic: 'metrics.good', messageKey: `g${i}`, payload: { i } });
      await parked.outbox.enqueue(m, { topic: 'metrics.poisoned', messageKey: 'p0', payload: {} });
    });
    await dataSource.query(`UPDATE outbox SET created_at = now() - interval '90 seconds', headers = $1 WHERE message_key = 'g0'`, [JSON.stringify({ traceparent })]);

    const before = (await renderMetrics(undefined)).body;
    expect(sample(before, 'pancha_outbox_pending{topic="metrics.good"}')).toBe(3);
    expect(sample(before, 'pancha_outbox_pending{topic="metrics.poisoned"}')).toBe(1);
    expect(sample(before, 'pancha_outbox_pending{topic="metrics.idle"}')).toBe(0);
    expect(sample(before, 'pancha_outbox_oldest_pending_age_seconds{topic="metrics.good"}')).toBeGreaterThanOrEqual(89);
    expect(sample(before, 'pancha_outbox_dead{topic="metrics.poisoned"}')).toBe(0);
    expect(sample(before, 'pancha_outbox_deliveries_total{topic="metrics.good",outcome="delivered"}')).toBe(0);

    relay = relayOn(dataSource, [good.handler, poisoned.handler, idle.handler]).relay;
    await eventually(async () => {
      expect(await dataSource.query(`SELECT count(*)::int AS n FROM outbox WHERE status = 'pending'`)).toEqual([{ n: 0 }]);
    });

    await eventually(async () => {
      const text = (await renderMetrics(undefined)).body;
      expect(sample(text, 'pancha_outbox_pending{topic="metrics.good"}')).toBe(0);
      expect(sample(text, 'pancha_outbox_oldest_pending_age_seconds{topic="metrics.good"}')).toBe(0);
      expect(sample(text, 'pancha_outbox_dead{topic="metrics.poisoned"}')).toBe(1);
      expect(sample(text, 'pancha_outbox_deliveries_total{topic="metrics.good",outcome="delivered"}')).toBe(3);
      expect(sample(text, 'pancha_outbox_deliveries_total{topic="metrics.poisoned",outcome="dead"}')).toBe(1);
      expect(sample(text, 'pancha_outbox_delivery_latency_seconds_count{topic="metrics.good"}')).toBe(3);
      // g0 waited 90 s: one observation in the (60, 300] bucket.
      expect(sample(text, 'pancha_outbox_delivery_latency_seconds_bucket{le="60",topic="metrics.good"}')).toBe(2);
    }, { timeoutMs: 10_000, intervalMs: 1100 });

    const open = (await renderMetrics('application/openmetrics-text')).body;
    expect(open).toMatch(/pancha_outbox_delivery_latency_seconds_bucket\{le="300",topic="metrics.good"\} 3 # \{trace_id="4bf92f3577b34da6a3ce929d0e0e4736"\} 9\d\.\d+/);
  });
});
