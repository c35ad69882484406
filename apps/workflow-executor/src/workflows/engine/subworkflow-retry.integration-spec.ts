/**
 * `retry` on a sub-workflow step, against a real PostgreSQL with a stub provider on 127.0.0.1: a child run that ends
 * failed with a retryable error starts a fresh child run after the backoff, up to max_attempts, each attempt's child
 * a run of its own; a child error that is not retryable, or whose code the step's non_retryable lists, fails the
 * step at once.
 */
import type { RunView } from '@pancha/contracts';
import { eventually, IdempotentSink } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';

jest.setTimeout(60_000);

const ENDED = ['completed', 'failed', 'cancelled', 'timed_out'];

function workflows(url: string): Record<string, string> {
  return {
    'sr-child.yaml': `
name: sr-child
version: 1.0.0
inputs: { type: object, required: [tag], properties: { tag: { type: string } } }
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: send
    action: http
    with: { method: POST, url: "${url}/sr-send", body: { tag: "{{ inputs.tag }}" } }
    retry: { max_attempts: 1 }
`,
    'sr-step.yaml': `
name: sr-step
version: 1.0.0
steps:
  - id: sub
    workflow: sr-child@^1
    with: { tag: "{{ inputs.tag }}" }
    retry: { max_attempts: 3, initial_interval: 10ms, max_interval: 10ms }
`,
    'sr-default.yaml': `
name: sr-default
version: 1.0.0
retry: { max_attempts: 2, initial_interval: 10ms, max_interval: 10ms }
steps:
  - id: sub
    workflow: sr-child@^1
    with: { tag: "{{ inputs.tag }}" }
`,
    'sr-filled.yaml': `
name: sr-filled
version: 1.0.0
retry: { max_attempts: 2, initial_interval: 10ms, max_interval: 10ms }
steps:
  - id: sub
    workflow: sr-child@^1
    with: { tag: "{{ inputs.tag }}" }
    retry: { backoff_coefficient: 1 }
`,
    'sr-nonretryable.yaml': `
name: sr-nonretryable
version: 1.0.0
steps:
  - id: sub
    workflow: sr-child@^1
    with: { tag: "{{ inputs.tag }}" }
    retry: { max_attempts: 3, initial_interval: 10ms, max_interval: 10ms, non_retryable: [http_unexpected_status] }
`,
  };
}

