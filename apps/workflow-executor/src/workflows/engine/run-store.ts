import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { ChildRunView, RunRecord, RunState, SignalRecord, StepError, StepRecord } from '@pancha/workflow-engine';
import type { RunStatus } from '@pancha/workflow-manifest';
import { DataSource, type EntityManager } from 'typeorm';

/** A run as the worker holds it: the lease token fences every write (a worker whose lease expired writes nothing). */
export interface Lease {
  runId: string;
  token: string;
  /** wake_version when claimed: a signal, cancel or child end since then bumps it, so release cannot lose the poke. */
  wakeVersion: number;
  /**
   * performance.now() when the request that took the lease was sent: it holds at least until then plus the lease's
   * length (the database counts from later), which is all the worker may assume without a renewal.
   */
  takenAt?: number;
}

export class LeaseLostError extends Error {
  constructor(runId: string) {
    super(`lease on run ${runId} lost`);
  }
}

/** What one round of a run writes to its own rows (RunStore.writeRounds). */
export interface RoundRecord {
  lease: Lease;
  run: RunRecord;
  /** Lets the run go with this round: due again at `nextWakeAt` (undefined = only when poked), or at once if poked. */
  release?: { nextWakeAt?: Date; now: Date };
  /** Other runs whose rows the round's later statements change (a parent it pokes, children it cancels): locked in order with the group's. */
  locks?: string[];
  steps: StepRecord[];
  started: { path: string; attempt: number; idempotency_key: string }[];
  finished: { path: string; attempt: number; status: 'completed' | 'failed' | 'cancelled'; completed_at: Date; error?: StepError }[];
  worker: string;
  now: Date;
}

/** A new run row (Core's start, a sub-workflow, a fallback). */
export interface NewRun {
  run_id: string;
  workflow: string;
  version: string;
  inputs: Record<string, unknown>;
  user_id?: string | null;
  product?: string | null;
  actor?: string | null;
  trace_id: string;
  traceparent?: string | null;
  pins: Record<string, string>;
  parent_run_id?: string | null;
  parent_step_path?: string | null;
  root_run_id: string;
  relation?: string | null;
  deadline_at?: Date | null;
  /** What its start was warned of (Core's 202 warnings: a deprecated version, migrated inputs). */
  warnings?: string[] | null;
  /** A run that cannot start (inputs invalid, workflow unknown) is inserted already failed. */
  status?: RunStatus;
  error?: StepError | null;
  /** Inserted already leased by this worker (it runs it at once from the state in hand: RunWorker.adopt). */
  lease?: { owner: string; token: string; ms: number };
  /** When it was created, if not the `now` of the insert (starts inserted together keep their own times). */
  at?: Date;
}

interface RunRow {
  run_id: string;
  workflow: string;
  version: string;
  status: RunStatus;
  inputs: Record<string, unknown>;
  output: unknown;
  error: StepError | null;
  user_id: string | null;
  actor: string | null;
  warnings?: string[] | null;
  product: string | null;
  trace_id: string;
  traceparent: string | null;
  pins: Record<string, string>;
  parent_run_id: string | null;
  root_run_id: string;
  fallback_run_id: string | null;
  cancel_requested: boolean;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  deadline_at: Date | null;
  retry_generation: number;
}

export interface LoadedRun {
  state: RunState;
  traceparent?: string;
  parentRunId?: string;
  rootRunId: string;
}

const RUN_COLUMNS = `run_id, workflow, version, status, inputs, output, error, user_id, product, actor, warnings, trace_id, traceparent, pins,
  parent_run_id, root_run_id, fallback_run_id, cancel_requested, created_at, started_at, completed_at, deadline_at, retry_generation`;

const SIGNAL_COLUMNS = 'id, name, payload, received_at, consumed_by';
const CHILD_COLUMNS = 'run_id, status, output, error';

/**
 * A run's whole state in one statement (it was four): the run row, its steps in seq order, its signals in arrival
 * order and its children, the last three as JSON arrays (timestamps arrive as text: toStepRecord and
 * toSignalRecord make them Dates again).
 */
