import { context } from '@opentelemetry/api';
import { Pool } from 'undici';
import { type EventBatchItem, type EventBatchReply, MAX_BODY_BYTES, MAX_EVENT_BATCH, type ServiceName, type TokenSource } from '@pancha/contracts';
import { extractTraceContext } from '@pancha/trace-context';
import { isRetryableStatus, ServiceCallError, TIMED_OUT } from './service-call.error';

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
  /** Already serialized JSON, sent instead of `data`. */
  json?: string;
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

/** What became of one event of a batch call: the single route's answer, or the error it would have thrown. */
export type BatchCallResult<R> = { ok: true; data: R; replayed?: boolean } | { ok: false; error: ServiceCallError };

/** How long a process remembers that a receiver has no batch route (an older release) before trying it again. */
export const MISSING_BATCH_ROUTE_RECHECK_MS = 60_000;
/** `<origin><path>` of batch routes answered 404 → until when to send single requests instead. */
const missingBatchRoutes = new Map<string, number>();

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
    let body: string | undefined = config.json;
    if (body === undefined && config.data !== undefined) body = JSON.stringify(config.data);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
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
      const timedOut = isTimeout(error);
      const message = `${this.audience} unreachable (${timedOut ? TIMED_OUT : describe(error)}) on ${method} ${config.url}`;
      throw new ServiceCallError(message, undefined, undefined, true, timedOut, isRefused(error));
    }
    if ((status < 200 || status >= 300) && !config.acceptStatus?.includes(status)) throw this.refusal(status, data, `${method} ${config.url}`);
    return { status, data: data as T, headers: responseHeaders };
  }

  /**
   * Sends `items` to a batch route (`{ events }` → `{ results }`, see EventBatchRequest in contracts) and answers
   * one result per item, in order: an item the receiver refused carries the ServiceCallError its single request
   * would have thrown (status, body, retry verdict). A failure of the whole request that another try may fix
   * (no answer, 5xx, 429) is thrown, for the caller to retry every item. Falls back to `single` per item, each in
   * the trace its item carries: when the receiver has no batch route (404: an older release, or a 2xx that is not
   * a batch answer; remembered for MISSING_BATCH_ROUTE_RECHECK_MS), and when it refuses the request as a whole for
   * good (a 4xx other than 404), so each event still gets its own verdict. A batch longer than MAX_EVENT_BATCH, or
   * too large for one request body, is split.
   *
   * `ordered`: the items must be applied in the order given (a receiver that appends a batch in order, fed a key's
   * consecutive outbox rows: OutboxHandler.ordersBatch). The parts of a split batch are then sent one after another,
   * a later part only once the earlier one was answered, and single requests one at a time; after a single request
   * that failed retryably the rest are not sent (each fails retryably), so no item is applied before one that failed.
   */
  protected async requestBatch<B, R>(
    url: string,
    items: readonly EventBatchItem<B>[],
    single: (body: B) => Promise<R>,
    options: { timeoutMs?: number; ordered?: boolean } = {},
  ): Promise<BatchCallResult<R>[]> {
    if (items.length === 0) return [];
    const route = `${this.origin}${this.basePath}${url}`;
    const missingUntil = missingBatchRoutes.get(route);
    if (missingUntil !== undefined && missingUntil > Date.now()) return this.sendSingly(items, single, options.ordered);
    const json = items.length > MAX_EVENT_BATCH ? '' : JSON.stringify({ events: items });
    if (items.length > MAX_EVENT_BATCH || (items.length > 1 && Buffer.byteLength(json) > MAX_BODY_BYTES)) {
      // The receivers refuse a longer list whole (422); each chunk of it is a batch they take. A body too large is halved.
      const size = items.length > MAX_EVENT_BATCH ? MAX_EVENT_BATCH : Math.ceil(items.length / 2);
      const parts = Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
      if (!options.ordered) return (await Promise.all(parts.map((part) => this.requestBatch(url, part, single, options)))).flat();
      const results: BatchCallResult<R>[] = [];
      for (const part of parts) {
        const failed = firstRetryableFailure(results);
        results.push(...(failed ? part.map(() => notSent<R>(failed)) : await this.requestBatch(url, part, single, options)));
      }
      return results;
    }
    let reply: EventBatchReply<R>;
    try {
      reply = (await this.request<EventBatchReply<R>>({ method: 'POST', url, json, timeoutMs: options.timeoutMs })).data;
    } catch (error) {
      if (!(error instanceof ServiceCallError) || error.retryable || error.status === undefined) throw error;
      if (error.status === 404) missingBatchRoutes.set(route, Date.now() + MISSING_BATCH_ROUTE_RECHECK_MS);
      return this.sendSingly(items, single, options.ordered);
    }
    if (!Array.isArray(reply?.results) || reply.results.length !== items.length) {
      // A 2xx that is not a batch answer: whatever answered does not speak the batch route (a catch-all stand-in).
      // Single sends are safe either way: every receiver deduplicates by event id.
      missingBatchRoutes.set(route, Date.now() + MISSING_BATCH_ROUTE_RECHECK_MS);
      return this.sendSingly(items, single, options.ordered);
    }
    missingBatchRoutes.delete(route);
    return reply.results.map((outcome, i): BatchCallResult<R> => {
      if (outcome.status >= 200 && outcome.status < 300) return { ok: true, data: outcome.body as R, replayed: outcome.replayed };
      return { ok: false, error: this.refusal(outcome.status, outcome.body, `event ${i} of POST ${url}`) };
    });
  }

  /** A non-2xx answer (of a request, or of one event of a batch) as the error its caller judges: status, code, verdict. */
  private refusal(status: number, body: unknown, what: string): ServiceCallError {
    const code = (body as { code?: unknown } | undefined)?.code;
    return new ServiceCallError(`${this.audience} answered ${status}${typeof code === 'string' ? ` ${code}` : ''} to ${what}`, status, body, isRetryableStatus(status));
  }

  private async sendSingly<B, R>(items: readonly EventBatchItem<B>[], single: (body: B) => Promise<R>, ordered = false): Promise<BatchCallResult<R>[]> {
    const send = (item: EventBatchItem<B>): Promise<BatchCallResult<R>> =>
      context
        .with(item.traceparent ? extractTraceContext({ traceparent: item.traceparent, tracestate: item.tracestate }) : context.active(), () => single(item.body))
        .then(
          (data): BatchCallResult<R> => ({ ok: true, data }),
          (error: unknown): BatchCallResult<R> => ({
            ok: false,
            error: error instanceof ServiceCallError ? error : new ServiceCallError(String((error as Error)?.message ?? error), undefined, undefined, true),
          }),
        );
    if (!ordered) return Promise.all(items.map(send));
    const results: BatchCallResult<R>[] = [];
    for (const item of items) {
      const failed = firstRetryableFailure(results);
      results.push(failed ? notSent<R>(failed) : await send(item));
    }
    return results;
  }
}

/** In an ordered batch, the first event that failed in a way another try may fix: nothing after it may be sent. */
function firstRetryableFailure<R>(results: readonly BatchCallResult<R>[]): ServiceCallError | undefined {
  for (const result of results) if (!result.ok && result.error.retryable) return result.error;
  return undefined;
}

/** The answer for an event of an ordered batch held back behind `failed`: retryable, never sent. */
function notSent<R>(failed: ServiceCallError): BatchCallResult<R> {
  return { ok: false, error: new ServiceCallError(`not sent: an earlier event of this ordered batch failed (${failed.message})`, undefined, undefined, true) };
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

/** The connection was refused (nothing listened): the request never left this process. */
function isRefused(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string } } | undefined;
  return e?.code === 'ECONNREFUSED' || e?.cause?.code === 'ECONNREFUSED';
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // undici wraps socket errors: the cause says what happened (ECONNREFUSED …).
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error && cause.message ? cause.message : error.message;
}
