import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { injectTraceHeaders } from '@pancha/trace-context';
import type { DataSource, EntityManager, EntitySubscriberInterface, QueryRunner } from 'typeorm';
import { OutboxRelay } from './outbox-relay.service';
import { type OutboxStats, buildOutboxStats } from './outbox-stats';
import { OutboxStore } from './outbox.store';

export interface EnqueueInput {
  /** Names the handler that will deliver it. */
  topic: string;
  /** Idempotency key within the topic (usually the event id the receiver deduplicates on). */
  messageKey: string;
  /** Stored as jsonb; must be JSON-serialisable. */
  payload: unknown;
  /**
   * Delivers this message only after every earlier message with the same key is delivered or dead (one at a
   * time, in enqueue order; a failing one holds back its successors), e.g. all events of one workflow run.
   * Transactions enqueuing the same key take turns (the second waits for the first to commit), so enqueue
   * order is commit order; a transaction enqueuing several keys should take them in a fixed order.
   */
  orderingKey?: string;
  /**
   * The W3C trace context the delivery continues (`traceparent`, `tracestate`); default: the active context's. A
   * producer committing the work of many requests at once (a group commit, a batch of results) passes each one's.
   */
  headers?: Record<string, string>;
}

const MAX_NAME_LENGTH = 255;

// A repeat of (topic, message_key) is the same message: keep the first, the receiver dedups anyway.
const INSERT_SQL = `
  INSERT INTO outbox (id, topic, message_key, payload, headers, status, attempts, next_attempt_at, created_at)
  VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, 'pending', 0, now(), now())
  ON CONFLICT (topic, message_key) DO NOTHING`;

// The transaction-scoped lock on the key (taken by the same statement, before the row gets its seq) makes a
// second transaction enqueuing the key wait for the first to commit: a row's seq is then never below that of
// a row of its key that is not yet visible, so the relay cannot deliver a later row before an earlier one.
const INSERT_ORDERED_SQL = `
  INSERT INTO outbox (id, topic, message_key, ordering_key, payload, headers, status, attempts, next_attempt_at, created_at)
  SELECT $1::uuid, $2::text, $3::text, $6::text, $4::jsonb, $5::jsonb, 'pending', 0, now(), now()
  FROM (SELECT pg_advisory_xact_lock(hashtextextended('pancha.outbox:' || $6::text, 0))) AS key_turn
  ON CONFLICT (topic, message_key) DO NOTHING`;

// Many messages in one statement: the keys' turns are taken first (in a fixed order, so two transactions never
// wait on each other crosswise), then the rows are inserted in the order given, so their seq keeps that order.
const INSERT_MANY_SQL = `
  WITH turns AS (
    SELECT pg_advisory_xact_lock(hashtextextended('pancha.outbox:' || k, 0)) FROM (SELECT DISTINCT unnest($2::text[]) AS k ORDER BY 1) AS keys
  )
  INSERT INTO outbox (id, topic, message_key, ordering_key, payload, headers, status, attempts, next_attempt_at, created_at)
  SELECT m.id, m.topic, m.message_key, m.ordering_key, m.payload, COALESCE(m.headers, $3::jsonb), 'pending', 0, now(), now()
  FROM jsonb_to_recordset($1::jsonb) AS m(ord int, id uuid, topic text, message_key text, ordering_key text, payload jsonb, headers jsonb)
  CROSS JOIN (SELECT count(*) FROM turns) AS taken
  ORDER BY m.ord
  ON CONFLICT (topic, message_key) DO NOTHING`;

@Injectable()
export class OutboxService {
  private readonly watchedDataSources = new WeakSet<DataSource>();
  private readonly awaitingCommit = new WeakSet<QueryRunner>();
  private readonly commitSubscriber: EntitySubscriberInterface = {
    afterTransactionCommit: (event) => {
      // A savepoint release also fires this; only the outermost COMMIT makes the row visible to the relay.
      if (!event.queryRunner.isTransactionActive && this.awaitingCommit.delete(event.queryRunner)) this.relay.poke();
    },
    afterTransactionRollback: (event) => {
      if (!event.queryRunner.isTransactionActive) this.awaitingCommit.delete(event.queryRunner);
    },
  };

  constructor(
    private readonly relay: OutboxRelay,
    private readonly store: OutboxStore,
  ) {}

  /**
   * Records a message to deliver once the caller's transaction commits, and never before: pass the
   * EntityManager of the transaction that makes the state change. Captures the active trace context so the
   * delivery joins the caller's trace. Does not wait for any downstream.
   */
  async enqueue(manager: EntityManager, input: EnqueueInput): Promise<void> {
    assertName('topic', input.topic);
    assertName('messageKey', input.messageKey);
    if (input.orderingKey !== undefined) assertName('orderingKey', input.orderingKey);
    const runner = manager.queryRunner;
    if (!runner?.isTransactionActive) {
      throw new Error(
        'OutboxService.enqueue must be called inside the producer transaction: pass the EntityManager given by ' +
          'dataSource.transaction(...) (or queryRunner.manager after startTransaction)',
      );
    }
    const headers = input.headers ?? injectTraceHeaders();
    const values = [randomUUID(), input.topic, input.messageKey, JSON.stringify(input.payload ?? null), JSON.stringify(headers)];
    if (input.orderingKey === undefined) await manager.query(INSERT_SQL, values);
    else await manager.query(INSERT_ORDERED_SQL, [...values, input.orderingKey]);
    this.pokeAfterCommit(runner);
  }

  /**
   * Several messages in one statement (what `enqueue` does for each, in the order given), for a producer that
   * commits many at once: a workflow round's events, a batch of results.
   */
  async enqueueAll(manager: EntityManager, inputs: readonly EnqueueInput[]): Promise<void> {
    if (inputs.length === 0) return;
    if (inputs.length === 1) return this.enqueue(manager, inputs[0]);
    for (const input of inputs) {
      assertName('topic', input.topic);
      assertName('messageKey', input.messageKey);
      if (input.orderingKey !== undefined) assertName('orderingKey', input.orderingKey);
    }
    const runner = manager.queryRunner;
    if (!runner?.isTransactionActive) {
      throw new Error('OutboxService.enqueueAll must be called inside the producer transaction (see enqueue)');
    }
    const rows = inputs.map((input, ord) => ({
      ord,
      id: randomUUID(),
      topic: input.topic,
      message_key: input.messageKey,
      ordering_key: input.orderingKey ?? null,
      payload: input.payload ?? null,
      headers: input.headers ?? null,
    }));
    const keys = [...new Set(inputs.map((i) => i.orderingKey).filter((k): k is string => k !== undefined))];
    await manager.query(INSERT_MANY_SQL, [JSON.stringify(rows), keys, JSON.stringify(injectTraceHeaders())]);
    this.pokeAfterCommit(runner);
  }

  async stats(): Promise<OutboxStats> {
    return buildOutboxStats(await this.store.countByTopicAndStatus());
  }

  /** Delivery starts right after COMMIT instead of at the next poll; a missed poke only costs one poll interval. */
  private pokeAfterCommit(runner: QueryRunner): void {
    const dataSource = runner.dataSource;
    if (!this.watchedDataSources.has(dataSource)) {
      dataSource.subscribers.push(this.commitSubscriber);
      this.watchedDataSources.add(dataSource);
    }
    this.awaitingCommit.add(runner);
  }
}

function assertName(field: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw new Error(`OutboxService.enqueue: ${field} must be a non-empty string of at most ${MAX_NAME_LENGTH} characters`);
  }
}
