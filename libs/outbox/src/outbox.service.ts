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
// $p: the rows (jsonb), $p+1: the ordering keys, $p+2: the default headers. `owners` (a subquery of text) keeps
// only the rows whose owner it returns, and those with none.
const turnsCte = (p: number) => `outbox_turns AS (
    SELECT pg_advisory_xact_lock(hashtextextended('pancha.outbox:' || k, 0)) FROM (SELECT DISTINCT unnest($${p + 1}::text[]) AS k ORDER BY 1) AS keys
  )`;
const insertManySql = (p: number, owners?: string) => `
  INSERT INTO outbox (id, topic, message_key, ordering_key, payload, headers, status, attempts, next_attempt_at, created_at)
  SELECT m.id, m.topic, m.message_key, m.ordering_key, m.payload, COALESCE(m.headers, $${p + 2}::jsonb), 'pending', 0, now(), now()
  FROM jsonb_to_recordset($${p}::jsonb) AS m(ord int, id uuid, topic text, message_key text, ordering_key text, payload jsonb, headers jsonb, owner text)
  CROSS JOIN (SELECT count(*) FROM outbox_turns) AS taken
  ${owners ? `WHERE m.owner IS NULL OR m.owner IN (${owners})` : ''}
  ORDER BY m.ord
  ON CONFLICT (topic, message_key) DO NOTHING`;
const INSERT_MANY_SQL = `WITH ${turnsCte(1)} ${insertManySql(1)}`;

/** A message that belongs to a row the same statement may or may not store (see OutboxService.inStatement). */
export interface OwnedEnqueueInput extends EnqueueInput {
  /** Enqueued only if the statement's `owners` subquery returns this value. */
  owner?: string;
}

/** CTEs to put in the caller's own statement, their parameters, and what to call once it has committed. */
export interface OutboxStatementPart {
  /** `outbox_turns AS (…), outbox_enqueued AS (INSERT …)`: append after the caller's own CTEs, comma-separated. */
  ctes: string;
  params: unknown[];
  /** Call after the statement's transaction committed: the relay claims the rows now rather than at its next poll. */
  committed(): void;
}

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
    assertInput(input);
    const runner = producerRunner(manager, 'enqueue');
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
    inputs.forEach(assertInput);
    const runner = producerRunner(manager, 'enqueueAll');
    await manager.query(INSERT_MANY_SQL, manyParams(inputs));
    this.pokeAfterCommit(runner);
  }

  /**
   * The messages as part of one statement of the caller's, for a producer whose whole write is one statement
   * (no BEGIN and COMMIT around it): `WITH mine AS (INSERT … RETURNING id), ${part.ctes} SELECT … FROM mine`.
   * PostgreSQL runs every data-modifying CTE to completion, so the messages commit exactly when the caller's rows
   * do. `owners`, a subquery of text over the caller's CTEs, keeps a message with an `owner` only if it returns
   * that owner (the caller's row was stored, not skipped by ON CONFLICT). Parameters are numbered from firstParam.
   */
  inStatement(inputs: readonly OwnedEnqueueInput[], firstParam: number, owners?: string): OutboxStatementPart {
    inputs.forEach(assertInput);
    return {
      ctes: `${turnsCte(firstParam)}, outbox_enqueued AS (${insertManySql(firstParam, owners)})`,
      params: manyParams(inputs),
      committed: () => this.relay.poke(),
    };
  }

  /**
   * inStatement for a statement inside the caller's transaction (`manager`'s, as for enqueueAll): the relay is poked
   * when that transaction commits, so the part's `committed` has nothing left to do.
   */
  inTransactionStatement(manager: EntityManager, inputs: readonly OwnedEnqueueInput[], firstParam: number, owners?: string): OutboxStatementPart {
    const runner = producerRunner(manager, 'inTransactionStatement');
    const part = this.inStatement(inputs, firstParam, owners);
    this.pokeAfterCommit(runner);
    return { ...part, committed: () => undefined };
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

/** The query runner of the producer's open transaction: a message must commit with the state change, never alone. */
function producerRunner(manager: EntityManager, method: string): QueryRunner {
  const runner = manager.queryRunner;
  if (!runner?.isTransactionActive) {
    throw new Error(
      `OutboxService.${method} must be called inside the producer transaction: pass the EntityManager given by ` +
        'dataSource.transaction(...) (or queryRunner.manager after startTransaction)',
    );
  }
  return runner;
}

/** INSERT_MANY_SQL's three parameters for `inputs`. */
function manyParams(inputs: readonly OwnedEnqueueInput[]): unknown[] {
  const rows = inputs.map((input, ord) => ({
    ord,
    id: randomUUID(),
    topic: input.topic,
    message_key: input.messageKey,
    ordering_key: input.orderingKey ?? null,
    payload: input.payload ?? null,
    headers: input.headers ?? null,
    owner: input.owner ?? null,
  }));
  const keys = [...new Set(inputs.map((i) => i.orderingKey).filter((k): k is string => k !== undefined))];
  return [JSON.stringify(rows), keys, JSON.stringify(injectTraceHeaders())];
}

function assertInput(input: EnqueueInput): void {
  assertName('topic', input.topic);
  assertName('messageKey', input.messageKey);
  if (input.orderingKey !== undefined) assertName('orderingKey', input.orderingKey);
}

function assertName(field: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw new Error(`OutboxService.enqueue: ${field} must be a non-empty string of at most ${MAX_NAME_LENGTH} characters`);
  }
}
