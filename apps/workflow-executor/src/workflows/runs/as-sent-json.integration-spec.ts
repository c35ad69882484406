/**
 * Free-form JSON on the executor's write routes (a run's inputs, a signal's payload, an execute request's payload)
 * holding members named __proto__, constructor or prototype at depth: stored and read back as sent, on the single
 * and the batch routes, against a real PostgreSQL; a batch item holding a nested __proto__ object is answered alone.
 */
import { canonicalJson, EXECUTOR_EXECUTE_BATCH_ROUTE } from '@pancha/contracts';
import { eventually } from '@pancha/testing';
import { randomBytes, randomUUID } from 'node:crypto';
import { type ExecutorHarness, startExecutorHarness } from '../testing/executor-harness';

jest.setTimeout(60_000);

const AS_SENT = '{"list":[{"__proto__":{"polluted":true},"constructor":1,"prototype":{"p":[{"constructor":{"x":2}}]}}],"plain":"v"}';
const asSent = () => JSON.parse(AS_SENT) as Record<string, unknown>;

describe('executor: free-form JSON is kept as sent', () => {
  let h: ExecutorHarness;

  beforeAll(async () => {
    h = await startExecutorHarness({
      workflows: { 'held.yaml': 'name: held\nversion: 1.0.0\nsecurity: { actions: [task] }\nsteps:\n  - id: ask\n    approval: { signal: go }\n' },
    });
  });

  afterAll(async () => {
    await h?.close();
  });

  const startBody = (inputs: unknown) => ({ run_id: randomUUID(), workflow: 'held', version: '1.0.0', inputs, user_id: 'u1', trace_id: randomBytes(16).toString('hex') });
  const storedInputs = async (runId: string): Promise<unknown> =>
    JSON.parse(((await h.dataSource.query('SELECT inputs::text AS t FROM workflow_runs WHERE run_id = $1', [runId])) as { t: string }[])[0].t);

  it('POST /api/runs stores the inputs as sent; GET reads them back; a signal payload becomes the step output as sent', async () => {
    const start = startBody(asSent());
    expect((await h.call('POST', '/api/runs', start)).status).toBe(202);
    expect(canonicalJson(await storedInputs(start.run_id))).toBe(canonicalJson(asSent()));
    expect(canonicalJson((await h.run(start.run_id)).inputs)).toBe(canonicalJson(asSent()));

    await eventually(async () => expect((await h.run(start.run_id)).status).toBe('running'));
    expect((await h.call('POST', `/api/runs/${start.run_id}/signals/go`, { payload: asSent() })).status).toBe(202);
    await eventually(async () => expect((await h.run(start.run_id)).status).toBe('completed'));
    const step = (await h.run(start.run_id)).steps.find((s) => s.step_id === 'ask');
    expect(canonicalJson(step?.output)).toBe(canonicalJson(asSent()));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('POST /api/runs/batch: an item holding a nested __proto__ object is answered alone (202, stored as sent), beside its neighbours', async () => {
    const [good, odd, bad] = [startBody({ n: 1 }), startBody(asSent()), { ...startBody(JSON.parse('{"a":{"__proto__":{"b":1}}}')), user_id: 7 }];
    const res = await h.call('POST', '/api/runs/batch', { events: [{ body: good }, { body: odd }, { body: bad }] });
    expect(res.status).toBe(200);
    expect((res.body as { results: { status: number }[] }).results.map((r) => r.status)).toEqual([202, 202, 422]);
    expect(canonicalJson(await storedInputs(odd.run_id))).toBe(canonicalJson(asSent()));
  });

  it('POST /api/workflow/execute and its batch record the payload as sent, a nested __proto__ object never a 500', async () => {
    const payload = () => ({ action_type: 'no_such_action', user_id: 'u1', ...asSent() });
    const request = (traceId: string) => ({ trace_id: traceId, decision: 'workflow', data: { workflow_type: 'workflow', payload: payload() } });
    const storedPayload = async (traceId: string): Promise<unknown> =>
      JSON.parse(((await h.dataSource.query(`SELECT (request -> 'data' -> 'payload')::text AS t FROM executions WHERE trace_id = $1`, [traceId])) as { t: string }[])[0].t);

    const single = `as-sent-${randomUUID()}`;
    const res = await h.call('POST', '/api/workflow/execute', request(single));
    expect(res.status).toBeLessThan(500);
    expect(canonicalJson(await storedPayload(single))).toBe(canonicalJson(payload()));

    const [a, b] = [`as-sent-${randomUUID()}`, `as-sent-${randomUUID()}`];
    const batch = await h.call('POST', EXECUTOR_EXECUTE_BATCH_ROUTE, { events: [{ body: request(a) }, { body: request(b) }] });
    expect(batch.status).toBe(200);
    const statuses = (batch.body as { results: { status: number }[] }).results.map((r) => r.status);
    expect(statuses).toEqual([res.status, res.status]);
    expect(canonicalJson(await storedPayload(b))).toBe(canonicalJson(payload()));
  });
});