describe('retry on a sub-workflow step', () => {
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

  const ended = (runId: string): Promise<RunView> =>
    eventually(async () => {
      const run = await h.run(runId);
      if (!ENDED.includes(run.status)) throw new Error(`run ${runId} is ${run.status}`);
      return run;
    });
  const sends = (tag: string) => sink.requests.filter((r) => r.path === '/sr-send' && (r.body as { tag?: string })?.tag === tag);
  /** The children of a run, oldest first, with their error codes. */
  const children = async (runId: string): Promise<{ run_id: string; status: string; parent_step_path: string; code: string | null }[]> =>
    h.dataSource.query(
      `SELECT run_id, status, parent_step_path, error->>'code' AS code FROM workflow_runs WHERE parent_run_id = $1 ORDER BY created_at, run_id`,
      [runId],
    );

  it("a child that fails retryably is started again, a fresh run per attempt, until one completes (the step's retry)", async () => {
    // Two 503s (retryable), then a 200: the third child completes the step.
    sink.decide = (req) => (sends('step').length <= 2 && req.path === '/sr-send' ? { status: 503, body: { error: 'busy' } } : { status: 200, body: { ok: true } });
    const runId = await h.startRun('sr-step', '1.0.0', { tag: 'step' });
    const run = await ended(runId);
    expect(run.status).toBe('completed');
    const sub = run.steps.find((s) => s.path === 'sub');
    const kids = await children(runId);
    expect(kids.map((k) => [k.status, k.code, k.parent_step_path])).toEqual([
      ['failed', 'http_unexpected_status', 'sub'],
      ['failed', 'http_unexpected_status', 'sub'],
      ['completed', null, 'sub'],
    ]);
    // One child per attempt, each its own run (its provider calls carry its own key); the step points at the last.
    expect(new Set(kids.map((k) => k.run_id)).size).toBe(3);
    expect(sub).toMatchObject({ status: 'completed', child_run_id: kids[2].run_id });
    expect(sends('step').map((r) => r.key)).toEqual(kids.map((k) => `${k.run_id}:send`));
    expect(run.children.map((c) => c.run_id).sort()).toEqual(kids.map((k) => k.run_id).sort());
  });

  it("the manifest's retry is no default for a sub-workflow step: without its own retry, one child, and the step fails", async () => {
    sink.decide = (req) => (req.path === '/sr-send' ? { status: 503, body: { error: 'busy' } } : { status: 200, body: { ok: true } });
    const runId = await h.startRun('sr-default', '1.0.0', { tag: 'default' });
    const run = await ended(runId);
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'subworkflow_failed', message: expect.stringContaining('http_unexpected_status') });
    const kids = await children(runId);
    expect(kids.map((k) => k.status)).toEqual(['failed']);
    expect(run.steps.find((s) => s.path === 'sub')).toMatchObject({ status: 'failed', child_run_id: kids[0].run_id });
    expect(sends('default')).toHaveLength(1);
  });

  it('after an operator retry, a step that asked for no retry resumes its child once and starts no new one when it fails again', async () => {
    sink.decide = (req) => (req.path === '/sr-send' ? { status: 503, body: { error: 'busy' } } : { status: 200, body: { ok: true } });
    const runId = await h.startRun('sr-default', '1.0.0', { tag: 'resumed' });
    expect((await ended(runId)).status).toBe('failed');
    const [first] = await children(runId);
    expect((await h.call('POST', `/api/runs/${runId}/retry`)).status).toBe(202);
    await eventually(async () => expect(sends('resumed')).toHaveLength(2));
    const run = await ended(runId);
    expect(run.status).toBe('failed');
    // The one child, resumed (its send made again under the retry's key), and no second child after it.
    expect((await children(runId)).map((k) => k.run_id)).toEqual([first.run_id]);
    expect(run.steps.find((s) => s.path === 'sub')).toMatchObject({ status: 'failed', child_run_id: first.run_id });
  });

  it("a step's own retry is filled from the manifest's: up to the manifest's max_attempts", async () => {
    sink.decide = (req) => (req.path === '/sr-send' ? { status: 503, body: { error: 'busy' } } : { status: 200, body: { ok: true } });
    const runId = await h.startRun('sr-filled', '1.0.0', { tag: 'filled' });
    const run = await ended(runId);
    expect(run.status).toBe('failed');
    const kids = await children(runId);
    expect(kids.map((k) => k.status)).toEqual(['failed', 'failed']);
    expect(run.steps.find((s) => s.path === 'sub')).toMatchObject({ status: 'failed', child_run_id: kids[1].run_id });
    expect(sends('filled')).toHaveLength(2);
  });

  it("a child error that is not retryable, or whose code the step's non_retryable lists, fails the step with one child", async () => {
    sink.decide = (req) => (req.path === '/sr-send' ? { status: 400, body: { error: 'refused' } } : { status: 200, body: { ok: true } });
    const terminal = await h.startRun('sr-step', '1.0.0', { tag: 'terminal' });
    expect((await ended(terminal)).status).toBe('failed');
    expect(await children(terminal)).toHaveLength(1);

    sink.decide = (req) => (req.path === '/sr-send' ? { status: 503, body: { error: 'busy' } } : { status: 200, body: { ok: true } });
    const listed = await h.startRun('sr-nonretryable', '1.0.0', { tag: 'listed' });
    const run = await ended(listed);
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'subworkflow_failed' });
    expect(await children(listed)).toHaveLength(1);
    expect(sends('listed')).toHaveLength(1);
  });
});
