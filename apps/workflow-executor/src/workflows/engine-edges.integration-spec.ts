import type { RunView } from '@pancha/contracts';
import { eventually, IdempotentSink } from '@pancha/testing';
import { RunInterpreter } from '@pancha/workflow-engine';
import { type ExecutorHarness, startExecutorHarness } from './testing/executor-harness';

jest.setTimeout(60_000);

const sink = new IdempotentSink();

/** Edges of the engine: retries of composite steps and sub-workflows, timers past Node's reach, odd provider replies. */
function workflows(s: string): Record<string, string> {
  const http = (id: string, path: string): string => `
  - id: ${id}
    action: http
    with: { method: POST, url: "${s}/${path}" }`;
  return {
    'group-timeout.yaml': `
name: group-timeout
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: grp
    timeout: 10m
    steps:${http('call', 'grp').replace(/\n {2}/g, '\n      ')}
`,
    'parent.yaml': `
name: parent
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: sub
    workflow: child@^1
    with: { x: "1" }
`,
    'child.yaml': `
name: child
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:${http('first', 'child-first')}${http('second', 'child-second')}
`,
    'compensated.yaml': `
name: compensated
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:${http('call', 'main')}
on_failure:
  steps:
    - id: undo
      workflow: undo-child@^1
`,
    'undo-child.yaml': `
name: undo-child
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:${http('revert', 'undo')}
`,
    'loop-timeout.yaml': `
name: loop-timeout
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: loop
    timeout: 10m
    foreach: "{{ [1, 2] }}"
    action: http
    with: { method: POST, url: "${s}/each", body: { i: "{{ item }}" } }
`,
    'month-long.yaml': `
name: month-long
version: 1.0.0
timeout: 30d
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:${http('call', 'slow')}
`,
    // A parent written for kid 1.x; only kid 2.x is live, and it migrates 1.x inputs (WORKFLOWS.md: callers moved without a change).
    'mparent.yaml': `
name: mparent
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: sub
    workflow: mkid@^1
    with: { mail: "a@example.com" }
output: { sent: "{{ steps.sub.output.to }}" }
`,
    'mkid.yaml': `
name: mkid
version: 2.0.0
inputs: { type: object, required: [email], properties: { email: { type: string } } }
migrations:
  1.x: { email: "{{ inputs.mail }}" }
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: send
    action: http
    with: { method: POST, url: "${s}/kid", body: { to: "{{ inputs.email }}" } }
output: { to: "{{ steps.send.output.body.to }}" }
`,
    'odd-reply.yaml': `
name: odd-reply
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
retry: { max_attempts: 3, initial_interval: 1s }
steps:${http('call', 'odd')}
output: { v: "{{ steps.call.output.body.v }}" }
`,
  };
}

