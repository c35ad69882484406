// GET /tasks/:task_id shows a caller only what it may see: a task of a product only to callers whose products
// name it (an anonymous caller or a reader narrowed to product A gets 404 for a product-B task), and in the
// timeline only entries written by the requester that owns their Bucket channel (no spoofed history).
import { type BucketEntry } from '@pancha/contracts';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { type CoreTestApp, startCoreTestApp } from '../testing/core-test-app';
import { StandInServer } from '../testing/stand-in-server';

jest.setTimeout(60_000);

/** The task each trace belongs to (Core's entries name their task). */
const taskOfTrace = new Map<string, string>();

/** Entries Bucket holds for a trace: what Core and the executor wrote, and what others forged on their channels. */
function entriesFor(traceId: string): BucketEntry[] {
  const entry = (seq: number, requester_id: string, channel: BucketEntry['channel'], event_type: string, data: Record<string, unknown> = {}): BucketEntry => {
    const event_id = randomUUID();
    return {
      seq,
      event_id,
      requester_id,
      channel,
      event_type,
      trace_id: traceId,
      product: null,
      user_id: 'u-1',
      event_data: { event_id, event_type, trace_id: traceId, ...(channel === 'core' ? { task_id: taskOfTrace.get(traceId) } : {}), ...data },
      content_hash: 'c',
      prev_hash: 'p',
      hash: 'h',
      created_at: new Date().toISOString(),
    };
  };
  return [
    entry(1, 'bhiv_core', 'core', 'task_received'),
    entry(2, 'prana', 'core', 'task_dispatched'), // prana forging Core's history
    entry(3, 'karma', 'workflow', 'workflow_execution'), // karma forging the executor's
    entry(4, 'workflow_executor', 'workflow', 'workflow_execution'),
    entry(5, 'bhiv_core', 'workflow', 'workflow_execution'), // even Core does not speak for the executor
    entry(6, 'workflow_executor', 'core', 'task_dispatched'), // nor the executor for Core
    entry(7, 'prana', 'prana', 'prana_packet'),
    // Not this task's, though on its trace (a caller may send a run's trace id as its traceparent): a run's events
    // and Core's record of other things.
    entry(8, 'workflow_executor', 'workflow', 'workflow.started', { run_id: 'r-other', root_run_id: 'r-other', inputs: { email: 'secret@acme.example' } }),
    entry(9, 'bhiv_core', 'core', 'event_routed', { task_id: undefined, routed_event_id: 'e1' }),
    entry(10, 'bhiv_core', 'core', 'task_received', { task_id: 'another-task' }),
  ];
}

