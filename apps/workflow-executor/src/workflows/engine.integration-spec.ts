import { randomBytes, randomUUID } from 'node:crypto';
import type { RunView } from '@pancha/contracts';
import { installInMemoryTracing } from '@pancha/trace-context';
import { eventually, holdTable, IdempotentSink } from '@pancha/testing';
import { ActionInvoker } from './engine/action-invoker.service';
import { RunStore } from './engine/run-store';
import { type ExecutorHarness, startExecutorHarness } from './testing/executor-harness';

jest.setTimeout(60_000);

const sink = new IdempotentSink();

/** Every manifest of this suite: one per behaviour, all calling the local sink through `http`. */
function workflows(sinkUrl: string): Record<string, string> {
  return {
    'three-steps.yaml': `
name: three-steps
version: 1.0.0
inputs: { type: object, required: [user], properties: { user: { type: string } } }
security: { actions: [task, http, email], http_hosts: [127.0.0.1] }
retry: { max_attempts: 5, initial_interval: 1s, backoff_coefficient: 2, max_interval: 1m }
steps:
  - id: create
    action: task
    with: { title: "Welcome {{ inputs.user }}" }
  - id: call
    action: http
    with: { method: POST, url: "${sinkUrl}/hook", body: { task: "{{ steps.create.output.task_id }}" } }
  - id: mail
    action: email
    with: { recipient: "{{ inputs.user }}@example.com", subject: Hi, body: "Task {{ steps.create.output.reference }}" }
output: { task_id: "{{ steps.create.output.task_id }}", hook: "{{ steps.call.output.status }}" }
`,
    'local-steps.yaml': `
name: local-steps
version: 1.0.0
inputs: { type: object, required: [user], properties: { user: { type: string } } }
security: { actions: [task] }
steps:
  - id: first
    action: task
    with: { title: "First for {{ inputs.user }}" }
  - id: second
    action: task
    with: { title: "Second after {{ steps.first.output.reference }}" }
  - id: third
    action: task
    with: { title: "Third" }
output: { last: "{{ steps.third.output.task_id }}" }
`,
    'local-parallel.yaml': `
name: local-parallel
version: 1.0.0
security: { actions: [task] }
steps:
  - id: both
    parallel:
      - id: left
        action: task
        with: { title: "left" }
      - id: right
        action: task
        with: { title: "right" }
  - id: join
    action: task
    with: { title: "after {{ steps.left.output.reference }} and {{ steps.right.output.reference }}" }
`,
    'local-race.yaml': `
name: local-race
version: 1.0.0
security: { actions: [task, http], http_hosts: [127.0.0.1] }
steps:
  - id: race
    join: any
    parallel:
      - id: quick
        action: task
        with: { title: "quick" }
      - id: slow
        action: http
        with: { method: POST, url: "${sinkUrl}/race" }
  - id: after
    action: http
    with: { method: POST, url: "${sinkUrl}/after" }
`,
    'fan-out.yaml': `
name: fan-out
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: both
    parallel:
      - id: left
        action: http
        with: { method: POST, url: "${sinkUrl}/left" }
      - id: right
        action: http
        with: { method: POST, url: "${sinkUrl}/right" }
  - id: each
    foreach: "{{ inputs.items }}"
    concurrency: 2
    workflow: one-item@^1
    with: { item: "{{ item }}" }
`,
    'one-item.yaml': `
name: one-item
version: 1.2.0
inputs: { type: object, required: [item], properties: { item: { type: string } } }
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: publish
    action: http
    with: { method: POST, url: "${sinkUrl}/item/{{ inputs.item }}" }
output: { published: "{{ inputs.item }}" }
`,
    'waits.yaml': `
name: waits
version: 1.0.0
security: { actions: [task] }
steps:
  - id: nap
    sleep: 1h
  - id: approve
    approval: { signal: mentor_ok, timeout: 2d, on_timeout: fail }
  - id: after
    action: task
    with: { title: "approved by {{ steps.approve.output.by }}" }
`,
    'with-secret.yaml': `
name: with-secret
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1], secrets: [CRM_TOKEN] }
steps:
  - id: crm
    action: http
    with: { method: POST, url: "${sinkUrl}/echo", headers: { authorization: "Bearer {{ secrets.CRM_TOKEN }}" } }
`,
    'slow.yaml': `
name: slow
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: wait
    action: http
    timeout: 20s
    with: { method: POST, url: "${sinkUrl}/slow" }
`,
  };
}

