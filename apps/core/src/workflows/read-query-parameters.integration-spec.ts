// Core's read routes of workflows, plugins, tasks, runs and the audit take only the query parameters they define: the real app on
// PostgreSQL, with a stand-in executor that records what it was asked.
import { randomUUID } from 'node:crypto';
import { RequesterId, type WorkflowCatalog } from '@pancha/contracts';
import { httpJson, type ServiceWithDatabase, StandInServer } from '@pancha/testing';
import { bootCoreSpec } from '../testing/core-test-app';

jest.setTimeout(60_000);

const CATALOG: WorkflowCatalog = { revision: 'r-1', workflows: [] };
const executor = new StandInServer((req) => {
  if (req.path === '/api/workflows/catalog') return { status: 200, body: CATALOG };
  if (req.path === '/api/workflows/stats') {
    return { status: 200, body: { window: req.query.get('window') ?? '24h', since: '2026-01-01T00:00:00.000Z', workflows: [] } };
  }
  return { status: 404, body: { code: 'not_found', message: 'the stand-in has nothing here' } };
});
const bucket = new StandInServer(() => ({ status: 200, body: { events: [], next_after_seq: null } }));

describe('Core read routes: query parameters', () => {
  let core: ServiceWithDatabase;

  const get = async (route: string) => httpJson('GET', `${core.url}${route}`, undefined, await core.keys.mint(RequesterId.Operator, 'core'));
  /** What the executor was asked on behalf of a Core route (the catalog refresh aside). */
  const executorReads = () => executor.requests.filter((r) => r.path !== '/api/workflows/catalog').length;

  beforeAll(async () => {
    core = await bootCoreSpec({ name: 'core_query', executor, bucket });
  });

  afterAll(() => core?.close());

  const task = randomUUID();
  it.each([
    ['/workflows/stats?nme=x', 'nme', 'GET /workflows/stats takes window, name, bucket'],
    ['/workflows/stats?window=7d&Name=onboard', 'Name', 'GET /workflows/stats takes window, name, bucket'],
    ['/workflows/stats?name[a]=x', 'name[a]', 'GET /workflows/stats takes window, name, bucket'],
    ['/workflows?enabled=false', 'enabled', 'GET /workflows takes none'],
    ['/workflows/findings?file=a.yaml', 'file', 'GET /workflows/findings takes none'],
    ['/workflows/onboard?version=1.0.0', 'version', 'GET /workflows/:name takes none'],
    ['/workflows/onboard/versions/1.0.0?format=yaml', 'format', 'GET /workflows/:name/versions/:version takes none'],
    ['/plugins?status=failed', 'status', 'GET /plugins takes none'],
    ['/plugins/json-transform?version=2', 'version', 'GET /plugins/:name takes none'],
    [`/tasks/${task}?verbose=1`, 'verbose', 'GET /tasks/:task_id takes none'],
    ['/audit/verify?x=1', 'x', 'GET /audit/verify takes full'],
    [`/runs/${task}?steps=false`, 'steps', 'GET /runs/:run_id takes none'],
  ])('GET %s is a 400 naming %s, and the executor is not asked', async (route, field, takes) => {
    const before = executorReads();
    const res = await get(route);
    expect({ status: res.status, code: res.body.code, fields: res.body.errors?.map((e: { field: string }) => e.field) }).toEqual({ status: 400, code: 'bad_request', fields: [field] });
    expect(res.body.message).toContain(takes);
    expect(res.body.workflows).toBeUndefined();
    expect(executorReads()).toBe(before);
  });

  it('says which name a stats filter is, and passes the parameters PRANA and the CLI send on', async () => {
    const hinted = await get('/workflows/stats?workflow=onboard');
    expect(hinted.body.errors[0].messages[0]).toBe('is not a query parameter of GET /workflows/stats: the workflow is named by name');
    const res = await get('/workflows/stats?window=7d&name=onboard&bucket=hour');
    expect(res.status).toBe(200);
    const seen = executor.requests.filter((r) => r.path === '/api/workflows/stats').at(-1);
    expect(Object.fromEntries(seen?.query ?? [])).toEqual({ window: '7d', name: 'onboard', bucket: 'hour' });
  });

  it.each([
    ['/workflows/stats?name=a&name=b', 'name'],
    ['/workflows/stats?window=1h&window=7d', 'window'],
    ['/workflows/stats?bucket=hour&bucket=day', 'bucket'],
    ['/runs?limit=1&limit=2', 'limit'],
    ['/runs?status=failed&status=completed', 'status'],
  ])('GET %s is a 422: %s is given more than once, and the executor is not asked', async (route, field) => {
    const before = executorReads();
    const res = await get(route);
    expect([res.status, res.body.code, res.body.errors]).toEqual([422, 'validation_failed', [{ field, messages: ['is given more than once'] }]]);
    expect(executorReads()).toBe(before);
  });
});