describe('core: what GET /tasks/:task_id shows to whom', () => {
  const executor = new StandInServer(() => ({ status: 503, body: {} }));
  const bucket = new StandInServer((req) =>
    req.method === 'GET' && req.path === '/core/events'
      ? { status: 200, body: { events: entriesFor(req.query.get('trace_id') ?? ''), next_after_seq: null } }
      : { status: 201, body: { success: true } },
  );
  let core: CoreTestApp;
  const tasks: Record<'alpha' | 'beta' | 'none', string> = { alpha: '', beta: '', none: '' };

  /** PRANA's token for Core, optionally narrowed to products; one per request. */
  const prana = (products?: string[]) => core.pranaToken(products ? { products } : {});
  const view = async (taskId: string, token?: Promise<string>) => {
    const req = request(core.app.getHttpServer()).get(`/tasks/${taskId}`);
    return token ? req.set('authorization', `Bearer ${await token}`) : req;
  };

  beforeAll(async () => {
    core = await startCoreTestApp({ name: 'core_scope', executor, bucket });
    for (const product of ['alpha', 'beta', undefined] as const) {
      const res = await request(core.app.getHttpServer()).post('/handle_task').send({ input: 'good morning', user_id: 'u-1', product }).expect(202);
      tasks[product ?? 'none'] = res.body.task_id;
      taskOfTrace.set(res.body.trace_id, res.body.task_id);
    }
  });

  afterAll(() => core?.close());

  it('an anonymous caller sees a task of no product, and gets 404 for a product\'s task', async () => {
    expect((await view(tasks.none)).status).toBe(200);
    for (const id of [tasks.alpha, tasks.beta]) {
      const res = await view(id);
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ code: 'task_not_found', message: `no task with task_id ${id}` });
    }
  });

  it('a reader narrowed to product alpha sees alpha\'s task and open ones, not beta\'s', async () => {
    expect((await view(tasks.alpha, prana(['alpha']))).body).toMatchObject({ task_id: tasks.alpha, product: 'alpha' });
    expect((await view(tasks.none, prana(['alpha']))).status).toBe(200);
    expect((await view(tasks.beta, prana(['alpha']))).status).toBe(404);
  });

  it('a reader of every product sees every task', async () => {
    for (const id of Object.values(tasks)) expect((await view(id, prana())).status).toBe(200);
  });

  it('a credential narrowed to a product submits only for it (403 naming each task), and nothing is stored', async () => {
    const before = await core.dataSource.query(`SELECT count(*)::int AS n FROM tasks`);
    const one = await request(core.app.getHttpServer())
      .post('/handle_task')
      .set('authorization', `Bearer ${await prana(['alpha'])}`)
      .send({ input: 'good morning', user_id: 'u-2', product: 'beta' });
    expect([one.status, one.body.code, one.body.errors]).toEqual([403, 'forbidden', [{ field: 'product', messages: ['requester prana may not act for product beta'] }]]);
    const many = await request(core.app.getHttpServer())
      .post('/handle_tasks')
      .set('authorization', `Bearer ${await prana(['alpha'])}`)
      .send({ tasks: [{ input: 'hi', user_id: 'u-2', product: 'alpha' }, { input: 'hi', user_id: 'u-2', product: 'beta' }] });
    expect([many.status, many.body.errors?.map((e: { field: string }) => e.field)]).toEqual([403, ['tasks[1].product']]);
    expect(await core.dataSource.query(`SELECT count(*)::int AS n FROM tasks`)).toEqual(before);
    const own = await request(core.app.getHttpServer())
      .post('/handle_task')
      .set('authorization', `Bearer ${await prana(['alpha'])}`)
      .send({ input: 'good morning', user_id: 'u-2', product: 'alpha' });
    expect(own.status).toBe(202);
  });

  it('a task that names no product is the credential\'s only product\'s; with several products it must name one (422)', async () => {
    const one = await request(core.app.getHttpServer())
      .post('/handle_task')
      .set('authorization', `Bearer ${await prana(['alpha'])}`)
      .send({ input: 'good morning', user_id: 'u-3' });
    expect(one.status).toBe(202);
    expect((await view(one.body.task_id, prana(['alpha']))).body).toMatchObject({ task_id: one.body.task_id, product: 'alpha' });
    expect(await core.dataSource.query(`SELECT product FROM tasks WHERE task_id = $1`, [one.body.task_id])).toEqual([{ product: 'alpha' }]);

    const before = await core.dataSource.query(`SELECT count(*)::int AS n FROM tasks`);
    const many = await request(core.app.getHttpServer())
      .post('/handle_tasks')
      .set('authorization', `Bearer ${await prana(['alpha', 'beta'])}`)
      .send({ tasks: [{ input: 'hi', user_id: 'u-3', product: 'beta' }, { input: 'hi', user_id: 'u-3' }] });
    expect([many.status, many.body.code, many.body.errors?.map((e: { field: string }) => e.field)]).toEqual([422, 'validation_failed', ['tasks[1].product']]);
    expect(many.body.errors[0].messages[0]).toMatch(/several products \(alpha, beta\)/);
    expect(await core.dataSource.query(`SELECT count(*)::int AS n FROM tasks`)).toEqual(before);
  });

  it('shows in the timeline only entries written by the owner of their channel, about this task', async () => {
    const res = await view(tasks.none);
    expect(res.body.timeline.map((e: BucketEntry) => [e.requester_id, e.channel, e.event_type])).toEqual([
      ['bhiv_core', 'core', 'task_received'],
      ['workflow_executor', 'workflow', 'workflow_execution'],
    ]);
  });
});