const LOAD_SQL = `
  SELECT ${RUN_COLUMNS},
    (SELECT coalesce(json_agg(s ORDER BY s.seq), '[]'::json) FROM workflow_steps s WHERE s.run_id = r.run_id) AS steps_json,
    (SELECT coalesce(json_agg(g ORDER BY g.received_at, g.id), '[]'::json)
     FROM (SELECT ${SIGNAL_COLUMNS} FROM workflow_signals WHERE run_id = r.run_id) g) AS signals_json,
    (SELECT coalesce(json_agg(c), '[]'::json)
     FROM (SELECT ${CHILD_COLUMNS} FROM workflow_runs WHERE parent_run_id = r.run_id) c) AS children_json
  FROM workflow_runs r WHERE r.run_id = $1`;

const INSERT_RUNS_SQL = `
  INSERT INTO workflow_runs (run_id, workflow, version, status, inputs, user_id, product, actor, warnings, trace_id, traceparent, pins,
    parent_run_id, parent_step_path, root_run_id, relation, deadline_at, error, completed_at, next_wake_at, created_at,
    lease_owner, lease_token, lease_until)
  SELECT r.run_id, r.workflow, r.version, r.status, r.inputs, r.user_id, r.product, r.actor, r.warnings, r.trace_id, r.traceparent,
    coalesce(r.pins, '{}'::jsonb), r.parent_run_id, r.parent_step_path, r.root_run_id, r.relation, r.deadline_at, r.error,
    CASE WHEN r.status = 'pending' THEN NULL ELSE coalesce(r.at, $2::timestamptz) END,
    CASE WHEN r.status = 'pending' THEN coalesce(r.at, $2::timestamptz) ELSE NULL END,
    coalesce(r.at, $2::timestamptz),
    r.lease_owner, r.lease_token, CASE WHEN r.lease_token IS NULL THEN NULL ELSE now() + (r.lease_ms * interval '1 millisecond') END
  FROM jsonb_to_recordset($1::jsonb) AS r(run_id uuid, workflow text, version text, status text, inputs jsonb, user_id text,
    product text, actor text, warnings jsonb, trace_id text, traceparent text, pins jsonb, parent_run_id uuid, parent_step_path text,
    root_run_id uuid, relation text, deadline_at timestamptz, error jsonb, lease_owner text, lease_token uuid, lease_ms int, at timestamptz)
  ON CONFLICT (run_id) DO NOTHING
  RETURNING run_id`;

