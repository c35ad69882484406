// A client that retries POST /handle_task after a connection reset must not create the task (and send its
// email) twice: with an Idempotency-Key, the same key and body get the first answer, another body a 409.
import { canonicalJson } from '@pancha/contracts';
import { createHash, randomUUID } from 'node:crypto';
import request from 'supertest';
import type { DataSource } from 'typeorm';
import { type CoreTestApp, startCoreTestApp } from '../testing/core-test-app';
import { StandInServer } from '../testing/stand-in-server';

jest.setTimeout(60_000);

describe('core: POST /handle_task with an Idempotency-Key', () => {
  // The executor stays unreachable for good: dispatch rows stay in the outbox, where they can be counted.
  const executor = new StandInServer(() => ({ status: 503, body: {} }));
  const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));
  let core: CoreTestApp;
  let dataSource: DataSource;

  const submit = (body: object, key?: string, token?: string) => {
    let req = request(core.app.getHttpServer()).post('/handle_task');
    if (key !== undefined) req = req.set('idempotency-key', key);
    if (token) req = req.set('authorization', `Bearer ${token}`);
    return req.send(body);
  };
  const prana = () => core.pranaToken();
  /** Tasks (and their outbox messages) created from this input. */
  async function stored(input: string): Promise<{ tasks: number; dispatches: number; keys: number }> {
    const [row] = await dataSource.query(
      `SELECT (SELECT count(*) FROM tasks WHERE input = $1)::int AS tasks,
              (SELECT count(*) FROM outbox o JOIN tasks t ON o.message_key = t.task_id::text
                WHERE t.input = $1 AND o.topic = 'workflow-executor.execute')::int AS dispatches,
              (SELECT count(*) FROM task_idempotency_keys k JOIN tasks t USING (task_id) WHERE t.input = $1)::int AS keys`,
      [input],
    );
    return row;
  }

  beforeAll(async () => {
    core = await startCoreTestApp({ name: 'core_idem', executor, bucket });
    dataSource = core.dataSource;
  });

  afterAll(() => core?.close());

  it('a retry with the same key and body gets the first 202 and creates nothing (one task, one email dispatch)', async () => {
    const key = randomUUID();
    const body = { input: 'email alice@example.com about the launch: it moves to Friday', user_id: 'u-1' };
    const first = await submit(body, key);
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ decision: 'workflow', status: 'dispatching' });
    expect(first.headers['idempotent-replay']).toBeUndefined();
    // The client retries after a reset, in a new trace of its own: still the same request.
    const retry = await submit(body, key).set('traceparent', `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01`);
    expect(retry.status).toBe(202);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers['idempotent-replay']).toBe('true');
    expect(await stored(body.input)).toEqual({ tasks: 1, dispatches: 1, keys: 1 });
  });

  it('the same key with another body is a 409 that stores nothing', async () => {
    const key = randomUUID();
    await submit({ input: 'remind me to renew the domain', user_id: 'u-2' }, key).expect(202);
    const other = await submit({ input: 'remind me to renew the certificate', user_id: 'u-2' }, key);
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ code: 'idempotency_key_reused', message: expect.stringContaining('different request body') });
    expect(await stored('remind me to renew the certificate')).toEqual({ tasks: 0, dispatches: 0, keys: 0 });
  });

  it('concurrent retries with one key create one task, and every one of them gets its answer', async () => {
    const key = randomUUID();
    const body = { input: 'create a task to rotate the signing keys', user_id: 'u-3' };
    const answers = await Promise.all(Array.from({ length: 8 }, () => submit(body, key)));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(202));
    expect(new Set(answers.map((a) => a.body.task_id)).size).toBe(1);
    expect(await stored(body.input)).toEqual({ tasks: 1, dispatches: 1, keys: 1 });
  });

  it('scopes keys by requester: another requester\'s equal key is another request', async () => {
    const key = randomUUID();
    const body = { input: 'create a task to archive the logs', user_id: 'u-4' };
    const anonymous = await submit(body, key).expect(202);
    const fromPrana = await submit(body, key, await prana()).expect(202);
    expect(fromPrana.body.task_id).not.toBe(anonymous.body.task_id);
    expect(fromPrana.headers['idempotent-replay']).toBeUndefined();
    expect((await stored(body.input)).tasks).toBe(2);
  });

  describe('from a credential that implies the product', () => {
    const narrowed = (products: string[]) => core.pranaToken({ products });
    const productOf = async (taskId: string) => ((await dataSource.query(`SELECT product FROM tasks WHERE task_id = $1`, [taskId])) as { product: string | null }[])[0]?.product;

    it('compares the body as sent: the key row hashes it without the implied product, which the task keeps', async () => {
      const key = randomUUID();
      const body = { input: 'create a task to renew the alpha certificate', user_id: 'u-7' };
      const first = await submit(body, key, await narrowed(['alpha'])).expect(202);
      const retry = await submit(body, key, await narrowed(['alpha']));
      expect([retry.status, retry.body.task_id, retry.headers['idempotent-replay']]).toEqual([202, first.body.task_id, 'true']);
      expect(await productOf(first.body.task_id)).toBe('alpha');
      const [row] = await dataSource.query(`SELECT request_hash FROM task_idempotency_keys WHERE requester_id = 'prana' AND idempotency_key = $1`, [key]);
      expect(row.request_hash).toBe(createHash('sha256').update(canonicalJson(body)).digest('hex'));
    });

    it.each([
      // A key stored before products were implied (or while the credential named every product) has no product in its hash.
      ['every product', undefined, ['alpha']],
      ['alpha', ['alpha'], ['beta']],
    ])('a retry after the credential went from %s to another is the first answer, not a 409', async (_from, before, after) => {
      const key = randomUUID();
      const body = { input: `create a task to rotate keys (${before?.join() ?? 'all'} then ${after.join()})`, user_id: 'u-8' };
      const first = await submit(body, key, await core.pranaToken(before ? { products: before } : {})).expect(202);
      const retry = await submit(body, key, await narrowed(after));
      expect([retry.status, retry.body.task_id, retry.headers['idempotent-replay']]).toEqual([202, first.body.task_id, 'true']);
      expect(await stored(body.input)).toEqual({ tasks: 1, dispatches: 1, keys: 1 });
    });

    it('POST /handle_tasks too: a retry after the credential narrowed is the first answer', async () => {
      const key = randomUUID();
      const body = { tasks: [{ input: 'create a task to file the alpha report', user_id: 'u-9' }] };
      const batch = (token: string) => request(core.app.getHttpServer()).post('/handle_tasks').set('idempotency-key', key).set('authorization', `Bearer ${token}`).send(body);
      const first = await batch(await core.pranaToken()).expect(202);
      const retry = await batch(await narrowed(['alpha']));
      expect([retry.status, retry.body, retry.headers['idempotent-replay']]).toEqual([202, first.body, 'true']);
    });
  });

  it('without a key every request is a new task (as before)', async () => {
    const body = { input: 'create a task to water the plants', user_id: 'u-5' };
    await submit(body).expect(202);
    await submit(body).expect(202);
    expect(await stored(body.input)).toEqual({ tasks: 2, dispatches: 2, keys: 0 });
  });

  it.each([
    ['256 characters', 'x'.repeat(256)],
    ['a space', 'has space'],
    ['nothing', ''],
  ])('refuses a key of %s with a 422 naming the header, storing nothing', async (_what, key) => {
    const body = { input: `create a task for key ${key.length}-${key.slice(0, 3)}`, user_id: 'u-6' };
    const res = await submit(body, key);
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ field: 'Idempotency-Key', messages: [expect.stringContaining('1 to 255 visible ASCII')] }]);
    expect((await stored(body.input)).tasks).toBe(0);
  });
});
