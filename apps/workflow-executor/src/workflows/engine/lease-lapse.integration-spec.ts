import { type Deferred, deferred, eventually, type StandInAnswer, StandInServer } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';
import { ActionInvoker } from './action-invoker.service';
import { type Lease, type LoadedRun, RunStore } from './run-store';

jest.setTimeout(90_000);

const OK: StandInAnswer = { status: 200, body: { ok: true } };

function workflows(url: string): Record<string, string> {
  return {
    'slow.yaml': `
name: slow
version: 1.0.0
security: { actions: [http], http_hosts: [127.0.0.1] }
steps:
  - id: call
    action: http
    timeout: 60s
    with: { method: POST, url: "${url}/slow" }
  - id: after
    action: http
    with: { method: POST, url: "${url}/after" }
`,
  };
}

/** A provider whose `/slow` answers wait, each on its own deferred, until the test releases them. */
function slowProvider(): { server: StandInServer; held: Deferred<StandInAnswer>[]; slow: () => number; after: () => number } {
  const held: Deferred<StandInAnswer>[] = [];
  const server = new StandInServer((req) => {
    if (req.path !== '/slow') return OK;
    const answer = deferred<StandInAnswer>();
    held.push(answer);
    return answer.promise;
  });
  return {
    server,
    held,
    slow: () => server.requests.filter((r) => r.path === '/slow').length,
    after: () => server.requests.filter((r) => r.path === '/after').length,
  };
}

async function attempts(h: ExecutorHarness, runId: string): Promise<{ path: string; attempt: number; status: string }[]> {
  return h.dataSource.query(`SELECT path, attempt, status FROM workflow_step_attempts WHERE run_id = $1 ORDER BY path, attempt`, [runId]);
}

async function leaseOf(h: ExecutorHarness, runId: string): Promise<{ token: string | null; lapsed: boolean | null }> {
  const [row] = await h.dataSource.query(`SELECT lease_token AS token, lease_until < now() AS lapsed FROM workflow_runs WHERE run_id = $1`, [runId]);
  return row;
}

describe('a lease that lapses while its renewals fail (real PostgreSQL)', () => {
  const provider = slowProvider();
  let h: ExecutorHarness;

  beforeAll(async () => {
    await provider.server.start();
    // A short lease (renewed every 700 ms), so it lapses quickly once renewals fail.
    h = await startExecutorHarness({ workflows: workflows(provider.server.url), env: { WORKFLOW_LEASE_MS: '2000' } });
  });
  afterAll(async () => {
    for (const answer of provider.held) answer.resolve(OK);
    await h?.close();
    await provider.server.close();
  });

  it('is not taken back by its own process: the slow attempt is the only one, and the run completes once renewal recovers', async () => {
    const store = h.app.get(RunStore);
    // Renewals fail only once the attempt is out: before that, a slow start on a busy machine must not find its lease
    // unconfirmed and hold the first launch back for a renewal that never comes.
    const renew = jest.spyOn(store, 'renew');
    const claim = jest.spyOn(store, 'claim');
    const invoke = jest.spyOn(h.app.get(ActionInvoker), 'invoke');
    /** Lets the worker's claim loop go round `n` more times (each claim completed). */
    const moreClaims = async (n: number): Promise<void> => {
      const from = claim.mock.results.length;
      await eventually(() => expect(claim.mock.results.length).toBeGreaterThanOrEqual(from + n));
      await Promise.all(claim.mock.results.slice(from, from + n).map((r) => r.value));
    };
    try {
      const runId = await h.startRun('slow', '1.0.0', {});
      await eventually(() => expect(provider.slow()).toBe(1));
      renew.mockRejectedValue(new Error('connection reset (simulated)'));
      const { token } = await leaseOf(h, runId);
      expect(token).not.toBeNull();

      // No renewal for longer than the lease: the lease lapses in the database while the attempt is still out.
      await eventually(async () => expect((await leaseOf(h, runId)).lapsed).toBe(true));
      await moreClaims(3);
      // The provider answers while the lease is still unconfirmed: its result waits for the lease, it is not lost.
      provider.held[0].resolve(OK);
      await invoke.mock.results[0].value;
      await moreClaims(3);
      expect(provider.slow()).toBe(1);
      expect(await leaseOf(h, runId)).toEqual({ token, lapsed: true });
      expect(await attempts(h, runId)).toEqual([{ path: 'call', attempt: 1, status: 'running' }]);

      // Renewal recovers: nobody else took the run, so the lease is still this worker's, and the run goes on.
      renew.mockRestore();
      const run = await eventually(async () => {
        const r = await h.run(runId);
        if (r.status === 'running' || r.status === 'pending') throw new Error(`run is ${r.status}`);
        return r;
      });
      expect(run.status).toBe('completed');
      expect(provider.slow()).toBe(1);
      expect(provider.after()).toBe(1);
      expect(await attempts(h, runId)).toEqual([
        { path: 'after', attempt: 1, status: 'completed' },
        { path: 'call', attempt: 1, status: 'completed' },
      ]);
    } finally {
      renew.mockRestore();
      claim.mockRestore();
      invoke.mockRestore();
    }
  });
});

