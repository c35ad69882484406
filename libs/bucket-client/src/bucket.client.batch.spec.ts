import { BUCKET_WRITE_EVENTS_ROUTES, type EventBatchItem, MAX_EVENT_BATCH, type WriteEventRequest } from '@pancha/contracts';
import { ServiceCallError } from '@pancha/http-client';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BucketClient } from './bucket.client';

type Mode = 'batch' | 'old' | 'refuses-whole' | 'down' | 'short';

interface Seen {
  url: string;
  body: { events?: EventBatchItem<WriteEventRequest>[] } & Partial<WriteEventRequest>;
  traceparent?: string;
}

/** A stand-in Bucket: the batch route answers per event (event_type 'bad' → 422), or behaves as `mode` says. */
let mode: Mode = 'batch';
const seen: Seen[] = [];
/** Requests being answered right now, and the most at once (each answer waits 20 ms, so requests sent side by side overlap). */
let inFlight = 0;
let peakInFlight = 0;
let server: Server;
let baseUrl: string;

const result = (seq: number) => ({ success: true, message: 'event recorded', event_id: `e${seq}`, seq, hash: 'h', replayed: false });

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw) as Seen['body'];
      // Each test's client has a base path of its own (/p<n>): the "no batch route" memory is per route.
      const url = (req.url ?? '').replace(/^\/p\d+/, '');
      seen.push({ url, body, traceparent: req.headers.traceparent as string | undefined });
      peakInFlight = Math.max(peakInFlight, ++inFlight);
      const send = (status: number, payload: unknown) =>
        setTimeout(() => {
          inFlight--;
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
        }, 20);
      if (url === BUCKET_WRITE_EVENTS_ROUTES.core) {
        if (mode === 'old') return send(404, { code: 'not_found', message: 'Cannot POST /core/write-events', trace_id: null });
        if (mode === 'refuses-whole') return send(422, { code: 'validation_failed', message: 'invalid request: events', trace_id: null });
        if (mode === 'down') return send(503, { code: 'database_unavailable', message: 'later', trace_id: null });
        const events = body.events ?? [];
        if (mode === 'short') return send(200, { results: [] });
        return send(200, {
          results: events.map((e, i) =>
            e.body.event_data.event_type === 'bad'
              ? { status: 422, body: { code: 'validation_failed', message: 'invalid request: event_data.x', trace_id: null } }
              : { status: 201, body: result(i + 1), replayed: false },
          ),
        });
      }
      if (url === '/core/write-event') {
        if (body.event_data?.event_type === 'bad') return send(422, { code: 'validation_failed', message: 'invalid', trace_id: null });
        if (body.event_data?.event_type === 'down') return send(503, { code: 'database_unavailable', message: 'later', trace_id: null });
        return send(201, result(100 + seen.length));
      }
      send(404, { code: 'not_found', message: 'no', trace_id: null });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen.length = 0;
  mode = 'batch';
  peakInFlight = 0;
});

let prefix = 0;
beforeEach(() => prefix++);
/** A client of this test's base path (the "no batch route" memory is per route, shared by the process). */
const client = () => new BucketClient({ baseUrl: `${baseUrl}/p${prefix}/`, tokens: { tokenFor: async (aud) => `t-${aud}` } });
const items = (...types: string[]): EventBatchItem<WriteEventRequest>[] =>
  types.map((event_type, i) => ({ body: { requester_id: 'bhiv_core', event_data: { event_id: `id-${prefix}-${i}`, event_type } }, traceparent: `00-${String(i + 1).repeat(32)}-${'a'.repeat(16)}-01` }));

