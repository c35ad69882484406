import type { TokenSource } from '@pancha/contracts';
import { ServiceCallError } from '@pancha/http-client';
import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KarmaClient } from './karma.client';

interface Seen {
  method?: string;
  url?: string;
  authorization?: string;
  body: unknown;
}

describe('KarmaClient', () => {
  let server: Server;
  let baseUrl: string;
  const seen: Seen[] = [];
  let reply: { status: number; body: unknown } = { status: 200, body: {} };
  const tokens: TokenSource = { tokenFor: async (aud) => `token-for-${aud}` };

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization, body: raw ? JSON.parse(raw) : undefined });
        res.writeHead(reply.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(reply.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    seen.length = 0;
  });

  it('posts events to /v1/event/ with a bearer token for the karma audience', async () => {
    reply = { status: 200, body: { status: 'success', event_type: 'life_event', routing_info: { handler: 'life_event', ledger_entries: 1, q_update: true } } };
    const client = new KarmaClient({ baseUrl: `${baseUrl}/`, tokens });
    const body = { type: 'life_event' as const, data: { user_id: 'u', action: 'workflow_success', context: { trace_id: 't' } } };
    const r = await client.submitEvent(body);
    expect(r.routing_info.handler).toBe('life_event');
    expect(seen).toEqual([{ method: 'POST', url: '/v1/event/', authorization: 'Bearer token-for-karma', body }]);
  });

  it('reads the profile, stats and Q-table at their routes, escaping the user id', async () => {
    reply = { status: 200, body: { ok: true } };
    const client = new KarmaClient({ baseUrl, tokens });
    await client.profile('a/b c');
    await client.userStats('u1');
    await client.qTable();
    expect(seen.map((s) => s.url)).toEqual(['/api/v1/karma/a%2Fb%20c', '/v1/stats/user/u1', '/v1/q-table']);
  });

  it('reads the ledger history with its query, escaping the user id', async () => {
    reply = { status: 200, body: { user_id: 'a/b', bucket: 'hour', points: [] } };
    const client = new KarmaClient({ baseUrl, tokens });
    await client.history('a/b', { bucket: 'hour', since: new Date('2025-06-01T00:00:00Z'), until: '2025-06-02T00:00:00Z' });
    await client.history('u1');
    // The query as the server reads it (how ':' is escaped is the HTTP client's business).
    const read = seen.map((s) => {
      const url = new URL(s.url ?? '', 'http://karma');
      return [url.pathname, Object.fromEntries(url.searchParams)];
    });
    expect(read).toEqual([
      ['/v1/karma/a%2Fb/history', { since: '2025-06-01T00:00:00.000Z', until: '2025-06-02T00:00:00Z', bucket: 'hour' }],
      ['/v1/karma/u1/history', {}],
    ]);
  });

  it('throws a non-retryable ServiceCallError for a 422 and a retryable one for a 503', async () => {
    const client = new KarmaClient({ baseUrl, tokens });
    reply = { status: 422, body: { code: 'unknown_action', message: 'data.action must be one of: …' } };
    const bad = await client.submitEvent({ type: 'life_event', data: { user_id: 'u', action: 'x' } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ServiceCallError);
    expect(bad).toMatchObject({ status: 422, code: 'unknown_action', retryable: false });
    reply = { status: 503, body: { code: 'database_unavailable', message: 'down' } };
    const down = await client.profile('u').catch((e: unknown) => e);
    expect(down).toMatchObject({ status: 503, code: 'database_unavailable', retryable: true });
  });
});

describe('KarmaClient.submitEvents', () => {
  let server: Server;
  let baseUrl: string;
  const urls: string[] = [];
  let batchRoute = true;

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        // A base path of its own per test (/p<n>): the "no batch route" memory is per route.
        const url = (req.url ?? '').replace(/^\/p\d+/, '');
        urls.push(url);
        const body = JSON.parse(raw);
        const send = (status: number, payload: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
        if (url === '/v1/events' && batchRoute) {
          return send(200, {
            results: body.events.map((e: { body: { data: { action: string } } }) =>
              e.body.data.action === 'x' ? { status: 422, body: { code: 'unknown_action', message: 'no' } } : { status: 200, body: { status: 'success' }, replayed: true },
            ),
          });
        }
        if (url === '/v1/event/') return body.data.action === 'x' ? send(422, { code: 'unknown_action', message: 'no' }) : send(200, { status: 'success' });
        send(404, { code: 'not_found', message: `Cannot POST ${url}` });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const events = (...actions: string[]) => actions.map((action) => ({ body: { type: 'life_event' as const, data: { user_id: 'u', action } } }));

  it('posts the batch to /v1/events and answers each event (a refusal keeps its verdict)', async () => {
    urls.length = 0;
    batchRoute = true;
    const results = await new KarmaClient({ baseUrl: `${baseUrl}/p1` }).submitEvents(events('workflow_success', 'x'));
    expect(urls).toEqual(['/v1/events']);
    expect(results[0]).toEqual({ ok: true, data: { status: 'success' }, replayed: true });
    expect(!results[1].ok && results[1].error).toMatchObject({ status: 422, code: 'unknown_action', retryable: false });
  });

  it('falls back to POST /v1/event/ per event when Karma has no batch route (404)', async () => {
    urls.length = 0;
    batchRoute = false;
    const results = await new KarmaClient({ baseUrl: `${baseUrl}/p2` }).submitEvents(events('workflow_success', 'x'));
    expect(urls).toEqual(['/v1/events', '/v1/event/', '/v1/event/']);
    expect(results.map((r) => r.ok)).toEqual([true, false]);
  });
});
