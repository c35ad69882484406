/**
 * POST /api/runs/<id>/retry against a real PostgreSQL, with a stub provider on 127.0.0.1: what a retry runs again
 * and what it leaves as it ended.
 */
import type { RunView } from '@pancha/contracts';
import { eventually, IdempotentSink } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';

jest.setTimeout(60_000);

const ENDED = ['completed', 'failed', 'cancelled', 'timed_out'];

function workflows(url: string): Record<string, string> {
  return {
    'rparent.yaml': `
name: rparent
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: sub
    workflow: rchild@^1
    with: { email: "{{ inputs.e }}" }
`,
    'rchild.yaml': `
name: rchild
version: 1.0.0
inputs: { type: object, required: [email], properties: { email: { type: string } } }
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: send
    action: http
    with: { method: POST, url: "${url}/send", body: { to: "{{ inputs.email }}" } }
`,
    'rcomp.yaml': `
name: rcomp
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: call
    action: http
    with: { method: POST, url: "${url}/call" }
on_failure:
  steps:
    - id: undo
      action: http
      with: { method: POST, url: "${url}/undo" }
    - id: never
      if: "false"
      action: http
      with: { method: POST, url: "${url}/never" }
`,
    'rcond.yaml': `
name: rcond
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: call
    action: http
    with: { method: POST, url: "${url}/c-call" }
  - id: later
    action: http
    with: { method: POST, url: "${url}/c-later" }
on_failure:
  steps:
    - id: report
      if: steps.call.status == "failed"
      action: http
      with: { method: POST, url: "${url}/c-report" }
`,
    'rcgroup.yaml': `
name: rcgroup
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: call
    action: http
    with: { method: POST, url: "${url}/g-call" }
  - id: later
    action: http
    with: { method: POST, url: "${url}/g-later" }
on_failure:
  steps:
    - id: tidy
      if: steps.call.status == "failed"
      parallel:
        - id: tidy_a
          action: http
          with: { method: POST, url: "${url}/g-tidy-a" }
        - id: tidy_b
          steps:
            - id: tidy_b1
              action: http
              with: { method: POST, url: "${url}/g-tidy-b" }
`,
    'rany.yaml': `
name: rany
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: race
    parallel:
      - id: fast
        action: http
        with: { method: POST, url: "${url}/fast" }
      - id: lazy
        action: http
        with: { method: POST, url: "${url}/lazy" }
    join: any
  - id: after
    action: http
    with: { method: POST, url: "${url}/after" }
`,
    'reach.yaml': `
name: reach
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: each
    foreach: "{{ inputs.items }}"
    steps:
      - id: duel
        parallel:
          - id: quick
            action: http
            with: { method: POST, url: "${url}/quick" }
          - id: slow
            action: http
            with: { method: POST, url: "${url}/slow" }
        join: any
  - id: last
    action: http
    with: { method: POST, url: "${url}/last" }
`,
    'rletgo.yaml': `
name: rletgo
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: pair
    parallel:
      - id: good
        action: http
        with: { method: POST, url: "${url}/good" }
      - id: bad
        action: http
        with: { method: POST, url: "${url}/bad" }
    on_failure: { continue: true }
  - id: next
    action: http
    with: { method: POST, url: "${url}/next" }
`,
  };
}

