import type { Pool, PoolClient } from 'pg';
import type { DataSource } from 'typeorm';

/**
 * The setting of a GenericPlanConnection: a prepared statement is planned once, at its first execution, and that plan
 * is kept (PreparingClient's connections plan every execution instead: see PLAN_CACHE_OPTION).
 */
export const GENERIC_PLAN_SQL = 'SET plan_cache_mode = force_generic_plan';

/**
 * One pooled connection kept by a serial writer (a GroupCommit's commit) whose statement is planned once per
 * connection instead of at every execution.
 *
 * Only for statements whose plan cannot depend on the data: INSERTs fed from `jsonb_to_recordset`/`unnest` of their
 * parameters, `ON CONFLICT` on a unique index, CTEs over those rows. Their parameters are opaque to the planner, so a
 * custom plan is the same plan made again: for Core's accept of one task, 0.20–0.29 ms of planning against 0.10 ms
 * of execution (EXPLAIN ANALYZE on PostgreSQL 15), paid per group, which at moderate rates is per task. A statement
 * that reads a table by a predicate must not use it: its generic plan, made while the table was small, would be kept
 * as the table grows wherever nothing analyses it (the outbox settle did that, at 100–500 ms an execution).
 *
 * The connection is taken from the data source's pool once and held; any error gives it back destroyed (it may be
 * broken, and a connection set to generic plans must never serve anyone else), and the next query takes another.
 * `close()` destroys it too, after the statements running on it: call it before the data source is destroyed (queries
 * after it go through the pool). The connection is one of the pool's for as long as it is held.
 * Queries on it run one after another (one connection): it is for a writer that has one statement in flight.
 */
export class GenericPlanConnection {
  /** The connection held (or being taken); cleared when it is given back, so the next query takes another. */
  private held?: Promise<Held>;
  private closed = false;
  /** Statements sent on the held connection and not yet answered. */
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly dataSource: DataSource) {}

  async query<T>(text: string, params: readonly unknown[]): Promise<T[]> {
    // Closed (the app is shutting down): a statement that starts now goes through the pool, planned as usual.
    if (this.closed) return (await this.dataSource.query(text, params as unknown[])) as T[];
    const held = await (this.held ??= this.connect());
    // Given back while this call waited for it (closed, or an error on it): the pool, or another connection.
    if (held.released) return this.query(text, params);
    const running = held.client.query(text, params as unknown[]);
    this.running.add(running);
    try {
      return (await running).rows as T[];
    } catch (error) {
      this.discard(held, error);
      throw error;
    } finally {
      this.running.delete(running);
    }
  }

  /**
   * Gives the connection back to the pool destroyed (its session setting leaves with it), once the statements already
   * sent on it have finished: destroying it under one would cut a group that may have committed.
   */
  async close(): Promise<void> {
    this.closed = true;
    const held = await this.held?.catch(() => undefined);
    await Promise.allSettled([...this.running]);
    if (held) this.discard(held, true);
  }

  private async connect(): Promise<Held> {
    const pool = (this.dataSource.driver as unknown as { master: Pool }).master;
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      this.held = undefined;
      throw error;
    }
    const held: Held = { client, released: false };
    // A checked-out client has no listener of the pool's: the server closing it while it waits between groups would
    // be an unhandled 'error' event. It is given back destroyed instead, and the next query takes another.
    client.on('error', (error: Error) => this.discard(held, error));
    try {
      await client.query(GENERIC_PLAN_SQL);
    } catch (error) {
      this.discard(held, error);
      throw error;
    }
    return held;
  }

  /**
   * Gives `held` back to the pool destroyed, once. Only the connection held now can be given back for the first time
   * (another is taken only after this one was), so clearing `held` never drops a newer connection.
   */
  private discard(held: Held, error: unknown): void {
    if (held.released) return;
    held.released = true;
    this.held = undefined;
    held.client.release(error instanceof Error ? error : true);
  }
}

interface Held {
  client: PoolClient;
  released: boolean;
}
