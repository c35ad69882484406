import type { RunView } from '@pancha/contracts';
import { eventually, IdempotentSink } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';

jest.setTimeout(60_000);

const sink = new IdempotentSink();

/**
 * A run that reaches its deadline stops its main path, then runs its compensation (`on_failure.steps`) as a failed
 * run does, and ends `timed_out`; the compensation is bounded by one more run timeout after the deadline. Time is
 * moved by hand (ManualClock): nothing here waits for a real timer.
 */
function workflows(s: string): Record<string, string> {
  return {
    'saga.yaml': `
name: saga
version: 1.0.0
timeout: 1m
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: wait
    sleep: 10m
on_failure:
  steps:
    - id: undo
      action: http
      with: { method: POST, url: "${s}/undo", body: { why: "{{ run.error.code }}" } }
  workflow: notify-ops@^1
`,
    'slow-saga.yaml': `
name: slow-saga
version: 1.0.0
timeout: 1m
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: wait
    sleep: 10m
on_failure:
  steps:
    - id: undo_wait
      sleep: 1h
`,
    'notify-ops.yaml': `
name: notify-ops
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: page
    action: http
    with: { method: POST, url: "${s}/page", body: { failed: "{{ inputs.failed_run_id }}" } }
`,
  };
}

describe('a run that reaches its deadline (PostgreSQL, manual clock)', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    await sink.start();
    h = await startExecutorHarness({ workflows: workflows(sink.url), manualClock: true });
  });

  afterAll(async () => {
    await h?.close();
    await sink.close();
  });

  const statusOf = (run: RunView, stepId: string): string | undefined => run.steps.find((st) => st.step_id === stepId)?.status;

  /** The run once `stepId` is running (the worker has written the round that started it). */
  async function whenRunning(runId: string, stepId: string): Promise<RunView> {
    return eventually(async () => {
      const run = await h.run(runId);
      if (statusOf(run, stepId) !== 'running') throw new Error(`${stepId} is ${statusOf(run, stepId)}`);
      return run;
    });
  }

  async function ended(runId: string): Promise<RunView> {
    return eventually(async () => {
      const run = await h.run(runId);
      if (!['completed', 'failed', 'cancelled', 'timed_out'].includes(run.status)) throw new Error(`run is ${run.status}`);
      return run;
    });
  }

  it('cancels the main path, runs the compensation, ends timed_out and starts the fallback', async () => {
    const runId = await h.startRun('saga', '1.0.0', {});
    await whenRunning(runId, 'wait');
    h.clock!.advance(61_000);

    const run = await ended(runId);
    expect(run.status).toBe('timed_out');
    expect(run.error?.code).toBe('run_timeout');
    expect(run.steps.map((st) => [st.path, st.status])).toEqual(
      expect.arrayContaining([
        ['wait', 'cancelled'],
        ['#on_failure', 'completed'],
        ['undo', 'completed'],
      ]),
    );
    // The compensation's effect happened once, under its idempotency key, and saw why the run failed.
    const undo = sink.requests.filter((r) => r.path === '/undo' && r.key === `${runId}:undo`);
    expect(undo).toHaveLength(1);
    expect(undo[0].body).toEqual({ why: 'run_timeout' });
    // The fallback workflow started as before, and runs.
    expect(run.fallback_run_id).toEqual(expect.any(String));
    const fallback = await ended(run.fallback_run_id as string);
    expect(fallback.status).toBe('completed');
    expect(sink.requests.filter((r) => r.path === '/page' && (r.body as { failed?: string }).failed === runId)).toHaveLength(1);
  });

  it('keeps waking a compensation that waits, and cancels it a run timeout after the deadline', async () => {
    const runId = await h.startRun('slow-saga', '1.0.0', {});
    await whenRunning(runId, 'wait');
    h.clock!.advance(61_000);

    // Past the deadline: the main path is stopped and the compensation is waiting, the run not ended yet.
    const compensating = await whenRunning(runId, 'undo_wait');
    expect(compensating.status).toBe('running');
    expect(statusOf(compensating, 'wait')).toBe('cancelled');

    h.clock!.advance(60_000); // the compensation's bound: deadline + the run's timeout
    const run = await ended(runId);
    expect(run.status).toBe('timed_out');
    expect(run.error?.code).toBe('run_timeout');
    expect(run.error?.message).toContain('compensation');
    expect(run.steps.map((st) => [st.path, st.status])).toEqual(
      expect.arrayContaining([
        ['wait', 'cancelled'],
        ['#on_failure', 'cancelled'],
        ['undo_wait', 'cancelled'],
      ]),
    );
  });
});