describe('workflow engine edges on PostgreSQL', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    await sink.start();
    h = await startExecutorHarness({ workflows: workflows(sink.url), manualClock: true });
  });

  afterAll(async () => {
    await h?.close();
    await sink.close();
  });

  beforeEach(() => {
    sink.decide = () => ({ status: 200, body: { ok: true } });
  });

  async function finished(runId: string, notStatus?: string): Promise<RunView> {
    return eventually(async () => {
      const run = await h.run(runId);
      if (!['completed', 'failed', 'cancelled', 'timed_out'].includes(run.status) || run.status === notStatus) throw new Error(`run is ${run.status}`);
      return run;
    });
  }

  const calls = (path: string): number => sink.requests.filter((r) => r.path === `/${path}`).length;

  it('a retried group step gets a fresh timeout: its deadline counts from the retry, not from its first start', async () => {
    sink.decide = (req) => (req.path === '/grp' ? { status: 400, body: { no: true } } : { status: 200, body: {} });
    const runId = await h.startRun('group-timeout', '1.0.0', {});
    expect((await finished(runId)).error?.code).toBe('http_unexpected_status');
    h.clock!.advance(11 * 60_000); // past the group's 10m since its first start
    sink.decide = () => ({ status: 200, body: { ok: true } });
    const before = calls('grp');

    expect((await h.call('POST', `/api/runs/${runId}/retry`)).status).toBe(202);
    const done = await finished(runId, 'failed');

    expect(done.status).toBe('completed');
    expect(calls('grp') - before).toBe(1);
  });

  it('retrying a parent resumes its failed child: the child keeps its run, its completed steps are not repeated', async () => {
    sink.decide = (req) => (req.path === '/child-second' ? { status: 400, body: { no: true } } : { status: 200, body: {} });
    const runId = await h.startRun('parent', '1.0.0', {});
    const failed = await finished(runId);
    expect(failed.error?.code).toBe('subworkflow_failed');
    const childId = failed.steps[0].child_run_id as string;
    expect((await h.run(childId)).status).toBe('failed');

    sink.decide = () => ({ status: 200, body: { ok: true } });
    expect((await h.call('POST', `/api/runs/${runId}/retry`)).status).toBe(202);
    const done = await finished(runId, 'failed');

    expect(done.status).toBe('completed');
    expect(done.steps[0].child_run_id).toBe(childId);
    expect((await h.run(childId)).status).toBe('completed');
    const children: { n: number }[] = await h.dataSource.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE parent_run_id = $1`, [runId]);
    expect(children[0].n).toBe(1);
    // One request for the completed step; the failed one asked again, under the key of the child's retry (resumed
    // with its parent, the child is retried too), so the provider performs it rather than replay the refusal.
    expect(sink.requests.filter((r) => r.key === `${childId}:first`)).toHaveLength(1);
    expect(sink.requests.filter((r) => r.path === '/child-second' && r.key?.startsWith(childId)).map((r) => r.key)).toEqual([
      `${childId}:second`,
      `${childId}:second:retry-1`,
    ]);
    expect(sink.effects.get(`${childId}:second:retry-1`)).toBe(1);
  });

  it('retrying the failed child of a failed parent resumes the parent with it, so the parent completes too', async () => {
    sink.decide = (req) => (req.path === '/child-second' ? { status: 400, body: { no: true } } : { status: 200, body: {} });
    const runId = await h.startRun('parent', '1.0.0', {});
    const childId = (await finished(runId)).steps[0].child_run_id as string;
    expect((await h.run(childId)).status).toBe('failed');

    sink.decide = () => ({ status: 200, body: { ok: true } });
    const res = await h.call('POST', `/api/runs/${childId}/retry`);
    expect([res.status, (res.body as { run_id: string; status: string }).status]).toEqual([202, 'running']);
    const done = await finished(runId, 'failed');

    expect(done.status).toBe('completed');
    expect(done.steps[0].child_run_id).toBe(childId);
    expect((await h.run(childId)).status).toBe('completed');
    expect(sink.requests.filter((r) => r.key === `${childId}:first`)).toHaveLength(1);
    // Each resumed run records its retry.
    const retries: { run_id: string }[] = await h.dataSource.query(
      `SELECT payload->'event_data'->>'run_id' AS run_id FROM outbox WHERE payload->'event_data'->>'event_type' = 'workflow.retry_requested' AND payload->'event_data'->>'root_run_id' = $1`,
      [runId],
    );
    expect(retries.map((r) => r.run_id).sort()).toEqual([runId, childId].sort());
  });

  it("retrying a compensation's failed child resumes that child alone: the parent stays failed", async () => {
    sink.decide = (req) => (req.path === '/main' || req.path === '/undo' ? { status: 400, body: { no: true } } : { status: 200, body: {} });
    const runId = await h.startRun('compensated', '1.0.0', {});
    expect((await finished(runId)).status).toBe('failed');
    const undo = await eventually(async () => {
      const step = (await h.run(runId)).steps.find((st) => st.step_id === 'undo');
      if (!step?.child_run_id || (await h.run(step.child_run_id)).status !== 'failed') throw new Error('undo child not failed yet');
      return step.child_run_id;
    });
    const mains = calls('main');

    sink.decide = (req) => (req.path === '/main' ? { status: 400, body: { no: true } } : { status: 200, body: {} });
    expect((await h.call('POST', `/api/runs/${undo}/retry`)).status).toBe(202);
    expect((await finished(undo, 'failed')).status).toBe('completed');

    expect((await h.run(runId)).status).toBe('failed');
    expect(calls('main')).toBe(mains);
  });

  it("a sub-workflow range no live version matches runs the later major that migrates its inputs, with a warning", async () => {
    sink.decide = (req) => ({ status: 200, body: req.body as object });
    const runId = await h.startRun('mparent', '1.0.0', {});
    const done = await finished(runId);

    expect(done.status).toBe('completed');
    expect(done.output).toEqual({ sent: 'a@example.com' });
    const child = await h.run(done.steps[0].child_run_id as string);
    expect([child.workflow, child.version, child.inputs]).toEqual(['mkid', '2.0.0', { email: 'a@example.com' }]);
    const [row]: { warnings: string[] }[] = await h.dataSource.query(`SELECT warnings FROM workflow_runs WHERE run_id = $1`, [child.run_id]);
    expect(row.warnings).toEqual(['no live version of mkid matches ^1: started 2.0.0 with the inputs migrated from 1.x']);
    expect(done.pins).toEqual({ 'mkid@^1': '2.0.0' });
  });

  it('a retry leaves the compensation (on_failure.steps) alone: its failed child is not resumed while the main path is retried', async () => {
    sink.decide = (req) => (req.path === '/main' || req.path === '/undo' ? { status: 400, body: { no: true } } : { status: 200, body: {} });
    const runId = await h.startRun('compensated', '1.0.0', {});
    expect((await finished(runId)).status).toBe('failed');
    await eventually(() => expect(calls('undo')).toBeGreaterThanOrEqual(1));
    const undos = calls('undo');

    sink.decide = () => ({ status: 200, body: { ok: true } });
    expect((await h.call('POST', `/api/runs/${runId}/retry`)).status).toBe(202);
    const done = await finished(runId, 'failed');

    expect(done.status).toBe('completed');
    expect(calls('undo')).toBe(undos);
    expect(done.steps.find((st) => st.step_id === 'undo')?.status).not.toBe('running');
  });

  it('a retried foreach with a timeout is running again from the retry on, so its timeout counts from then', async () => {
    // The second item is refused the first time it is asked (a terminal 400); asked again (under the retry's key), it
    // answers slowly.
    let asked = 0;
    sink.decide = (req) => (req.path === '/each' && (req.body as { i?: number }).i === 2 ? (++asked === 1 ? { status: 400, body: {} } : { status: 200, body: {}, delayMs: 4000 }) : { status: 200, body: {} });
    const runId = await h.startRun('loop-timeout', '1.0.0', {});
    expect((await finished(runId)).status).toBe('failed');
    h.clock!.advance(11 * 60_000);
    const retriedAt = h.clock!.now().getTime();
    expect((await h.call('POST', `/api/runs/${runId}/retry`)).status).toBe(202);
    // While the retried item is out, the step is running with its deadline's start: before, it stayed pending with
    // none, and its timeout could never fire.
    await eventually(() => expect(sink.requests.filter((r) => r.path === '/each' && (r.body as { i?: number }).i === 2)).toHaveLength(2));
    const [loop]: { status: string; started_at: Date | null }[] = await h.dataSource.query(
      `SELECT status, started_at FROM workflow_steps WHERE run_id = $1 AND path = 'loop'`,
      [runId],
    );
    expect(loop.status).toBe('running');
    expect(loop.started_at?.getTime()).toBeGreaterThanOrEqual(retriedAt);
    expect((await finished(runId, 'failed')).status).toBe('completed');
  });

  it('a retry while a sub-workflow run is still being cancelled is a 409 that says so, and changes nothing', async () => {
    sink.decide = (req) => (req.path === '/child-second' ? { status: 400, body: { no: true } } : { status: 200, body: {} });
    const runId = await h.startRun('parent', '1.0.0', {});
    const childId = (await finished(runId)).steps[0].child_run_id as string;
    // As if its cancel round had not run yet.
    await h.dataSource.query(`UPDATE workflow_runs SET status = 'running', cancel_requested = true WHERE run_id = $1`, [childId]);
    const res = await h.call('POST', `/api/runs/${runId}/retry`);
    expect(res.status).toBe(409);
    expect((res.body as { message: string }).message).toContain(`sub-workflow run ${childId}`);
    expect((await h.run(runId)).status).toBe('failed');
    await h.dataSource.query(`UPDATE workflow_runs SET status = 'failed', cancel_requested = false WHERE run_id = $1`, [childId]);
  });

  it('a run whose deadline is past a timer\'s reach (30 days) waits for its action instead of spinning', async () => {
    sink.decide = () => ({ status: 200, body: {}, delayMs: 1000 });
    const advance = jest.spyOn(RunInterpreter.prototype, 'advanceUntilStable');
    try {
      const runId = await h.startRun('month-long', '1.0.0', {});
      expect((await finished(runId)).status).toBe('completed');
      // A start round and the round after the result (a poke or two besides); a timer set to 30 days fired every
      // millisecond instead, hundreds of rounds while the provider took its second.
      expect(advance.mock.calls.length).toBeLessThan(20);
    } finally {
      advance.mockRestore();
    }
  });

  it('a provider reply holding U+0000 completes the step once, the character stored as U+FFFD', async () => {
    sink.decide = () => ({ status: 200, body: { v: 'a\u0000b' } });
    const runId = await h.startRun('odd-reply', '1.0.0', {});
    const done = await finished(runId);

    expect(done.status).toBe('completed');
    expect(done.output).toEqual({ v: 'a\ufffdb' });
    expect(sink.requests.filter((r) => r.key === `${runId}:call`)).toHaveLength(1);
  });

  it('a provider reply nested deeper than 64 levels fails the step at once, naming why, after one request', async () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 70; i++) deep = { d: deep };
    sink.decide = () => ({ status: 200, body: deep });
    const runId = await h.startRun('odd-reply', '1.0.0', {});
    const failed = await finished(runId);

    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'output_invalid' });
    expect(failed.error?.message).toMatch(/cannot be stored: output\.body(\.d)+ nests deeper than 64 levels/);
    expect(sink.requests.filter((r) => r.key === `${runId}:call`)).toHaveLength(1);
  });

  it('GET /api/runs refuses times and cursors PostgreSQL could not read with a 422 naming the parameter, never a 500', async () => {
    const cursor = (text: string) => Buffer.from(text).toString('base64url');
    const cases: Array<[string, string]> = [
      ['since=2026-02-30', 'since'],
      ['until=2026-13-01T00:00:00Z', 'until'],
      ['updated_since=0000-01-01T00:00:00Z', 'updated_since'],
      [`cursor=${cursor(`2026-01-01 00:00:00+00|${'-'.repeat(36)}`)}`, 'cursor'],
      [`cursor=${cursor('0000-01-01 00:00:00+00|3f0c8f7e-9a51-4d4e-8e1a-2b7c1d9e0a11')}`, 'cursor'],
    ];
    for (const [query, field] of cases) {
      const res = await h.call('GET', `/api/runs?${query}`);
      expect([query, res.status, (res.body as { errors?: { field: string }[] }).errors?.[0]?.field]).toEqual([query, 422, field]);
    }
  });

  it("a start's warnings (a deprecated version, migrated inputs) are recorded with the run's workflow.started in Bucket", async () => {
    const warnings = ['odd-reply@1.0.0 is deprecated'];
    const runId = await h.startRun('odd-reply', '1.0.0', {}, { warnings });
    await finished(runId);
    const started = await eventually(() => {
      const event = h.bucket.requests
        .map((r) => (r.body as { event_data?: { run_id?: string; event_type: string; warnings?: string[] } }).event_data)
        .find((e) => e?.run_id === runId && e.event_type === 'workflow.started');
      if (!event) throw new Error('no workflow.started yet');
      return event;
    });
    expect(started.warnings).toEqual(warnings);
    const rows: { warnings: string[] }[] = await h.dataSource.query(`SELECT warnings FROM workflow_runs WHERE run_id = $1`, [runId]);
    expect(rows[0].warnings).toEqual(warnings);
  });
});