// The rounds of a group of runs in one statement: each run row (fence, state, release) and, only for the runs whose
// fence passed, their step records, the attempts they started (older running ones marked interrupted) and the
// attempts they finished. Fewer round trips is most of what stands between a step's result and its successor's
// start, and one statement per group instead of one per round is most of what the rounds cost PostgreSQL.
// `held` first locks, in run_id order, the group's runs whose lease is still theirs ($1's tokens) and the other runs
// the rounds' later statements change ($6: a parent to poke, children to cancel). Lease renewal locks the rows it
// holds in run_id order too (RunStore.renew), so the two never wait on each other crosswise; a run taken over by
// another worker is not locked. $5 is every id of the two, so the lock reads only those rows.
// Planned at each execution (the connection's default): a generic plan made on small tables joined each run
// through a scan of a whole index (measured), and planning once per group costs little.
const ROUNDS_SQL = `
  WITH r AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(run_id uuid, token uuid, status text, output jsonb, error jsonb,
      started_at timestamptz, completed_at timestamptz, fallback_run_id uuid, release boolean, wake_version int,
      next_wake_at timestamptz, released_at timestamptz, retry_generation int)
  ), held AS MATERIALIZED (
    SELECT w.run_id FROM workflow_runs w
    WHERE w.run_id = ANY($5::uuid[])
      AND (w.run_id = ANY($6::uuid[])
           OR EXISTS (SELECT 1 FROM r WHERE r.run_id = w.run_id AND r.token = w.lease_token AND w.lease_until >= now()))
    ORDER BY w.run_id FOR NO KEY UPDATE
  ), run AS (
    -- A run an operator retried since its holder loaded it (retry_generation moved: only an ended run can be retried,
    -- and its holder may still hold it while it waits for the aborts of its last attempts) is stale for the round:
    -- nothing of the holder's older view is written over the retry's (the run's state, its steps, attempts started);
    -- only the attempts the round closes, and the lease let go when it releases (the run stays due: the retry set
    -- next_wake_at). Decided in the SET, on the row as it is once locked (a retry committed while this statement waited
    -- for the row is seen: PostgreSQL evaluates SET, and re-checks WHERE, on the latest version), and not in the WHERE,
    -- since the stale round still writes its attempts and its release.
    UPDATE workflow_runs w SET
      status = CASE WHEN w.retry_generation = r.retry_generation THEN r.status ELSE w.status END,
      output = CASE WHEN w.retry_generation = r.retry_generation THEN r.output ELSE w.output END,
      error = CASE WHEN w.retry_generation = r.retry_generation THEN r.error ELSE w.error END,
      started_at = CASE WHEN w.retry_generation = r.retry_generation THEN r.started_at ELSE w.started_at END,
      completed_at = CASE WHEN w.retry_generation = r.retry_generation THEN r.completed_at ELSE w.completed_at END,
      fallback_run_id = CASE WHEN w.retry_generation = r.retry_generation THEN r.fallback_run_id ELSE w.fallback_run_id END,
      updated_at = CASE WHEN w.retry_generation = r.retry_generation THEN now() ELSE w.updated_at END,
      lease_owner = CASE WHEN r.release THEN NULL ELSE w.lease_owner END,
      lease_token = CASE WHEN r.release THEN NULL ELSE w.lease_token END,
      lease_until = CASE WHEN r.release THEN NULL ELSE w.lease_until END,
      next_wake_at = CASE WHEN NOT r.release OR w.retry_generation <> r.retry_generation THEN w.next_wake_at
                          WHEN r.status NOT IN ('pending', 'running') THEN NULL
                          WHEN w.wake_version <> r.wake_version THEN r.released_at
                          ELSE r.next_wake_at END
    FROM r
    WHERE w.run_id = r.run_id AND w.run_id IN (SELECT run_id FROM held) AND w.lease_token = r.token AND w.lease_until >= now()
    RETURNING w.run_id, w.retry_generation <> r.retry_generation AS stale
  ), current AS (
    SELECT run_id FROM run WHERE NOT stale
  ), steps AS (
    INSERT INTO workflow_steps (run_id, path, step_id, kind, status, attempts, interruptions, attempt_base, input, output, error,
      handled, decision, child_run_id, fallback_run_id, wake_at, started_at, completed_at)
    SELECT s.run_id, s.path, s.step_id, s.kind, s.status, s.attempts, s.interruptions, s.attempt_base, s.input, s.output, s.error,
      s.handled, s.decision, s.child_run_id, s.fallback_run_id, s.wake_at, s.started_at, s.completed_at
    FROM jsonb_to_recordset($2::jsonb) AS s(run_id uuid, path text, step_id text, kind text, status text, attempts int,
      interruptions int, attempt_base int, input jsonb, output jsonb, error jsonb, handled boolean, decision jsonb,
      child_run_id uuid, fallback_run_id uuid, wake_at timestamptz, started_at timestamptz, completed_at timestamptz)
    WHERE s.run_id IN (SELECT run_id FROM current)
    ON CONFLICT (run_id, path) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
      interruptions = excluded.interruptions, attempt_base = excluded.attempt_base, input = excluded.input, output = excluded.output,
      error = excluded.error, handled = excluded.handled, decision = excluded.decision, child_run_id = excluded.child_run_id,
      fallback_run_id = excluded.fallback_run_id, wake_at = excluded.wake_at, started_at = excluded.started_at,
      completed_at = excluded.completed_at
    RETURNING 1
  ), started AS (
    SELECT * FROM jsonb_to_recordset($3::jsonb) AS a(run_id uuid, path text, attempt int, idempotency_key text, worker text,
      at timestamptz, status text, completed_at timestamptz, error jsonb)
    WHERE a.run_id IN (SELECT run_id FROM current)
  ), finishing AS (
    SELECT * FROM jsonb_to_recordset($4::jsonb) AS f(run_id uuid, path text, attempt int, status text, completed_at timestamptz, error jsonb)
    WHERE f.run_id IN (SELECT run_id FROM run)
  ), interrupted AS (
    UPDATE workflow_step_attempts w SET status = 'interrupted', completed_at = a.at
    FROM started a
    WHERE w.run_id = a.run_id AND w.path = a.path AND w.status = 'running' AND w.attempt < a.attempt
      AND NOT EXISTS (SELECT 1 FROM finishing f WHERE f.run_id = w.run_id AND f.path = w.path AND f.attempt = w.attempt)
    RETURNING 1
  ), inserted AS (
    -- An attempt started and finished in this one round (a local action) is inserted finished (its row in $3 carries
    -- the finish: writeRounds pairs them): the UPDATE of 'finished' cannot see a row this statement inserts.
    INSERT INTO workflow_step_attempts (run_id, path, attempt, status, idempotency_key, worker, started_at, completed_at, error)
    SELECT a.run_id, a.path, a.attempt, coalesce(a.status, 'running'), a.idempotency_key, a.worker, a.at, a.completed_at, a.error
    FROM started a
    ON CONFLICT (run_id, path, attempt) DO NOTHING
    RETURNING 1
  ), finished AS (
    UPDATE workflow_step_attempts w SET status = f.status, completed_at = f.completed_at, error = f.error
    FROM finishing f
    WHERE w.run_id = f.run_id AND w.path = f.path AND w.attempt = f.attempt AND w.status = 'running'
    RETURNING 1
  )
  SELECT run_id, stale FROM run`;

