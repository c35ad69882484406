/**
 * The console's one way to the BFF (contract: BRIEF-PRANA-CONTRACT / docs/prana.md). Same-origin cookies, the
 * session's CSRF token on every write, and errors as ApiError with the BFF's `{ error, message }`.
 */

export interface SessionUser {
  sub: string;
  username: string;
  name?: string;
  roles: string[];
}

export interface Session {
  user: SessionUser;
  permissions: string[];
  /** The products people see (`['*']`: every product); absent from an older BFF, read as every product. */
  products?: string[];
  csrf_token: string;
  expires_at: string;
  /** Base URL of the Jaeger UI (JAEGER_UI_URL); see the contract's Changes. */
  jaeger_ui_url?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export type Fetch = typeof fetch;

export class Api {
  csrfToken = '';
  /** Called on a 401 from any call: the session expired; the app shows the sign-in screen. */
  onUnauthenticated: () => void = () => undefined;

  /**
   * Opens the BFF's live stream (server-sent events, same-origin cookie). Undefined where the browser has no
   * EventSource: the views then poll slowly instead. Tests put a stand-in here.
   */
  openStream: ((url: string) => EventSource) | undefined =
    typeof globalThis.EventSource === 'function' ? (url) => new globalThis.EventSource(url, { withCredentials: true }) : undefined;

  constructor(private readonly fetchImpl: Fetch = (...args) => globalThis.fetch(...args)) {}

  async request<T>(method: string, url: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<T> {
    const headers: Record<string, string> = { ...extraHeaders, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET') headers['x-csrf-token'] = this.csrfToken;
    let res: Response;
    try {
      res = await this.fetchImpl(url, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      throw new ApiError(0, 'network', `PRANA could not be reached (${(error as Error).message})`, null);
    }
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    if (!res.ok) {
      const b = (parsed ?? {}) as { error?: string; code?: string; message?: string | string[] };
      const code = b.error ?? b.code ?? `http_${res.status}`;
      const message = Array.isArray(b.message) ? b.message.join('; ') : (b.message ?? `${res.status} ${res.statusText}`);
      if (res.status === 401 && !url.startsWith('/api/session')) this.onUnauthenticated();
      throw new ApiError(res.status, code, message, parsed);
    }
    return parsed as T;
  }

  get<T>(url: string): Promise<T> {
    return this.request<T>('GET', url);
  }

  /** `headers`: an Idempotency-Key, say (the BFF passes it on to Core). */
  post<T>(url: string, body: unknown = {}, headers?: Record<string, string>): Promise<T> {
    return this.request<T>('POST', url, body, headers);
  }

  session(): Promise<Session> {
    return this.get<Session>('/api/session');
  }

  health(): Promise<{ services: Record<string, string> }> {
    return this.get('/api/health');
  }

  async logout(): Promise<{ logout_url?: string } | null> {
    return this.post('/auth/logout');
  }
}

/** Builds a query string from the defined, non-empty values only. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const enc = encodeURIComponent;

/** The BFF paths the console calls, in one place. */
export const paths = {
  handleTask: '/api/core/handle_task',
  task: (id: string) => `/api/core/tasks/${enc(id)}`,
  workflows: '/api/core/workflows',
  workflow: (name: string) => `/api/core/workflows/${enc(name)}`,
  workflowVersion: (name: string, v: string) => `/api/core/workflows/${enc(name)}/versions/${enc(v)}`,
  findings: '/api/core/workflows/findings',
  stats: (q: { window: string; name?: string; bucket?: 'hour' | 'day' }) => `/api/core/workflows/stats${qs(q)}`,
  startRun: (name: string) => `/api/core/workflows/${enc(name)}/runs`,
  setEnabled: (name: string, enabled: boolean) => `/api/core/workflows/${enc(name)}/${enabled ? 'enable' : 'disable'}`,
  runs: (q: Record<string, string | number | undefined>) => `/api/core/runs${qs(q)}`,
  run: (id: string) => `/api/core/runs/${enc(id)}`,
  runAction: (id: string, action: 'cancel' | 'retry') => `/api/core/runs/${enc(id)}/${action}`,
  signal: (id: string, name: string) => `/api/core/runs/${enc(id)}/signals/${enc(name)}`,
  auditEvents: (q: Record<string, string | number | undefined>) => `/api/bucket/core/events${qs(q)}`,
  auditVerify: (full: boolean) => `/api/bucket/audit/verify${qs({ full: full ? 'true' : undefined })}`,
  auditCheckpoint: '/api/bucket/audit/checkpoint',
  karmaProfile: (user: string) => `/api/karma/api/v1/karma/${enc(user)}`,
  karmaStats: (user: string) => `/api/karma/v1/stats/user/${enc(user)}`,
  karmaHistory: (user: string, bucket: 'hour' | 'day') => `/api/karma/v1/karma/${enc(user)}/history${qs({ bucket })}`,
  telemetry: '/api/telemetry',
  stream: (topics: string[]) => `/api/stream${qs({ topics: topics.join(',') })}`,
};
