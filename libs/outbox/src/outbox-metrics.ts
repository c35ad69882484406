import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { MetricName } from '@pancha/contracts';
import { exemplarHistogram, metricsRegistry } from '@pancha/service-kit';
import { Counter, Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import { OUTBOX_HANDLERS, type OutboxHandler } from './outbox-handler.interface';
import type { OutboxTransition } from './outbox-transition';
import type { ClaimedOutboxEntry } from './outbox.store';

/**
 * The outbox's Prometheus metrics (docs/metrics.md), per topic. Deliveries and their latency are counted by the
 * relay as outcomes are recorded; pending, dead and the oldest pending age are read from the table when scraped,
 * by two small indexed queries (pending rows through the partial pending index, dead letters from their own
 * table), at most once a second however often /metrics is asked.
 */
const deliveries = new Counter({
  name: MetricName.OutboxDeliveries,
  help: 'Outbox delivery outcomes recorded, by topic and outcome (delivered, retry, dead)',
  labelNames: ['topic', 'outcome'],
  registers: [metricsRegistry],
});

const deliveryLatency = exemplarHistogram({
  name: MetricName.OutboxDeliveryLatency,
  help: 'From a message being enqueued (its transaction) to its delivery being recorded, by topic (exemplar: the message trace)',
  labelNames: ['topic'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
});

const pruned = new Counter({
  name: MetricName.OutboxPruned,
  help: 'Delivered outbox rows deleted after OUTBOX_RETENTION_HOURS',
  registers: [metricsRegistry],
});

/** Called by the pruner after each delete. */
export function recordOutboxPruned(rows: number): void {
  pruned.inc(rows);
}

/** Called by the relay once an outcome is recorded. */
export function recordOutboxOutcome(entry: ClaimedOutboxEntry, transition: OutboxTransition): void {
  deliveries.inc({ topic: entry.topic, outcome: transition.kind });
  if (transition.kind === 'delivered' && entry.createdAt) {
    // Read from the W3C header itself: no propagator needed, and the same trace the delivery span joined.
    const traceId = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(entry.headers?.traceparent ?? '')?.[1];
    deliveryLatency.observe({ topic: entry.topic }, Math.max(0, Date.now() - new Date(entry.createdAt).getTime()) / 1000, traceId ? { trace_id: traceId } : {});
  }
}

interface TopicSnapshot {
  pending: number;
  dead: number;
  oldestPendingAge: number;
}
type Snapshot = Map<string, TopicSnapshot>;

/** The process's table reader (the latest OutboxModule's; one per service process). */
let reader: (() => Promise<Snapshot>) | undefined;
let cached: { at: number; snapshot: Promise<Snapshot> } | undefined;
const CACHE_MS = 1000;

function snapshot(): Promise<Snapshot> {
  if (!reader) return Promise.resolve(new Map());
  const now = Date.now();
  if (!cached || now - cached.at >= CACHE_MS) {
    const snapshotNow = reader().catch(() => new Map<string, TopicSnapshot>());
    cached = { at: now, snapshot: snapshotNow };
  }
  return cached.snapshot;
}

function tableGauge(name: string, help: string, pick: (s: TopicSnapshot) => number): Gauge<'topic'> {
  return new Gauge({
    name,
    help,
    labelNames: ['topic'],
    registers: [metricsRegistry],
    async collect() {
      const current = await snapshot();
      this.reset();
      for (const [topic, values] of current) this.set({ topic }, pick(values));
    },
  });
}

tableGauge(MetricName.OutboxPending, 'Outbox messages waiting to be delivered (including retries backing off), by topic', (s) => s.pending);
tableGauge(MetricName.OutboxDead, 'Outbox messages dead-lettered (outbox_dead_letter rows), by topic', (s) => s.dead);
tableGauge(MetricName.OutboxOldestPendingAge, 'Age in seconds of the oldest pending outbox message, by topic (0 when none)', (s) => s.oldestPendingAge);

const PENDING_SQL = `
  SELECT topic, count(*)::int AS n, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS oldest
  FROM outbox WHERE status = 'pending' GROUP BY topic`;
const DEAD_SQL = `SELECT topic, count(*)::int AS n FROM outbox_dead_letter GROUP BY topic`;

/** Points the table gauges at this module's database; every topic with a handler here is reported, at 0 too. */
@Injectable()
export class OutboxMetrics implements OnModuleInit, OnModuleDestroy {
  private readonly read = async (): Promise<Snapshot> => {
    const [pending, dead] = (await Promise.all([this.dataSource.query(PENDING_SQL), this.dataSource.query(DEAD_SQL)])) as [
      { topic: string; n: number; oldest: number }[],
      { topic: string; n: number }[],
    ];
    const result: Snapshot = new Map(this.topics.map((topic) => [topic, { pending: 0, dead: 0, oldestPendingAge: 0 }]));
    const of = (topic: string) => result.get(topic) ?? result.set(topic, { pending: 0, dead: 0, oldestPendingAge: 0 }).get(topic) as TopicSnapshot;
    for (const row of pending) Object.assign(of(row.topic), { pending: Number(row.n), oldestPendingAge: Number(row.oldest) });
    for (const row of dead) of(row.topic).dead = Number(row.n);
    return result;
  };
  private readonly topics: string[];

  constructor(
    private readonly dataSource: DataSource,
    @Inject(OUTBOX_HANDLERS) handlers: readonly OutboxHandler[],
  ) {
    this.topics = handlers.map((h) => h.topic);
  }

  onModuleInit(): void {
    reader = this.read;
    cached = undefined;
    for (const topic of this.topics) {
      for (const outcome of ['delivered', 'retry', 'dead'] as const) deliveries.inc({ topic, outcome }, 0);
    }
  }

  onModuleDestroy(): void {
    if (reader === this.read) reader = undefined;
    cached = undefined;
  }
}