/** Pokes a run: it is due now, and a worker holding it will see wake_version move. */
const POKE_SQL = `
  UPDATE workflow_runs SET next_wake_at = LEAST(coalesce(next_wake_at, $2::timestamptz), $2::timestamptz),
    wake_version = wake_version + 1
  WHERE run_id = ANY($1::uuid[]) AND status IN ('pending', 'running')`;

const CANCEL_SQL = `
  WITH cancelled AS (
    UPDATE workflow_runs SET cancel_requested = true, next_wake_at = LEAST(coalesce(next_wake_at, $2::timestamptz), $2::timestamptz),
      wake_version = wake_version + 1
    WHERE run_id = ANY($1::uuid[]) AND status IN ('pending', 'running')
    RETURNING run_id
  ) SELECT run_id FROM cancelled`;

/**
 * The workflow tables, in single SQL statements (no ORM query building on the hot path). Everything a round
 * of the interpreter decided is written in one transaction, fenced by the run's lease token.
 */
@Injectable()
export class RunStore {
  constructor(@InjectDataSource() readonly dataSource: DataSource) {}

  /** Inserts the runs that do not exist yet (one statement); `now` is each one's creation time unless it has its own `at`. */
  async insertRuns(manager: EntityManager, runs: readonly NewRun[], now: Date): Promise<string[]> {
    if (runs.length === 0) return [];
    const rows = runs.map(({ lease, at, ...r }) => ({
      ...r,
      at: at?.toISOString() ?? null,
      status: r.status ?? 'pending',
      deadline_at: r.deadline_at?.toISOString() ?? null,
      lease_owner: lease?.owner ?? null,
      lease_token: lease?.token ?? null,
      lease_ms: lease?.ms ?? null,
    }));
    const inserted: { run_id: string }[] = await manager.query(INSERT_RUNS_SQL, [JSON.stringify(rows), now.toISOString()]);
    return inserted.map((r) => r.run_id);
  }

