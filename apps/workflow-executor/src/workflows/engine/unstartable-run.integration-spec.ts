/**
 * A run this executor has no definition for (RunWorker.failUnstartable), against a real PostgreSQL: it ends failed
 * the way every run's failure ends: its `workflow.failed` event in the outbox in the same commit (Bucket, and Karma
 * for a top-level run), and a parent waiting on it as a sub-workflow poked, so the parent's step fails at once rather
 * than the parent waiting for a wake that never comes.
 */
import type { RunView } from '@pancha/contracts';
import { eventually } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';

jest.setTimeout(60_000);

const WORKFLOWS = {
  'uparent.yaml': `
name: uparent
version: 1.0.0
steps:
  - id: sub
    workflow: uchild@^1
`,
  'uchild.yaml': `
name: uchild
version: 1.0.0
steps:
  - id: hold
    approval: { signal: go }
`,
};

interface RunRow {
  status: string;
  wake_version: number;
  lease_token: string | null;
  error: { code: string; message: string } | null;
}

describe('a run whose definition this executor does not have', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await startExecutorHarness({ workflows: WORKFLOWS });
  });

  afterAll(async () => {
    await h?.close();
  });

  const row = async (runId: string): Promise<RunRow> => {
    const [found]: RunRow[] = await h.dataSource.query(`SELECT status, wake_version, lease_token, error FROM workflow_runs WHERE run_id = $1`, [runId]);
    return found;
  };
  /** The run waits for its approval, let go by the worker (no lease: nobody holds its state in memory). */
  const waiting = (runId: string): Promise<void> =>
    eventually(async () => {
      const [step]: { status: string }[] = await h.dataSource.query(`SELECT status FROM workflow_steps WHERE run_id = $1 AND path = 'hold'`, [runId]);
      expect(step?.status).toBe('running');
      expect(await row(runId)).toMatchObject({ status: 'running', lease_token: null });
    });
  /**
   * What a replica that lacks the run's definition finds when it claims the run (a version this executor was never
   * given): the run's row is made to name one, then poked so that a worker claims it.
   */
  const loseDefinition = (runId: string): Promise<unknown> =>
    h.dataSource.query(
      `UPDATE workflow_runs SET version = '9.9.9', next_wake_at = now(), wake_version = wake_version + 1 WHERE run_id = $1`,
      [runId],
    );
  const outboxEvents = async (runId: string): Promise<{ topic: string; type: string | undefined; action: string | undefined }[]> => {
    const rows: { topic: string; payload: { event_data?: { event_type?: string; run_id?: string }; data?: { action?: string; context?: { run_id?: string } } } }[] =
      await h.dataSource.query(`SELECT topic, payload FROM outbox ORDER BY seq`);
    return rows
      .filter((r) => r.payload.event_data?.run_id === runId || r.payload.data?.context?.run_id === runId)
      .map((r) => ({ topic: r.topic, type: r.payload.event_data?.event_type, action: r.payload.data?.action }));
  };

  it('a sub-workflow run fails with workflow.failed recorded, and its parent is poked and fails at once', async () => {
    const parentId = await h.startRun('uparent', '1.0.0', {});
    const childId = await eventually(async () => {
      const parent = await h.run(parentId);
      const child = parent.steps.find((s) => s.path === 'sub')?.child_run_id;
      if (!child) throw new Error('no child yet');
      return child;
    });
    await waiting(childId);
    // The parent waits on its child with nothing to wake it but the child's end (no timeout anywhere).
    await eventually(async () => expect(await row(parentId)).toMatchObject({ status: 'running', lease_token: null }));
    const before = await row(parentId);

    await loseDefinition(childId);
    const child = await eventually(async () => {
      const found = await row(childId);
      expect(found.status).toBe('failed');
      return found;
    });
    expect(child.error).toMatchObject({ code: 'workflow_not_found', message: expect.stringContaining('uchild@9.9.9') });
    // Committed with the failure: the event in the outbox, and the parent poked (a poke moves wake_version).
    expect(await outboxEvents(childId)).toContainEqual(expect.objectContaining({ type: 'workflow.failed' }));
    expect((await row(parentId)).wake_version).toBeGreaterThan(before.wake_version);

    const parent = await eventually(async (): Promise<RunView> => {
      const run = await h.run(parentId);
      expect(run.status).toBe('failed');
      return run;
    });
    expect(parent.error).toMatchObject({ code: 'subworkflow_failed', message: expect.stringContaining('workflow_not_found') });
    await eventually(() => {
      const failed = h.bucket.requests
        .map((r) => (r.body as { event_data?: { run_id?: string; event_type?: string; error?: { code: string } } }).event_data)
        .find((e) => e?.run_id === childId && e.event_type === 'workflow.failed');
      expect(failed?.error?.code).toBe('workflow_not_found');
    });
  });

  it('a parent run failed so cancels the child runs it had going, as a cancelled parent does, and closes its steps', async () => {
    const parentId = await h.startRun('uparent', '1.0.0', {});
    const childId = await eventually(async () => {
      const parent = await h.run(parentId);
      const child = parent.steps.find((s) => s.path === 'sub')?.child_run_id;
      if (!child) throw new Error('no child yet');
      return child;
    });
    await waiting(childId);
    await eventually(async () => expect(await row(parentId)).toMatchObject({ status: 'running', lease_token: null }));

    await loseDefinition(parentId);
    const parent = await eventually(async (): Promise<RunView> => {
      const run = await h.run(parentId);
      expect(run.status).toBe('failed');
      return run;
    });
    expect(parent.error).toMatchObject({ code: 'workflow_not_found' });
    // Its step waiting on the child ended with it; the child got its cancel and ended cancelled.
    expect(parent.steps.find((s) => s.path === 'sub')).toMatchObject({ status: 'cancelled', child_run_id: childId });
    const child = await eventually(async () => {
      const found = await row(childId);
      expect(found.status).toBe('cancelled');
      return found;
    });
    expect(child.lease_token).toBeNull();
    const [hold]: { status: string }[] = await h.dataSource.query(`SELECT status FROM workflow_steps WHERE run_id = $1 AND path = 'hold'`, [childId]);
    expect(hold.status).toBe('cancelled');
  });

  it('a top-level run fails with workflow.failed to Bucket and workflow_failure to Karma, as any failed run', async () => {
    const runId = await h.startRun('uchild', '1.0.0', {}, { user_id: 'u-unstartable' });
    await waiting(runId);
    await loseDefinition(runId);
    await eventually(async () => expect((await row(runId)).status).toBe('failed'));
    expect(await outboxEvents(runId)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'workflow.failed' }),
        expect.objectContaining({ action: 'workflow_failure' }),
      ]),
    );
    await eventually(() => expect(h.karma.requests.some((r) => JSON.stringify(r.body).includes(runId) && JSON.stringify(r.body).includes('workflow_failure'))).toBe(true));
  });
});
