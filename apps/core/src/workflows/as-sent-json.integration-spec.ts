// Free-form JSON on Core's write routes holding members named __proto__, constructor or prototype at depth: stored,
// handed on and read back as sent (the real app on PostgreSQL, a stand-in executor), never dropped, a 422 or a 500.
import { canonicalJson, CORE_EVENTS_BATCH_ROUTE, EXECUTOR_RUN_STARTS_ROUTE, RequesterId, type WorkflowCatalog } from '@pancha/contracts';
import { httpJson, poll, type ServiceWithDatabase, StandInServer } from '@pancha/testing';
import { parseManifest } from '@pancha/workflow-manifest';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { bootCoreSpec } from '../testing/core-test-app';

jest.setTimeout(60_000);

const OPEN = parseManifest(`
name: open-inputs
version: 1.0.0
inputs: { type: object }
security: { actions: [task] }
steps: [{ id: a, action: task, with: { title: x } }]
`).manifest!;

/** Free-form JSON as a producer may send it: each name at depth, in an object, in an array, holding objects. */
const AS_SENT = '{"list":[{"__proto__":{"polluted":true},"constructor":1,"prototype":{"p":[{"constructor":{"x":2}}]}}],"plain":"v"}';
const asSent = () => JSON.parse(AS_SENT) as Record<string, unknown>;

const executor = new StandInServer((req) => {
  if (req.path === '/api/workflows/catalog') {
    const catalog: WorkflowCatalog = {
      revision: 'r1',
      workflows: [
        {
          name: OPEN.name,
          enabled: true,
          default_version: OPEN.version,
          versions: [{ version: OPEN.version, present: true, deprecated: false, retired: false, manifest: OPEN as unknown as Record<string, unknown> }],
        },
      ],
    };
    return { status: 200, body: catalog };
  }
  if (req.method === 'POST' && req.path === '/api/runs') return { status: 202, body: { run_id: (req.body as { run_id: string }).run_id } };
  if (req.method === 'POST' && /^\/api\/runs\/[^/]+\/signals\/[^/]+$/.test(req.path)) return { status: 202, body: { signal_id: 's', run: { run_id: 'x', status: 'running' } } };
  return { status: 404, body: { code: 'not_found' } };
});
executor.speaksBatch(EXECUTOR_RUN_STARTS_ROUTE, '/api/runs');
const bucket = new StandInServer(() => ({ status: 201, body: { success: true } }));

describe('Core: free-form JSON is kept as sent', () => {
  let core: ServiceWithDatabase;
  let dataSource: DataSource;

  const as = async (method: string, route: string, body?: unknown) => httpJson(method, `${core.url}${route}`, body, await core.keys.mint(RequesterId.Operator, 'core'));

  beforeAll(async () => {
    core = await bootCoreSpec({ name: 'core_as_sent', executor, bucket });
    dataSource = core.dataSource;
  });

  afterAll(() => core?.close());

  it('POST /workflows/:name/runs stores the inputs as sent and the executor gets them as sent', async () => {
    const res = await as('POST', `/workflows/${OPEN.name}/runs`, { user_id: 'u1', inputs: asSent() });
    expect(res.status).toBe(202);
    const [row] = (await dataSource.query('SELECT inputs::text AS t FROM workflow_run_requests WHERE run_id = $1', [res.body.run_id])) as { t: string }[];
    expect(canonicalJson(JSON.parse(row.t))).toBe(canonicalJson(asSent()));
    const start = await poll('the start at the executor', async () =>
      executor.requests.find((r) => r.method === 'POST' && r.path === '/api/runs' && (r.body as { run_id: string }).run_id === res.body.run_id),
    );
    expect(canonicalJson((start.body as { inputs: unknown }).inputs)).toBe(canonicalJson(asSent()));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('POST /runs/:id/signals/:name hands the payload on as sent', async () => {
    const run = randomUUID();
    expect((await as('POST', `/runs/${run}/signals/approve`, { payload: asSent() })).status).toBe(202);
    const sent = executor.requests.find((r) => r.method === 'POST' && r.path === `/api/runs/${run}/signals/approve`);
    expect(canonicalJson((sent?.body as { payload: unknown }).payload)).toBe(canonicalJson(asSent()));
  });

  it('POST /events stores the data as sent and GET /events/:id reads it back as sent', async () => {
    const id = `as-sent-${randomUUID()}`;
    expect((await as('POST', '/events', { id, type: 'test.as_sent', data: asSent() })).status).toBe(202);
    const [row] = (await dataSource.query('SELECT data::text AS t FROM events WHERE event_id = $1', [id])) as { t: string }[];
    expect(canonicalJson(JSON.parse(row.t))).toBe(canonicalJson(asSent()));
    const read = await as('GET', `/events/${id}`);
    expect(read.status).toBe(200);
    expect(canonicalJson(read.body.data)).toBe(canonicalJson(asSent()));
  });

  it('a batch item holding a nested __proto__ object is answered on its own (202), stored as sent, beside its neighbours', async () => {
    const [a, odd, b] = [`b-${randomUUID()}`, `b-${randomUUID()}`, `b-${randomUUID()}`];
    const res = await as('POST', CORE_EVENTS_BATCH_ROUTE, {
      events: [
        { body: { id: a, type: 'test.as_sent', data: { n: 1 } } },
        { body: { id: odd, type: 'test.as_sent', data: asSent() } },
        { body: { id: b, type: 'test.as_sent', data: { n: 2 } } },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { status: number }) => r.status)).toEqual([202, 202, 202]);
    const [row] = (await dataSource.query('SELECT data::text AS t FROM events WHERE event_id = $1', [odd])) as { t: string }[];
    expect(canonicalJson(JSON.parse(row.t))).toBe(canonicalJson(asSent()));
  });

  it('POST /handle_tasks with a nested __proto__ object in a task is accepted (202): an unknown member is dropped, never a 500', async () => {
    const res = await as('POST', '/handle_tasks', { tasks: [{ input: 'hello', user_id: 'u1', extra: asSent() }, JSON.parse('{"input":"hi","user_id":"u2","__proto__":{"a":1}}')] });
    expect(res.status).toBe(202);
    expect(res.body.tasks).toHaveLength(2);
  });
});