  /**
   * Leases up to `limit` runs that are due, for `leaseMs` of database time; never one of `held` (runs this process
   * still drives: a lease of its that lapsed is its to renew, not to claim again beside the attempts it has out).
   */
  async claim(owner: string, limit: number, leaseMs: number, now: Date, held: readonly string[] = []): Promise<Lease[]> {
    const takenAt = performance.now();
    const rows: { run_id: string; lease_token: string; wake_version: number }[] = await this.dataSource.query(
      // (UPDATE … RETURNING inside a CTE: TypeORM hands back the rows of a SELECT as they are.)
      `WITH claimed AS (
         UPDATE workflow_runs SET lease_owner = $1, lease_token = gen_random_uuid(),
           lease_until = now() + ($2::int * interval '1 millisecond')
         WHERE run_id IN (
           SELECT run_id FROM workflow_runs
           WHERE status IN ('pending', 'running') AND next_wake_at IS NOT NULL AND next_wake_at <= $3::timestamptz
             AND (lease_until IS NULL OR lease_until < now()) AND NOT (run_id = ANY($5::uuid[]))
           ORDER BY next_wake_at
           FOR UPDATE SKIP LOCKED
           LIMIT $4)
         RETURNING run_id, lease_token, wake_version
       ) SELECT run_id, lease_token, wake_version FROM claimed`,
      [owner, leaseMs, now.toISOString(), limit, held],
    );
    return rows.map((r) => ({ runId: r.run_id, token: r.lease_token, wakeVersion: Number(r.wake_version), takenAt }));
  }

  /**
   * Extends the leases still held; returns each one's wake_version (a moved one means: look again). Missing = lost.
   * A lease that lapsed while renewals failed is still held if nobody claimed it since (a claim or a release changes
   * the token): it is extended like the others.
   */
  async renew(owner: string, leases: Lease[], leaseMs: number): Promise<Map<string, number>> {
    if (leases.length === 0) return new Map();
    const rows: { run_id: string; wake_version: number }[] = await this.dataSource.query(
      // The rows are locked in run_id order, as a group of rounds locks them (RunWorker.rounds), so the two never
      // deadlock.
      `WITH held AS (
         SELECT run_id FROM workflow_runs
         WHERE lease_owner = $1 AND lease_token = ANY($3::uuid[])
         ORDER BY run_id FOR UPDATE
       ), renewed AS (
         UPDATE workflow_runs w SET lease_until = now() + ($2::int * interval '1 millisecond')
         FROM held WHERE w.run_id = held.run_id
         RETURNING w.run_id, w.wake_version
       ) SELECT run_id, wake_version FROM renewed`,
      [owner, leaseMs, leases.map((l) => l.token)],
    );
    return new Map(rows.map((r) => [r.run_id, Number(r.wake_version)]));
  }

  /**
   * Lets the run go: due again at `nextWakeAt` (undefined = only when poked), or at once if it was poked while held.
   */
  async release(lease: Lease, nextWakeAt: Date | undefined, now: Date): Promise<void> {
    await this.dataSource.query(
      `UPDATE workflow_runs SET lease_owner = NULL, lease_token = NULL, lease_until = NULL,
         next_wake_at = CASE WHEN status NOT IN ('pending', 'running') THEN NULL
                             WHEN wake_version <> $2 THEN $4::timestamptz
                             ELSE $3::timestamptz END
       WHERE run_id = $1 AND lease_token = $5`,
      [lease.runId, lease.wakeVersion, nextWakeAt?.toISOString() ?? null, now.toISOString(), lease.token],
    );
  }

  async load(runId: string, manager: EntityManager = this.dataSource.manager): Promise<LoadedRun | undefined> {
    const [row]: (RunRow & { steps_json: StepRow[]; signals_json: SignalRow[]; children_json: ChildRow[] })[] = await manager.query(LOAD_SQL, [runId]);
    if (!row) return undefined;
    const state: RunState = {
      run: toRunRecord(row),
      steps: new Map(row.steps_json.map((s) => [s.path, toStepRecord(s)])),
      signals: row.signals_json.map(toSignalRecord),
      children: new Map(row.children_json.map((c) => [c.run_id, toChildRunView(c)])),
    };
    return { state, traceparent: row.traceparent ?? undefined, parentRunId: row.parent_run_id ?? undefined, rootRunId: row.root_run_id };
  }

