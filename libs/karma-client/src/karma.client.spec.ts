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
    expect(seen.map((s) => s.url)).toEqual([
      '/v1/karma/a%2Fb/history?since=2025-06-01T00:00:00.000Z&until=2025-06-02T00:00:00Z&bucket=hour',
      '/v1/karma/u1/history',
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
