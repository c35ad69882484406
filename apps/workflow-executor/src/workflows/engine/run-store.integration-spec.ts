// A run's state as the worker loads it after a claim (one statement): steps in seq order with their times as Dates,
// signals in arrival order, child runs, and nothing for a run that is not there.
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { executorTestDatabase } from '../../testing/executor-database';
import { RunStore } from './run-store';

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
