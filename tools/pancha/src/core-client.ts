/**
 * Core's public API as the operator: every request carries a fresh short-lived operator token (writes refuse a
 * reused one), minted from the keys directory, or `PANCHA_TOKEN` when set. The CLI never opens a database.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TokenIssuer } from '@pancha/governance';
import { ApiError, ConnectionError, UsageError, type FieldError } from './cli-errors';
import { repoRoot } from './repo';

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

  get<T>(pathAndQuery: string): Promise<T> {
    return this.request<T>('GET', pathAndQuery);
  }

  post<T>(pathAndQuery: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', pathAndQuery, body);
  }

  async request<T>(method: string, pathAndQuery: string, body?: unknown): Promise<T> {
    return (await this.exchange<T>(method, pathAndQuery, body)).body;
  }

  /** The request (with `headers` of its own: an Idempotency-Key, say) and its answer with the response headers. */
  async exchange<T>(method: string, pathAndQuery: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ body: T; headers: Headers }> {
    const token = await this.token();
    const payload = body === undefined ? undefined : serialised(body);
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
    const text = await res.text();
    const contentType = res.headers.get('content-type');
    const parsed = text === '' ? undefined : jsonOf(text, contentType);
    if (parsed === NOT_JSON) {
      // A web page is no answer of Core's, neither data to draw nor an error to quote: PRANA's console answers 200
      // with its index for any path, a proxy in front of nothing its own 404 or 502 page.
      throw new ConnectionError(`${this.url} answered ${res.status} with ${contentType || 'no content type'}, not JSON: is it Core's address (PANCHA_URL, --url)?`);
    }
    if (!res.ok) {
      const b = (parsed ?? {}) as { code?: unknown; message?: unknown; errors?: unknown };
      const code = typeof b.code === 'string' ? b.code : undefined;
      const message = Array.isArray(b.message) ? b.message.join('; ') : typeof b.message === 'string' ? b.message : text.slice(0, 200) || res.statusText;
      throw new ApiError(res.status, code, `Core answered ${res.status}${code ? ` ${code}` : ''}: ${message}`, fieldErrors(b.errors));
    }
    return { body: parsed as T, headers: res.headers };
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

/** A non-empty body as JSON, or NOT_JSON when it is not a JSON document (by its content type or its text) or is a bare string. */
function jsonOf(text: string, contentType: string | null): unknown {
  if (!/json/i.test(contentType ?? '')) return NOT_JSON;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'string' ? NOT_JSON : parsed;
  } catch {
    return NOT_JSON;
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
