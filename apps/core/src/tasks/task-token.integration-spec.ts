// POST /handle_task claims the caller's write token in the commit that stores the task (@ClaimTokenWithWrite), not
// in a commit of its own before it: a token still writes once, on any replica, and the claim commits only with the
// task it allowed.
import type { INestApplication } from '@nestjs/common';
import { holdTable, poll } from '@pancha/testing';
import { decodeJwt } from 'jose';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { DataSource } from 'typeorm';
import { DecisionAgent } from '../agent/decision-agent';
import { type CoreTestApp, startCoreTestApp } from '../testing/core-test-app';
import { StandInServer } from '../testing/stand-in-server';
import { TaskAcceptWriter, WriteTokenReplayed } from './task-accept.writer';
import { TaskEntity } from './task.entity';

jest.setTimeout(60_000);

describe('core: the write token of POST /handle_task', () => {
  // The executor stays unreachable: dispatches stay in the outbox, where they can be counted.
  const executor = new StandInServer(() => ({ status: 503, body: {} }));
  const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));
  let core: CoreTestApp;
  /** Two replicas of Core on one database, as two pods behind a load balancer. */
  let a: INestApplication;
  let b: INestApplication;
  let dataSource: DataSource;

  const prana = () => core.pranaToken();
  const submit = (app: INestApplication, input: string, token?: string, extra: Record<string, string> = {}) => {
    let req = request(app.getHttpServer()).post('/handle_task');
    if (token) req = req.set('authorization', `Bearer ${token}`);
    for (const [name, value] of Object.entries(extra)) req = req.set(name, value);
    return req.send({ input, user_id: 'u-token' });
  };
  const tasksFrom = async (input: string): Promise<number> =>
    ((await dataSource.query('SELECT count(*)::int AS n FROM tasks WHERE input = $1', [input])) as { n: number }[])[0].n;
  const claimOf = async (token: string): Promise<{ issuer: string; tx: string }[]> =>
    (await dataSource.query('SELECT issuer, xmin::text AS tx FROM used_tokens WHERE jti = $1', [decodeJwt(token).jti])) as { issuer: string; tx: string }[];

  beforeAll(async () => {
    core = await startCoreTestApp({ name: 'core_token', executor, bucket, replicas: 2 });
    [a, b] = core.replicas;
    dataSource = core.dataSource;
  });

  afterAll(() => core?.close());

  it('commits the claim with the task: one transaction holds the task and its token', async () => {
    const token = await prana();
    const res = await submit(a, 'create a task to renew the certificate', token).expect(202);
    const [task] = (await dataSource.query('SELECT xmin::text AS tx FROM tasks WHERE task_id = $1', [res.body.task_id])) as { tx: string }[];
    expect(await claimOf(token)).toEqual([{ issuer: 'prana', tx: task.tx }]);
  });

  it('refuses the token a second time with 401 token_replayed, on the replica that took it and on another, storing one task', async () => {
    const token = await prana();
    await submit(a, 'create a task to rotate the keys', token).expect(202);
    const decisions = [a, b].map((app) => jest.spyOn(app.get(DecisionAgent), 'decide'));
    for (const app of [a, b]) {
      const replay = await submit(app, 'create a task to rotate the keys', token);
      expect(replay.status).toBe(401);
      expect(replay.body).toMatchObject({ code: 'token_replayed', message: `token ${decodeJwt(token).jti} was already used; every submit needs a fresh token` });
    }
    expect(await tasksFrom('create a task to rotate the keys')).toBe(1);
    // The replica that took the token refuses it in its guard, before any decision; the other, at its write's claim.
    expect(decisions.map((spy) => spy.mock.calls.length)).toEqual([0, 1]);
    for (const spy of decisions) spy.mockRestore();
  });

  it('lets exactly one of many concurrent uses of one token through, across replicas', async () => {
    const token = await prana();
    const input = 'create a task to race the token';
    const decisions = [a, b].map((app) => jest.spyOn(app.get(DecisionAgent), 'decide'));
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => submit(i % 2 ? a : b, input, token)));
    expect(answers.map((r) => r.status).sort()).toEqual([202, ...Array(9).fill(401)]);
    // Each replica's guard let the token through once: at most one decision per replica, however many arrive at once.
    expect(decisions.map((spy) => spy.mock.calls.length)).toEqual([1, 1]);
    for (const spy of decisions) spy.mockRestore();
    expect(await tasksFrom(input)).toBe(1);
  });

  it('stores the tasks of a group whose tokens it claimed, and none of a token the group already had', async () => {
    // The guard lets a token through once per process, so the writer is given the repeat directly.
    const writer = a.get(TaskAcceptWriter);
    const held = await holdTable(dataSource, 'tasks');
    let released = false;
    try {
      // supertest sends on then(): the request's group statement is then the one waiting on the lock.
      const blocker = submit(a, 'create a task to hold the group').then((r) => r);
      await held.waiting('INSERT INTO tasks (task_id');
      const token = { issuer: 'prana', jti: randomUUID(), expiresAt: new Date(Date.now() + 60_000) };
      const task = (input: string) =>
        Object.assign(new TaskEntity(), {
          taskId: randomUUID(),
          traceId: randomUUID().replaceAll('-', ''),
          userId: 'u-token',
          input,
          decision: 'respond',
          actionType: null,
          payload: null,
          decidedBy: 'test',
          status: 'decided',
          tags: [],
        });
      const outcomes = [
        writer.store({ tasks: [{ task: task('group first use'), messages: [] }], token }),
        writer.store({ tasks: [{ task: task('group second use'), messages: [] }], token }),
        writer.store({ tasks: [{ task: task('group fresh token'), messages: [] }], token: { ...token, jti: randomUUID() } }),
      ].map((p) => p.then(() => 'stored', (error: unknown) => (error instanceof WriteTokenReplayed ? 'replayed' : String(error))));
      await poll('three tasks queued for the next commit', () => writer.queued === 3);
      await held.release();
      released = true;
      expect((await blocker).status).toBe(202);
      expect(await Promise.all(outcomes)).toEqual(['stored', 'replayed', 'stored']);
    } finally {
      if (!released) await held.release();
    }
    expect(await tasksFrom('group first use')).toBe(1);
    expect(await tasksFrom('group second use')).toBe(0);
  });

  it('claims it in the transaction of a request with an Idempotency-Key: a replay on another replica stores nothing', async () => {
    const token = await prana();
    const input = 'create a task with a key and a token';
    await submit(a, input, token, { 'idempotency-key': randomUUID() }).expect(202);
    const replay = await submit(b, input, token, { 'idempotency-key': randomUUID() });
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('token_replayed');
    expect(await tasksFrom(input)).toBe(1);
    const [{ n }] = (await dataSource.query('SELECT count(*)::int AS n FROM task_idempotency_keys k JOIN tasks t USING (task_id) WHERE t.input = $1', [input])) as { n: number }[];
    expect(n).toBe(1);
  });

  it('leaves unused in the database the token of a request that wrote nothing (422): another replica lets it write once', async () => {
    const token = await prana();
    await request(a.getHttpServer()).post('/handle_task').set('authorization', `Bearer ${token}`).send({ user_id: 'u-token' }).expect(422);
    expect(await claimOf(token)).toEqual([]);
    await submit(b, 'create a task after a refused one', token).expect(202);
    expect((await submit(a, 'create a task after a refused one', token)).status).toBe(401);
  });
});
