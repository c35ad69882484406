// Every GET route of the executor takes only the query parameters it defines: a typo'd or unknown one is a 400 naming
// it, never the unfiltered answer taken for a filtered one; a repeated one is a 422 "is given more than once".
import { randomUUID } from 'node:crypto';
import { type ExecutorHarness, startExecutorHarness } from './workflows/testing/executor-harness';

jest.setTimeout(60_000);

describe('workflow-executor read routes: query parameters', () => {
  let h: ExecutorHarness;
  const get = (url: string) => h.call('GET', url);

  beforeAll(async () => {
    h = await startExecutorHarness({ workflows: {} });
    // A task and a captured email for two users.
    for (const user_id of ['u-1', 'u-2']) {
      for (const payload of [
        { action_type: 'task', title: `task of ${user_id}`, user_id },
        { action_type: 'email', recipient: `${user_id}@example.com`, subject: 's', body: `mail of ${user_id}`, user_id },
      ]) {
        const res = await h.call('POST', '/api/workflow/execute', { trace_id: `${user_id}-${payload.action_type}`, decision: 'workflow', data: { workflow_type: 'workflow', payload } });
        expect(res.body).toMatchObject({ status: 'success' });
      }
    }
  });

  afterAll(async () => {
    await h?.close();
  });

  const run = randomUUID();
  it.each([
    ['/api/tasks?user=nobody', 'user', 'GET /api/tasks takes user_id, limit'],
    ['/api/tasks?user_id[a]=u-1', 'user_id[a]', 'GET /api/tasks takes user_id, limit'],
    ['/api/outbox?chanel=whatsapp', 'chanel', 'GET /api/outbox takes channel, trace_id, limit'],
    ['/api/outbox?traceid=u-1-email', 'traceid', 'GET /api/outbox takes channel, trace_id, limit'],
    ['/api/workflows?enabled=false', 'enabled', 'GET /api/workflows takes none'],
    ['/api/workflows/catalog?since=r-1', 'since', 'GET /api/workflows/catalog takes none'],
    ['/api/workflows/findings?file=a.yaml', 'file', 'GET /api/workflows/findings takes none'],
    ['/api/workflows/stats?nme=x', 'nme', 'GET /api/workflows/stats takes window, name, bucket'],
    ['/api/workflows/onboard?version=1', 'version', 'GET /api/workflows/:name takes none'],
    ['/api/workflows/onboard/versions/1.0.0?format=yaml', 'format', 'GET /api/workflows/:name/versions/:version takes none'],
    ['/api/plugins?status=failed', 'status', 'GET /api/plugins takes none'],
    ['/api/plugins/http?version=2', 'version', 'GET /api/plugins/:name takes none'],
    ['/api/runs?state=failed', 'state', 'GET /api/runs takes workflow'],
    [`/api/runs/${run}?verbose=1`, 'verbose', 'GET /api/runs/:run_id takes none'],
  ])('GET %s is a 400 naming %s, answering nothing', async (url, field, takes) => {
    const res = await get(url);
    expect({ status: res.status, code: res.body.code, fields: res.body.errors?.map((e: { field: string }) => e.field) }).toEqual({ status: 400, code: 'bad_request', fields: [field] });
    expect(res.body.message).toContain(takes);
    for (const answer of ['tasks', 'messages', 'workflows', 'plugins', 'runs']) expect(res.body[answer]).toBeUndefined();
  });

  it('says which name the user filter is, and answers the parameters the clients send', async () => {
    expect((await get('/api/tasks?user=nobody')).body.errors[0].messages[0]).toBe('is not a query parameter of GET /api/tasks: the user filter is user_id');
    const tasks = await get('/api/tasks?user_id=u-1&limit=5');
    expect(tasks.status).toBe(200);
    expect(tasks.body.tasks.map((t: { user_id: string }) => t.user_id)).toEqual(['u-1']);
    const mail = await get('/api/outbox?channel=email&trace_id=u-2-email&limit=5');
    expect(mail.body.messages.map((m: { recipient: string }) => m.recipient)).toEqual(['u-2@example.com']);
    expect((await get('/api/workflows/stats?window=24h&name=onboard&bucket=hour')).status).toBe(200);
    expect((await get('/api/runs?status=failed&limit=1')).status).toBe(200);
  });

  it.each([
    ['/api/tasks?user_id=u-1&user_id=u-2', 'user_id'],
    ['/api/tasks?limit=1&limit=2', 'limit'],
    ['/api/outbox?channel=email&channel=whatsapp', 'channel'],
    ['/api/workflows/stats?name=a&name=b', 'name'],
    ['/api/runs?status=failed&status=completed', 'status'],
  ])('GET %s is a 422: %s is given more than once', async (url, field) => {
    const res = await get(url);
    expect([res.status, res.body.code, res.body.errors]).toEqual([422, 'validation_failed', [{ field, messages: ['is given more than once'] }]]);
  });
});
