import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import type { ServiceName } from '@pancha/contracts';
import { getTracer, installInMemoryTracing } from '@pancha/trace-context';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpServiceClient, type ServiceClientOptions, type ServiceRequest } from './http-service.client';
import { describesTimeout, mayHaveTakenEffect, ServiceCallError } from './service-call.error';

// What `register` does in a service: a recording tracer and the undici instrumentation (it listens on
// undici's diagnostics channels, so no require hook is needed under Jest).
// Undici's diagnostics channels are process-wide: a subscriber left behind would add its own traceparent to every
// later test file's requests in this Jest worker (from a tracer nobody exports), so it is disabled after the file.
installInMemoryTracing();
const undiciInstrumentation = new UndiciInstrumentation();
undiciInstrumentation.enable();
afterAll(() => undiciInstrumentation.disable());

class TestClient extends HttpServiceClient {
  constructor(options: ServiceClientOptions) {
    super('bucket' as ServiceName, options);
  }

  call<T>(config: ServiceRequest & { acceptStatus?: number[] }) {
    return this.requestWithHeaders<T>(config);
  }
}

interface Seen {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const seen: Seen[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      const path = (req.url ?? '').split('?')[0];
      if (path.endsWith('/slow')) {
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), 2_000).unref();
        return;
      }
      if (path.endsWith('/cached')) {
        res.writeHead(304, { etag: '"v1"' }).end();
        return;
      }
      if (path.endsWith('/refused')) {
        res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'event_id_conflict', message: 'no', trace_id: null }));
        return;
      }
      if (path.endsWith('/down')) {
        res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'database_unavailable', message: 'later', trace_id: null }));
        return;
      }
      if (path.endsWith('/text')) {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('plain words');
        return;
      }
      res.writeHead(201, { 'content-type': 'application/json', etag: '"e"' }).end(JSON.stringify({ echo: body ? JSON.parse(body) : null }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen.length = 0;
});

describe('HttpServiceClient', () => {
  it('joins the base path and the query, sends JSON with a token for the audience and reads JSON back', async () => {
    const client = new TestClient({ baseUrl: `${base}/prefix/`, tokens: { tokenFor: async (aud, opts) => `t-${aud}-${opts?.products?.join('+') ?? ''}` } });
    const res = await client.call<{ echo: unknown }>({
      method: 'POST',
      url: '/things',
      data: { a: 1 },
      params: { q: 'x y', skip: undefined, none: null, many: ['1', '2'] },
      products: ['gurukul'],
    });
    expect(res).toMatchObject({ status: 201, data: { echo: { a: 1 } }, headers: { etag: '"e"' } });
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/prefix/things?q=x+y&many=1&many=2', body: '{"a":1}' });
    expect(seen[0].headers).toMatchObject({ authorization: 'Bearer t-bucket-gurukul', 'content-type': 'application/json' });
  });

  it('sends no body and no content-type without data, and no authorization without a token source', async () => {
    await new TestClient({ baseUrl: base }).call({ url: '/plain' });
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/plain', body: '' });
    expect(seen[0].headers['content-type']).toBeUndefined();
    expect(seen[0].headers.authorization).toBeUndefined();
  });

  it('keeps a non-JSON body as text and answers an accepted non-2xx status', async () => {
    const client = new TestClient({ baseUrl: base });
    expect((await client.call({ url: '/text' })).data).toBe('plain words');
    const cached = await client.call({ url: '/cached', acceptStatus: [304] });
    expect(cached).toMatchObject({ status: 304, data: undefined, headers: { etag: '"v1"' } });
  });

  it('turns a 4xx into a non-retryable and a 5xx into a retryable ServiceCallError with the body kept', async () => {
    const client = new TestClient({ baseUrl: base });
    const refused = await client.call({ method: 'POST', url: '/refused', data: {} }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ServiceCallError);
    expect(refused).toMatchObject({ status: 409, code: 'event_id_conflict', retryable: false });
    expect((refused as Error).message).toBe('bucket answered 409 event_id_conflict to POST /refused');
    const down = await client.call({ url: '/down' }).catch((e: unknown) => e);
    expect(down).toMatchObject({ status: 503, code: 'database_unavailable', retryable: true });
    const cached = await client.call({ url: '/cached' }).catch((e: unknown) => e);
    expect(cached).toMatchObject({ status: 304, retryable: false });
  });

  it('gives up after the timeout with a retryable error that says so', async () => {
    // The server answers /slow after 2 s, inside the client's own 5 s: only the call's 100 ms can time it out. Both
    // timers run in this process and the call's is armed first, so it fires first however busy the machine is; a
    // stopwatch on the call would measure the machine, not the client.
    const client = new TestClient({ baseUrl: base, timeoutMs: 5_000 });
    const late = await client.call({ url: '/slow', timeoutMs: 100 }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(ServiceCallError);
    expect(late).toMatchObject({ status: undefined, retryable: true, timedOut: true, notSent: false, message: 'bucket unreachable (timed out) on GET /slow' });
    expect([mayHaveTakenEffect(late), describesTimeout((late as Error).message)]).toEqual([true, true]);
  });

  it('says a refused connection never sent the request (no effect possible), unlike a timeout or a 5xx', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const refused = await new TestClient({ baseUrl: `http://127.0.0.1:${closed}` }).call({ url: '/x' }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: undefined, retryable: true, timedOut: false, notSent: true });
    expect([mayHaveTakenEffect(refused), describesTimeout((refused as Error).message)]).toEqual([false, false]);
    expect(mayHaveTakenEffect(new ServiceCallError('answered 503', 503, {}, true))).toBe(true);
    expect(mayHaveTakenEffect(new ServiceCallError('answered 409', 409, {}, false))).toBe(false);
  });

  it('maps a refused connection to a retryable error naming the cause', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await new TestClient({ baseUrl: `http://127.0.0.1:${port}` }).call({ url: '/x' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: undefined, retryable: true });
    expect((error as Error).message).toMatch(/^bucket unreachable \(.*ECONNREFUSED.*\) on GET \/x$/);
  });

  it('carries the active trace to the receiver (traceparent of a client span in the caller\'s trace)', async () => {
    const client = new TestClient({ baseUrl: base });
    const traceId = await getTracer().startActiveSpan('caller', async (span) => {
      await client.call({ url: '/traced' });
      span.end();
      return span.spanContext().traceId;
    });
    expect(seen[0].headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  });
});
