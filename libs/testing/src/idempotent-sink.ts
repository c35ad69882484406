import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SinkRequest {
  method: string;
  path: string;
  key: string | undefined;
  traceparent: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface SinkAnswer {
  status: number;
  body?: unknown;
  /** Answer only after this long (a slow provider). */
  delayMs?: number;
}

/**
 * A provider that honours `Idempotency-Key` the way payment and messaging APIs do: the first request with a key
 * performs the effect and its answer is remembered; a repeat gets the remembered answer and performs nothing.
 * A failed (non-2xx) answer is not remembered, so a retry after a 503 performs the effect then. Tests count
 * requests (what reached the provider) and effects (what happened) per key.
 */
export class IdempotentSink {
  readonly requests: SinkRequest[] = [];
  readonly effects = new Map<string, number>();
  private readonly remembered = new Map<string, SinkAnswer>();
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  /** Decides the answer to a request that would perform an effect (`n` = requests with this key so far, from 1). */
  constructor(public decide: (req: SinkRequest, n: number) => SinkAnswer = () => ({ status: 200, body: { ok: true } })) {}

  get url(): string {
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  requestsFor(key: string): number {
    return this.requests.filter((r) => r.key === key).length;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // keep the text
    }
    const key = header(req, 'idempotency-key');
    const request: SinkRequest = { method: req.method ?? '', path: req.url ?? '', key, traceparent: header(req, 'traceparent'), headers: req.headers, body };
    this.requests.push(request);
    const known = key === undefined ? undefined : this.remembered.get(key);
    const answer = known ?? this.decide(request, key === undefined ? 1 : this.requestsFor(key));
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    if (!known && answer.status >= 200 && answer.status < 300) {
      // The effect happens once the provider answers success; a repeat of the key finds it done.
      if (key !== undefined) {
        if (this.remembered.has(key)) return this.reply(res, this.remembered.get(key)!);
        this.remembered.set(key, answer);
        this.effects.set(key, (this.effects.get(key) ?? 0) + 1);
      }
    }
    this.reply(res, answer);
  }

  private reply(res: ServerResponse, answer: SinkAnswer): void {
    if (res.destroyed) return;
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer.body ?? {}));
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
