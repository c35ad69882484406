/**
 * Signals with an Idempotency-Key, against a real PostgreSQL: a signal sent again (Core timed out waiting for the
 * first answer, and the caller repeated it) is answered with the first and stored once; the same key for another
 * payload is a 409; a repeat after the signal completed the run is still the first answer, not `run_finished`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { eventually } from '@pancha/testing';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';

jest.setTimeout(60_000);

describe('POST /api/runs/:id/signals/:name with idempotency_key', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await startExecutorHarness({
      workflows: {
        'gate.yaml': `
name: gate
version: 1.0.0
security: { actions: [task] }
steps:
  - id: ask
    approval: { signal: go }
`,
      },
    });
  });

  afterAll(async () => {
    await h?.close();
  });

  async function heldRun(): Promise<string> {
    const runId = randomUUID();
    const start = { run_id: runId, workflow: 'gate', version: '1.0.0', inputs: {}, user_id: 'u1', trace_id: randomBytes(16).toString('hex') };
    expect((await h.call('POST', '/api/runs', start)).status).toBe(202);
    await eventually(async () => expect((await h.run(runId)).status).toBe('running'));
    return runId;
  }
  const stored = async (runId: string): Promise<{ id: string; payload: unknown }[]> =>
    h.dataSource.query(`SELECT id, payload FROM workflow_signals WHERE run_id = $1`, [runId]);
  const received = async (runId: string): Promise<number> =>
    (await h.dataSource.query(`SELECT 1 FROM outbox WHERE payload::text LIKE '%signal_received%' AND payload::text LIKE $1`, [`%${runId}%`])).length;

  it('a repeat with the same key is answered with the first signal and stored once, even after it completed the run', async () => {
    const runId = await heldRun();
    const send = (payload: unknown, key = 'k-1') => h.call('POST', `/api/runs/${runId}/signals/go`, { payload, actor: 'user:asha', idempotency_key: key });
    const [first, second] = await Promise.all([send({ ok: true, n: 1 }), send({ n: 1, ok: true })]);
    expect([first.status, second.status]).toEqual([202, 202]);
    expect((second.body as { signal_id: string }).signal_id).toBe((first.body as { signal_id: string }).signal_id);
    expect(await stored(runId)).toEqual([{ id: (first.body as { signal_id: string }).signal_id, payload: { ok: true, n: 1 } }]);
    await eventually(async () => expect((await h.run(runId)).status).toBe('completed'));
    expect(await received(runId)).toBe(1);

    const late = await send({ ok: true, n: 1 });
    expect(late.status).toBe(202);
    expect(late.body).toMatchObject({ signal_id: (first.body as { signal_id: string }).signal_id, run: { run_id: runId, status: 'completed' } });
    // Without a key a signal to an ended run is refused, as before.
    expect((await h.call('POST', `/api/runs/${runId}/signals/go`, { payload: {} })).body).toMatchObject({ code: 'run_finished' });
  });

  it('the same key with another payload is a 409 and stores nothing; another key or sender is another signal', async () => {
    const runId = await heldRun();
    const send = (body: object) => h.call('POST', `/api/runs/${runId}/signals/other`, body);
    expect((await send({ payload: { v: 1 }, actor: 'user:asha', idempotency_key: 'k' })).status).toBe(202);
    const reused = await send({ payload: { v: 2 }, actor: 'user:asha', idempotency_key: 'k' });
    expect([reused.status, (reused.body as { code: string }).code]).toEqual([409, 'idempotency_key_reused']);
    expect((await send({ payload: { v: 2 }, actor: 'user:asha', idempotency_key: 'k2' })).status).toBe(202);
    expect((await send({ payload: { v: 1 }, actor: 'user:ravi', idempotency_key: 'k' })).status).toBe(202);
    expect((await stored(runId)).map((s) => s.payload)).toEqual(expect.arrayContaining([{ v: 1 }, { v: 2 }, { v: 1 }]));
    expect(await stored(runId)).toHaveLength(3);
    const bad = await send({ payload: {}, idempotency_key: 'has space' });
    expect([bad.status, (bad.body as { errors: { field: string }[] }).errors[0].field]).toEqual([422, 'idempotency_key']);
  });

  it('a repeat of a keyed signal without a payload, or with null, is the first signal too', async () => {
    const runId = await heldRun();
    for (const body of [{}, { payload: null }]) {
      const key = `k-${JSON.stringify(body)}`;
      const send = () => h.call('POST', `/api/runs/${runId}/signals/ping`, { ...body, actor: 'user:asha', idempotency_key: key });
      const [first, again] = await Promise.all([send(), send()]);
      expect([first.status, again.status]).toEqual([202, 202]);
      expect((again.body as { signal_id: string }).signal_id).toBe((first.body as { signal_id: string }).signal_id);
      expect((await send()).status).toBe(202);
    }
    expect(await stored(runId)).toHaveLength(2);
  });
});