describe('workflow engine on PostgreSQL', () => {
  let h: ExecutorHarness;

  const SECRET = 'crm-s3cr3t-value-9f2c';

  beforeAll(async () => {
    installInMemoryTracing();
    await sink.start();
    // Secrets come only from WORKFLOW_SECRET_<NAME> variables (or the secrets file).
    process.env.WORKFLOW_SECRET_CRM_TOKEN = SECRET;
    h = await startExecutorHarness({ workflows: workflows(sink.url), manualClock: true });
  });

  afterAll(async () => {
    await h?.close();
    await sink.close();
    delete process.env.WORKFLOW_SECRET_CRM_TOKEN;
  });

  beforeEach(() => {
    sink.decide = () => ({ status: 200, body: { ok: true } });
  });

  /** The Bucket events the executor sent for a run, in the order Bucket received them. */
  function bucketEvents(runId: string): Array<{ event_type: string; actor?: string; run_id?: string; [k: string]: unknown }> {
    return h.bucket.requests
      .map((r) => (r.body as { event_data?: { run_id?: string; event_type: string } }).event_data)
      .filter((e): e is { run_id: string; event_type: string } => e?.run_id === runId);
  }

  async function finished(runId: string): Promise<RunView> {
    return eventually(async () => {
      const run = await h.run(runId);
      if (!['completed', 'failed', 'cancelled', 'timed_out'].includes(run.status)) throw new Error(`run is ${run.status}`);
      return run;
    });
  }

  /** Runs `workflow`@1.0.0 to its end: the run, how many rounds were written for it, and its task rows by title. */
  async function runCountingRounds(workflow: string, inputs: Record<string, unknown>) {
    const writeRounds = jest.spyOn(h.app.get(RunStore), 'writeRounds');
    try {
      const runId = await h.startRun(workflow, '1.0.0', inputs);
      const run = await finished(runId);
      const rounds = writeRounds.mock.calls.flatMap(([, records]) => records).filter((r) => r.lease.runId === runId).length;
      const tasks: { idempotency_key: string; title: string }[] = await h.dataSource.query(
        `SELECT idempotency_key, title FROM tasks WHERE idempotency_key LIKE $1 ORDER BY title`,
        [`${runId}:%`],
      );
      return { runId, run, rounds, tasks };
    } finally {
      writeRounds.mockRestore();
    }
  }

  it('runs three steps in order: rows for the run, each step and attempt, one effect each, output rendered', async () => {
    const runId = await h.startRun('three-steps', '1.0.0', { user: 'asha' });
    const run = await finished(runId);
    expect(run.status).toBe('completed');
    expect(run.steps.map((s) => [s.step_id, s.status, s.attempts.length])).toEqual([
      ['create', 'completed', 1],
      ['call', 'completed', 1],
      ['mail', 'completed', 1],
    ]);
    const taskId = run.steps[0].output as { task_id: string };
    expect(run.output).toEqual({ task_id: taskId.task_id, hook: 200 });
    const tasks: { n: number }[] = await h.dataSource.query(`SELECT count(*)::int AS n FROM tasks WHERE idempotency_key = $1`, [`${runId}:create`]);
    expect(tasks[0].n).toBe(1);
    const captured: { n: number }[] = await h.dataSource.query(`SELECT count(*)::int AS n FROM captured_messages WHERE idempotency_key = $1`, [`${runId}:mail`]);
    expect(captured[0].n).toBe(1);
    expect(sink.requestsFor(`${runId}:call`)).toBe(1);
    expect(sink.requests.find((r) => r.key === `${runId}:call`)?.traceparent).toMatch(new RegExp(`^00-${run.trace_id}-`));
  });

  it('a run of local actions (task steps) is one round: every attempt started and ended in it, each row once, events in order', async () => {
    const { runId, run, rounds, tasks } = await runCountingRounds('local-steps', { user: 'ravi' });
    expect(run.status).toBe('completed');
    expect(rounds).toBe(1);
    expect(run.steps.map((s) => [s.step_id, s.status, s.attempts.map((a) => a.status)])).toEqual([
      ['first', 'completed', ['completed']],
      ['second', 'completed', ['completed']],
      ['third', 'completed', ['completed']],
    ]);
    for (const step of run.steps) expect(step.attempts[0].completed_at).toBeTruthy();
    const first = run.steps[0].output as { task_id: string; reference: string };
    expect(tasks).toEqual([
      { idempotency_key: `${runId}:first`, title: 'First for ravi' },
      { idempotency_key: `${runId}:second`, title: `Second after ${first.reference}` },
      { idempotency_key: `${runId}:third`, title: 'Third' },
    ]);
    expect(run.output).toEqual({ last: (run.steps[2].output as { task_id: string }).task_id });
    const types = await eventually(async () => {
      const seen = bucketEvents(runId).map((e) => `${e.event_type}${e.step ? `:${(e.step as { id: string }).id}` : ''}`);
      expect(seen).toContain('workflow.completed');
      return seen;
    });
    expect(types).toEqual(['workflow.started', 'workflow.step_completed:first', 'workflow.step_completed:second', 'workflow.step_completed:third', 'workflow.completed']);
  });

  it('parallel local branches and the step that joins them are one round too, each task row once', async () => {
    const { run, rounds, tasks } = await runCountingRounds('local-parallel', {});
    expect(run.status).toBe('completed');
    expect(rounds).toBe(1);
    expect(tasks.map((t) => t.title)).toEqual([expect.stringMatching(/^after TASK-\w+ and TASK-\w+$/), 'left', 'right']);
    expect(new Set(tasks.map((t) => t.idempotency_key)).size).toBe(3);
  });

  it('a branch that loses to a local one in the round that starts both is never run: its attempt is written cancelled', async () => {
    const invoke = jest.spyOn(h.app.get(ActionInvoker), 'invoke');
    try {
      const runId = await h.startRun('local-race', '1.0.0', {});
      const run = await finished(runId);
      expect(run.status).toBe('completed');
      const byId = Object.fromEntries(run.steps.map((s) => [s.step_id, s]));
      expect(byId.quick.status).toBe('completed');
      expect(byId.slow.status).toBe('cancelled');
      expect(byId.slow.attempts.map((a) => a.status)).toEqual(['cancelled']);
      expect(byId.slow.attempts[0].completed_at).toBeTruthy();
      expect(byId.after.status).toBe('completed');
      // 'after' was launched by the same loop that would have launched 'slow', and the run ended after it came back.
      const invoked = invoke.mock.calls.filter(([, ctx]) => ctx.run.id === runId).map(([command]) => command.step_id);
      expect(invoked.sort()).toEqual(['after', 'quick']);
      expect(sink.requests.filter((r) => r.path === '/race')).toHaveLength(0);
    } finally {
      invoke.mockRestore();
    }
  });

  it('rounds of different runs that are ready while one commits share the next transaction, and each run ends as if alone', async () => {
    // Hold the attempts table: the first round's transaction waits on the lock, the rounds of the other runs queue.
    const held = await holdTable(h.dataSource, 'workflow_step_attempts');
    let runIds: string[] = [];
    try {
      // One run first, until its round's commit waits on the lock: started together, the five could be claimed
      // together and make one group, with nothing left to queue.
      runIds = [await h.startRun('one-item', '1.2.0', { item: 'g1' })];
      await held.waiting('AS r(run_id uuid, token uuid');
      runIds.push(...(await Promise.all(['g2', 'g3', 'g4', 'g5'].map((item) => h.startRun('one-item', '1.2.0', { item })))));
      await eventually(async () => expect(h.worker.queuedRounds).toBeGreaterThanOrEqual(2));
    } finally {
      await held.release();
    }
    for (const runId of runIds) {
      const run = await finished(runId);
      expect(run.status).toBe('completed');
      expect(run.steps.map((s) => [s.step_id, s.status, s.attempts.length])).toEqual([['publish', 'completed', 1]]);
    }
    for (const item of ['g1', 'g2', 'g3', 'g4', 'g5']) expect(sink.requests.filter((r) => r.path === `/item/${item}`)).toHaveLength(1);
  });

  it('GET /api/runs?updated_since= is a change feed: runs changed after the position, oldest change first, and where to continue', async () => {
    const first = await h.call('GET', `/api/runs?updated_since=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&include_children=true&limit=500`);
    expect(first.status).toBe(200);
    const body = first.body as { runs: Array<{ run_id: string; updated_at: string }>; next_updated_since: string | null };
    const at = body.runs.map((r) => r.updated_at);
    expect([...at].sort()).toEqual(at);
    // Continue from the newest position: nothing, until a run changes.
    const after = body.next_updated_since ?? new Date(Date.now() - 3_600_000).toISOString();
    const runId = await h.startRun('three-steps', '1.0.0', { user: 'feed' });
    await finished(runId);
    const next = await h.call('GET', `/api/runs?updated_since=${encodeURIComponent(after)}`);
    const changed = (next.body as { runs: Array<{ run_id: string; status: string; updated_at: string }> }).runs;
    expect(changed.map((r) => r.run_id)).toContain(runId);
    expect(changed.find((r) => r.run_id === runId)).toMatchObject({ status: 'completed', updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:]+\.\d{6}Z$/) });
    const last = (next.body as { next_updated_since: string }).next_updated_since;
    const none = await h.call('GET', `/api/runs?updated_since=${encodeURIComponent(last)}`);
    expect((none.body as { runs: unknown[]; next_updated_since: null }).runs).toEqual([]);
    expect((none.body as { next_updated_since: null }).next_updated_since).toBeNull();
    const both = await h.call('GET', `/api/runs?updated_since=${encodeURIComponent(last)}&cursor=abc`);
    expect(both.status).toBe(422);
  });

  it("GET /api/runs?trace_id= lists the runs of that trace only (the console's trace timeline), and refuses an id that is not a trace id", async () => {
    const a = await finished(await h.startRun('three-steps', '1.0.0', { user: 'trace-a' }));
    const b = await finished(await h.startRun('three-steps', '1.0.0', { user: 'trace-b' }));
    expect(a.trace_id).not.toBe(b.trace_id);
    const list = await h.call('GET', `/api/runs?trace_id=${a.trace_id}&include_children=true`);
    expect(list.status).toBe(200);
    expect((list.body as { runs: Array<{ run_id: string; trace_id: string }> }).runs.map((r) => [r.run_id, r.trace_id])).toEqual([[a.run_id, a.trace_id]]);
    const bad = await h.call('GET', '/api/runs?trace_id=not-a-trace');
    expect(bad.status).toBe(422);
    expect(JSON.stringify(bad.body)).toContain('trace_id');
  });

  it('records the lifecycle in Bucket in order and scores the run once in Karma', async () => {
    const runId = await h.startRun('three-steps', '1.0.0', { user: 'ravi' });
    await finished(runId);
    const types = await eventually(() => {
      const events = h.bucket.requests
        .map((r) => (r.body as { event_data?: { run_id?: string; event_type?: string; step?: { id: string } } }).event_data)
        .filter((e) => e?.run_id === runId)
        .map((e) => `${e!.event_type}${e!.step ? `:${e!.step.id}` : ''}`);
      expect(events).toContain('workflow.completed');
      return events;
    });
    expect(types).toEqual(['workflow.started', 'workflow.step_completed:create', 'workflow.step_completed:call', 'workflow.step_completed:mail', 'workflow.completed']);
    // Who started it is in the chain with the start (a person would be user:<username>; here Core itself).
    const started = h.bucket.requests
      .map((r) => (r.body as { event_data?: { run_id?: string; event_type?: string; actor?: string } }).event_data)
      .find((e) => e?.run_id === runId && e.event_type === 'workflow.started');
    expect(started?.actor).toBe('bhiv_core');
    // Karma's event goes on its own outbox topic: its delivery is not ordered with Bucket's, so wait for it too.
    const karma = await eventually(() => {
      const scored = h.karma.requests.filter((r) => JSON.stringify(r.body).includes(runId));
      expect(scored).toHaveLength(1);
      return scored;
    });
    expect(karma[0].body).toMatchObject({ type: 'life_event', data: { action: 'workflow_success', user_id: 'u1' } });
  });

  it('retries a 503 with backoff on the engine clock, with the same Idempotency-Key every attempt', async () => {
    sink.decide = (_req, n) => (n <= 2 ? { status: 503 } : { status: 200, body: { ok: true } });
    const runId = await h.startRun('three-steps', '1.0.0', { user: 'mei' });
    for (let i = 0; i < 2; i++) {
      await eventually(async () => {
        const run = await h.run(runId);
        const call = run.steps.find((s) => s.step_id === 'call');
        expect(call?.attempts.filter((a) => a.status === 'failed')).toHaveLength(i + 1);
        expect(call?.wake_at).not.toBeNull();
      });
      h.clock!.advance(60_000);
      h.worker.poke();
    }
    const run = await finished(runId);
    expect(run.status).toBe('completed');
    const call = run.steps.find((s) => s.step_id === 'call')!;
    expect(call.attempts.map((a) => a.status)).toEqual(['failed', 'failed', 'completed']);
    expect(new Set(call.attempts.map((a) => a.idempotency_key))).toEqual(new Set([`${runId}:call`]));
    expect(sink.requestsFor(`${runId}:call`)).toBe(3);
    expect(sink.effects.get(`${runId}:call`)).toBe(1);
  });

  it('a terminal failure fails the run; retry resumes from the failed step and never reruns completed ones', async () => {
    sink.decide = () => ({ status: 400, body: { error: 'bad' } });
    const runId = await h.startRun('three-steps', '1.0.0', { user: 'li' });
    const failed = await finished(runId);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('http_unexpected_status');
    expect(failed.steps.map((s) => s.status)).toEqual(['completed', 'failed']);

    sink.decide = () => ({ status: 200, body: { ok: true } });
    const res = await h.call('POST', `/api/runs/${runId}/retry`);
    expect(res.status).toBe(202);
    const done = await finished(runId);
    expect(done.status).toBe('completed');
    expect(done.steps.find((s) => s.step_id === 'create')?.attempts).toHaveLength(1);
    const tasks: { n: number }[] = await h.dataSource.query(`SELECT count(*)::int AS n FROM tasks WHERE idempotency_key = $1`, [`${runId}:create`]);
    expect(tasks[0].n).toBe(1);
    await eventually(() => expect(bucketEvents(runId).find((e) => e.event_type === 'workflow.retry_requested')).toMatchObject({ actor: 'bhiv_core', workflow: 'three-steps' }));
  });

  it('parallel branches and a foreach of pinned sub-workflows, two at a time', async () => {
    const runId = await h.startRun('fan-out', '1.0.0', { items: ['a', 'b', 'c'] });
    const run = await finished(runId);
    expect(run.status).toBe('completed');
    expect(run.pins).toEqual({ 'one-item@^1': '1.2.0' });
    expect(run.children).toHaveLength(3);
    expect(run.children.every((c) => c.workflow === 'one-item' && c.version === '1.2.0' && c.status === 'completed')).toBe(true);
    expect(run.output).toEqual([{ published: 'a' }, { published: 'b' }, { published: 'c' }]);
    expect(sink.requests.filter((r) => r.path.startsWith('/item/')).map((r) => r.path).sort()).toEqual(expect.arrayContaining(['/item/a', '/item/b', '/item/c']));
  });

  it('sleep is a durable timer and approval waits for its signal', async () => {
    const runId = await h.startRun('waits', '1.0.0', {});
    await eventually(async () => expect((await h.run(runId)).steps[0]?.status).toBe('running'));
    h.clock!.advance(3_600_000);
    h.worker.poke();
    await eventually(async () => expect((await h.run(runId)).steps.find((s) => s.step_id === 'approve')?.status).toBe('running'));
    const res = await h.call('POST', `/api/runs/${runId}/signals/mentor_ok`, { payload: { by: 'guru-1' } });
    expect(res.status).toBe(202);
    const run = await finished(runId);
    expect(run.status).toBe('completed');
    expect(run.steps.find((s) => s.step_id === 'approve')?.output).toEqual({ by: 'guru-1' });
    expect(run.signals).toEqual([expect.objectContaining({ name: 'mentor_ok', consumed_by: 'approve' })]);
    // Who approved is in the chain (the caller as verified here: Core's token in this test, a person's in PRANA's).
    const received = await eventually(() => {
      const e = bucketEvents(runId).find((x) => x.event_type === 'workflow.signal_received');
      expect(e).toBeDefined();
      return e as NonNullable<typeof e>;
    });
    expect(received).toMatchObject({ actor: 'bhiv_core', signal: 'mentor_ok', signal_id: res.body.signal_id, workflow: 'waits', trace_id: run.trace_id });
  });

  it('an approval that times out fails the run', async () => {
    const runId = await h.startRun('waits', '1.0.0', {});
    await eventually(async () => expect((await h.run(runId)).steps[0]?.status).toBe('running'));
    h.clock!.advance(3_600_000);
    h.worker.poke();
    await eventually(async () => expect((await h.run(runId)).steps.find((s) => s.step_id === 'approve')?.status).toBe('running'));
    h.clock!.advance(3 * 86_400_000);
    h.worker.poke();
    const run = await finished(runId);
    expect(run.status).toBe('failed');
    expect(run.error?.code).toBe('approval_timeout');
  });

  it('cancel aborts the running attempt and ends the run cancelled', async () => {
    sink.decide = () => ({ status: 200, delayMs: 10_000 });
    const runId = await h.startRun('slow', '1.0.0', {});
    await eventually(() => expect(sink.requests.some((r) => r.key === `${runId}:wait`)).toBe(true));
    const res = await h.call('POST', `/api/runs/${runId}/cancel`);
    expect(res.status).toBe(202);
    const run = await finished(runId);
    expect(run.status).toBe('cancelled');
    expect(run.steps[0].status).toBe('cancelled');
    // The aborted attempt is closed by the round after its abort returns.
    await eventually(async () => expect((await h.run(runId)).steps[0].attempts[0].status).toBe('cancelled'));
    // Who asked for the cancel is in the chain, before the run's end.
    const types = await eventually(() => {
      const t = bucketEvents(runId).map((e) => e.event_type);
      expect(t).toContain('workflow.cancelled');
      return t;
    });
    expect(types.indexOf('workflow.cancel_requested')).toBeGreaterThan(-1);
    expect(types.indexOf('workflow.cancel_requested')).toBeLessThan(types.indexOf('workflow.cancelled'));
    expect(bucketEvents(runId).find((e) => e.event_type === 'workflow.cancel_requested')).toMatchObject({ actor: 'bhiv_core', run_id: runId });
  });

  it('a secret reaches the provider but no stored row, no Bucket event and no span', async () => {
    sink.decide = (req) => ({ status: 200, body: { echoed_headers: req.headers } });
    const tracing = installInMemoryTracing();
    const runId = await h.startRun('with-secret', '1.0.0', {});
    const run = await finished(runId);
    expect(run.status).toBe('completed');
    // The provider got it…
    expect(sink.requests.find((r) => r.key === `${runId}:crm`)?.headers?.authorization).toBe(`Bearer ${SECRET}`);
    // …and nothing Pancha keeps or sends on does: the run's rows, the step input (redacted), its output (scrubbed).
    const rows = await h.dataSource.query(
      `SELECT r.*, s.*, a.* FROM workflow_runs r JOIN workflow_steps s USING (run_id) JOIN workflow_step_attempts a USING (run_id) WHERE r.run_id = $1`,
      [runId],
    );
    expect(JSON.stringify(rows)).not.toContain(SECRET);
    expect(run.steps[0].input).toEqual(expect.objectContaining({ headers: { authorization: 'Bearer [secret:CRM_TOKEN]' } }));
    await eventually(() => expect(h.bucket.requests.some((r) => JSON.stringify(r.body).includes(runId))).toBe(true));
    const outbox = await h.dataSource.query(`SELECT payload FROM outbox WHERE payload::text LIKE $1`, [`%${runId}%`]);
    expect(outbox.length).toBeGreaterThan(0);
    expect(JSON.stringify(outbox)).not.toContain(SECRET);
    expect(JSON.stringify(h.bucket.requests.map((r) => r.body))).not.toContain(SECRET);
    expect(JSON.stringify(tracing.spans().map((s) => s.attributes))).not.toContain(SECRET);
  });

  it('refuses a start with inputs the schema rejects, naming the field, and stores nothing', async () => {
    await expect(h.startRun('three-steps', '1.0.0', { user: 42 })).rejects.toThrow(/422.*inputs\.user/);
    const rows: { n: number }[] = await h.dataSource.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE workflow = 'three-steps' AND inputs->>'user' = '42'`);
    expect(rows[0].n).toBe(0);
  });

  it('POST /api/runs and /api/runs/batch refuse a query parameter they do not define (?dry=1) with a 400 naming it, and start nothing', async () => {
    const start = () => ({ run_id: randomUUID(), workflow: 'three-steps', version: '1.0.0', inputs: { user: 'dry' }, user_id: 'u1', trace_id: randomBytes(16).toString('hex') });
    const single = start();
    const res = await h.call('POST', '/api/runs?dry=1', single);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'bad_request', message: expect.stringContaining('dry'), errors: [{ field: 'dry', messages: [expect.any(String)] }] });
    const batched = start();
    const batch = await h.call('POST', '/api/runs/batch?dry=1&validate_only=true', { events: [{ body: batched }] });
    expect(batch.status).toBe(400);
    expect((batch.body as { errors: { field: string }[] }).errors.map((e) => e.field)).toEqual(['dry', 'validate_only']);
    const stored: { n: number }[] = await h.dataSource.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE run_id = ANY($1::uuid[])`, [[single.run_id, batched.run_id]]);
    expect(stored[0].n).toBe(0);
    // The same start without the query string is an ordinary start.
    expect((await h.call('POST', '/api/runs', single)).status).toBe(202);
    expect((await finished(single.run_id)).status).toBe('completed');
  });

  it('starts that arrive while an insert runs share the next one, each keeping its own creation time; a start repeated in a batch starts its run once', async () => {
    const starts = ['grouped-a', 'grouped-b', 'grouped-c', 'grouped-d'].map((user) => ({
      run_id: randomUUID(),
      workflow: 'three-steps',
      version: '1.0.0',
      inputs: { user },
      user_id: 'u1',
      trace_id: randomBytes(16).toString('hex'),
    }));
    const bodies = [...starts, starts[1]];
    const ids = new Set<string>(starts.map((s) => s.run_id));
    const insertRuns = jest.spyOn(h.app.get(RunStore), 'insertRuns');
    const held = await holdTable(h.dataSource, 'workflow_runs');
    let results: { status: number; body: { run_id: string; created_at: string } }[];
    let calls: (typeof insertRuns.mock.calls)[number][];
    try {
      const call = h.call('POST', '/api/runs/batch', { events: bodies.map((body) => ({ body })) });
      // The first insert waits on the lock; every other start of the batch is queued behind it meanwhile.
      await held.waiting('INSERT INTO workflow_runs');
      await held.release();
      results = ((await call).body as { results: typeof results }).results;
    } finally {
      calls = [...insertRuns.mock.calls];
      insertRuns.mockRestore();
    }
    expect(results.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
    expect(results.map((r) => r.body.run_id)).toEqual(bodies.map((b) => b.run_id));
    const inserts = calls.filter(([, runs]) => runs.some((r) => ids.has(r.run_id)));
    expect(inserts.length).toBeLessThanOrEqual(2);
    expect(inserts.flatMap(([, runs]) => runs.map((r) => r.run_id)).sort()).toEqual(bodies.map((b) => b.run_id).sort());
    for (const run of starts) expect((await finished(run.run_id)).status).toBe('completed');
    const rows: { run_id: string; created_at: Date }[] = await h.dataSource.query(
      `SELECT run_id, created_at FROM workflow_runs WHERE run_id = ANY($1::uuid[])`,
      [[...ids]],
    );
    expect(rows).toHaveLength(4);
    // The answer of each (first) start names the creation time its row holds.
    for (const row of rows) expect(results.find((r) => r.body.run_id === row.run_id)?.body.created_at).toBe(row.created_at.toISOString());
    // The repeated start's run ran once: one attempt per step.
    const repeated = await finished(starts[1].run_id);
    expect(repeated.steps.map((step) => step.attempts.length)).toEqual([1, 1, 1]);
  });

  it('POST /api/runs/batch starts each run as POST /api/runs would, in its own trace: a refused start fails alone', async () => {
    const start = (inputs: Record<string, unknown>) => ({
      run_id: randomUUID(),
      workflow: 'three-steps',
      version: '1.0.0',
      inputs,
      user_id: 'u1',
      trace_id: randomBytes(16).toString('hex'),
    });
    const good = start({ user: 'batch-a' });
    const bad = start({ user: 42 });
    const again = start({ user: 'batch-b' });
    const events = [good, bad, again].map((body) => ({ body, traceparent: `00-${body.trace_id}-${randomBytes(8).toString('hex')}-01` }));
    const res = await h.call('POST', '/api/runs/batch', { events });
    expect(res.status).toBe(200);
    const results = (res.body as { results: { status: number; body: { run_id?: string; code?: string; message?: string } }[] }).results;
    expect(results.map((r) => r.status)).toEqual([202, 422, 202]);
    expect(results[0].body.run_id).toBe(good.run_id);
    expect(results[1].body).toMatchObject({ code: 'validation_failed' });
    expect(JSON.stringify(results[1].body)).toContain('inputs.user');
    for (const run of [good, again]) {
      const done = await finished(run.run_id);
      expect(done.status).toBe('completed');
      expect(done.trace_id).toBe(run.trace_id);
    }
    const stored: { n: number }[] = await h.dataSource.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE run_id = $1`, [bad.run_id]);
    expect(stored[0].n).toBe(0);
    // A redelivered batch answers with the runs as they are and starts nothing twice.
    const replay = await h.call('POST', '/api/runs/batch', { events: [events[0]] });
    expect((replay.body as { results: { status: number; body: { run_id: string } }[] }).results[0]).toMatchObject({ status: 202, body: { run_id: good.run_id } });
    const runs: { n: number }[] = await h.dataSource.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE run_id = $1`, [good.run_id]);
    expect(runs[0].n).toBe(1);
  });
});