  /** What others may have changed while a worker holds the run: signals, children's ends, a cancel request. */
  async refreshExternal(state: RunState): Promise<void> {
    const [signals, children, flags] = await Promise.all([
      this.loadSignals(state.run.id),
      this.loadChildren(state.run.id),
      this.dataSource.query(`SELECT cancel_requested FROM workflow_runs WHERE run_id = $1`, [state.run.id]) as Promise<{ cancel_requested: boolean }[]>,
    ]);
    const consumed = new Map(state.signals.filter((s) => s.consumed_by).map((s) => [s.id, s.consumed_by]));
    state.signals = signals.map((s) => ({ ...s, consumed_by: s.consumed_by ?? consumed.get(s.id) }));
    for (const [id, child] of children) state.children.set(id, child);
    if (flags[0]?.cancel_requested) state.run.cancel_requested = true;
  }

  /** The run row alone (a run that cannot start is failed and let go): a round with nothing else in it. */
  async writeRun(manager: EntityManager, lease: Lease, run: RunRecord, release?: { nextWakeAt?: Date; now: Date }): Promise<void> {
    const now = release?.now ?? new Date();
    const written = await this.writeRounds(manager, [{ lease, run, release, steps: [], started: [], finished: [], worker: '', now }]);
    if (!written.has(lease.runId)) throw new LeaseLostError(lease.runId);
  }

  /**
   * Everything of each round that belongs to its run, for many runs in one statement (see ROUNDS_SQL); answers the
   * runs whose lease held, as the rounds name them. A round whose lease is no longer ours wrote nothing. A round of a
   * run an operator retried since its holder loaded it (its `retry_generation` moved: the run had ended, its holder
   * was waiting for its last attempts' aborts) writes nothing over the retry: only the attempts it closes, and its
   * release; it is not among the runs answered, but added to `stale` when given. One round per run: two would be
   * written in no defined order, so they are refused (an Error, which fails the group's transaction).
   */
  async writeRounds(manager: EntityManager, rounds: readonly RoundRecord[], stale?: Set<string>): Promise<Set<string>> {
    if (rounds.length === 0) return new Set();
    if (new Set(rounds.map((r) => r.lease.runId)).size !== rounds.length) throw new Error('two rounds of one run in one statement');
    const runs = rounds.map(({ lease, run, release }) => ({
      run_id: lease.runId,
      token: lease.token,
      status: run.status,
      output: run.output ?? null,
      error: run.error ?? null,
      started_at: run.started_at ?? null,
      completed_at: run.completed_at ?? null,
      fallback_run_id: run.fallback_run_id ?? null,
      release: release !== undefined,
      wake_version: lease.wakeVersion,
      next_wake_at: release?.nextWakeAt ?? null,
      released_at: release?.now ?? null,
      retry_generation: run.retry_generation ?? 0,
    }));
    const steps = rounds.flatMap((r) => r.steps.map((step) => ({ run_id: r.lease.runId, ...stepRow(step) })));
    const started = rounds.flatMap((r) => {
      // An attempt that also finished in this round is inserted finished (pairing them in SQL joined every started
      // row with every finished one of the group: 4 of a 13 ms statement for 50 runs).
      const finish = new Map(r.finished.map((f) => [`${f.attempt}:${f.path}`, f]));
      return r.started.map((a) => {
        const f = finish.get(`${a.attempt}:${a.path}`);
        return { run_id: r.lease.runId, ...a, worker: r.worker, at: r.now, status: f?.status ?? null, completed_at: f?.completed_at ?? null, error: f?.error ?? null };
      });
    });
    const finished = rounds.flatMap((r) => r.finished.map((a) => ({ run_id: r.lease.runId, ...a, error: a.error ?? null })));
    const others = [...new Set(rounds.flatMap((r) => r.locks ?? []))];
    const rows: { run_id: string; stale: boolean }[] = await manager.query(ROUNDS_SQL, [
      JSON.stringify(runs),
      JSON.stringify(steps),
      JSON.stringify(started),
      JSON.stringify(finished),
      [...runs.map((r) => r.run_id), ...others],
      others,
    ]);
    // PostgreSQL answers uuids in lower case; a round may name its run otherwise.
    const written = new Set(rows.filter((r) => !r.stale).map((r) => r.run_id));
    const outdated = new Set(rows.filter((r) => r.stale).map((r) => r.run_id));
    for (const id of runs.map((r) => r.run_id)) if (outdated.has(id.toLowerCase())) stale?.add(id);
    return new Set(runs.map((r) => r.run_id).filter((id) => written.has(id.toLowerCase())));
  }

