import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request a stand-in received, as the service under test sent it. */
export interface RecordedRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Parsed JSON when the body is JSON, the raw text otherwise, undefined when empty. */
  body: unknown;
  /** True once the caller went away before an answer was sent (its timeout fired, it was aborted). */
  abandoned: boolean;
}

/**
 * What to answer: a status and a JSON body, or `'hang'` (never answer; the caller's timeout must act).
 * `delayMs` waits before answering; prefer holding the answer on a `deferred()` the test releases, which no
 * machine load can reorder.
 */
export type StandInAnswer = { status: number; body: unknown; delayMs?: number; headers?: Record<string, string> } | 'hang';
export type StandInHandler = (req: RecordedRequest) => StandInAnswer | Promise<StandInAnswer>;

/**
 * A downstream service in a test (Bucket, Karma, the executor, a WhatsApp or OpenAI-compatible provider) on
 * 127.0.0.1: records every request and answers with `handler`, which may hold its answer on a promise the test
 * settles (see `deferred`). `down = true` resets every connection as if nothing listened; `stop()` and
 * `start()` take it away and bring it back on the same port.
 */
export class StandInServer {
  readonly requests: RecordedRequest[] = [];
  down = false;
  private server?: Server;
  private port = 0;
  private readonly sockets = new Set<Socket>();
  /** Batch route path → the single route each of its items stands for (see `speaksBatch`). */
  private readonly batchRoutes = new Map<string, string>();

  constructor(public handler: StandInHandler) {}

  /**
   * Makes the stand-in answer POST `batchPath` (`{ events: [{ body, traceparent? }] }`, see EventBatchRequest) the
   * way a real receiver does: each item is recorded and handled as its own POST `singlePath` request (its headers
   * carry the item's traceparent; it is abandoned when the batch request is), and the answers come back as
   * `{ results: [{ status, body }] }` in order. Tests then see the same requests whether the caller batched or not;
   * the batch request itself is recorded too, before its items.
   */
  speaksBatch(batchPath: string, singlePath: string): this {
    this.batchRoutes.set(batchPath, singlePath);
    return this;
  }

  get url(): string {
    if (!this.port) throw new Error('the stand-in has not been started');
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (this.server) return this;
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** The same as stop(). */
  close(): Promise<void> {
    return this.stop();
  }

  /** Closes the port and every open connection (answers held by the handler are dropped). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.down) {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text === '' ? undefined : text;
    try {
      if (text) body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body,
      abandoned: false,
    };
    res.on('close', () => {
      if (!res.writableFinished) recorded.abandoned = true;
    });
    const singlePath = recorded.method === 'POST' ? this.batchRoutes.get(recorded.path) : undefined;
    let answer: StandInAnswer;
    try {
      if (singlePath !== undefined) {
        answer = await this.answerBatch(recorded, singlePath);
      } else {
        this.requests.push(recorded);
        answer = await this.handler(recorded);
      }
    } catch {
      res.destroy();
      return;
    }
    if (answer === 'hang') return;
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    if (res.destroyed) return;
    res.writeHead(answer.status, { ...answer.headers, 'content-type': 'application/json' });
    res.end(JSON.stringify(answer.body));
  }

  private async answerBatch(batch: RecordedRequest, singlePath: string): Promise<StandInAnswer> {
    const events = (batch.body as { events?: { body: unknown; traceparent?: string; tracestate?: string }[] } | undefined)?.events;
    if (!Array.isArray(events)) return { status: 422, body: { code: 'validation_failed', message: 'events must be an array' } };
    const items = events.map((event): RecordedRequest => {
      const headers = { ...batch.headers };
      delete headers.traceparent;
      delete headers.tracestate;
      if (event.traceparent) headers.traceparent = event.traceparent;
      if (event.tracestate) headers.tracestate = event.tracestate;
      return {
        method: 'POST',
        path: singlePath,
        query: batch.query,
        headers,
        body: event.body,
        get abandoned() {
          return batch.abandoned;
        },
      };
    });
    this.requests.push(batch, ...items);
    const answers = await Promise.all(items.map((item) => this.handler(item)));
    if (answers.includes('hang')) return 'hang';
    return { status: 200, body: { results: answers.map((a) => (a === 'hang' ? undefined : { status: a.status, body: a.body })) } };
  }
}