describe('POST /api/runs/:id/retry', () => {
  const sink = new IdempotentSink();
  let h: ExecutorHarness;

  beforeAll(async () => {
    await sink.start();
    h = await startExecutorHarness({ workflows: workflows(sink.url) });
  });

  afterAll(async () => {
    await h?.close();
    await sink.close();
  });

  beforeEach(() => {
    sink.decide = () => ({ status: 200, body: { ok: true } });
  });

  const requests = (path: string) => sink.requests.filter((r) => r.path === path);
  const ended = (runId: string): Promise<RunView> =>
    eventually(async () => {
      const run = await h.run(runId);
      if (!ENDED.includes(run.status)) throw new Error(`run ${runId} is ${run.status}`);
      return run;
    });
  const step = (run: RunView, path: string) => {
    const found = run.steps.find((s) => s.path === path);
    if (!found) throw new Error(`no step ${path} in ${JSON.stringify(run.steps.map((s) => s.path))}`);
    return found;
  };
  const retry = async (runId: string): Promise<void> => {
    const res = await h.call('POST', `/api/runs/${runId}/retry`);
    expect(res.status).toBe(202);
  };

  it('a sub-workflow refused for invalid inputs is not resumed by the retry: the step checks its inputs again and is refused again', async () => {
    const runId = await h.startRun('rparent', '1.0.0', { e: 42 });
    const failed = await ended(runId);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'subworkflow_failed', message: expect.stringContaining('inputs_invalid') });
    const refusedId = step(failed, 'sub').child_run_id as string;
    expect(await h.run(refusedId)).toMatchObject({ status: 'failed', error: { code: 'inputs_invalid' }, started_at: null });

    // Retried alone, the refused child would run with the inputs it refused: only its parent's step starts it again.
    const direct = await h.call('POST', `/api/runs/${refusedId}/retry`);
    expect(direct.status).toBe(409);
    expect(direct.body).toMatchObject({ code: 'run_not_retryable', message: expect.stringContaining(runId) });

    await retry(runId);
    const again = await ended(runId);
    expect(again.status).toBe('failed');
    expect(again.error).toMatchObject({ code: 'subworkflow_failed', message: expect.stringContaining('inputs_invalid') });
    // A new child run, refused like the first; the first stays as it ended; the provider was never called.
    const secondId = step(again, 'sub').child_run_id as string;
    expect(secondId).not.toBe(refusedId);
    expect(await h.run(secondId)).toMatchObject({ status: 'failed', error: { code: 'inputs_invalid' }, inputs: { email: 42 } });
    expect(await h.run(refusedId)).toMatchObject({ status: 'failed', error: { code: 'inputs_invalid' }, started_at: null });
    expect(again.children.map((c) => c.run_id).sort()).toEqual([refusedId, secondId].sort());
    expect(requests('/send')).toHaveLength(0);
  });

  it('a retried run that fails again runs its compensation again, under keys of the retry: the provider performs it again', async () => {
    sink.decide = (req) => (req.path === '/call' ? { status: 400, body: { error: 'refused' } } : { status: 200, body: { ok: true } });
    const runId = await h.startRun('rcomp', '1.0.0', {});
    const first = await ended(runId);
    expect(first.status).toBe('failed');
    expect(step(first, 'undo').status).toBe('completed');
    expect(step(first, 'never').status).toBe('skipped');
    expect(requests('/undo')).toHaveLength(1);

    await retry(runId);
    const second = await ended(runId);
    expect(second.status).toBe('failed');
    expect(second.error).toMatchObject({ code: first.error?.code });
    // The failed step ran again as a new request (a provider remembering the first key would answer its failure).
    expect(requests('/call').map((r) => r.key)).toEqual([`${runId}:call`, `${runId}:call:retry-1`]);
    // The compensation ran again for the second failure: its step completed again, after a second attempt with the
    // retry's key. A provider that honours keys performed it twice, not once and then a replay of the first answer.
    expect(requests('/undo')).toHaveLength(2);
    const undo = step(second, 'undo');
    expect(undo.status).toBe('completed');
    expect(undo.attempts.map((a) => [a.attempt, a.status, a.idempotency_key])).toEqual([
      [1, 'completed', `${runId}:undo`],
      [2, 'completed', `${runId}:undo:retry-1`],
    ]);
    expect(requests('/undo').map((r) => r.key)).toEqual([`${runId}:undo`, `${runId}:undo:retry-1`]);
    expect(sink.effects.get(`${runId}:undo`)).toBe(1);
    expect(sink.effects.get(`${runId}:undo:retry-1`)).toBe(1);
    // Its `if` was decided again (still false): the step did not run.
    expect(step(second, 'never').status).toBe('skipped');
    expect(requests('/never')).toHaveLength(0);

    // A second retry is a generation of its own again.
    await retry(runId);
    const third = await ended(runId);
    expect(third.status).toBe('failed');
    expect(step(third, 'undo').attempts.map((a) => a.idempotency_key)).toEqual([`${runId}:undo`, `${runId}:undo:retry-1`, `${runId}:undo:retry-2`]);
    expect(sink.effects.get(`${runId}:undo:retry-2`)).toBe(1);
  });

  it("a compensation step that ran before the retry has its if decided again when the run fails again", async () => {
    let calls = 0;
    sink.decide = (req) => {
      // The first attempt of `call` fails; retried, it completes and `later` fails instead.
      if (req.path === '/c-call') return ++calls === 1 ? { status: 400, body: { error: 'refused' } } : { status: 200, body: { ok: true } };
      if (req.path === '/c-later') return { status: 400, body: { error: 'refused' } };
      return { status: 200, body: { ok: true } };
    };
    const runId = await h.startRun('rcond', '1.0.0', {});
    const first = await ended(runId);
    expect(first.status).toBe('failed');
    expect(step(first, 'report').status).toBe('completed');
    expect(requests('/c-report').filter((r) => r.key?.startsWith(runId))).toHaveLength(1);

    await retry(runId);
    const second = await ended(runId);
    expect(second.status).toBe('failed');
    expect(step(second, 'call').status).toBe('completed');
    expect(step(second, 'later').status).toBe('failed');
    // `call` did not fail this time: the report's condition is false now, and it did not run again.
    expect(step(second, 'report')).toMatchObject({ status: 'skipped', decision: { skipped: 'condition_false' } });
    expect(step(second, 'report').attempts.map((a) => a.attempt)).toEqual([1]);
    expect(requests('/c-report').filter((r) => r.key?.startsWith(runId))).toHaveLength(1);
  });

  it('a compensation container skipped when its if is decided again skips the steps it kept: no step of the ended run stays pending', async () => {
    let calls = 0;
    sink.decide = (req) => {
      // The first attempt of `call` fails; retried, it completes and `later` fails instead.
      if (req.path === '/g-call') return ++calls === 1 ? { status: 400, body: { error: 'refused' } } : { status: 200, body: { ok: true } };
      if (req.path === '/g-later') return { status: 400, body: { error: 'refused' } };
      return { status: 200, body: { ok: true } };
    };
    const runId = await h.startRun('rcgroup', '1.0.0', {});
    const first = await ended(runId);
    expect(first.status).toBe('failed');
    expect(['tidy', 'tidy_a', 'tidy_b', 'tidy_b1'].map((p) => step(first, p).status)).toEqual(['completed', 'completed', 'completed', 'completed']);

    await retry(runId);
    const second = await ended(runId);
    expect(second.status).toBe('failed');
    expect(step(second, 'later').status).toBe('failed');
    // `call` did not fail this time: the compensation's parallel is skipped, and with it the steps it kept (they ran
    // an attempt before the retry), which do not run again.
    expect(step(second, 'tidy')).toMatchObject({ status: 'skipped', decision: { skipped: 'condition_false' } });
    expect(step(second, 'tidy_a')).toMatchObject({ status: 'skipped', decision: { skipped: 'skipped with tidy' } });
    expect(step(second, 'tidy_b1')).toMatchObject({ status: 'skipped', decision: { skipped: 'skipped with tidy' } });
    expect(second.steps.filter((s) => !['completed', 'failed', 'skipped', 'cancelled'].includes(s.status))).toEqual([]);
    expect(requests('/g-tidy-a').filter((r) => r.key?.startsWith(runId))).toHaveLength(1);
    expect(requests('/g-tidy-b').filter((r) => r.key?.startsWith(runId))).toHaveLength(1);
  });

  it('a join: any loser stays cancelled after a retry, inside a parallel that completed', async () => {
    let afterCalls = 0;
    sink.decide = (req) => {
      // The loser is still waiting for its answer when the winner completes; it is cancelled, its request abandoned.
      if (req.path === '/lazy') return { status: 200, body: { ok: true }, delayMs: 20_000 };
      if (req.path === '/after') return ++afterCalls === 1 ? { status: 400, body: { error: 'refused' } } : { status: 200, body: { ok: true } };
      return { status: 200, body: { ok: true } };
    };
    const runId = await h.startRun('rany', '1.0.0', {});
    const failed = await ended(runId);
    expect(failed.status).toBe('failed');
    expect(step(failed, 'race').status).toBe('completed');
    expect(step(failed, 'lazy').status).toBe('cancelled');

    await retry(runId);
    const done = await ended(runId);
    expect(done.status).toBe('completed');
    expect(Object.fromEntries(done.steps.map((s) => [s.path, s.status]))).toEqual({
      race: 'completed',
      fast: 'completed',
      lazy: 'cancelled',
      after: 'completed',
    });
    expect(requests('/fast')).toHaveLength(1);
    expect(requests('/lazy')).toHaveLength(1);
  });

  it('join: any losers inside foreach items stay cancelled after a retry', async () => {
    let lastCalls = 0;
    sink.decide = (req) => {
      if (req.path === '/slow') return { status: 200, body: { ok: true }, delayMs: 20_000 };
      if (req.path === '/last') return ++lastCalls === 1 ? { status: 400, body: { error: 'refused' } } : { status: 200, body: { ok: true } };
      return { status: 200, body: { ok: true } };
    };
    const runId = await h.startRun('reach', '1.0.0', { items: ['a', 'b'] });
    const failed = await ended(runId);
    expect(failed.status).toBe('failed');
    expect(step(failed, 'each[1].slow').status).toBe('cancelled');

    await retry(runId);
    const done = await ended(runId);
    expect(done.status).toBe('completed');
    expect(Object.fromEntries(done.steps.map((s) => [s.path, s.status]))).toEqual({
      each: 'completed',
      'each[0]': 'completed',
      'each[0].duel': 'completed',
      'each[0].quick': 'completed',
      'each[0].slow': 'cancelled',
      'each[1]': 'completed',
      'each[1].duel': 'completed',
      'each[1].quick': 'completed',
      'each[1].slow': 'cancelled',
      last: 'completed',
    });
    expect(requests('/slow')).toHaveLength(2);
  });

  it('a failed branch of a step its on_failure let go on is not run again by a retry', async () => {
    let nextCalls = 0;
    sink.decide = (req) => {
      if (req.path === '/bad') return { status: 400, body: { error: 'refused' } };
      if (req.path === '/next') return ++nextCalls === 1 ? { status: 400, body: { error: 'refused' } } : { status: 200, body: { ok: true } };
      return { status: 200, body: { ok: true } };
    };
    const runId = await h.startRun('rletgo', '1.0.0', {});
    const failed = await ended(runId);
    expect(failed.status).toBe('failed');
    expect(step(failed, 'pair')).toMatchObject({ status: 'failed', handled: true });
    expect(step(failed, 'bad').status).toBe('failed');

    await retry(runId);
    const done = await ended(runId);
    expect(done.status).toBe('completed');
    expect(step(done, 'pair')).toMatchObject({ status: 'failed', handled: true });
    expect(step(done, 'bad').status).toBe('failed');
    expect(step(done, 'next').status).toBe('completed');
    expect(requests('/bad')).toHaveLength(1);
  });
});
