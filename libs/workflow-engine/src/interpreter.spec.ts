import type { RetryPolicy, Step } from '@pancha/workflow-manifest';
import { runInMemory } from './in-memory-runner';
import { type ActionCommand, type ActionResult, RunInterpreter } from './interpreter';
import type { ChildRunView, RunState } from './run-state';
import { action, manifest, retry } from './testing/manifest-builders';

const ok = (output: unknown): ActionResult => ({ ok: true, output });
const err = (code: string, retryable: boolean): ActionResult => ({ ok: false, error: { code, message: code, retryable } });

/** An action double: echoes its input, or answers from a script of results per step id. */
function actions(script: Record<string, ActionResult[]> = {}) {
  const calls: ActionCommand[] = [];
  const fn = (command: ActionCommand): ActionResult => {
    calls.push(command);
    const queue = script[command.step_id];
    if (queue && queue.length > 0) return queue.shift()!;
    return ok({ echo: command.input });
  };
  return { fn, calls };
}

describe('RunInterpreter (in memory, fake clock)', () => {
  it('runs steps in order and passes outputs on through templates', async () => {
    const a = actions({ create: [ok({ task_id: 't1', reference: 'TASK-1' })] });
    const result = await runInMemory({
      manifest: manifest([
        action('create', 'task', { title: 'Welcome {{ inputs.user }}' }),
        action('notify', 'email', { body: 'Task {{ steps.create.output.reference }}', n: '{{ inputs.n + 1 }}' }),
      ]),
      inputs: { user: 'u1', n: 41 },
      action: a.fn,
    });
    expect(result.run.status).toBe('completed');
    expect(a.calls.map((c) => c.input)).toEqual([{ title: 'Welcome u1' }, { body: 'Task TASK-1', n: 42 }]);
    expect(result.stepsTaken).toEqual(['create', 'notify']);
    expect(result.run.output).toEqual({ echo: { body: 'Task TASK-1', n: 42 } });
    expect(a.calls[0].idempotency_key).toBe(`${result.run.id}:create`);
  });

  it('skips a step whose if is false, and later steps see its status', async () => {
    const a = actions();
    const result = await runInMemory({
      manifest: manifest([
        action('text', 'whatsapp', { to: '{{ inputs.phone }}' }, { if: 'has(inputs.phone)' }),
        action('after', 'echo', { status: '{{ steps.text.status }}' }),
      ]),
      inputs: {},
      action: a.fn,
    });
    expect(result.run.status).toBe('completed');
    expect(result.stepsTaken).toEqual(['after']);
    expect(a.calls[0].input).toEqual({ status: 'skipped' });
  });

  it('retries a retryable failure with full-jitter backoff and the same idempotency key', async () => {
    const a = actions({ flaky: [err('adapter_timeout', true), err('adapter_timeout', true), ok({ done: true })] });
    const start = new Date('2026-01-01T00:00:00.000Z');
    const result = await runInMemory({
      manifest: manifest([action('flaky', 'flaky', {}, { retry: retry({ initial_interval_ms: 1000, backoff_coefficient: 2, max_attempts: 5 }) })]),
      inputs: {},
      action: a.fn,
      startAt: start,
    });
    expect(result.run.status).toBe('completed');
    expect(a.calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(new Set(a.calls.map((c) => c.idempotency_key)).size).toBe(1);
    // random() = 0.5: 0.5 × 1000 then 0.5 × 2000
    expect(result.endedAt.getTime() - start.getTime()).toBe(500 + 1000);
  });

  it('does not retry a terminal error, and the run fails with its code', async () => {
    const a = actions({ mail: [err('missing_recipient', false)] });
    const result = await runInMemory({ manifest: manifest([action('mail', 'email', {})]), inputs: {}, action: a.fn });
    expect(result.run.status).toBe('failed');
    expect(result.run.error?.code).toBe('missing_recipient');
    expect(a.calls).toHaveLength(1);
  });

  it('treats a code listed in non_retryable as terminal', async () => {
    const a = actions({ s: [err('http_unexpected_status', true)] });
    const result = await runInMemory({
      manifest: manifest([action('s', 'http', {}, { retry: retry({ non_retryable: ['http_unexpected_status'] }) })]),
      inputs: {},
      action: a.fn,
    });
    expect(result.run.status).toBe('failed');
    expect(a.calls).toHaveLength(1);
  });

  it('fails the step once max_attempts are spent', async () => {
    const a = actions({ s: [err('x', true), err('x', true), err('x', true)] });
    const result = await runInMemory({ manifest: manifest([action('s', 'flaky', {}, { retry: retry({ max_attempts: 2 }) })]), inputs: {}, action: a.fn });
    expect(result.run.status).toBe('failed');
    expect(a.calls).toHaveLength(2);
  });

  it('on_failure continue: the run goes on and later steps see the failure', async () => {
    const a = actions({ summary: [err('provider_not_configured', false)] });
    const result = await runInMemory({
      manifest: manifest([
        action('summary', 'ai', {}, { on_failure: { continue: true } }),
        action('next', 'echo', { s: '{{ steps.summary.status }}', code: '{{ steps.summary.error.code }}' }),
      ]),
      inputs: {},
      action: a.fn,
    });
    expect(result.run.status).toBe('completed');
    expect(a.calls[1].input).toEqual({ s: 'failed', code: 'provider_not_configured' });
  });

  it('on_failure goto: jumps to a later step and skips those between', async () => {
    const a = actions({ a: [err('boom', false)] });
    const result = await runInMemory({
      manifest: manifest([action('a', 'echo', {}, { on_failure: { goto: 'c' } }), action('b', 'echo'), action('c', 'echo')]),
      inputs: {},
      action: a.fn,
    });
    expect(result.run.status).toBe('completed');
    expect(result.stepsTaken).toEqual(['a', 'c']);
    expect(result.steps.find((s) => s.step_id === 'b')?.status).toBe('skipped');
  });

  it('parallel join all: every branch runs, the output maps branch ids to outputs', async () => {
    const a = actions({ mail: [ok({ m: 1 })], text: [ok({ t: 2 })] });
    const par: Step = { kind: 'parallel', id: 'notify', join: 'all', fail_fast: true, branches: [action('mail', 'email'), action('text', 'whatsapp')], source: { pointer: '' } };
    const result = await runInMemory({ manifest: manifest([par]), inputs: {}, action: a.fn });
    expect(result.run.status).toBe('completed');
    expect(result.run.output).toEqual({ mail: { m: 1 }, text: { t: 2 } });
  });

  it('parallel fail_fast: one branch failing cancels the other that is still running', () => {
    const par: Step = { kind: 'parallel', id: 'p', join: 'all', fail_fast: true, branches: [action('a', 'echo'), action('b', 'echo')], source: { pointer: '' } };
    const { interpreter, state } = interp(manifest([par]));
    const now = new Date();
    interpreter.advance(now);
    const started = interpreter.takeRound().actions.map((c) => c.path);
    expect(started).toEqual(['a', 'b']);
    interpreter.applyActionResult('a', err('boom', false), now);
    interpreter.advance(now, new Set(['b']));
    const round = interpreter.takeRound();
    expect(round.cancels).toEqual([{ kind: 'abort_action', path: 'b' }]);
    expect(state.steps.get('b')?.status).toBe('cancelled');
    expect(state.run.status).toBe('failed');
  });

  it('parallel join any: the first branch to complete wins and the rest are cancelled', () => {
    const par: Step = { kind: 'parallel', id: 'p', join: 'any', fail_fast: true, branches: [action('a', 'echo'), action('b', 'echo')], source: { pointer: '' } };
    const { interpreter, state } = interp(manifest([par]));
    const now = new Date();
    interpreter.advance(now);
    interpreter.takeRound();
    interpreter.applyActionResult('b', ok({ fast: true }), now);
    interpreter.advance(now, new Set(['a']));
    expect(interpreter.takeRound().cancels).toEqual([{ kind: 'abort_action', path: 'a' }]);
    expect(state.run.status).toBe('completed');
    expect(state.run.output).toEqual({ winner: 'b', output: { fast: true } });
  });

  it('switch runs the first case whose condition holds, else the default', async () => {
    const sw = (severity: string) =>
      runInMemory({
        manifest: manifest([
          {
            kind: 'switch',
            id: 'route',
            cases: [
              { when: 'inputs.severity == "CRITICAL"', steps: [action('escalate', 'echo')], source: { pointer: '' } },
              { when: 'inputs.severity == "WARNING"', steps: [action('learn', 'echo')], source: { pointer: '' } },
            ],
            default: [action('ignore', 'echo')],
            source: { pointer: '' },
          },
        ]),
        inputs: { severity },
        action: actions().fn,
      });
    expect((await sw('CRITICAL')).stepsTaken).toEqual(['escalate']);
    expect((await sw('WARNING')).stepsTaken).toEqual(['learn']);
    expect((await sw('INFO')).stepsTaken).toEqual(['ignore']);
  });

  it('foreach keeps at most `concurrency` items in flight and returns outputs in item order', () => {
    const fe: Step = {
      kind: 'foreach',
      id: 'each',
      items: '{{ inputs.platforms }}',
      concurrency: 2,
      body: { kind: 'action', action: 'echo', with: { p: '{{ item }}', i: '{{ index }}' }, retry: retry({}) },
      source: { pointer: '' },
    };
    const { interpreter, state } = interp(manifest([fe]), { platforms: ['x', 'y', 'z'] });
    const now = new Date();
    interpreter.advance(now);
    let round = interpreter.takeRound();
    expect(round.actions.map((a) => a.path)).toEqual(['each[0]', 'each[1]']);
    expect(round.actions.map((a) => a.input)).toEqual([{ p: 'x', i: 0 }, { p: 'y', i: 1 }]);
    interpreter.applyActionResult('each[1]', ok('Y'), now);
    interpreter.advance(now, new Set(['each[0]']));
    round = interpreter.takeRound();
    expect(round.actions.map((a) => a.path)).toEqual(['each[2]']);
    interpreter.applyActionResult('each[2]', ok('Z'), now);
    interpreter.applyActionResult('each[0]', ok('X'), now);
    interpreter.advance(now);
    interpreter.takeRound();
    expect(state.run.status).toBe('completed');
    expect(state.run.output).toEqual(['X', 'Y', 'Z']);
  });

  it('foreach with a sequence body: inner steps see item, index and their own iteration', async () => {
    const a = actions();
    const result = await runInMemory({
      manifest: manifest([
        {
          kind: 'foreach',
          id: 'each',
          items: 'inputs.list',
          concurrency: 1,
          body: { kind: 'group', steps: [action('first', 'echo', { v: '{{ item }}' }), action('second', 'echo', { prev: '{{ steps.first.output.echo.v }}', i: '{{ index }}' })] },
          source: { pointer: '' },
        },
      ]),
      inputs: { list: ['a', 'b'] },
      action: a.fn,
    });
    expect(result.run.status).toBe('completed');
    expect(a.calls.map((c) => [c.path, c.input])).toEqual([
      ['each[0].first', { v: 'a' }],
      ['each[0].second', { prev: 'a', i: 0 }],
      ['each[1].first', { v: 'b' }],
      ['each[1].second', { prev: 'b', i: 1 }],
    ]);
  });

  it('a sub-workflow runs pinned to the version resolved at the start, and its output is the step output', async () => {
    const child = manifest([action('inner', 'echo', { x: '{{ inputs.platform }}' })], { name: 'publish-one', version: '1.2.0' });
    const result = await runInMemory({
      manifest: manifest([{ kind: 'workflow', id: 'sub', workflow: { name: 'publish-one', range: '^1' }, with: { platform: 'web' }, retry: retry({}), source: { pointer: '' } }]),
      inputs: {},
      pins: { 'publish-one@^1': '1.2.0' },
      manifestOf: (name, version) => (name === 'publish-one' && version === '1.2.0' ? child : undefined),
      action: actions().fn,
    });
    expect(result.run.status).toBe('completed');
    expect(result.run.output).toEqual({ echo: { x: 'web' } });
  });

  it('sleep is a durable timer: the clock moves, nothing waits', async () => {
    const start = new Date('2026-01-01T00:00:00.000Z');
    const result = await runInMemory({
      manifest: manifest([{ kind: 'sleep', id: 'wait', duration_ms: 3_600_000, source: { pointer: '' } }, action('after', 'echo')]),
      inputs: {},
      action: actions().fn,
      startAt: start,
    });
    expect(result.run.status).toBe('completed');
    expect(result.endedAt.getTime() - start.getTime()).toBe(3_600_000);
  });

  it('approval completes with the signal payload; without one it times out as told', async () => {
    const approval = (on_timeout: 'fail' | 'continue'): Step => ({ kind: 'approval', id: 'approve', signal: 'mentor_ok', timeout_ms: 60_000, on_timeout, source: { pointer: '' } });
    const approved = await runInMemory({ manifest: manifest([approval('fail')]), inputs: {}, action: actions().fn, signals: [{ name: 'mentor_ok', payload: { by: 'm1' } }] });
    expect(approved.run.status).toBe('completed');
    expect(approved.run.output).toEqual({ by: 'm1' });
    const failed = await runInMemory({ manifest: manifest([approval('fail')]), inputs: {}, action: actions().fn });
    expect(failed.run.status).toBe('failed');
    expect(failed.run.error?.code).toBe('approval_timeout');
    const continued = await runInMemory({ manifest: manifest([approval('continue')]), inputs: {}, action: actions().fn });
    expect(continued.run.status).toBe('completed');
    expect(continued.run.output).toEqual({ timed_out: true });
  });

  it('an approval without a timeout and without a signal waits (and says for what)', async () => {
    const result = await runInMemory({
      manifest: manifest([{ kind: 'approval', id: 'approve', signal: 'ok', on_timeout: 'fail', source: { pointer: '' } }]),
      inputs: {},
      action: actions().fn,
    });
    expect(result.run.status).toBe('running');
    expect(result.stuck).toContain('approve');
  });

  it('the run times out at its deadline, cancelling what is still waiting', async () => {
    const result = await runInMemory({
      manifest: manifest([{ kind: 'sleep', id: 'long', duration_ms: 10 * 60_000, source: { pointer: '' } }], { timeout_ms: 60_000 }),
      inputs: {},
      action: actions().fn,
    });
    expect(result.run.status).toBe('timed_out');
    expect(result.run.error?.code).toBe('run_timeout');
    expect(result.steps[0].status).toBe('cancelled');
  });

  it('a cancel request stops the run and aborts what is in flight', () => {
    const { interpreter, state } = interp(manifest([action('a', 'echo'), action('b', 'echo')]));
    const now = new Date();
    interpreter.advance(now);
    interpreter.takeRound();
    state.run.cancel_requested = true;
    interpreter.advance(now, new Set(['a']));
    const round = interpreter.takeRound();
    expect(round.cancels).toEqual([{ kind: 'abort_action', path: 'a' }]);
    expect(state.run.status).toBe('cancelled');
    expect(round.events.map((e) => e.type)).toEqual(['workflow.cancelled']);
  });

  it('renders `output` and checks it against outputs', async () => {
    const m = manifest([action('a', 'echo', { v: 1 })], { output: { v: '{{ steps.a.output.echo.v }}' } });
    const good = await runInMemory({ manifest: m, inputs: {}, action: actions().fn });
    expect(good.run.output).toEqual({ v: 1 });
    const bad = await runInMemory({ manifest: m, inputs: {}, action: actions().fn, deps: { validateOutput: () => ['v: must be string'] } });
    expect(bad.run.status).toBe('failed');
    expect(bad.run.error?.code).toBe('output_invalid');
  });

  it('runs compensating steps after a failure; the run still ends failed with the first error', async () => {
    const a = actions({ charge: [err('declined', false)] });
    const result = await runInMemory({
      manifest: manifest([action('charge', 'echo')], { on_failure: { steps: [action('undo', 'echo', { why: '{{ run.error.code }}' })] } }),
      inputs: {},
      action: a.fn,
    });
    expect(result.run.status).toBe('failed');
    expect(result.run.error?.code).toBe('declined');
    expect(a.calls.map((c) => [c.step_id, c.input])).toEqual([['charge', {}], ['undo', { why: 'declined' }]]);
  });

  it('starts the run-level fallback workflow with the failure as inputs', async () => {
    const started: unknown[] = [];
    const result = await runInMemory({
      manifest: manifest([action('a', 'echo')], { on_failure: { workflow: { name: 'notify-ops', range: '^1' } } }),
      inputs: {},
      pins: { 'notify-ops@^1': '1.0.0' },
      action: () => err('boom', false),
      child: (command) => {
        started.push(command);
        return { id: command.run_id, status: 'completed' };
      },
    });
    expect(result.run.status).toBe('failed');
    expect(result.run.fallback_run_id).toBeDefined();
    expect(started).toEqual([expect.objectContaining({ workflow: 'notify-ops', version: '1.0.0', relation: 'run_fallback' })]);
    expect((started[0] as { inputs: Record<string, unknown> }).inputs).toMatchObject({ failed_run_id: result.run.id, error: { code: 'boom' } });
  });

  it('a step fallback workflow stands in for the failed step', async () => {
    const result = await runInMemory({
      manifest: manifest([
        action('summary', 'ai', {}, { on_failure: { workflow: { name: 'plain-summary', range: '*' } } }),
        action('next', 'echo', { text: '{{ steps.summary.output.text }}' }),
      ]),
      inputs: {},
      pins: { 'plain-summary@*': '1.0.0' },
      action: (c) => (c.step_id === 'summary' ? err('provider_not_configured', false) : ok({ echo: c.input })),
      child: (command) => ({ id: command.run_id, status: 'completed', output: { text: 'fallback summary' } }),
    });
    expect(result.run.status).toBe('completed');
    expect(result.run.output).toEqual({ echo: { text: 'fallback summary' } });
  });

  it('secrets reach the action but never the stored input or output', async () => {
    const a = actions({ call: [ok({ echoed: 'Bearer s3cr3t-token' })] });
    const result = await runInMemory({
      manifest: manifest([action('call', 'http', { headers: { authorization: 'Bearer {{ secrets.CRM_TOKEN }}' } })], {
        security: { actions: ['http'], http_hosts: [], secrets: ['CRM_TOKEN'] },
      }),
      inputs: {},
      secrets: { CRM_TOKEN: 's3cr3t-token' },
      action: a.fn,
    });
    expect(a.calls[0].input).toEqual({ headers: { authorization: 'Bearer s3cr3t-token' } });
    const rec = result.steps[0];
    expect(JSON.stringify(rec)).not.toContain('s3cr3t-token');
    expect(rec.input).toEqual({ headers: { authorization: 'Bearer [secret:CRM_TOKEN]' } });
    expect(JSON.stringify(result.run.output)).not.toContain('s3cr3t-token');
  });

  it('an attempt found running after a crash is repeated with the same key, and not counted against retries', () => {
    const m = manifest([action('a', 'echo', {}, { retry: retry({ max_attempts: 1 }) })]);
    const { interpreter, state } = interp(m);
    const now = new Date();
    interpreter.advance(now);
    const first = interpreter.takeRound().actions[0];
    // A new process loads the same state: nothing is in flight here, so the running attempt was interrupted.
    const resumed = new RunInterpreter(m, state, { newRunId: () => 'x' });
    resumed.advance(now, new Set());
    const second = resumed.takeRound().actions[0];
    expect(second.idempotency_key).toBe(first.idempotency_key);
    expect(second.attempt).toBe(2);
    resumed.applyActionResult('a', err('adapter_timeout', true), now);
    resumed.advance(now);
    expect(state.steps.get('a')?.status).toBe('failed');
    expect(state.steps.get('a')?.interruptions).toBe(1);
  });

  it('a step timeout bounds a sub-workflow as a whole and cancels it', async () => {
    const { interpreter, state } = interp(
      manifest([{ kind: 'workflow', id: 'sub', workflow: { name: 'slow', range: '*' }, with: {}, retry: retry({}), timeout_ms: 5_000, source: { pointer: '' } }]),
    );
    state.run.pins = { 'slow@*': '1.0.0' };
    const t0 = new Date('2026-01-01T00:00:00.000Z');
    interpreter.advance(t0);
    const first = interpreter.takeRound();
    expect(first.children).toHaveLength(1);
    expect(first.nextWakeAt).toEqual(new Date(t0.getTime() + 5_000));
    interpreter.advance(new Date(t0.getTime() + 5_000));
    const round = interpreter.takeRound();
    expect(round.cancels).toEqual([{ kind: 'cancel_child', run_id: 'child-1' }]);
    expect(state.run.status).toBe('failed');
    expect(state.run.error?.code).toBe('step_timeout');
  });

  it('emits started, one event per step end, and completed, in order', async () => {
    const result = await runInMemory({ manifest: manifest([action('a', 'echo'), action('b', 'echo')]), inputs: {}, action: actions().fn });
    expect(result.events.map((e) => `${e.type}${e.step_id ? `:${e.step_id}` : ''}`)).toEqual([
      'workflow.started',
      'workflow.step_completed:a',
      'workflow.step_completed:b',
      'workflow.completed',
    ]);
  });
});

describe('ending a run while its compensation runs', () => {
  const failing = () => action('charge', 'echo');
  /** A run whose `charge` failed, now in its compensation (`on_failure.steps`). */
  function inCompensation(compensation: Step[], extra: Partial<ReturnType<typeof manifest>> = {}) {
    const { interpreter, state } = interp(manifest([failing()], { on_failure: { steps: compensation }, ...extra }));
    state.run.pins = { 'undo-charge@^1': '1.0.0' };
    const t0 = new Date('2026-01-01T00:00:00.000Z');
    interpreter.advance(t0);
    interpreter.takeRound();
    interpreter.applyActionResult('charge', err('declined', false), t0);
    interpreter.advanceUntilStable(t0);
    const round = interpreter.takeRound();
    expect(state.steps.get('#on_failure')?.status).toBe('running');
    return { interpreter, state, t0, round };
  }
  const statuses = (state: RunState) => Object.fromEntries([...state.steps.values()].map((r) => [r.path, r.status]));

  it('a cancel cancels the compensation and its sleep: no step is left running', () => {
    const { interpreter, state, t0 } = inCompensation([{ kind: 'sleep', id: 'undo_wait', duration_ms: 3_600_000, source: { pointer: '' } }]);
    state.run.cancel_requested = true;
    interpreter.advance(new Date(t0.getTime() + 1_000));
    const round = interpreter.takeRound();
    expect(state.run.status).toBe('cancelled');
    expect(statuses(state)).toEqual({ charge: 'failed', '#on_failure': 'cancelled', undo_wait: 'cancelled' });
    expect(round.dirtySteps).toEqual(new Set(['#on_failure', 'undo_wait']));
    expect(round.nextWakeAt).toBeUndefined();
  });

  it("a cancel cancels the compensation's sub-workflow run", () => {
    const { interpreter, state, round: started } = inCompensation([
      { kind: 'workflow', id: 'undo', workflow: { name: 'undo-charge', range: '^1' }, with: {}, retry: retry({}), source: { pointer: '' } },
    ]);
    expect(started.children.map((c) => c.run_id)).toEqual(['child-1']);
    state.children.set('child-1', { id: 'child-1', status: 'running' });
    state.run.cancel_requested = true;
    interpreter.advance(new Date());
    const round = interpreter.takeRound();
    expect(round.cancels).toEqual([{ kind: 'cancel_child', run_id: 'child-1' }]);
    expect(state.run.status).toBe('cancelled');
    expect(statuses(state)).toEqual({ charge: 'failed', '#on_failure': 'cancelled', undo: 'cancelled' });
  });

  it("a compensation still running a run timeout after the run's deadline is cancelled, and the run is timed_out", async () => {
    const start = new Date('2026-01-01T00:00:00.000Z');
    const result = await runInMemory({
      manifest: manifest([failing()], {
        timeout_ms: 60_000,
        on_failure: { steps: [{ kind: 'sleep', id: 'undo_wait', duration_ms: 3_600_000, source: { pointer: '' } }] },
      }),
      inputs: {},
      action: () => err('declined', false),
      startAt: start,
    });
    expect(result.run.status).toBe('timed_out');
    expect(result.run.error?.code).toBe('run_timeout');
    expect(result.run.error?.message).toContain('compensation');
    // The deadline (60 s) does not cut the compensation of a failure: a second window of the run's timeout does.
    expect(result.endedAt.getTime() - start.getTime()).toBe(120_000);
    expect(result.steps.map((r) => [r.path, r.status])).toEqual([
      ['charge', 'failed'],
      ['#on_failure', 'cancelled'],
      ['undo_wait', 'cancelled'],
    ]);
  });

  it("a compensation of a failure that finishes after the run's deadline (within the second window) ends the run failed", async () => {
    const result = await runInMemory({
      manifest: manifest([failing()], {
        timeout_ms: 60_000,
        on_failure: { steps: [{ kind: 'sleep', id: 'undo_wait', duration_ms: 90_000, source: { pointer: '' } }, action('undo', 'echo')] },
      }),
      inputs: {},
      action: (c) => (c.step_id === 'charge' ? err('declined', false) : ok({ undone: true })),
    });
    expect(result.run.status).toBe('failed');
    expect(result.run.error?.code).toBe('declined');
    expect(result.stepsTaken).toEqual(['charge', 'undo_wait', 'undo']);
  });
});

describe("the run's timeout", () => {
  const nap = (id: string, ms: number): Step => ({ kind: 'sleep', id, duration_ms: ms, source: { pointer: '' } });

  it('cancels the main path, runs the compensation, then ends timed_out and starts the fallback', async () => {
    const a = actions();
    const started: string[] = [];
    const start = new Date('2026-01-01T00:00:00.000Z');
    const result = await runInMemory({
      manifest: manifest([nap('wait', 10_000)], {
        timeout_ms: 1_000,
        on_failure: { steps: [action('undo', 'http', { why: '{{ run.error.code }}' })], workflow: { name: 'notify-ops', range: '^1' } },
      }),
      pins: { 'notify-ops@^1': '1.0.0' },
      inputs: {},
      action: a.fn,
      child: (c) => {
        started.push(`${c.relation}:${c.workflow}`);
        return { id: c.run_id, status: 'completed' };
      },
      startAt: start,
    });
    expect(result.run.status).toBe('timed_out');
    expect(result.run.error?.code).toBe('run_timeout');
    expect(a.calls.map((c) => [c.step_id, c.input])).toEqual([['undo', { why: 'run_timeout' }]]);
    expect(started).toEqual(['run_fallback:notify-ops']);
    expect(result.endedAt.getTime() - start.getTime()).toBe(1_000);
    expect(result.steps.map((r) => [r.path, r.status])).toEqual([
      ['wait', 'cancelled'],
      ['#on_failure', 'completed'],
      ['undo', 'completed'],
    ]);
    expect(result.events.map((e) => `${e.type}${e.step_id ? `:${e.step_id}` : ''}:${e.status}`)).toEqual([
      'workflow.started:running',
      'workflow.step_completed:undo:completed',
      'workflow.failed:timed_out',
    ]);
  });

  it('aborts the action in flight at the deadline before the compensation starts', () => {
    const { interpreter, state } = interp(manifest([action('charge', 'http')], { timeout_ms: 1_000, on_failure: { steps: [action('undo', 'http')] } }));
    const t0 = new Date('2026-01-01T00:00:00.000Z');
    state.run.deadline_at = new Date(t0.getTime() + 1_000);
    interpreter.advance(t0);
    expect(interpreter.takeRound().nextWakeAt).toEqual(new Date(t0.getTime() + 1_000));
    interpreter.advanceUntilStable(new Date(t0.getTime() + 1_000), new Set(['charge']));
    const round = interpreter.takeRound();
    expect(round.cancels).toEqual([{ kind: 'abort_action', path: 'charge' }]);
    expect(round.actions.map((c) => c.path)).toEqual(['undo']);
    // The compensation is watched until its own bound: one more run timeout.
    expect(round.nextWakeAt).toEqual(new Date(t0.getTime() + 2_000));
    expect(state.run.status).toBe('running');
    expect(state.steps.get('charge')?.status).toBe('cancelled');
    // A result of the aborted attempt that still arrives changes nothing.
    expect(interpreter.applyActionResult('charge', ok({}), new Date(t0.getTime() + 1_100))).toBe(false);
    interpreter.applyActionResult('undo', ok({}), new Date(t0.getTime() + 1_200));
    interpreter.advanceUntilStable(new Date(t0.getTime() + 1_200));
    expect(state.run.status).toBe('timed_out');
    expect(state.run.error?.code).toBe('run_timeout');
  });

  it('bounds the compensation a timeout started: still running a run timeout later, it is cancelled', async () => {
    const start = new Date('2026-01-01T00:00:00.000Z');
    const result = await runInMemory({
      manifest: manifest([nap('wait', 10_000)], { timeout_ms: 1_000, on_failure: { steps: [nap('undo_wait', 3_600_000)] } }),
      inputs: {},
      action: actions().fn,
      startAt: start,
    });
    expect(result.run.status).toBe('timed_out');
    expect(result.run.error?.code).toBe('run_timeout');
    expect(result.endedAt.getTime() - start.getTime()).toBe(2_000);
    expect(result.steps.map((r) => [r.path, r.status])).toEqual([
      ['wait', 'cancelled'],
      ['#on_failure', 'cancelled'],
      ['undo_wait', 'cancelled'],
    ]);
  });

  it('without a compensation ends the run timed_out at the deadline, as before', async () => {
    const start = new Date('2026-01-01T00:00:00.000Z');
    const result = await runInMemory({ manifest: manifest([nap('wait', 10_000)], { timeout_ms: 1_000 }), inputs: {}, action: actions().fn, startAt: start });
    expect(result.run.status).toBe('timed_out');
    expect(result.endedAt.getTime() - start.getTime()).toBe(1_000);
  });
});

describe('conditions must be bools', () => {
  it.each([
    ['inputs.n', { n: 3 }, 'int'],
    ['inputs.s', { s: 'true' }, 'string'],
    ['inputs.missing_ok', { missing_ok: null }, 'null'],
    ['inputs.l', { l: [true] }, 'list'],
  ])('an if of %s fails the step (expression_failed), not skips it', async (expr, inputs, type) => {
    const a = actions();
    const result = await runInMemory({ manifest: manifest([action('gated', 'echo', {}, { if: expr })]), inputs, action: a.fn });
    expect(result.run.status).toBe('failed');
    expect(a.calls).toHaveLength(0);
    expect(result.steps[0]).toMatchObject({ status: 'failed', error: { code: 'expression_failed' } });
    expect(result.run.error?.message).toBe(`if of step gated must be a bool, got ${type} (${expr})`);
  });

  it('an if that is a bool still runs or skips the step', async () => {
    const run = (flag: boolean) => runInMemory({ manifest: manifest([action('gated', 'echo', {}, { if: 'inputs.flag' })]), inputs: { flag }, action: actions().fn });
    expect((await run(true)).stepsTaken).toEqual(['gated']);
    const skipped = await run(false);
    expect(skipped.run.status).toBe('completed');
    expect(skipped.steps[0]).toMatchObject({ status: 'skipped', decision: { skipped: 'condition_false' } });
  });

  it("a non-bool if goes through the step's on_failure like any failure of it", async () => {
    const result = await runInMemory({
      manifest: manifest([action('gated', 'echo', {}, { if: 'inputs.n', on_failure: { continue: true } }), action('next', 'echo')]),
      inputs: { n: 1 },
      action: actions().fn,
    });
    expect(result.run.status).toBe('completed');
    expect(result.steps.map((r) => [r.path, r.status, r.error?.code ?? null])).toEqual([
      ['gated', 'failed', 'expression_failed'],
      ['next', 'completed', null],
    ]);
  });

  it("a switch case whose when is not a bool fails the switch instead of falling to the default", async () => {
    const a = actions();
    const result = await runInMemory({
      manifest: manifest([
        {
          kind: 'switch',
          id: 'route',
          cases: [{ when: 'inputs.severity', steps: [action('escalate', 'echo')], source: { pointer: '' } }],
          default: [action('ignore', 'echo')],
          source: { pointer: '' },
        },
      ]),
      inputs: { severity: 'CRITICAL' },
      action: a.fn,
    });
    expect(result.run.status).toBe('failed');
    expect(a.calls).toHaveLength(0);
    expect(result.run.error).toMatchObject({ code: 'expression_failed', message: 'switch case 0 of step route must be a bool, got string (inputs.severity)' });
  });
});

describe('sleep for / until computed at run time', () => {
  const napFor = (wait: string) =>
    runInMemory({
      manifest: manifest([{ kind: 'sleep', id: 'nap', for: '{{ inputs.wait }}', source: { pointer: '' } }, action('after', 'echo')]),
      inputs: { wait },
      action: actions().fn,
    });

  it.each(['100000000d', '365d', '30d1ms'])('fails the step when `for` is %s, beyond the longest sleep (30d)', async (wait) => {
    const result = await napFor(wait);
    expect(result.run.status).toBe('failed');
    expect(result.run.error).toMatchObject({ code: 'sleep_too_long', message: expect.stringContaining('30d') });
    expect(result.steps.map((r) => [r.step_id, r.status])).toEqual([['nap', 'failed']]);
  });

  it('sleeps up to the longest sleep allowed', async () => {
    const result = await napFor('30d');
    expect(result.run.status).toBe('completed');
    expect(result.stepsTaken).toEqual(['nap', 'after']);
  });

  it.each([
    ['2027-01-01T00:00:00Z', 'sleep_too_long'],
    ['+275760-09-13T00:00:01Z', 'sleep_until_invalid'],
  ])('fails the step when `until` is %s, past the longest sleep (%s)', async (at, code) => {
    const result = await runInMemory({
      manifest: manifest([{ kind: 'sleep', id: 'nap', until: '{{ inputs.at }}', source: { pointer: '' } }]),
      inputs: { at },
      action: actions().fn,
      startAt: new Date('2026-01-01T00:00:00.000Z'),
    });
    expect(result.run.status).toBe('failed');
    expect(result.run.error?.code).toBe(code);
    expect(result.steps[0].status).toBe('failed');
  });
});

describe('parallel join any', () => {
  it('a failed branch its on_failure let go on does not win; the branch that completes does', async () => {
    const par: Step = {
      kind: 'parallel',
      id: 'race',
      join: 'any',
      fail_fast: true,
      branches: [action('bad', 'echo', {}, { on_failure: { continue: true } }), { kind: 'sleep', id: 'good', duration_ms: 2_000, source: { pointer: '' } }],
      source: { pointer: '' },
    };
    const result = await runInMemory({ manifest: manifest([par]), inputs: {}, action: () => err('boom', false) });
    expect(result.run.status).toBe('completed');
    expect(result.run.output).toEqual({ winner: 'good', output: { slept_until: '2026-01-01T00:00:02.000Z' } });
    expect(result.steps.map((r) => [r.path, r.status])).toEqual([
      ['race', 'completed'],
      ['bad', 'failed'],
      ['good', 'completed'],
    ]);
  });

  it('a failed branch stood in for by a fallback workflow that completed wins with the fallback\'s output', async () => {
    const par: Step = {
      kind: 'parallel',
      id: 'race',
      join: 'any',
      fail_fast: true,
      branches: [
        action('primary', 'ai', {}, { on_failure: { workflow: { name: 'plain-summary', range: '*' } } }),
        action('other', 'echo', {}, { on_failure: { continue: true } }),
      ],
      source: { pointer: '' },
    };
    const result = await runInMemory({
      manifest: manifest([par]),
      inputs: {},
      pins: { 'plain-summary@*': '1.0.0' },
      action: () => err('provider_down', false),
      child: (command) => ({ id: command.run_id, status: 'completed', output: { text: 'fallback summary' } }),
    });
    expect(result.run.status).toBe('completed');
    expect(result.run.output).toEqual({ winner: 'primary', output: { text: 'fallback summary' } });
  });

  it('fails with the first error when no branch completed', async () => {
    const par: Step = {
      kind: 'parallel',
      id: 'race',
      join: 'any',
      fail_fast: true,
      branches: [action('bad', 'echo', {}, { on_failure: { continue: true } }), action('worse', 'echo', {}, { on_failure: { continue: true } })],
      source: { pointer: '' },
    };
    const result = await runInMemory({ manifest: manifest([par]), inputs: {}, action: () => err('boom', false) });
    expect(result.run.status).toBe('failed');
    expect(result.run.error?.code).toBe('boom');
  });
});

function interp(m: ReturnType<typeof manifest>, inputs: Record<string, unknown> = {}): { interpreter: RunInterpreter; state: RunState } {
  const state: RunState = {
    run: { id: 'run-1', workflow: m.name, version: m.version, status: 'pending', inputs, trace_id: 't', pins: {}, cancel_requested: false, created_at: new Date() },
    steps: new Map(),
    signals: [],
    children: new Map(),
  };
  return { interpreter: new RunInterpreter(m, state, { newRunId: () => 'child-1', random: () => 0.5 }), state };
}

describe('advanceUntilStable', () => {
  it('does not take an attempt the same round started for an interrupted one', () => {
    const m = manifest([action('a', 'echo'), action('b', 'echo')]);
    const state: RunState = {
      run: { id: 'r', workflow: m.name, version: m.version, status: 'pending', inputs: {}, trace_id: 't', pins: {}, cancel_requested: false, created_at: new Date() },
      steps: new Map(),
      signals: [],
      children: new Map(),
    };
    const interpreter = new RunInterpreter(m, state, { newRunId: () => 'c' });
    interpreter.advanceUntilStable(new Date());
    const round = interpreter.takeRound();
    expect(round.actions.map((a) => [a.path, a.attempt])).toEqual([['a', 1]]);
    expect(state.steps.get('a')?.interruptions).toBe(0);
  });
});

describe('after a retry of the run', () => {
  /** What POST /runs/<id>/retry does to the state (RunsService.resume): a new generation, the failure set back. */
  function retryByHand(state: RunState, compensation: string[]): void {
    state.steps.delete('#on_failure');
    for (const rec of state.steps.values()) {
      const again = compensation.includes(rec.step_id) || rec.status === 'failed' || rec.status === 'cancelled';
      if (!again) continue;
      Object.assign(rec, { status: 'pending', error: undefined, wake_at: undefined, started_at: undefined, completed_at: undefined, attempt_base: rec.attempts - rec.interruptions });
      if (compensation.includes(rec.step_id)) Object.assign(rec, { input: undefined, output: undefined, decision: undefined });
    }
    Object.assign(state.run, { status: 'running', error: undefined, completed_at: undefined, retry_generation: (state.run.retry_generation ?? 0) + 1 });
  }

  /** Advances until the run waits for actions, answering each from `answer`; returns the commands performed. */
  function drive(interpreter: RunInterpreter, now: Date, answer: (c: ActionCommand) => ActionResult): ActionCommand[] {
    const performed: ActionCommand[] = [];
    for (let i = 0; i < 20; i++) {
      interpreter.advanceUntilStable(now);
      const { actions: commands } = interpreter.takeRound();
      if (commands.length === 0) return performed;
      for (const command of commands) {
        performed.push(command);
        interpreter.applyActionResult(command.path, answer(command), now);
      }
    }
    throw new Error('the run did not settle');
  }

  const m = manifest([action('charge', 'echo')], {
    on_failure: { steps: [action('report', 'echo', {}, { if: 'steps.charge.error.code == "declined"' }), action('refund', 'echo')] },
  });

  it("carries keys of the retry's own generation, the same across a crash within it; a run never retried keeps <run_id>:<path>", () => {
    const { interpreter, state } = interp(m);
    const now = new Date('2026-01-01T00:00:00.000Z');
    const first = drive(interpreter, now, (c) => (c.step_id === 'charge' ? err('declined', false) : ok({})));
    expect(first.map((c) => [c.path, c.attempt, c.idempotency_key])).toEqual([
      ['charge', 1, 'run-1:charge'],
      ['report', 1, 'run-1:report'],
      ['refund', 1, 'run-1:refund'],
    ]);
    expect(state.run.status).toBe('failed');

    retryByHand(state, ['report', 'refund']);
    const retried = new RunInterpreter(m, state, { newRunId: () => 'x' });
    retried.advanceUntilStable(now);
    const charge = retried.takeRound().actions;
    expect(charge.map((c) => [c.path, c.attempt, c.idempotency_key])).toEqual([['charge', 2, 'run-1:charge:retry-1']]);
    // The process dies with the attempt out: the next one repeats it under the same key.
    const resumed = new RunInterpreter(m, state, { newRunId: () => 'x' });
    const second = drive(resumed, now, (c) => (c.step_id === 'charge' ? err('declined', false) : ok({})));
    expect(second.map((c) => [c.path, c.attempt, c.idempotency_key])).toEqual([
      ['charge', 3, 'run-1:charge:retry-1'],
      ['report', 2, 'run-1:report:retry-1'],
      ['refund', 2, 'run-1:refund:retry-1'],
    ]);

    retryByHand(state, ['report', 'refund']);
    const third = drive(new RunInterpreter(m, state, { newRunId: () => 'x' }), now, (c) => (c.step_id === 'charge' ? err('declined', false) : ok({})));
    expect(new Set(third.map((c) => c.idempotency_key))).toEqual(new Set(['run-1:charge:retry-2', 'run-1:report:retry-2', 'run-1:refund:retry-2']));
  });

  it("decides a kept compensation step's if again, from the run as it is now", () => {
    const { interpreter, state } = interp(m);
    const now = new Date('2026-01-01T00:00:00.000Z');
    drive(interpreter, now, (c) => (c.step_id === 'charge' ? err('declined', false) : ok({})));
    expect(state.steps.get('report')).toMatchObject({ status: 'completed', attempts: 1 });

    // The second failure is another one: the report's condition no longer holds.
    retryByHand(state, ['report', 'refund']);
    const performed = drive(new RunInterpreter(m, state, { newRunId: () => 'x' }), now, (c) => (c.step_id === 'charge' ? err('expired', false) : ok({})));
    expect(performed.map((c) => c.path)).toEqual(['charge', 'refund']);
    expect(state.run).toMatchObject({ status: 'failed', error: { code: 'expired' } });
    expect(state.steps.get('report')).toMatchObject({ status: 'skipped', attempts: 1, decision: { skipped: 'condition_false' } });

    // And again when it holds once more: the step runs, its attempts numbered on.
    retryByHand(state, ['report', 'refund']);
    const again = drive(new RunInterpreter(m, state, { newRunId: () => 'x' }), now, (c) => (c.step_id === 'charge' ? err('declined', false) : ok({})));
    expect(again.map((c) => [c.path, c.attempt])).toEqual([
      ['charge', 3],
      ['report', 2],
      ['refund', 3],
    ]);
  });

  it("decides a main-path step's if again: one whose if failed to evaluate fails again instead of running unasked", () => {
    const gated = manifest([action('charge', 'echo', {}, { if: 'inputs.customer.tier == "gold"' })]);
    const { interpreter, state } = interp(gated);
    const now = new Date('2026-01-01T00:00:00.000Z');
    expect(drive(interpreter, now, () => ok({}))).toEqual([]);
    expect(state.run.status).toBe('failed');
    expect(state.steps.get('charge')).toMatchObject({ status: 'failed', attempts: 0 });
    const firstError = state.steps.get('charge')!.error;

    retryByHand(state, []);
    expect(drive(new RunInterpreter(gated, state, { newRunId: () => 'x' }), now, () => ok({}))).toEqual([]);
    expect(state.run.status).toBe('failed');
    expect(state.steps.get('charge')).toMatchObject({ status: 'failed', attempts: 0, error: { code: firstError!.code } });
  });

  it('does not decide it again while the step waits out a backoff of its own attempts', () => {
    const flaky = manifest([action('charge', 'echo')], {
      on_failure: { steps: [action('report', 'echo', {}, { if: 'steps.charge.error.code == "declined"', retry: retry({ max_attempts: 3 }) })] },
    });
    const { interpreter, state } = interp(flaky);
    const now = new Date('2026-01-01T00:00:00.000Z');
    interpreter.advance(now);
    interpreter.applyActionResult('charge', err('declined', false), now);
    interpreter.advanceUntilStable(now);
    interpreter.takeRound();
    interpreter.applyActionResult('report', err('adapter_timeout', true), now);
    expect(state.steps.get('report')).toMatchObject({ status: 'pending', attempts: 1 });
    // The condition would not hold now; the step was started in this generation, so it is not asked again.
    state.steps.get('charge')!.error = { code: 'other', message: 'other', retryable: false };
    const later = new Date(now.getTime() + 60_000);
    interpreter.advanceUntilStable(later);
    expect(interpreter.takeRound().actions.map((c) => [c.path, c.attempt])).toEqual([['report', 2]]);
  });
});

describe('retry of a sub-workflow step', () => {
  const sub = (policy: Partial<RetryPolicy>): Step => ({
    kind: 'workflow',
    id: 'sub',
    workflow: { name: 'child', range: '^1' },
    with: { n: '{{ inputs.n }}' },
    retry: retry(policy),
    source: { pointer: '' },
  });
  const failedChild = (id: string, code: string, retryable: boolean) => ({ id, status: 'failed' as const, error: { code, message: code, retryable } });

  it('starts a fresh child after the backoff for a retryable child error, up to max_attempts', async () => {
    const ends = [failedChild('', 'http_unexpected_status', true), failedChild('', 'http_unexpected_status', true)];
    const started: string[] = [];
    const start = new Date('2026-01-01T00:00:00.000Z');
    const result = await runInMemory({
      manifest: manifest([sub({ max_attempts: 3, initial_interval_ms: 1000 })]),
      inputs: { n: 7 },
      pins: { 'child@^1': '1.0.0' },
      startAt: start,
      action: actions().fn,
      child: (command) => {
        started.push(command.run_id);
        expect(command.inputs).toEqual({ n: 7 });
        return ends.shift() ?? { id: command.run_id, status: 'completed', output: { ok: started.length } };
      },
    });
    expect(result.run.status).toBe('completed');
    expect(result.run.output).toEqual({ ok: 3 });
    expect(new Set(started).size).toBe(3);
    const rec = result.steps.find((s) => s.path === 'sub');
    expect(rec).toMatchObject({ status: 'completed', attempts: 3, child_run_id: started[2] });
    // random() = 0.5: 0.5 × 1000 then 0.5 × 2000
    expect(result.endedAt.getTime() - start.getTime()).toBe(500 + 1000);
  });

  it("does not retry a child whose error is not retryable, or whose code the step's non_retryable lists, or that was cancelled", async () => {
    const cases: [ChildRunView, Partial<RetryPolicy>][] = [
      [failedChild('', 'missing_recipient', false), {}],
      [failedChild('', 'http_unexpected_status', true), { non_retryable: ['http_unexpected_status'] }],
      [{ id: '', status: 'cancelled', error: { code: 'cancelled', message: 'cancelled', retryable: true } }, {}],
    ];
    for (const [end, policy] of cases) {
      let children = 0;
      const result = await runInMemory({
        manifest: manifest([sub({ max_attempts: 3, ...policy })]),
        inputs: { n: 1 },
        pins: { 'child@^1': '1.0.0' },
        action: actions().fn,
        child: () => {
          children++;
          return end;
        },
      });
      expect(result.run.status).toBe('failed');
      expect(result.run.error?.code).toBe('subworkflow_failed');
      expect(children).toBe(1);
    }
  });

  it('a restart from the state a round wrote does not start a second child for the same attempt', () => {
    const m = manifest([sub({ max_attempts: 3, initial_interval_ms: 1000 })]);
    let ids = 0;
    const state: RunState = {
      run: { id: 'r', workflow: m.name, version: m.version, status: 'pending', inputs: { n: 1 }, trace_id: 't', pins: { 'child@^1': '1.0.0' }, cancel_requested: false, created_at: new Date() },
      steps: new Map(),
      signals: [],
      children: new Map(),
    };
    const now = new Date('2026-01-01T00:00:00.000Z');
    const first = new RunInterpreter(m, state, { newRunId: () => `c${++ids}`, random: () => 0.5 });
    first.advanceUntilStable(now);
    expect(first.takeRound().children.map((c) => c.run_id)).toEqual(['c1']);
    // The child fails retryably; the backoff (500 ms) is written; the process dies; another picks the run up.
    state.children.set('c1', failedChild('c1', 'adapter_timeout', true));
    first.advanceUntilStable(now);
    expect(first.takeRound().children).toEqual([]);
    const again = new RunInterpreter(m, state, { newRunId: () => `c${++ids}`, random: () => 0.5 });
    again.advanceUntilStable(new Date(now.getTime() + 499));
    expect(again.takeRound().children).toEqual([]);
    again.advanceUntilStable(new Date(now.getTime() + 500));
    expect(again.takeRound().children.map((c) => c.run_id)).toEqual(['c2']);
    // The child of attempt 2 is in the state the round wrote: a restart now waits for it, it starts no other.
    const third = new RunInterpreter(m, state, { newRunId: () => `c${++ids}`, random: () => 0.5 });
    third.advanceUntilStable(new Date(now.getTime() + 10_000));
    expect(third.takeRound().children).toEqual([]);
    expect(state.steps.get('sub')).toMatchObject({ status: 'running', attempts: 2, child_run_id: 'c2' });
  });
});
