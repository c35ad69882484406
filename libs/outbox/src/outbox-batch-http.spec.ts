// The relay with a real batching handler (BucketClient.writeEvents) against a stand-in Bucket over HTTP: the
// batch route when the receiver has it, single writes when it answers 404 (an older release).
import { Logger } from '@nestjs/common';
import { BucketClient } from '@pancha/bucket-client';
import { BUCKET_WRITE_EVENTS_ROUTES, type EventBatchRequest, type WriteEventRequest } from '@pancha/contracts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OutboxHandler } from './outbox-handler.interface';
import { OutboxRelay } from './outbox-relay.service';
import { InMemoryOutboxStore } from './testing/in-memory-outbox.store';

interface Received {
  url: string;
  events: string[];
}

describe('OutboxRelay → BucketClient.writeEvents → a stand-in Bucket', () => {
  let server: Server;
  let baseUrl: string;
  let hasBatchRoute = true;
  const received: Received[] = [];
  /** event_id → how many times it was recorded (a repeat is a replay: answered 200, not recorded again). */
  const recorded = new Map<string, number>();

  const answer = (body: WriteEventRequest): { status: number; body: unknown } => {
    const { event_id, event_type } = body.event_data as { event_id: string; event_type: string };
    if (event_type === 'poison') return { status: 422, body: { code: 'validation_failed', message: 'invalid request: event_data.x', trace_id: null } };
    const replayed = recorded.has(event_id);
    if (!replayed) recorded.set(event_id, 1);
    return { status: replayed ? 200 : 201, body: { success: true, message: 'ok', event_id, seq: recorded.size, hash: 'h', replayed } };
  };

  beforeAll(async () => {
    Logger.overrideLogger(false);
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const url = (req.url ?? '').replace(/^\/p\d+/, '');
        const send = (status: number, payload: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
        if (url === BUCKET_WRITE_EVENTS_ROUTES.core && hasBatchRoute) {
          const { events } = JSON.parse(raw) as EventBatchRequest<WriteEventRequest>;
          received.push({ url, events: events.map((e) => String(e.body.event_data.event_id)) });
          return send(200, { results: events.map((e) => answer(e.body)) });
        }
        if (url === '/core/write-event') {
          const body = JSON.parse(raw) as WriteEventRequest;
          received.push({ url, events: [String(body.event_data.event_id)] });
          const { status, body: reply } = answer(body);
          return send(status, reply);
        }
        received.push({ url, events: [] });
        send(404, { code: 'not_found', message: `Cannot POST ${url}`, trace_id: null });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  let run = 0;
  function setUp(): { store: InMemoryOutboxStore; relay: OutboxRelay } {
    run++;
    received.length = 0;
    recorded.clear();
    const bucket = new BucketClient({ baseUrl: `${baseUrl}/p${run}` });
    const handler: OutboxHandler = {
      topic: 'bucket.core-event',
      deliver: async (m) => void (await bucket.writeEvent('core', m.payload as WriteEventRequest)),
      deliverBatch: (messages) => bucket.writeEvents('core', messages.map((m) => ({ body: m.payload as WriteEventRequest, traceparent: m.headers.traceparent }))),
    };
    const store = new InMemoryOutboxStore();
    for (const [i, type] of ['ok', 'ok', 'poison', 'ok'].entries()) {
      store.insert('bucket.core-event', `m${i}`, { requester_id: 'bhiv_core', event_data: { event_id: `e${i}`, event_type: type } });
    }
    return { store, relay: new OutboxRelay(store, [handler], { enabled: false, baseDelayMs: 0, maxDelayMs: 0 }) };
  }

  const outcome = (store: InMemoryOutboxStore) => [...store.rows.values()].map((r) => [r.messageKey, r.status]);

  it('sends the batch in one request; the poisoned event alone is dead-lettered, the others are delivered once', async () => {
    hasBatchRoute = true;
    const { store, relay } = setUp();
    await relay.drainOnce();
    expect(received).toEqual([{ url: BUCKET_WRITE_EVENTS_ROUTES.core, events: ['e0', 'e1', 'e2', 'e3'] }]);
    expect(outcome(store)).toEqual([['m0', 'delivered'], ['m1', 'delivered'], ['m2', 'dead'], ['m3', 'delivered']]);
    expect(store.deadLetters.get([...store.rows.values()][2].id)?.reason).toMatch(/^non_retryable: bucket answered 422 validation_failed to event 2 of POST/);
    expect([...recorded.values()]).toEqual([1, 1, 1]);
  });

  it('falls back to single writes when the receiver has no batch route (404), with the same per-message outcomes', async () => {
    hasBatchRoute = false;
    const { store, relay } = setUp();
    await relay.drainOnce();
    expect(received.map((r) => r.url)).toEqual([BUCKET_WRITE_EVENTS_ROUTES.core, ...Array(4).fill('/core/write-event')]);
    expect(received.slice(1).flatMap((r) => r.events).sort()).toEqual(['e0', 'e1', 'e2', 'e3']);
    expect(outcome(store)).toEqual([['m0', 'delivered'], ['m1', 'delivered'], ['m2', 'dead'], ['m3', 'delivered']]);
    expect(store.deadLetters.get([...store.rows.values()][2].id)?.reason).toMatch(/^non_retryable: bucket answered 422 validation_failed to POST \/core\/write-event/);
  });
});
