import type { OutboxStatus } from './outbox-entry.entity';

export interface OutboxTopicStats {
  emitted: number;
  delivered: number;
  pending: number;
  dead: number;
}

/** `GET /outbox/stats`: emitted = delivered + pending + dead, overall and per topic. */
export interface OutboxStats extends OutboxTopicStats {
  by_topic: Record<string, OutboxTopicStats>;
}

export interface OutboxStatusCount {
  topic: string;
  status: OutboxStatus;
  count: number;
}

/** emitted is derived, never counted separately, so the identity cannot drift. */
export function buildOutboxStats(rows: readonly OutboxStatusCount[]): OutboxStats {
  const total: OutboxTopicStats = { emitted: 0, delivered: 0, pending: 0, dead: 0 };
  const byTopic: Record<string, OutboxTopicStats> = {};
  for (const row of rows) {
    const topic = (byTopic[row.topic] ??= { emitted: 0, delivered: 0, pending: 0, dead: 0 });
    topic[row.status] += row.count;
    topic.emitted += row.count;
    total[row.status] += row.count;
    total.emitted += row.count;
  }
  return { ...total, by_topic: byTopic };
}
