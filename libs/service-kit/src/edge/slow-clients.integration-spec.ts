// Finding 10: a client that sends slowly (slow-loris) cannot hold a socket open; a slow handler is still answered.
import { createTestDatabase, type TestDatabase } from '@pancha/testing';
import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { startEdgeApp, testKeysDir, type EdgeTestApp } from '../edge.test-helpers';

// Above the client's own ceiling (20 s), so a server that never hangs up fails on byServer, not on Jest's timeout.
jest.setTimeout(30_000);

const keysDir = testKeysDir();
let db: TestDatabase;
let svc: EdgeTestApp;

// Short limits so the test takes seconds; the defaults are 30 s / 10 s / 5 s (see .env.example).
const REQUEST_TIMEOUT_MS = 1500;
const HEADERS_TIMEOUT_MS = 1000;
const KEEP_ALIVE_TIMEOUT_MS = 500;

beforeAll(async () => {
  db = await createTestDatabase('edge_slow');
  svc = await startEdgeApp({
    databaseUrl: db.url,
    keysDir,
    env: {
      HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      HTTP_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_TIMEOUT_MS),
    },
  });
});
afterAll(async () => {
  await svc?.close();
  await db?.drop();
  rmSync(keysDir, { recursive: true, force: true });
});

// The client gives up after this: a ceiling for a busy machine (like eventually's), not a pace, and far below the
// ~100 s a slow body could hold a socket before. What the tests assert is that the server hung up, and not early.
const CLIENT_GIVES_UP_MS = 20_000;

interface Drip {
  /**
   * Resolves when the connection closes, with what the server answered, after how long, and whether the
   * server hung up (false: the client gave up at CLIENT_GIVES_UP_MS, the server would have let it go on).
   */
  closed: Promise<{ afterMs: number; answer: string; dripped: number; byServer: boolean }>;
}

/** Opens a raw connection, sends `head` and then one byte of `drip` every `everyMs` until the server hangs up. */
function slowClient(head: string, drip: string, everyMs: number): Drip {
  const started = Date.now();
  const socket: Socket = connect(svc.port, '127.0.0.1');
  let answer = '';
  let dripped = 0;
  let timer: NodeJS.Timeout | undefined;
  let gaveUp = false;
  const giveUp = setTimeout(() => {
    gaveUp = true;
    socket.destroy();
  }, CLIENT_GIVES_UP_MS);
  socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  socket.on('connect', () => {
    if (head) socket.write(head);
    if (drip) {
      timer = setInterval(() => {
        if (!socket.writable) return;
        socket.write(drip[dripped % drip.length]);
        dripped++;
      }, everyMs);
    }
  });
  const closed = new Promise<{ afterMs: number; answer: string; dripped: number; byServer: boolean }>((resolve) =>
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ afterMs: Date.now() - started, answer, dripped, byServer: !gaveUp });
    }),
  );
  return { closed };
}

describe('slow clients are cut off', () => {
  it('closes a connection whose body trickles in (408), once the request timeout has passed', async () => {
    const client = slowClient(
      'POST /things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"name":"',
      'a',
      100,
    );
    const { afterMs, answer, dripped, byServer } = await client.closed;
    expect(byServer).toBe(true);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    // A floor, which load cannot break (timers never fire early): the server did not cut it short.
    expect(afterMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS);
    expect(dripped).toBeGreaterThan(0);
    expect(await svc.things()).toBe(0);
  });

  it('closes a connection whose headers trickle in', async () => {
    const client = slowClient('GET /things HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n', 50);
    const { afterMs, byServer } = await client.closed;
    expect(byServer).toBe(true);
    expect(afterMs).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS);
  });

  it('closes a connection that never sends anything', async () => {
    const client = slowClient('', '', 0);
    const { afterMs, answer, byServer } = await client.closed;
    expect(byServer).toBe(true);
    expect(answer).toMatch(/^$|^HTTP\/1\.1 408/);
    expect(afterMs).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
  });

  it('closes an idle keep-alive connection after the keep-alive timeout, having served its request', async () => {
    const client = slowClient('GET /health HTTP/1.1\r\nHost: x\r\n\r\n', '', 0);
    const { afterMs, answer, byServer } = await client.closed;
    expect(byServer).toBe(true);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toMatch(/Keep-Alive: timeout=\d+/i);
    expect(afterMs).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT_MS - 50);
  });
});

describe('well-behaved clients are not', () => {
  it('answers a request whose handler takes longer than the request timeout', async () => {
    const res = await fetch(`${svc.url}/slow`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ms: REQUEST_TIMEOUT_MS + 500 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ waited: REQUEST_TIMEOUT_MS + 500 });
  });

  it('serves several requests on one keep-alive connection sent within the idle timeout', async () => {
    for (let i = 0; i < 3; i++) expect((await fetch(`${svc.url}/things`)).status).toBe(200);
  });
});