describe('BucketClient.writeEvents', () => {
  it('sends one request and answers each event: a refusal is the ServiceCallError its single write would throw', async () => {
    const results = await client().writeEvents('core', items('ok', 'bad', 'ok'));
    expect(seen.map((s) => s.url)).toEqual([BUCKET_WRITE_EVENTS_ROUTES.core]);
    expect(seen[0].body.events?.[0].traceparent).toBe(`00-${'1'.repeat(32)}-${'a'.repeat(16)}-01`);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    const refused = results[1];
    expect(!refused.ok && refused.error).toBeInstanceOf(ServiceCallError);
    expect(!refused.ok && refused.error).toMatchObject({ status: 422, code: 'validation_failed', retryable: false });
  });

  it('falls back to single writes when the receiver has no batch route (404), and remembers it', async () => {
    mode = 'old';
    expect(await client().writeEvents('core', [])).toEqual([]);
    const results = await client().writeEvents('core', items('ok', 'bad'));
    expect(seen.map((s) => s.url)).toEqual([BUCKET_WRITE_EVENTS_ROUTES.core, '/core/write-event', '/core/write-event']);
    expect(results.map((r) => r.ok)).toEqual([true, false]);
    expect(!results[1].ok && results[1].error).toMatchObject({ status: 422, retryable: false });
    // The next batch goes straight to single writes: no 404 round trip per batch.
    seen.length = 0;
    await client().writeEvents('core', items('ok'));
    expect(seen.map((s) => s.url)).toEqual(['/core/write-event']);
  });

  it('falls back to single writes when the receiver refuses the request as a whole for good, so each event gets its own verdict', async () => {
    mode = 'refuses-whole';
    const results = await client().writeEvents('core', items('ok', 'bad'));
    expect(seen.map((s) => s.url)).toEqual([BUCKET_WRITE_EVENTS_ROUTES.core, '/core/write-event', '/core/write-event']);
    expect(results.map((r) => r.ok)).toEqual([true, false]);
    // Not remembered: the next batch asks the batch route again.
    seen.length = 0;
    mode = 'batch';
    await client().writeEvents('core', items('ok'));
    expect(seen.map((s) => s.url)).toEqual([BUCKET_WRITE_EVENTS_ROUTES.core]);
  });

  it('throws a retryable error for a failure of the whole request that another try may fix', async () => {
    mode = 'down';
    const down = await client().writeEvents('core', items('ok', 'ok')).catch((e: unknown) => e);
    expect(down).toMatchObject({ status: 503, retryable: true });
    // No single write was tried: the relay retries the whole batch.
    expect(seen.map((s) => s.url)).toEqual([BUCKET_WRITE_EVENTS_ROUTES.core]);
  });

  it('takes a 2xx that is not a batch answer for a receiver without the batch route: single writes', async () => {
    mode = 'short';
    const results = await client().writeEvents('core', items('ok', 'bad'));
    expect(seen.map((s) => s.url)).toEqual([BUCKET_WRITE_EVENTS_ROUTES.core, '/core/write-event', '/core/write-event']);
    expect(results.map((r) => r.ok)).toEqual([true, false]);
  });

  it('splits a batch longer than a receiver takes into batches it takes, answering every event in order', async () => {
    const long = items(...Array.from({ length: MAX_EVENT_BATCH * 2 + 5 }, (_, i) => (i === MAX_EVENT_BATCH + 1 ? 'bad' : 'ok')));
    const results = await client().writeEvents('core', long);
    // Unordered, the chunks travel side by side, so they may arrive in any order.
    expect(seen.map((s) => s.url)).toEqual(Array(3).fill(BUCKET_WRITE_EVENTS_ROUTES.core));
    expect(seen.map((s) => s.body.events?.length ?? 0).sort((a, b) => b - a)).toEqual([MAX_EVENT_BATCH, MAX_EVENT_BATCH, 5]);
    expect(results.map((r, i) => (r.ok ? 'ok' : i))).toEqual(Array.from({ length: long.length }, (_, i) => (i === MAX_EVENT_BATCH + 1 ? i : 'ok')));
  });

  it('ordered, sends the chunks of a long batch one after another, in order', async () => {
    const long = items(...Array.from({ length: MAX_EVENT_BATCH * 2 + 5 }, () => 'ok'));
    const results = await client().writeEvents('core', long, { ordered: true });
    expect(results.every((r) => r.ok)).toBe(true);
    expect(peakInFlight).toBe(1);
    expect(seen.map((s) => s.body.events?.length ?? 0)).toEqual([MAX_EVENT_BATCH, MAX_EVENT_BATCH, 5]);
    expect(seen.flatMap((s) => s.body.events?.map((e) => e.body.event_data.event_id) ?? [])).toEqual(long.map((e) => e.body.event_data.event_id));
  });

  it('ordered, sends no chunk after one in which an event failed retryably', async () => {
    mode = 'old';
    const long = items(...Array.from({ length: MAX_EVENT_BATCH + 3 }, (_, i) => (i === 2 ? 'down' : 'ok')));
    const results = await client().writeEvents('core', long, { ordered: true });
    // The first chunk's batch route is missing: single writes up to the failed one; the second chunk is not sent.
    expect(seen.map((s) => s.body.event_data?.event_type ?? 'batch')).toEqual(['batch', 'ok', 'ok', 'down']);
    expect(results.slice(0, 3).map((r) => r.ok)).toEqual([true, true, false]);
    expect(results.slice(3).every((r) => !r.ok && r.error.retryable && /not sent/.test(r.error.message))).toBe(true);
  });

  it('ordered, keeps the order when it falls back to single writes: one at a time, and none after one that failed retryably', async () => {
    mode = 'old';
    const results = await client().writeEvents('core', items('ok', 'bad', 'ok', 'down', 'ok', 'ok'), { ordered: true });
    // A refusal for good (422) lets the next event go, as a dead outbox row releases the rows after it.
    expect(seen.map((s) => s.body.event_data?.event_type ?? 'batch')).toEqual(['batch', 'ok', 'bad', 'ok', 'down']);
    expect(results.map((r) => (r.ok ? 'ok' : `${r.error.status ?? '-'}:${r.error.retryable}`))).toEqual(['ok', '422:false', 'ok', '503:true', '-:true', '-:true']);
    expect(!results[4].ok && results[4].error.message).toMatch(/not sent: an earlier event of this ordered batch failed/);
    expect(peakInFlight).toBe(1);
  });

  it('splits a batch too large for one request body', async () => {
    const big = items(...Array.from({ length: 8 }, () => 'ok')).map((item) => ({ ...item, body: { ...item.body, event_data: { ...item.body.event_data, pad: 'x'.repeat(60_000) } } }));
    const results = await client().writeEvents('core', big);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.every((s) => s.url === BUCKET_WRITE_EVENTS_ROUTES.core)).toBe(true);
    expect(seen.reduce((n, s) => n + (s.body.events?.length ?? 0), 0)).toBe(8);
  });
});
