/**
 * POST /api/runs against a real PostgreSQL: the executor's own catalog decides whether a start may run (Core's
 * mirror may be stale, or the start may have waited in Core's outbox since an operator disabled the workflow).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { eventually } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';

jest.setTimeout(60_000);

const held = (name: string, extra = ''): string => `
name: ${name}
version: 1.0.0
${extra}security: { actions: [task] }
steps:
  - id: ask
    approval: { signal: go }
`;

describe('POST /api/runs', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await startExecutorHarness({
      workflows: { 'offwf.yaml': held('offwf'), 'heldwf.yaml': held('heldwf'), 'oldwf.yaml': held('oldwf', 'retired: true\n') },
    });
  });

  afterAll(async () => {
    await h?.close();
  });

  const startBody = (workflow: string) => ({
    run_id: randomUUID(),
    workflow,
    version: '1.0.0',
    inputs: {},
    user_id: 'u1',
    trace_id: randomBytes(16).toString('hex'),
  });
  const rows = async (runId: string): Promise<number> =>
    (await h.dataSource.query(`SELECT run_id FROM workflow_runs WHERE run_id = $1`, [runId])).length;

  it('refuses a start of a disabled workflow with a 409 workflow_disabled, creating no run; enabled again, it starts', async () => {
    expect((await h.call('POST', '/api/workflows/offwf/disable', { reason: 'incident' })).status).toBe(200);
    const start = startBody('offwf');

    const refused = await h.call('POST', '/api/runs', start);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'workflow_disabled', message: expect.stringContaining('incident') });
    expect(await rows(start.run_id)).toBe(0);
    expect((await h.call('GET', `/api/runs/${start.run_id}`)).status).toBe(404);

    // Core's relay sends its starts in batches: the same refusal, per item.
    const batch = await h.call('POST', '/api/runs/batch', { events: [{ body: start }] });
    expect(batch.status).toBe(200);
    expect((batch.body as { results: { status: number; body: unknown }[] }).results).toEqual([
      { status: 409, body: expect.objectContaining({ code: 'workflow_disabled' }) },
    ]);
    expect(await rows(start.run_id)).toBe(0);

    expect((await h.call('POST', '/api/workflows/offwf/enable', {})).status).toBe(200);
    const started = await h.call('POST', '/api/runs', start);
    expect(started.status).toBe(202);
    await eventually(async () => expect((await h.run(start.run_id)).status).toBe('running'));
  });

  it('a replica refuses the start within a second of another replica disabling the workflow', async () => {
    const other = await startExecutorHarness({
      workflows: {},
      shared: { db: h.db, keys: h.keys, workflowsDir: h.workflowsDir, bucket: h.bucket, karma: h.karma },
    });
    try {
      // The other replica has read the settings (as Core's catalog poll makes it do) before the disable.
      expect((await other.call('GET', '/api/workflows/catalog')).status).toBe(200);
      expect((await h.call('POST', '/api/workflows/offwf/disable', { reason: 'incident on the other replica' })).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const start = startBody('offwf');
      const refused = await other.call('POST', '/api/runs', start);
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({ code: 'workflow_disabled' });
      expect(await rows(start.run_id)).toBe(0);
    } finally {
      await other.close();
      expect((await h.call('POST', '/api/workflows/offwf/enable', {})).status).toBe(200);
    }
  });

  it('refuses a start of a retired version with a 409 version_retired, creating no run', async () => {
    const start = startBody('oldwf');
    const refused = await h.call('POST', '/api/runs', start);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'version_retired', message: expect.stringContaining('oldwf@1.0.0') });
    expect(await rows(start.run_id)).toBe(0);
  });

  it('a redelivered start of a run that exists answers with that run, even after its workflow was disabled', async () => {
    const start = startBody('heldwf');
    expect((await h.call('POST', '/api/runs', start)).status).toBe(202);
    await eventually(async () => expect((await h.run(start.run_id)).status).toBe('running'));
    expect((await h.call('POST', '/api/workflows/heldwf/disable', {})).status).toBe(200);

    const again = await h.call('POST', '/api/runs', start);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ run_id: start.run_id, workflow: 'heldwf', status: 'running' });
    // The run already in flight finishes: disabling stops new runs only.
    expect((await h.call('POST', `/api/runs/${start.run_id}/signals/go`, { payload: {} })).status).toBe(202);
    await eventually(async () => expect((await h.run(start.run_id)).status).toBe('completed'));
  });
});