describe('a round written just as its lease became unconfirmed (real PostgreSQL)', () => {
  const provider = slowProvider();
  let h: ExecutorHarness;

  beforeAll(async () => {
    await provider.server.start();
    h = await startExecutorHarness({ workflows: workflows(provider.server.url), env: { WORKFLOW_LEASE_MS: '3000' } });
  });
  afterAll(async () => {
    for (const answer of provider.held) answer.resolve(OK);
    await h?.close();
    await provider.server.close();
  });

  it('launches the actions it started only once a renewal confirms the lease', async () => {
    const store = h.app.get(RunStore);
    const held = (h.worker as unknown as { held: Map<string, { leaseUntil: number; confirming?: boolean }> }).held;
    const renew = jest.spyOn(store, 'renew');
    const writeRounds = store.writeRounds.bind(store);
    // The round that starts `after` is written only once the worker can no longer be sure of its lease (its last
    // renewal is older than the lease) while the database still honours it (a renewal that committed, its answer lost).
    const write = jest.spyOn(store, 'writeRounds').mockImplementation(async (manager, rounds) => {
      for (const round of rounds) {
        const run = held.get(round.lease.runId);
        if (run && round.started.some((a) => a.path === 'after')) {
          await eventually(() => expect(performance.now()).toBeGreaterThan(run.leaseUntil), 10_000);
        }
      }
      return writeRounds(manager, rounds);
    });
    try {
      const runId = await h.startRun('slow', '1.0.0', {});
      await eventually(() => expect(provider.slow()).toBe(1));
      // From here renewals fail (not before: the first launch must not wait on one).
      renew.mockRejectedValue(new Error('connection reset (simulated)'));
      await h.dataSource.query(`UPDATE workflow_runs SET lease_until = now() + interval '60 seconds' WHERE run_id = $1`, [runId]);
      provider.held[0].resolve(OK);
      await eventually(async () => expect(await attempts(h, runId)).toContainEqual({ path: 'after', attempt: 1, status: 'running' }), 10_000);
      await eventually(() => expect(held.get(runId)?.confirming).toBe(true));
      expect(provider.after()).toBe(0);

      renew.mockRestore();
      await eventually(async () => expect((await h.run(runId)).status).toBe('completed'));
      expect(provider.after()).toBe(1);
      expect(await attempts(h, runId)).toEqual([
        { path: 'after', attempt: 1, status: 'completed' },
        { path: 'call', attempt: 1, status: 'completed' },
      ]);
    } finally {
      renew.mockRestore();
      write.mockRestore();
    }
  });
});

