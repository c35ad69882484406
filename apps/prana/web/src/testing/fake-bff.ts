/**
 * An in-process stand-in for the PRANA BFF (test-only): routes by method and path, records every request with
 * its headers and body, and enforces the contract's CSRF and permission rules so a view test sees what the real
 * BFF would answer.
 */
import type { Session } from '../api';

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: unknown;
}

type Handler = (req: Recorded) => { status?: number; body: unknown } | unknown;

export const ROLE_PERMISSIONS: Record<string, string[]> = {
  viewer: ['view:tasks', 'view:runs', 'view:workflows', 'view:audit', 'view:karma', 'view:events'],
  operator: ['view:tasks', 'view:runs', 'view:workflows', 'view:audit', 'view:karma', 'view:events', 'submit:tasks', 'start:runs', 'operate:runs'],
  admin: ['view:tasks', 'view:runs', 'view:workflows', 'view:audit', 'view:karma', 'view:events', 'submit:tasks', 'start:runs', 'operate:runs', 'admin:workflows', 'view:plugins'],
};

export function sessionFor(role: 'viewer' | 'operator' | 'admin'): Session {
  return {
    user: { sub: `${role}-sub`, username: role, name: `The ${role}`, roles: [role] },
    permissions: ROLE_PERMISSIONS[role],
    csrf_token: `csrf-${role}`,
    expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    jaeger_ui_url: 'http://jaeger.test:16686',
  };
}

export class FakeBff {
  readonly requests: Recorded[] = [];
  private readonly routes: Array<{ method: string; pattern: RegExp; handler: Handler }> = [];
  session: Session | null;
  health: Record<string, string> = { core: 'up', executor: 'up', bucket: 'up', karma: 'up' };

  constructor(role: 'viewer' | 'operator' | 'admin' | null = 'operator') {
    this.session = role ? sessionFor(role) : null;
  }

  on(method: string, path: string | RegExp, handler: Handler): this {
    const pattern = typeof path === 'string' ? new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : path;
    this.routes.unshift({ method, pattern, handler });
    return this;
  }

  fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(String(input), 'http://prana.test');
    const headers = Object.fromEntries(Object.entries((init.headers ?? {}) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]));
    const req: Recorded = { method: init.method ?? 'GET', path: url.pathname, query: url.searchParams, headers, body: init.body ? JSON.parse(String(init.body)) : undefined };
    this.requests.push(req);
    // jsdom has no fetch Response: the console reads only ok, status, statusText and text().
    const json = (status: number, body: unknown) =>
      ({ ok: status >= 200 && status < 300, status, statusText: String(status), text: async () => JSON.stringify(body) }) as Response;
    if (req.path === '/api/session') return this.session ? json(200, this.session) : json(401, { error: 'unauthenticated', login_url: '/auth/login' });
    if (req.path === '/api/health') return json(200, { services: this.health });
    if (!this.session) return json(401, { error: 'unauthenticated', login_url: '/auth/login' });
    if (req.method !== 'GET' && headers['x-csrf-token'] !== this.session.csrf_token) return json(403, { error: 'csrf', message: 'bad CSRF token' });
    const route = this.routes.find((r) => r.method === req.method && r.pattern.test(req.path));
    if (!route) return json(404, { error: 'not_found', message: `no stand-in route for ${req.method} ${req.path}` });
    const out = route.handler(req) as { status?: number; body?: unknown } | undefined;
    if (out && typeof out === 'object' && 'body' in out) return json(out.status ?? 200, out.body);
    return json(200, out);
  };

  writes(): Recorded[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }
}

/**
 * A stand-in for the browser's EventSource on the BFF's live stream (jsdom has none): the test opens, pushes,
 * drops and restores it. Created through Api.openStream (render.tsx wires FakeBff.openStream in).
 */
export class FakeEventSource extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readyState = 0;
  onerror: ((e: Event) => void) | null = null;
  closed = false;

  constructor(readonly url: string) {
    super();
  }

  get topics(): string[] {
    return (new URL(this.url, 'http://prana.test').searchParams.get('topics') ?? '').split(',');
  }

  /** The BFF accepted the stream: `ready`. */
  open(upstream: 'up' | 'down' = 'up'): void {
    this.readyState = 1;
    this.emit('ready', { topics: this.topics, upstream });
  }

  emit(event: string, data: unknown): void {
    this.dispatchEvent(new MessageEvent(event, { data: JSON.stringify(data) }));
  }

  /** The connection dropped; the browser would retry (CONNECTING), or gave up (CLOSED). */
  drop(closed = false): void {
    this.readyState = closed ? 2 : 0;
    this.onerror?.(new Event('error'));
  }

  close(): void {
    this.readyState = 2;
    this.closed = true;
  }
}

export interface FakeBffStreams {
  streams: FakeEventSource[];
  openStream: (url: string) => EventSource;
}

/** Adds live-stream stand-ins to a FakeBff: every stream the console opens is kept in `streams`. */
export function withStreams(bff: FakeBff): FakeBff & FakeBffStreams {
  const b = bff as FakeBff & FakeBffStreams;
  b.streams = [];
  b.openStream = (url: string) => {
    const es = new FakeEventSource(url);
    b.streams.push(es);
    return es as unknown as EventSource;
  };
  return b;
}