  async consumeSignals(manager: EntityManager, signals: SignalRecord[]): Promise<void> {
    if (signals.length === 0) return;
    await manager.query(
      `UPDATE workflow_signals s SET consumed_by = c.consumed_by
       FROM jsonb_to_recordset($1::jsonb) AS c(id uuid, consumed_by text) WHERE s.id = c.id AND s.consumed_by IS NULL`,
      [JSON.stringify(signals.map((s) => ({ id: s.id, consumed_by: s.consumed_by })))],
    );
  }

  async poke(manager: EntityManager, runIds: string[], now: Date): Promise<void> {
    if (runIds.length === 0) return;
    await manager.query(POKE_SQL, [runIds, now.toISOString()]);
  }

  async requestCancel(manager: EntityManager, runIds: string[], now: Date): Promise<string[]> {
    if (runIds.length === 0) return [];
    const rows: { run_id: string }[] = await manager.query(CANCEL_SQL, [runIds, now.toISOString()]);
    return rows.map((r) => r.run_id);
  }

  async insertSignal(
    manager: EntityManager,
    signal: { id: string; run_id: string; name: string; payload: unknown; sender: string },
    now: Date,
  ): Promise<boolean> {
    // TypeORM answers an INSERT … RETURNING with its rows.
    const inserted: { id: string }[] = await manager.query(
      `INSERT INTO workflow_signals (id, run_id, name, payload, sender, received_at) VALUES ($1, $2, $3, $4::jsonb, $5, $6)
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [signal.id, signal.run_id, signal.name, json(signal.payload), signal.sender, now.toISOString()],
    );
    if (inserted.length === 0) return false;
    await this.poke(manager, [signal.run_id], now);
    return true;
  }

  private async loadSignals(runId: string): Promise<SignalRecord[]> {
    const rows: SignalRow[] = await this.dataSource.query(`SELECT ${SIGNAL_COLUMNS} FROM workflow_signals WHERE run_id = $1 ORDER BY received_at, id`, [runId]);
    return rows.map(toSignalRecord);
  }

  private async loadChildren(runId: string): Promise<Map<string, ChildRunView>> {
    const rows: ChildRow[] = await this.dataSource.query(`SELECT ${CHILD_COLUMNS} FROM workflow_runs WHERE parent_run_id = $1`, [runId]);
    return new Map(rows.map((r) => [r.run_id, toChildRunView(r)]));
  }
}

/** The state of a run just inserted, as the worker would load it. */
export function loadedFromNew(run: NewRun, now: Date): LoadedRun {
  return {
    state: {
      run: {
        id: run.run_id,
        workflow: run.workflow,
        version: run.version,
        status: 'pending',
        inputs: run.inputs,
        user_id: run.user_id ?? undefined,
        product: run.product ?? undefined,
        actor: run.actor ?? undefined,
        ...(run.warnings ? { warnings: run.warnings } : {}),
        trace_id: run.trace_id,
        pins: run.pins,
        cancel_requested: false,
        created_at: now,
        deadline_at: run.deadline_at ?? undefined,
      },
      steps: new Map(),
      signals: [],
      children: new Map(),
    },
    traceparent: run.traceparent ?? undefined,
    rootRunId: run.root_run_id,
  };
}

interface StepRow {
  path: string;
  step_id: string;
  kind: StepRecord['kind'];
  status: StepRecord['status'];
  attempts: number;
  interruptions: number;
  attempt_base: number;
  input: unknown;
  output: unknown;
  error: StepError | null;
  handled: boolean;
  decision: StepRecord['decision'] | null;
  child_run_id: string | null;
  fallback_run_id: string | null;
  wake_at: Date | string | null;
  started_at: Date | string | null;
  completed_at: Date | string | null;
}

function toRunRecord(row: RunRow): RunRecord {
  return {
    id: row.run_id,
    workflow: row.workflow,
    version: row.version,
    status: row.status,
    inputs: row.inputs,
    output: row.output ?? undefined,
    error: row.error ?? undefined,
    user_id: row.user_id ?? undefined,
    product: row.product ?? undefined,
    actor: row.actor ?? undefined,
    ...(row.warnings ? { warnings: row.warnings } : {}),
    trace_id: row.trace_id,
    pins: row.pins ?? {},
    cancel_requested: row.cancel_requested,
    created_at: row.created_at,
    started_at: row.started_at ?? undefined,
    completed_at: row.completed_at ?? undefined,
    deadline_at: row.deadline_at ?? undefined,
    fallback_run_id: row.fallback_run_id ?? undefined,
    // Part of the idempotency keys of its attempts (idempotencyKey); absent for a run never retried.
    ...(row.retry_generation > 0 ? { retry_generation: row.retry_generation } : {}),
  };
}

interface SignalRow {
  id: string;
  name: string;
  payload: unknown;
  received_at: Date | string;
  consumed_by: string | null;
}

interface ChildRow {
  run_id: string;
  status: RunStatus;
  output: unknown;
  error: StepError | null;
}

/** A column of timestamptz as a Date, whether it came as a column (a Date) or inside a JSON array (text). */
function dateOf(value: Date | string | null): Date | undefined {
  return value === null ? undefined : value instanceof Date ? value : new Date(value);
}

function toSignalRecord(row: SignalRow): SignalRecord {
  return { id: row.id, name: row.name, payload: row.payload, received_at: dateOf(row.received_at) as Date, consumed_by: row.consumed_by ?? undefined };
}

function toChildRunView(row: ChildRow): ChildRunView {
  return { id: row.run_id, status: row.status, output: row.output ?? undefined, error: row.error ?? undefined };
}

function toStepRecord(row: StepRow): StepRecord {
  return {
    path: row.path,
    step_id: row.step_id,
    kind: row.kind,
    status: row.status,
    attempts: row.attempts,
    interruptions: row.interruptions,
    attempt_base: row.attempt_base,
    input: row.input ?? undefined,
    output: row.output ?? undefined,
    error: row.error ?? undefined,
    handled: row.handled,
    decision: row.decision ?? undefined,
    child_run_id: row.child_run_id ?? undefined,
    fallback_run_id: row.fallback_run_id ?? undefined,
    wake_at: dateOf(row.wake_at),
    started_at: dateOf(row.started_at),
    completed_at: dateOf(row.completed_at),
  };
}

function stepRow(rec: StepRecord): Record<string, unknown> {
  return {
    path: rec.path,
    step_id: rec.step_id,
    kind: rec.kind,
    status: rec.status,
    attempts: rec.attempts,
    interruptions: rec.interruptions,
    attempt_base: rec.attempt_base,
    input: rec.input ?? null,
    output: rec.output ?? null,
    error: rec.error ?? null,
    handled: rec.handled,
    decision: rec.decision ?? null,
    child_run_id: rec.child_run_id ?? null,
    fallback_run_id: rec.fallback_run_id ?? null,
    wake_at: rec.wake_at?.toISOString() ?? null,
    started_at: rec.started_at?.toISOString() ?? null,
    completed_at: rec.completed_at?.toISOString() ?? null,
  };
}

function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}
