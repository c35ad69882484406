import type { RunView } from '@pancha/contracts';
import { eventually, IdempotentSink } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';
import { MAX_UNWRITABLE_ROUNDS } from './run-worker.service';

jest.setTimeout(60_000);

const sink = new IdempotentSink();

/** `"\u0000"` inside an expression, as a manifest writes it: the manifest is valid, the value it renders is not storable. */
const NUL_EXPR = `'{{ inputs.note + "\\u0000" }}'`;

function workflows(s: string): Record<string, string> {
  const http = (id: string, path: string, extra = ''): string => `
  - id: ${id}
    action: http
    with: { method: POST, url: "${s}/${path}" }${extra}`;
  return {
    'nul-step.yaml': `
name: nul-step
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: greet
    action: http
    with: { method: POST, url: "${s}/greet", body: { title: ${NUL_EXPR} } }${http('after', 'after')}
`,
    'nul-continue.yaml': `
name: nul-continue
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: greet
    action: http
    with: { method: POST, url: "${s}/greet", body: { title: ${NUL_EXPR} } }
    on_failure: { continue: true }${http('after', 'after')}
`,
    'nul-output.yaml': `
name: nul-output
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:${http('call', 'out')}
output: { note: ${NUL_EXPR} }
`,
    'doomed.yaml': `
name: doomed
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:${http('first', 'first')}${http('doomed', 'doomed')}
`,
  };
}

describe('values PostgreSQL cannot store do not make a run loop (real PostgreSQL)', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    await sink.start();
    // A short lease: a run whose round failed is claimed again once it expires (what the unwritable-round test counts).
    // Not shorter: on a busy machine a renewal late by a whole lease would fence a round out and add an attempt.
    h = await startExecutorHarness({ workflows: workflows(sink.url), env: { WORKFLOW_LEASE_MS: '1500' } });
  });

  afterAll(async () => {
    await h?.close();
    await sink.close();
  });

  beforeEach(() => {
    sink.decide = () => ({ status: 200, body: { ok: true } });
  });

  /** The run once it ended; a run that loops on an unwritable round never does, and this times out. */
  function ended(runId: string): Promise<RunView> {
    return eventually(
      async () => {
        const run = await h.run(runId);
        if (!['completed', 'failed', 'cancelled', 'timed_out'].includes(run.status)) throw new Error(`run is ${run.status} with ${run.steps.length} steps`);
        return run;
      },
      { timeoutMs: 15_000, what: `run ${runId} to end` },
    );
  }

  const calls = (path: string): number => sink.requests.filter((r) => r.path === `/${path}`).length;

  it('a step rendering U+0000 fails with an error naming the field, and the run fails (no loop)', async () => {
    const runId = await h.startRun('nul-step', '1.0.0', { note: 'hi' });
    const run = await ended(runId);
    const message = 'step greet: with.body.title: text holds U+0000, which cannot be stored';
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'value_unstorable', message });
    const greet = run.steps.find((st) => st.step_id === 'greet');
    expect(greet).toMatchObject({ status: 'failed', error: { code: 'value_unstorable', message }, input: null });
    expect(greet?.attempts).toEqual([]);
    expect(run.steps.map((st) => st.step_id)).toEqual(['greet']);
    expect(calls('greet') + calls('after')).toBe(0);
  });

  it('with on_failure continue, the run goes on to the next step and completes', async () => {
    const before = calls('after');
    const runId = await h.startRun('nul-continue', '1.0.0', { note: 'hi' });
    const run = await ended(runId);
    expect(run.status).toBe('completed');
    expect(run.steps.find((st) => st.step_id === 'greet')).toMatchObject({
      status: 'failed',
      handled: true,
      error: { code: 'value_unstorable', message: 'step greet: with.body.title: text holds U+0000, which cannot be stored' },
    });
    expect(run.steps.find((st) => st.step_id === 'after')?.status).toBe('completed');
    expect(calls('after')).toBe(before + 1);
    expect(calls('greet')).toBe(0);
  });

  it("the run's output template rendering U+0000 fails the run with that error", async () => {
    const runId = await h.startRun('nul-output', '1.0.0', { note: 'hi' });
    const run = await ended(runId);
    expect(run.status).toBe('failed');
    expect(run.output).toBeNull();
    expect(run.error).toMatchObject({ code: 'value_unstorable', message: 'output.note: text holds U+0000, which cannot be stored' });
    expect(run.steps.find((st) => st.step_id === 'call')?.status).toBe('completed');
  });

  it(`a round PostgreSQL refuses for any other lasting reason fails the run after ${MAX_UNWRITABLE_ROUNDS} tries, with the database's error`, async () => {
    // Stands in for a value no check catches: PostgreSQL refuses every write of the step `doomed` (a data exception).
    await h.dataSource.query(`
      CREATE FUNCTION refuse_doomed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.step_id = 'doomed' THEN RAISE EXCEPTION 'refused doomed step' USING ERRCODE = '22023'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER refuse_doomed BEFORE INSERT OR UPDATE ON workflow_steps FOR EACH ROW EXECUTE FUNCTION refuse_doomed();`);
    try {
      const runId = await h.startRun('doomed', '1.0.0', {});
      const run = await ended(runId);
      expect(run.status).toBe('failed');
      expect(run.error).toMatchObject({
        code: 'round_unwritable',
        message: `the run's state could not be written (${MAX_UNWRITABLE_ROUNDS} times in a row): refused doomed step`,
      });
      // From its state as last written (the round completing `first` is the refused one): nothing is left running,
      // attempts included, the refused step was never stored and its action never sent.
      expect(run.steps.map((st) => [st.step_id, st.status])).toEqual([['first', 'cancelled']]);
      const attempts = run.steps[0].attempts.map((a) => a.status);
      expect(attempts).toHaveLength(MAX_UNWRITABLE_ROUNDS);
      expect(attempts.at(-1)).toBe('cancelled');
      expect(attempts).not.toContain('running');
      expect(calls('doomed')).toBe(0);
    } finally {
      await h.dataSource.query('DROP TRIGGER refuse_doomed ON workflow_steps; DROP FUNCTION refuse_doomed();');
    }
  });
});
