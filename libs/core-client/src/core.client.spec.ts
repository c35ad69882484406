import { ServiceCallError } from '@pancha/http-client';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CoreClient } from './core.client';

const seen: { method?: string; url?: string; headers: IncomingHttpHeaders; body: string }[] = [];
let server: Server;
let client: CoreClient;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.setHeader('content-type', 'application/json');
      if (req.url === '/handle_task') {
        const parsed = JSON.parse(body) as { input: string };
        if (!parsed.input) {
          res.statusCode = 422;
          res.end(JSON.stringify({ code: 'validation_failed', message: 'invalid request: input', trace_id: null, errors: [{ field: 'input', messages: ['x'] }] }));
          return;
        }
        res.statusCode = 202;
        res.end(JSON.stringify({ task_id: 't-1', trace_id: 'a'.repeat(32), decision: 'workflow', status: 'dispatching' }));
        return;
      }
      if (req.url === '/handle_tasks') {
        const { tasks } = JSON.parse(body) as { tasks: { user_id: string }[] };
        res.statusCode = 202;
        res.end(JSON.stringify({ tasks: tasks.map((t, i) => ({ task_id: `t-${t.user_id}`, trace_id: String(i).repeat(32), decision: 'respond', status: 'decided' })) }));
        return;
      }
      if (req.url === '/events/batch') {
        // A Core with the batch route: each event answered on its own.
        const { events } = JSON.parse(body) as { events: { body: { id: string; type?: string } }[] };
        res.statusCode = 200;
        res.end(
          JSON.stringify({
            results: events.map(({ body: event }) =>
              event.type
                ? { status: 202, body: { event_id: event.id, trace_id: 'b'.repeat(32), runs: [], skipped: [], deferred: [] } }
                : { status: 422, body: { code: 'event_invalid', message: 'invalid event: type', trace_id: null, errors: [{ field: 'type', messages: ['x'] }] } },
            ),
          }),
        );
        return;
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ code: 'task_not_found', message: 'no task', trace_id: null }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = new CoreClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, tokens: { tokenFor: async (aud) => `token-for-${aud}` } });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('CoreClient', () => {
  it('posts a task to /handle_task with a token for the core audience', async () => {
    await expect(client.handleTask({ input: 'todo: x', user_id: 'u' })).resolves.toEqual({
      task_id: 't-1',
      trace_id: 'a'.repeat(32),
      decision: 'workflow',
      status: 'dispatching',
    });
    const req = seen.at(-1);
    expect(req).toMatchObject({ method: 'POST', url: '/handle_task' });
    expect(req?.headers.authorization).toBe('Bearer token-for-core');
    expect(JSON.parse(req?.body ?? '')).toEqual({ input: 'todo: x', user_id: 'u' });
  });

  it('posts tasks together to /handle_tasks and answers each in order', async () => {
    const accepted = await client.handleTasks([{ input: 'hi', user_id: 'u1' }, { input: 'hello', user_id: 'u2' }], { idempotencyKey: 'import-7' });
    expect(accepted.tasks.map((t) => t.task_id)).toEqual(['t-u1', 't-u2']);
    const req = seen.at(-1);
    expect(req).toMatchObject({ method: 'POST', url: '/handle_tasks' });
    expect(req?.headers.authorization).toBe('Bearer token-for-core');
    expect(req?.headers['idempotency-key']).toBe('import-7');
    expect(JSON.parse(req?.body ?? '')).toEqual({ tasks: [{ input: 'hi', user_id: 'u1' }, { input: 'hello', user_id: 'u2' }] });
  });

  it('throws a non-retryable ServiceCallError carrying the code for a 422 or a 404', async () => {
    const invalid = await client.handleTask({ input: '', user_id: 'u' }).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(ServiceCallError);
    expect(invalid).toMatchObject({ status: 422, code: 'validation_failed', retryable: false });
    const missing = await client.task('0b7e1a52-5f0e-4c1c-9a55-1f1d3f2a9c11').catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404, code: 'task_not_found' });
    expect(seen.at(-1)?.url).toBe('/tasks/0b7e1a52-5f0e-4c1c-9a55-1f1d3f2a9c11');
  });

  it('publishes a batch of events in one POST /events/batch and answers each event on its own', async () => {
    const before = seen.length;
    const results = await client.publishEvents([
      { body: { id: 'e-1', type: 'karma.role_changed', data: { user_id: 'u', role: 'mentor' } }, traceparent: `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01` },
      { body: { id: 'e-2', data: {} } as never },
    ]);
    expect(seen.slice(before).map((r) => `${r.method} ${r.url}`)).toEqual(['POST /events/batch']);
    expect(JSON.parse(seen.at(-1)?.body ?? '').events[0]).toMatchObject({ body: { id: 'e-1' }, traceparent: `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01` });
    expect(results[0]).toEqual({ ok: true, data: expect.objectContaining({ event_id: 'e-1' }) });
    expect(results[1]).toMatchObject({ ok: false, error: { status: 422, code: 'event_invalid', retryable: false } });
  });
});
