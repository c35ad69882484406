// POST /handle_tasks: a producer with many tasks sends up to 100 in one request (as pg-boss's insert([...]) and
// BullMQ's addBulk let them), each decided and stored as POST /handle_task would, all in one commit or none.
import { installInMemoryTracing } from '@pancha/trace-context';
import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import request from 'supertest';
import type { DataSource } from 'typeorm';
import { DecisionAgent } from '../agent/decision-agent';
import { type CoreTestApp, startCoreTestApp } from '../testing/core-test-app';
import { StandInServer } from '../testing/stand-in-server';

jest.setTimeout(60_000);

// A recording tracer, as `register` installs a real one: each task's root span and its messages' traceparent.
const tracing = installInMemoryTracing();

const TRACE_ID = /^[0-9a-f]{32}$/;

describe('core: POST /handle_tasks', () => {
  // The executor stays unreachable: dispatches stay in the outbox, where they can be read.
  const executor = new StandInServer(() => ({ status: 503, body: {} }));
  const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));
  let core: CoreTestApp;
  let dataSource: DataSource;

  const send = (body: unknown, token?: string, key?: string) => {
    let req = request(core.app.getHttpServer()).post('/handle_tasks');
    if (token) req = req.set('authorization', `Bearer ${token}`);
    if (key !== undefined) req = req.set('idempotency-key', key);
    return req.send(body as object);
  };
  const counts = async (): Promise<{ tasks: number; outbox: number; keys: number }> =>
    (
      (await dataSource.query(
        `SELECT (SELECT count(*) FROM tasks)::int AS tasks, (SELECT count(*) FROM outbox)::int AS outbox,
                (SELECT count(*) FROM task_idempotency_keys)::int AS keys`,
      )) as { tasks: number; outbox: number; keys: number }[]
    )[0];

  beforeAll(async () => {
    core = await startCoreTestApp({ name: 'core_batch', executor, bucket });
    dataSource = core.dataSource;
  });

  afterAll(() => core?.close());

  it('stores every task in one commit with the token claim, each in a trace of its own, and answers them in order', async () => {
    const token = await core.pranaToken();
    const tasks = [
      { input: 'good morning', user_id: 'u-batch-1', tags: ['a'] },
      { input: 'create a task to file the batch report', user_id: 'u-batch-2', product: 'gurukul' },
      { input: 'hello again', user_id: 'u-batch-3', agent: 'importer' },
    ];
    const res = await send({ tasks }, token).expect(202);
    const replies = res.body.tasks as { task_id: string; trace_id: string; decision: string; status: string }[];
    expect(replies).toHaveLength(3);
    expect(replies.map((r) => r.decision)).toEqual(['respond', 'workflow', 'respond']);
    expect(replies.map((r) => r.status)).toEqual(['decided', 'dispatching', 'decided']);
    for (const r of replies) expect(r.trace_id).toMatch(TRACE_ID);
    expect(new Set(replies.map((r) => r.trace_id)).size).toBe(3);

    const rows = (await dataSource.query(
      `SELECT task_id, trace_id, user_id, product, agent, tags, xmin::text AS tx FROM tasks WHERE task_id = ANY($1)`,
      [replies.map((r) => r.task_id)],
    )) as { task_id: string; trace_id: string; user_id: string; product: string | null; agent: string | null; tags: string[]; tx: string }[];
    const byId = new Map(rows.map((r) => [r.task_id, r]));
    expect(replies.map((r) => byId.get(r.task_id))).toEqual([
      expect.objectContaining({ trace_id: replies[0].trace_id, user_id: 'u-batch-1', tags: ['a'], product: null }),
      expect.objectContaining({ trace_id: replies[1].trace_id, user_id: 'u-batch-2', product: 'gurukul' }),
      expect.objectContaining({ trace_id: replies[2].trace_id, user_id: 'u-batch-3', agent: 'importer' }),
    ]);
    // One commit: the three tasks and the token's claim.
    const [claim] = (await dataSource.query('SELECT xmin::text AS tx FROM used_tokens WHERE jti = $1', [decodeJwt(token).jti])) as { tx: string }[];
    expect(new Set([...rows.map((r) => r.tx), claim.tx]).size).toBe(1);

    // Each task's messages continue its own trace: three task_received events and the one dispatch.
    const messages = (await dataSource.query(`SELECT topic, message_key, headers FROM outbox WHERE message_key = ANY($1)`, [
      replies.flatMap((r) => [r.task_id, `task_received:${r.task_id}`]),
    ])) as { topic: string; message_key: string; headers: { traceparent?: string } }[];
    expect(messages.map((m) => m.message_key).sort()).toEqual(
      [...replies.map((r) => `task_received:${r.task_id}`), replies[1].task_id].sort(),
    );
    for (const m of messages) {
      const reply = replies.find((r) => m.message_key.endsWith(r.task_id));
      expect(m.headers.traceparent).toMatch(new RegExp(`^00-${reply?.trace_id}-[0-9a-f]{16}-0[01]$`));
    }
    expect(messages.filter((m) => m.topic === 'workflow-executor.execute').map((m) => m.message_key)).toEqual([replies[1].task_id]);
    // Jaeger shows each task's trace starting at Core: a root span per task.
    const roots = tracing.spans().filter((span) => span.name === 'core handle_task' && replies.some((r) => r.trace_id === span.spanContext().traceId));
    expect(roots.map((span) => span.parentSpanContext)).toEqual([undefined, undefined, undefined]);
  });

  it("decides a batch's tasks under one deadline, so an LLM agent's waits end together rather than one timeout per task", async () => {
    const decide = jest.spyOn(core.app.get(DecisionAgent), 'decide');
    try {
      await send({ tasks: [{ input: 'good morning', user_id: 'u-dl-1' }, { input: 'hello', user_id: 'u-dl-2' }] }, await core.pranaToken()).expect(202);
      const deadlines = decide.mock.calls.map(([, deadline]) => deadline);
      expect(deadlines).toHaveLength(2);
      expect(deadlines[0]).toBeInstanceOf(AbortSignal);
      expect(deadlines[1]).toBe(deadlines[0]);
    } finally {
      decide.mockRestore();
    }
  });

  it('needs a credential: without one it is a 401 and stores nothing', async () => {
    const before = await counts();
    const res = await send({ tasks: [{ input: 'good morning', user_id: 'u-anon' }] }).expect(401);
    expect(res.body.code).toBe('unauthenticated');
    expect(await counts()).toEqual(before);
  });

  it('answers 422 naming the bad task and field, and stores none of the batch', async () => {
    const token = await core.pranaToken();
    const before = await counts();
    const res = await send({ tasks: [{ input: 'fine', user_id: 'u-ok' }, { input: 'no user' }, { input: '', user_id: 7 }, 'not a task'] }, token).expect(422);
    expect(res.body.code).toBe('validation_failed');
    expect((res.body.errors as { field: string }[]).map((e) => e.field).sort()).toEqual(['tasks', 'tasks.1.user_id', 'tasks.2.input', 'tasks.2.user_id', 'tasks.3']);
    for (const body of [{}, { tasks: [] }, { tasks: 'x' }, { tasks: Array.from({ length: 101 }, (_, i) => ({ input: 'hi', user_id: `u${i}` })) }]) {
      const refused = await send(body, await core.pranaToken()).expect(422);
      expect((refused.body.errors as { field: string }[]).map((e) => e.field)).toEqual(['tasks']);
    }
    expect(await counts()).toEqual(before);
  });

  it('answers 413 for a batch over the body limit (256 KiB), and stores nothing', async () => {
    const before = await counts();
    const tasks = Array.from({ length: 30 }, (_, i) => ({ input: 'x'.repeat(10_000), user_id: `u-big-${i}` }));
    const res = await send({ tasks }, await core.pranaToken()).expect(413);
    expect(res.body.code).toBe('payload_too_large');
    expect(await counts()).toEqual(before);
  });

  it('refuses a token used once already (401 token_replayed), storing nothing the second time', async () => {
    const token = await core.pranaToken();
    const body = { tasks: [{ input: 'good morning', user_id: 'u-replay-1' }, { input: 'good evening', user_id: 'u-replay-2' }] };
    await send(body, token).expect(202);
    const before = await counts();
    const replay = await send(body, token).expect(401);
    expect(replay.body.code).toBe('token_replayed');
    expect(await counts()).toEqual(before);
  });

  it('with an Idempotency-Key, a retry gets the first answer and stores nothing; the key with another body is a 409', async () => {
    const key = randomUUID();
    const body = { tasks: [{ input: 'create a task to retry safely', user_id: 'u-key-1' }, { input: 'good morning', user_id: 'u-key-2' }] };
    const first = await send(body, await core.pranaToken(), key).expect(202);
    expect(first.headers['idempotent-replay']).toBeUndefined();
    const before = await counts();
    const retry = await send(body, await core.pranaToken(), key).expect(202);
    expect(retry.headers['idempotent-replay']).toBe('true');
    expect(retry.body).toEqual(first.body);
    expect(await counts()).toEqual(before);
    const [row] = (await dataSource.query('SELECT task_id FROM task_idempotency_keys WHERE idempotency_key = $1', [key])) as { task_id: string }[];
    expect(row.task_id).toBe(first.body.tasks[0].task_id);

    const reused = await send({ tasks: [body.tasks[1]] }, await core.pranaToken(), key).expect(409);
    expect(reused.body.code).toBe('idempotency_key_reused');
    // The key of a single task is not a batch's answer either.
    const single = randomUUID();
    await request(core.app.getHttpServer()).post('/handle_task').set('idempotency-key', single).set('authorization', `Bearer ${await core.pranaToken()}`).send(body.tasks[1]).expect(202);
    await send({ tasks: [body.tasks[1]] }, await core.pranaToken(), single).expect(409);
    expect(await counts()).toEqual({ ...before, tasks: before.tasks + 1, outbox: before.outbox + 1, keys: before.keys + 1 });
  });
});
