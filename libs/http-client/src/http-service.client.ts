import { Pool } from 'undici';
import type { ServiceName, TokenSource } from '@pancha/contracts';
import { isRetryableStatus, ServiceCallError } from './service-call.error';

export interface ServiceClientOptions {
  baseUrl: string;
  /** Issues the caller's short-lived service token for the target audience; omit for anonymous calls. */
  tokens?: TokenSource;
  /** Per-request timeout; default 5 s. */
  timeoutMs?: number;
}

/** Query values: undefined and null are left out, arrays repeat the key, anything else is its string. */
export type QueryValue = string | number | boolean | Date | null | undefined | readonly (string | number | boolean)[];

/** One call of a typed client. `url` is relative to the client's base URL. */
export interface ServiceRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  url: string;
  /** Sent as JSON (content-type application/json) when defined. */
  data?: unknown;
  params?: object;
  headers?: Record<string, string>;
  /** Overrides the client's timeout for this call (the whole exchange: connect, headers and body). */
  timeoutMs?: number;
  /**
   * The call acts for a caller who may see only these products, so its token says so and the receiver
   * applies that scope (a requester's products can only narrow, never widen).
   */
  products?: string[];
}

export interface ServiceResponse<T> {
  status: number;
  data: T;
  headers: Record<string, string | undefined>;
}

// Keep-alive: service-to-service traffic is many small requests to the same few peers. One pool per origin,
// shared by every client of the process (a client is built per caller in places).
const MAX_CONNECTIONS_PER_ORIGIN = 64;
const pools = new Map<string, Pool>();

function poolFor(origin: string): Pool {
  let pool = pools.get(origin);
  if (!pool) {
    pool = new Pool(origin, { connections: MAX_CONNECTIONS_PER_ORIGIN });
    pools.set(origin, pool);
  }
  return pool;
}

/**
 * Base of the typed clients: requests go through a keep-alive undici pool per origin. Trace context needs
 * nothing here: OpenTelemetry's undici instrumentation (enabled by `@pancha/trace-context/register`) opens a
 * client span and injects `traceparent` into every request from the active context.
 */
export abstract class HttpServiceClient {
  private readonly origin: string;
  /** The base URL's path (no trailing slash), prefixed to every request's url. */
  private readonly basePath: string;
  private readonly timeoutMs: number;

  protected constructor(
    protected readonly audience: ServiceName,
    protected readonly options: ServiceClientOptions,
  ) {
    const base = new URL(options.baseUrl);
    this.origin = base.origin;
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  protected async request<T>(config: ServiceRequest): Promise<{ status: number; data: T }> {
    const { status, data } = await this.requestWithHeaders<T>(config);
    return { status, data };
  }

  /** As `request`, with the response headers, and statuses besides 2xx that are answers rather than errors (304). */
  protected async requestWithHeaders<T>(config: ServiceRequest & { acceptStatus?: number[] }): Promise<ServiceResponse<T>> {
    const method = config.method ?? 'GET';
    const headers: Record<string, string> = { ...config.headers };
    if (this.options.tokens) {
      headers.authorization = `Bearer ${await this.options.tokens.tokenFor(this.audience, config.products ? { products: config.products } : undefined)}`;
    }
    let body: string | undefined;
    if (config.data !== undefined) {
      body = JSON.stringify(config.data);
      headers['content-type'] ??= 'application/json';
    }
    let status: number;
    let data: unknown;
    let responseHeaders: Record<string, string | undefined>;
    try {
      const res = await poolFor(this.origin).request({
        method,
        path: `${this.basePath}${config.url}${queryString(config.params)}`,
        headers,
        body,
        signal: AbortSignal.timeout(config.timeoutMs ?? this.timeoutMs),
      });
      status = res.statusCode;
      responseHeaders = flattenHeaders(res.headers);
      // Always read the body: an unread body keeps its connection out of the pool.
      data = parseBody(await res.body.text());
    } catch (error) {
      const reason = isTimeout(error) ? 'timed out' : describe(error);
      throw new ServiceCallError(`${this.audience} unreachable (${reason}) on ${method} ${config.url}`, undefined, undefined, true);
    }
    if ((status < 200 || status >= 300) && !config.acceptStatus?.includes(status)) {
      const code = (data as { code?: string } | undefined)?.code;
      throw new ServiceCallError(
        `${this.audience} answered ${status}${typeof code === 'string' ? ` ${code}` : ''} to ${method} ${config.url}`,
        status,
        data,
        isRetryableStatus(status),
      );
    }
    return { status, data: data as T, headers: responseHeaders };
  }
}

function queryString(params: object | undefined): string {
  if (!params) return '';
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params) as [string, QueryValue][]) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) for (const item of value) search.append(key, String(item));
    else search.append(key, value instanceof Date ? value.toISOString() : String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** JSON when it parses (every Pancha answer), else the text as is; undefined for an empty body (204, 304). */
function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

function isTimeout(error: unknown): boolean {
  const e = error as { name?: string; code?: string } | undefined;
  return (
    e?.name === 'TimeoutError' ||
    e?.code === 'UND_ERR_CONNECT_TIMEOUT' ||
    e?.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    e?.code === 'UND_ERR_BODY_TIMEOUT'
  );
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // undici wraps socket errors: the cause says what happened (ECONNREFUSED …).
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error && cause.message ? cause.message : error.message;
}
