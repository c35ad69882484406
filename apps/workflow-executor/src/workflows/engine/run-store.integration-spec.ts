// A run's state as the worker loads it after a claim (one statement): steps in seq order with their times as Dates,
// signals in arrival order, child runs, and nothing for a run that is not there. A group's rounds in one statement:
// each run fenced on its own lease, steps and attempts written only for the runs that held.
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { executorTestDatabase } from '../../testing/executor-database';
import type { RunRecord, StepRecord } from '@pancha/workflow-engine';
import { type Lease, type RoundRecord, RunStore } from './run-store';

jest.setTimeout(60_000);

describe('RunStore.load (real PostgreSQL)', () => {
  let close: (() => Promise<void>) | undefined;
  let dataSource: DataSource;
  let store: RunStore;

  beforeAll(async () => {
    ({ dataSource, close } = await executorTestDatabase('executor_run_load'));
    store = new RunStore(dataSource);
  });

  afterAll(async () => {
    await close?.();
  });

  async function insertRun(fields: { id: string; status: string; parent?: string; root?: string; output?: unknown }): Promise<void> {
    await dataSource.query(
      `INSERT INTO workflow_runs (run_id, workflow, version, status, inputs, output, trace_id, traceparent, root_run_id, parent_run_id, started_at)
       VALUES ($1, 'w', '1.0.0', $2, '{"n": 1}', $3::jsonb, 'trace-1', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', $4, $5, '2026-11-30T01:00:00.123Z')`,
      [fields.id, fields.status, fields.output === undefined ? null : JSON.stringify(fields.output), fields.root ?? fields.id, fields.parent ?? null],
    );
  }

  it('loads the run with its steps, signals and children', async () => {
    const runId = randomUUID();
    const childId = randomUUID();
    await insertRun({ id: runId, status: 'running' });
    await insertRun({ id: childId, status: 'completed', parent: runId, root: runId, output: { x: 1 } });
    // Inserted in seq order: `second` first, so the map's order is the table's seq, not the path.
    await dataSource.query(
      `INSERT INTO workflow_steps (run_id, path, step_id, kind, status, attempts, wake_at) VALUES ($1, 'second', 'second', 'action', 'pending', 1, '2026-11-30T01:00:05.678Z')`,
      [runId],
    );
    await dataSource.query(
      `INSERT INTO workflow_steps (run_id, path, step_id, kind, status, attempts, output, decision, child_run_id, started_at, completed_at)
       VALUES ($1, 'first', 'first', 'workflow', 'completed', 1, '{"reference": "TASK-1"}', '{"branch": "yes"}', $2, '2026-11-30T01:00:01.001Z', '2026-11-30T01:00:02.002Z')`,
      [runId, childId],
    );
    const late = randomUUID();
    const early = randomUUID();
    await dataSource.query(
      `INSERT INTO workflow_signals (id, run_id, name, payload, sender, received_at, consumed_by) VALUES
         ($1, $3, 'approve', '{"ok": true}', 'operator', '2026-11-30T01:00:09.000Z', 'second'),
         ($2, $3, 'note', NULL, 'operator', '2026-11-30T01:00:08.000Z', NULL)`,
      [late, early, runId],
    );

    const loaded = await store.load(runId);
    expect(loaded).toBeDefined();
    const { state, traceparent, rootRunId, parentRunId } = loaded!;
    expect({ traceparent, rootRunId, parentRunId }).toEqual({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', rootRunId: runId, parentRunId: undefined });
    expect(state.run).toMatchObject({ id: runId, workflow: 'w', version: '1.0.0', status: 'running', inputs: { n: 1 } });
    expect([...state.steps.keys()]).toEqual(['second', 'first']);
    expect(state.steps.get('second')).toMatchObject({ status: 'pending', attempts: 1, wake_at: new Date('2026-11-30T01:00:05.678Z'), started_at: undefined });
    expect(state.steps.get('first')).toMatchObject({
      status: 'completed',
      output: { reference: 'TASK-1' },
      decision: { branch: 'yes' },
      child_run_id: childId,
      started_at: new Date('2026-11-30T01:00:01.001Z'),
      completed_at: new Date('2026-11-30T01:00:02.002Z'),
      wake_at: undefined,
    });
    expect(state.steps.get('first')?.started_at).toBeInstanceOf(Date);
    expect(state.signals).toEqual([
      { id: early, name: 'note', payload: null, received_at: new Date('2026-11-30T01:00:08.000Z'), consumed_by: undefined },
      { id: late, name: 'approve', payload: { ok: true }, received_at: new Date('2026-11-30T01:00:09.000Z'), consumed_by: 'second' },
    ]);
    expect([...state.children.values()]).toEqual([{ id: childId, status: 'completed', output: { x: 1 }, error: undefined }]);

    // The child itself: no steps, no signals, no children, and its parent.
    const child = await store.load(childId);
    expect(child?.parentRunId).toBe(runId);
    expect(child?.state.steps.size).toBe(0);
    expect(child?.state.signals).toEqual([]);
    expect(child?.state.children.size).toBe(0);
  });

  it('answers nothing for a run that is not there', async () => {
    expect(await store.load(randomUUID())).toBeUndefined();
  });
});

describe('RunStore.writeRounds (real PostgreSQL)', () => {
  let close: (() => Promise<void>) | undefined;
  let dataSource: DataSource;
  let store: RunStore;

  beforeAll(async () => {
    ({ dataSource, close } = await executorTestDatabase('executor_run_rounds'));
    store = new RunStore(dataSource);
  });

  afterAll(async () => {
    await close?.();
  });

  const T0 = new Date('2026-11-30T02:00:00.000Z');
  const T1 = new Date('2026-11-30T02:00:01.000Z');

  /** A running run leased by `token` until `leaseMs` from now (negative: already expired). */
  async function leasedRun(leaseMs = 60_000): Promise<Lease> {
    const lease = { runId: randomUUID(), token: randomUUID(), wakeVersion: 0 };
    await dataSource.query(
      `INSERT INTO workflow_runs (run_id, workflow, version, status, inputs, trace_id, root_run_id, started_at, lease_owner, lease_token, lease_until)
       VALUES ($1, 'w', '1.0.0', 'running', '{}', 'trace-r', $1, $3, 'worker-1', $2, now() + ($4::int * interval '1 millisecond'))`,
      [lease.runId, lease.token, T0.toISOString(), leaseMs],
    );
    return lease;
  }

  function record(lease: Lease, status: RunRecord['status'], output?: unknown): RunRecord {
    return { id: lease.runId, workflow: 'w', version: '1.0.0', status, inputs: {}, trace_id: 'trace-r', pins: {}, cancel_requested: false, created_at: T0, started_at: T0, ...(status === 'completed' ? { completed_at: T1, output } : {}) };
  }

  function step(path: string, status: StepRecord['status'], attempts: number): StepRecord {
    return { path, step_id: path, kind: 'action', status, attempts, interruptions: 0, attempt_base: 0, handled: false, started_at: T0, ...(status === 'completed' ? { completed_at: T1, output: { path } } : {}) };
  }

  /** A round that ends the run: `a` finishes the attempt an earlier round started, `b` starts and finishes in this one, `c` starts a second attempt. */
  function finishingRound(lease: Lease): RoundRecord {
    return {
      lease,
      run: record(lease, 'completed', { done: true }),
      release: { now: T1 },
      steps: [step('a', 'completed', 1), step('b', 'completed', 1), step('c', 'running', 2)],
      started: [
        { path: 'b', attempt: 1, idempotency_key: `${lease.runId}:b` },
        { path: 'c', attempt: 2, idempotency_key: `${lease.runId}:c` },
      ],
      finished: [
        { path: 'a', attempt: 1, status: 'completed', completed_at: T1 },
        { path: 'b', attempt: 1, status: 'completed', completed_at: T1 },
      ],
      worker: 'worker-1',
      now: T1,
    };
  }

  /** What a run's rows say: its row, its steps and its attempts. */
  async function rowsOf(runId: string) {
    const [run] = await dataSource.query(
      `SELECT status, output, completed_at, lease_token, lease_until, next_wake_at FROM workflow_runs WHERE run_id = $1`,
      [runId],
    );
    const steps: { path: string; status: string }[] = await dataSource.query(`SELECT path, status FROM workflow_steps WHERE run_id = $1 ORDER BY path`, [runId]);
    const attempts: { path: string; attempt: number; status: string; worker: string; completed_at: Date | null }[] = await dataSource.query(
      `SELECT path, attempt, status, worker, completed_at FROM workflow_step_attempts WHERE run_id = $1 ORDER BY path, attempt`,
      [runId],
    );
    return { run, steps, attempts };
  }

  /** The attempts an earlier round left running: `a` 1 (finished by the round) and `c` 1 (interrupted by its attempt 2). */
  async function earlierAttempts(runId: string): Promise<void> {
    await dataSource.query(
      `INSERT INTO workflow_step_attempts (run_id, path, attempt, status, idempotency_key, worker, started_at)
       VALUES ($1, 'a', 1, 'running', $3, 'worker-1', $2), ($1, 'c', 1, 'running', $4, 'worker-1', $2)`,
      [runId, T0.toISOString(), `${runId}:a`, `${runId}:c`],
    );
  }

  it('writes the rounds whose lease held, in one statement, and nothing of the others', async () => {
    const held = await leasedRun();
    const lost = await leasedRun();
    const expired = await leasedRun(-1_000);
    for (const lease of [held, lost, expired]) await earlierAttempts(lease.runId);
    // Another worker took `lost` over since: its token is not the one this round holds.
    await dataSource.query(`UPDATE workflow_runs SET lease_token = $2 WHERE run_id = $1`, [lost.runId, randomUUID()]);

    const statements = jest.spyOn(dataSource, 'query');
    let written: Set<string>;
    try {
      written = await store.writeRounds(dataSource.manager, [finishingRound(lost), finishingRound(held), finishingRound(expired)]);
      expect(statements).toHaveBeenCalledTimes(1);
    } finally {
      statements.mockRestore();
    }
    expect([...written]).toEqual([held.runId]);

    const mine = await rowsOf(held.runId);
    expect(mine.run).toMatchObject({ status: 'completed', output: { done: true }, completed_at: T1, lease_token: null, lease_until: null, next_wake_at: null });
    expect(mine.steps).toEqual([
      { path: 'a', status: 'completed' },
      { path: 'b', status: 'completed' },
      { path: 'c', status: 'running' },
    ]);
    expect(mine.attempts).toEqual([
      { path: 'a', attempt: 1, status: 'completed', worker: 'worker-1', completed_at: T1 },
      // Started and finished in this round: inserted finished.
      { path: 'b', attempt: 1, status: 'completed', worker: 'worker-1', completed_at: T1 },
      // Still running when its second attempt started: interrupted.
      { path: 'c', attempt: 1, status: 'interrupted', worker: 'worker-1', completed_at: T1 },
      { path: 'c', attempt: 2, status: 'running', worker: 'worker-1', completed_at: null },
    ]);

    for (const lease of [lost, expired]) {
      const theirs = await rowsOf(lease.runId);
      expect(theirs.run).toMatchObject({ status: 'running', output: null, completed_at: null });
      expect(theirs.run.lease_until).not.toBeNull();
      expect(theirs.steps).toEqual([]);
      expect(theirs.attempts.map((a) => [a.path, a.attempt, a.status])).toEqual([
        ['a', 1, 'running'],
        ['c', 1, 'running'],
      ]);
    }
  });

  it('keeps a held run leased and due when the round does not release it, and a poke since the claim wins over its wake', async () => {
    const kept = await leasedRun();
    const released = await leasedRun();
    // Poked while held (a signal): wake_version moved past the one its lease was claimed at.
    await dataSource.query(`UPDATE workflow_runs SET wake_version = wake_version + 1 WHERE run_id = $1`, [released.runId]);
    const later = new Date('2026-11-30T03:00:00.000Z');
    const round = (lease: Lease, release?: RoundRecord['release']): RoundRecord => ({
      lease, run: record(lease, 'running'), release, steps: [step('a', 'running', 1)], started: [{ path: 'a', attempt: 1, idempotency_key: `${lease.runId}:a` }], finished: [], worker: 'worker-1', now: T1,
    });
    const sleeping = await leasedRun();
    const written = await store.writeRounds(dataSource.manager, [
      round(kept),
      round(released, { nextWakeAt: later, now: T1 }),
      round(sleeping, { nextWakeAt: later, now: T1 }),
    ]);
    expect(written).toEqual(new Set([kept.runId, released.runId, sleeping.runId]));
    expect((await rowsOf(kept.runId)).run).toMatchObject({ lease_token: kept.token });
    // Released, but due at once (the release's now), not at its own wake: the poke is not lost.
    expect((await rowsOf(released.runId)).run).toMatchObject({ lease_token: null, next_wake_at: T1 });
    // Released without a poke since its claim: due at its own wake.
    expect((await rowsOf(sleeping.runId)).run).toMatchObject({ lease_token: null, next_wake_at: later });
  });

  it('names the runs it wrote as the rounds named them, and locks the other runs a round changes without writing them', async () => {
    const lease = await leasedRun();
    const parent = await leasedRun();
    const upper = { ...lease, runId: lease.runId.toUpperCase() };
    const written = await store.writeRounds(dataSource.manager, [{ ...finishingRound(upper), locks: [parent.runId] }]);
    expect(written).toEqual(new Set([upper.runId]));
    expect((await rowsOf(lease.runId)).run).toMatchObject({ status: 'completed' });
    // The parent (another worker's, say) is only locked for the transaction: its row is as it was.
    expect((await rowsOf(parent.runId)).run).toMatchObject({ status: 'running', lease_token: parent.token });
  });

  it('refuses two rounds of one run in one statement', async () => {
    const lease = await leasedRun();
    await expect(store.writeRounds(dataSource.manager, [finishingRound(lease), finishingRound(lease)])).rejects.toThrow('two rounds of one run');
    expect((await rowsOf(lease.runId)).run).toMatchObject({ status: 'running' });
  });
});