describe('a lease that lapses while its renewals fail, with another executor (real PostgreSQL)', () => {
  const provider = slowProvider();
  let a: ExecutorHarness;
  let b: ExecutorHarness;

  beforeAll(async () => {
    await provider.server.start();
    a = await startExecutorHarness({ workflows: workflows(provider.server.url), env: { WORKFLOW_LEASE_MS: '900' } });
    b = await startExecutorHarness({
      workflows: {},
      env: { WORKFLOW_LEASE_MS: '900' },
      shared: { db: a.db, keys: a.keys, workflowsDir: a.workflowsDir, bucket: a.bucket, karma: a.karma },
    });
  });
  afterAll(async () => {
    for (const answer of provider.held) answer.resolve(OK);
    await b?.close();
    await a?.close();
    await provider.server.close();
  });

  it('is taken over once by the other executor; the first one writes nothing more and lets the run go', async () => {
    // B claims only once A holds the run.
    await b.worker.stop();
    const renew = jest.spyOn(a.app.get(RunStore), 'renew');
    try {
      const runId = await a.startRun('slow', '1.0.0', {});
      await eventually(() => expect(provider.slow()).toBe(1));
      // A's renewals fail once its attempt is out (not before: its first launch must not wait on one).
      renew.mockRejectedValue(new Error('connection reset (simulated)'));
      await eventually(async () => expect((await leaseOf(a, runId)).lapsed).toBe(true));
      b.worker.start();
      // B finds the attempt running with nobody performing it that it knows of: the same key, a new attempt.
      await eventually(() => expect(provider.slow()).toBe(2));
      provider.held[1].resolve(OK);
      await eventually(async () => expect((await b.run(runId)).status).toBe('completed'));
      // A's attempt comes back afterwards: nothing of it is written, and once renewal works again A lets the run go.
      provider.held[0].resolve(OK);
      renew.mockRestore();
      await eventually(() => expect(a.worker.heldCount).toBe(0));

      const keys = provider.server.requests.filter((r) => r.path === '/slow').map((r) => r.headers['idempotency-key']);
      expect(keys).toEqual([`${runId}:call`, `${runId}:call`]);
      expect(provider.after()).toBe(1);
      expect(await attempts(a, runId)).toEqual([
        { path: 'after', attempt: 1, status: 'completed' },
        { path: 'call', attempt: 1, status: 'interrupted' },
        { path: 'call', attempt: 2, status: 'completed' },
      ]);
      expect((await a.run(runId)).status).toBe('completed');
    } finally {
      renew.mockRestore();
    }
  });
});

describe('held runs (real PostgreSQL)', () => {
  const provider = slowProvider();
  let h: ExecutorHarness;

  beforeAll(async () => {
    await provider.server.start();
    // A long lease: nothing lapses during the test, each drive keeps its own.
    h = await startExecutorHarness({ workflows: workflows(provider.server.url), env: { WORKFLOW_LEASE_MS: '30000' } });
  });
  afterAll(async () => {
    for (const answer of provider.held) answer.resolve(OK);
    await h?.close();
    await provider.server.close();
  });

  it("an older drive of a run that ends does not drop the newer drive's hold on it", async () => {
    const worker = h.worker as unknown as { drive(lease: Lease, loaded?: LoadedRun): Promise<void>; renewLeases(): Promise<void> };
    const drive = worker.drive.bind(worker);
    const drives: Promise<void>[] = [];
    worker.drive = (lease, loaded) => {
      const p = drive(lease, loaded);
      drives.push(p);
      return p;
    };
    try {
      const runId = await h.startRun('slow', '1.0.0', {});
      await eventually(() => expect(provider.slow()).toBe(1));
      expect(drives).toHaveLength(1);
      // The run is leased anew (as a claim would after a lapse) and driven again in this same process.
      const [row] = await h.dataSource.query(
        `WITH taken AS (
           UPDATE workflow_runs SET lease_token = gen_random_uuid(), lease_until = now() + interval '30 seconds' WHERE run_id = $1
           RETURNING lease_token, wake_version
         ) SELECT lease_token, wake_version FROM taken`,
        [runId],
      );
      const loaded = await h.app.get(RunStore).load(runId);
      h.worker.adopt({ runId, token: row.lease_token, wakeVersion: Number(row.wake_version) }, loaded as LoadedRun);
      await eventually(() => expect(provider.slow()).toBe(2));

      // The older drive's attempt comes back: its round is refused (the lease is no longer its) and it ends.
      provider.held[0].resolve(OK);
      await drives[0];
      // The newer drive still holds the run, so its lease is still renewed.
      expect(h.worker.heldCount).toBe(1);
      await h.dataSource.query(`UPDATE workflow_runs SET lease_until = now() + interval '2 seconds' WHERE run_id = $1`, [runId]);
      await worker.renewLeases();
      const [{ left }] = await h.dataSource.query(`SELECT extract(epoch FROM lease_until - now()) AS left FROM workflow_runs WHERE run_id = $1`, [runId]);
      expect(Number(left)).toBeGreaterThan(20);

      provider.held[1].resolve(OK);
      await eventually(async () => expect((await h.run(runId)).status).toBe('completed'));
      expect(await attempts(h, runId)).toEqual([
        { path: 'after', attempt: 1, status: 'completed' },
        { path: 'call', attempt: 1, status: 'interrupted' },
        { path: 'call', attempt: 2, status: 'completed' },
      ]);
    } finally {
      delete (worker as { drive?: unknown }).drive;
    }
  });
});
