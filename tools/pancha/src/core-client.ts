/**
 * Core's public API as the operator: every request carries a fresh short-lived operator token (writes refuse a
 * reused one), minted from the keys directory, or `PANCHA_TOKEN` when set. The CLI never opens a database.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TokenIssuer } from '@pancha/governance';
import { ApiError, ConnectionError, UnexpectedAnswer, UsageError, type FieldError, withFieldDetails } from './cli-errors';
import { type Answer, CORE_ERROR } from './core-answers';
import { repoRoot } from './repo';
import { excerpt, printable, ShapeMismatch } from './shape';

export const DEFAULT_CORE_URL = 'http://127.0.0.1:8002';
const TOKEN_TTL_SECONDS = 60;

export interface CoreClientOptions {
  url: string;
  /** Per request; default PANCHA_TIMEOUT_MS or 30 s. */
  timeoutMs?: number;
}

export class CoreClient {
  private issuer?: TokenIssuer;
  readonly url: string;
  private readonly timeoutMs: number;

  constructor(options: CoreClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? (Number(process.env.PANCHA_TIMEOUT_MS) || 30_000);
  }

  get<T>(pathAndQuery: string, answer: Answer<T>): Promise<T> {
    return this.request('GET', pathAndQuery, answer);
  }

  post<T>(pathAndQuery: string, answer: Answer<T>, body: unknown = {}): Promise<T> {
    return this.request('POST', pathAndQuery, answer, body);
  }

  async request<T>(method: string, pathAndQuery: string, answer: Answer<T>, body?: unknown): Promise<T> {
    return (await this.exchange(method, pathAndQuery, answer, body)).body;
  }

  /**
   * The request (with `headers` of its own: an Idempotency-Key, say) and its answer, checked as `answer` (Core's error
   * body for a 4xx/5xx), with the response headers. An answer of another shape is no answer of Core's: an
   * UnexpectedAnswer naming the request, what was expected and where the body differs.
   */
  async exchange<T>(method: string, pathAndQuery: string, answer: Answer<T>, body?: unknown, headers: Record<string, string> = {}): Promise<{ body: T; headers: Headers }> {
    const token = await this.token();
    const payload = body === undefined ? undefined : serialised(body);
    // Named in errors without its query (a cursor can be long): the route says what was asked.
    const request = `${method} ${this.url}${pathAndQuery.replace(/\?.*$/, '')}`;
    let res: Response;
    try {
      res = await fetch(`${this.url}${pathAndQuery}`, {
        method,
        headers: { ...headers, accept: 'application/json', authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: payload,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new ConnectionError(`cannot reach Core at ${this.url}: ${reason(error, this.timeoutMs)}`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (error) {
      throw new ConnectionError(`${request} answered ${res.status} but its body could not be read: ${reason(error, this.timeoutMs)}`);
    }
    const contentType = res.headers.get('content-type');
    const parsed = text === '' ? undefined : jsonOf(text, contentType);
    if (parsed === NOT_JSON) {
      // A web page is no answer of Core's, neither data to draw nor an error to quote: PRANA's console answers 200
      // with its index for any path, a proxy in front of nothing its own 404 or 502 page.
      throw new UnexpectedAnswer(`${request} answered ${res.status} with ${printable(contentType || 'no content type')}, not JSON${NOT_CORE}`);
    }
    if (!res.ok) {
      const b = checked(request, res.status, CORE_ERROR, parsed, text === '');
      const message = Array.isArray(b.message) ? b.message.join('; ') : b.message;
      if (res.status === 404 && NO_ROUTE.test(message)) {
        // Every route the CLI asks for is one of Core's: a server without it (Bucket, another Nest service with the
        // same error filter) is not Core, whatever the shape of its error.
        throw new UnexpectedAnswer(`${request} answered 404 ${printable(b.code)}: ${printable(message)} (no such route here; Core has it)${NOT_CORE}`);
      }
      const errors = fieldErrors(b.errors);
      throw new ApiError(res.status, b.code, `Core answered ${res.status} ${printable(b.code)}: ${printable(withFieldDetails(message, errors))}`, errors, b);
    }
    return { body: checked(request, res.status, answer, parsed, text === ''), headers: res.headers };
  }

  private async token(): Promise<string> {
    const fixed = process.env.PANCHA_TOKEN?.trim();
    if (fixed) return fixed;
    if (!this.issuer) {
      const keysDir = path.resolve(process.env.PANCHA_KEYS_DIR?.trim() || path.join(repoRoot(), '.data', 'keys'));
      const keyFile = path.join(keysDir, 'operator.key.pem');
      if (!existsSync(keyFile)) {
        throw new ConnectionError(
          `no operator key at ${keyFile}: start the stack once (npm start makes the keys), set PANCHA_KEYS_DIR, or set PANCHA_TOKEN`,
        );
      }
      // Loaded here, not at startup: the governance library brings Nest with it, and PANCHA_TOKEN needs none of it.
      const { operatorIssuer } = require('./operator-token') as typeof import('./operator-token');
      try {
        this.issuer = operatorIssuer(keysDir, TOKEN_TTL_SECONDS);
      } catch (error) {
        throw new ConnectionError(`cannot use the operator key at ${keyFile}: ${(error as Error).message}`);
      }
    }
    return this.issuer.tokenFor('core');
  }
}

const NOT_JSON = Symbol('not JSON');

const NOT_CORE = ": is it Core's address (PANCHA_URL, --url)?";

/** Express's (and so Nest's) answer for a route the server does not have: `Cannot GET /events`. */
const NO_ROUTE = /^Cannot (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \//;

/** A non-empty body as JSON, or NOT_JSON when it is not a JSON document (by its content type or its text). */
function jsonOf(text: string, contentType: string | null): unknown {
  if (!/json/i.test(contentType ?? '')) return NOT_JSON;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

/** The body as `answer` (or an UnexpectedAnswer saying how it is not): the one place an answer's shape is checked. */
function checked<T>(request: string, status: number, answer: Answer<T>, body: unknown, empty: boolean): T {
  if (empty) throw new UnexpectedAnswer(`${request} answered ${status} with an empty body, not ${answer.what}${NOT_CORE}`);
  try {
    return answer.check(body, '');
  } catch (error) {
    if (!(error instanceof ShapeMismatch)) throw error;
    // Deep in the body, the body itself (its start) tells which server this is.
    const whole = error.at ? `; body ${excerpt(body)}` : '';
    throw new UnexpectedAnswer(`${request} answered ${status} but not ${answer.what} (${error.message}${whole})${NOT_CORE}`);
  }
}

/** The request body as JSON; input nested too deep to serialise is a usage error, not a connection failure. */
function serialised(body: unknown): string {
  try {
    return JSON.stringify(body);
  } catch (error) {
    throw new UsageError(`the request body cannot be sent as JSON: ${(error as Error).message}`);
  }
}

/** One short reason a request never got an answer ("connection refused", "no answer within 30s"). */
function reason(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${Math.round(timeoutMs / 1000)}s`;
  switch (e.cause?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      return e.cause?.message ?? e.message ?? String(error);
  }
}

/** The `errors` of an error body (each bad field with its messages), when it has them. */
function fieldErrors(errors: unknown): FieldError[] | undefined {
  if (!Array.isArray(errors)) return undefined;
  return errors.flatMap((e: { field?: unknown; messages?: unknown }) =>
    typeof e?.field === 'string' ? [{ field: e.field, messages: Array.isArray(e.messages) ? e.messages.map(String) : [] }] : [],
  );
}
