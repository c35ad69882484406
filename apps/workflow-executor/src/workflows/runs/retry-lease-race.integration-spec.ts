/**
 * An operator's retry that lands while the run it retries still holds its lease (the run ended, its holder waits for
 * the abort of an attempt it still had out), against a real PostgreSQL: the holder's last write (the attempt closed,
 * the lease let go) must not write its older view of the run over the retry's. The interleavings are made by hand:
 * the attempt's return is held by a gate the test opens, and the retry is committed from a transaction the test
 * controls while the holder's write waits for the run's row.
 */
import { randomUUID } from 'node:crypto';
import type { RunView } from '@pancha/contracts';
import { eventually, IdempotentSink } from '@pancha/testing';
import { ActionInvoker, type InvokedAction } from '../engine/action-invoker.service';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';
import { RunsService } from './runs.service';

jest.setTimeout(60_000);

function workflows(url: string): Record<string, string> {
  return {
    'rrace.yaml': `
name: rrace
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: pair
    parallel:
      - id: bad
        action: http
        with: { method: POST, url: "${url}/race-bad/{{ inputs.tag }}" }
        retry: { max_attempts: 1 }
      - id: slow
        action: http
        with: { method: POST, url: "${url}/race-slow/{{ inputs.tag }}" }
`,
  };
}

describe('a retry while the ended run is still held', () => {
  const sink = new IdempotentSink();
  let h: ExecutorHarness;
  /** Opens the gate of the first attempt of `slow` of each run: it returns only then, whatever its abort says. */
  const gates = new Map<string, () => void>();
  const held = new Set<string>();

  beforeAll(async () => {
    await sink.start();
    h = await startExecutorHarness({ workflows: workflows(sink.url) });
    const invoker = h.app.get(ActionInvoker);
    const invoke = invoker.invoke.bind(invoker);
    jest.spyOn(invoker, 'invoke').mockImplementation((command, ctx) => {
      if (command.path !== 'slow' || command.attempt !== 1) return invoke(command, ctx);
      held.add(ctx.run.id);
      // An attempt that does not stop at once when aborted (a provider call already on its way).
      return new Promise<InvokedAction>((resolve) => {
        gates.set(ctx.run.id, () => resolve({ result: { ok: false, error: { code: 'cancelled', message: 'aborted', retryable: false } } }));
      });
    });
  });

  afterAll(async () => {
    for (const open of gates.values()) open();
    await h?.close();
    await sink.close();
  });

  /** `bad` is refused the first time only; everything else answers 200. */
  const refuseOnce = (tag: string): void => {
    let refused = false;
    const before = sink.decide;
    sink.decide = (req, n) => {
      if (req.path === `/race-bad/${tag}` && !refused) {
        refused = true;
        return { status: 400, body: { error: 'refused' } };
      }
      return req.path.endsWith(`/${tag}`) ? { status: 200, body: { ok: true } } : before(req, n);
    };
  };
  const row = async (runId: string): Promise<{ status: string; lease_token: string | null; retry_generation: number }> => {
    const [found] = await h.dataSource.query(`SELECT status, lease_token, retry_generation FROM workflow_runs WHERE run_id = $1`, [runId]);
    return found;
  };
  /** Ended failed by its round, but still held: the aborted attempt of `slow` has not come back. */
  const endedButHeld = (runId: string): Promise<void> =>
    eventually(async () => {
      expect(held.has(runId)).toBe(true);
      expect(await row(runId)).toMatchObject({ status: 'failed', lease_token: expect.any(String) });
    });
  const completed = (runId: string): Promise<RunView> =>
    eventually(
      async () => {
        const run = await h.run(runId);
        expect(run.status).toBe('completed');
        return run;
      },
      { timeoutMs: 15_000, what: `run ${runId} to complete after its retry` },
    );
  const expectRetried = (run: RunView): void => {
    const attempts = (path: string) => run.steps.find((s) => s.path === path)?.attempts.map((a) => [a.attempt, a.status, a.idempotency_key]);
    expect(attempts('bad')).toEqual([
      [1, 'failed', `${run.run_id}:bad`],
      [2, 'completed', `${run.run_id}:bad:retry-1`],
    ]);
    // The attempt that came back after the retry was closed as the holder saw it (cancelled), the retry's ran anew.
    expect(attempts('slow')).toEqual([
      [1, 'cancelled', `${run.run_id}:slow`],
      [2, 'completed', `${run.run_id}:slow:retry-1`],
    ]);
  };

  it('POST retry, then the holder writes its last round: the retry stands and the run completes', async () => {
    const tag = 'after';
    refuseOnce(tag);
    const runId = await h.startRun('rrace', '1.0.0', { tag });
    await endedButHeld(runId);

    const res = await h.call('POST', `/api/runs/${runId}/retry`);
    expect(res.status).toBe(202);
    expect(await row(runId)).toMatchObject({ status: 'running', retry_generation: 1, lease_token: expect.any(String) });

    // Now the holder gets its attempt back and writes its last round (the attempt closed, the lease let go).
    gates.get(runId)?.();
    expectRetried(await completed(runId));
  });

  it('a retry committed while the holder’s last write waits for the run’s row is not overwritten either', async () => {
    const tag = 'during';
    refuseOnce(tag);
    const runId = await h.startRun('rrace', '1.0.0', { tag });
    await endedButHeld(runId);

    const runner = h.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      const [locked] = await runner.query(`SELECT * FROM workflow_runs WHERE run_id = $1 FOR UPDATE`, [runId]);
      // The holder's write starts, and waits for the row this transaction holds.
      gates.get(runId)?.();
      await eventually(async () => {
        const [waiting]: { n: number }[] = await h.dataSource.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FOR NO KEY UPDATE%'`,
        );
        expect(waiting.n).toBe(1);
      });
      // The retry, made and committed meanwhile (what POST /retry does in its transaction).
      const service = h.app.get(RunsService) as unknown as { resume(manager: unknown, run: unknown, control: { actor: string; now: Date }): Promise<void> };
      await service.resume(runner.manager, locked, { actor: `test:${randomUUID()}`, now: new Date() });
      await runner.commitTransaction();
    } finally {
      await runner.release();
    }
    h.worker.poke();
    expectRetried(await completed(runId));
  });
});
