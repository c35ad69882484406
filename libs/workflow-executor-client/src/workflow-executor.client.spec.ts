import { ServiceCallError } from '@pancha/http-client';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WorkflowExecutorClient } from './workflow-executor.client';

describe('WorkflowExecutorClient', () => {
  let server: Server;
  let client: WorkflowExecutorClient;
  const seen: { method?: string; url?: string; auth?: string; body: string }[] = [];
  let reply: (req: IncomingMessage) => { status: number; body: unknown } = () => ({ status: 200, body: {} });

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
        const r = reply(req);
        res.writeHead(r.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(r.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new WorkflowExecutorClient({
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
      tokens: { tokenFor: async (aud) => `token-for-${aud}` },
    });
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('posts the body with a token for the workflow-executor audience and returns the reply', async () => {
    const executed = { trace_id: 't', status: 'success', execution_result: { success: true, task_id: 'x' } };
    reply = () => ({ status: 200, body: executed });
    const body = { trace_id: 't', decision: 'workflow' as const, data: { payload: { action_type: 'task', title: 'x' } } };
    await expect(client.execute(body)).resolves.toEqual(executed);
    expect(seen.at(-1)).toEqual({ method: 'POST', url: '/api/workflow/execute', auth: 'Bearer token-for-workflow-executor', body: JSON.stringify(body) });
  });

  it('throws 409 execution_in_progress as retryable, 400 missing_workflow_payload as final', async () => {
    reply = () => ({ status: 409, body: { code: 'execution_in_progress', message: 'busy', trace_id: null } });
    const busy = await client.execute({ trace_id: 't', decision: 'workflow' }).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(ServiceCallError);
    expect(busy).toMatchObject({ status: 409, code: 'execution_in_progress', retryable: true });

    reply = () => ({ status: 400, body: { trace_id: 't', status: 'failed', reason: 'missing_workflow_payload' } });
    const bad = await client.execute({ trace_id: 't', decision: 'workflow' }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 400, retryable: false, body: { reason: 'missing_workflow_payload' } });
  });

  it('sends a batch of executions in one request and judges each answer as execute would', async () => {
    const executed = { trace_id: 'a', status: 'success', execution_result: { success: true } };
    reply = () => ({
      status: 200,
      body: {
        results: [
          { status: 200, body: executed },
          { status: 409, body: { code: 'execution_in_progress', message: 'busy', trace_id: null } },
          { status: 400, body: { trace_id: 'c', status: 'failed', reason: 'missing_workflow_payload' } },
        ],
      },
    });
    const items = ['a', 'b', 'c'].map((t) => ({ body: { trace_id: t, decision: 'workflow' as const }, traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` }));
    const results = await client.executeBatch(items);
    expect(seen.at(-1)).toMatchObject({ method: 'POST', url: '/api/workflow/execute-batch', body: JSON.stringify({ events: items }) });
    expect(results[0]).toEqual({ ok: true, data: executed });
    expect(results[1]).toMatchObject({ ok: false, error: { status: 409, code: 'execution_in_progress', retryable: true } });
    expect(results[2]).toMatchObject({ ok: false, error: { status: 400, retryable: false } });
  });

  it('unwraps task and captured-message lists', async () => {
    reply = (req) => (req.url?.startsWith('/api/tasks') ? { status: 200, body: { tasks: [{ task_id: '1' }] } } : { status: 200, body: { messages: [{ id: 'm' }] } });
    await expect(client.tasks('u 1')).resolves.toEqual([{ task_id: '1' }]);
    expect(seen.at(-1)?.url).toBe('/api/tasks?user_id=u+1');
    await expect(client.outbox({ channel: 'email' })).resolves.toEqual([{ id: 'm' }]);
    expect(seen.at(-1)?.url).toBe('/api/outbox?channel=email');
  });

  it('asks for stats with the caller\'s products in its token, as for runs; unrestricted without a scope', async () => {
    const scoped = new WorkflowExecutorClient({
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
      tokens: { tokenFor: async (aud, opts) => `token-for-${aud}${opts?.products ? `-products-${opts.products.join('+')}` : ''}` },
    });
    reply = () => ({ status: 200, body: { window: '24h', since: 'x', workflows: [] } });
    await scoped.workflowStats({ window: '24h', name: 'publish-one', bucket: 'hour' }, { products: ['acme'] });
    expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/api/workflows/stats?window=24h&name=publish-one&bucket=hour', auth: 'Bearer token-for-workflow-executor-products-acme' });
    await scoped.workflowStats({ window: '24h' }, { products: [] });
    expect(seen.at(-1)?.auth).toBe('Bearer token-for-workflow-executor-products-');
    await scoped.workflowStats({ window: '24h' });
    expect(seen.at(-1)?.auth).toBe('Bearer token-for-workflow-executor');
  });

  it('asks for the registry (list, show, enable/disable) with the caller\'s products, whose runs live_runs counts; unrestricted without a scope', async () => {
    const scoped = new WorkflowExecutorClient({
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
      tokens: { tokenFor: async (aud, opts) => `token-for-${aud}${opts?.products ? `-products-${opts.products.join('+')}` : ''}` },
    });
    reply = () => ({ status: 200, body: { workflows: [], revision: 'r' } });
    await scoped.workflows({ products: ['acme'] });
    expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/api/workflows', auth: 'Bearer token-for-workflow-executor-products-acme' });
    await scoped.workflow('onboard', { products: [] });
    expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/api/workflows/onboard', auth: 'Bearer token-for-workflow-executor-products-' });
    await scoped.setWorkflowEnabled('onboard', false, { actor: 'operator' }, { products: ['acme', 'other'] });
    expect(seen.at(-1)).toMatchObject({ method: 'POST', url: '/api/workflows/onboard/disable', auth: 'Bearer token-for-workflow-executor-products-acme+other' });
    await scoped.workflows();
    expect(seen.at(-1)?.auth).toBe('Bearer token-for-workflow-executor');
  });
});
