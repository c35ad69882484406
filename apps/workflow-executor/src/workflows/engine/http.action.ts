import { Injectable } from '@nestjs/common';
import type { ActionDeclaration } from '@pancha/plugin-sdk';
import { injectTraceHeaders } from '@pancha/trace-context';
import { WorkflowExecutorConfig } from '../../config/env.validation';
import { hostAllowed } from '../registry/http-hosts';
import type { ActionRunContext, ExecutorAction, InvokedAction } from './action-invoker.service';

/** Error codes of the http action (beside adapter_timeout and cancelled from the invoker). */
export enum HttpActionErrorCode {
  InvalidRequest = 'http_invalid_request',
  HostNotAllowed = 'http_host_not_allowed',
  Unreachable = 'http_unreachable',
  UnexpectedStatus = 'http_unexpected_status',
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const MAX_RESPONSE_BYTES = 256 * 1024;
/** Statuses worth trying again: the server said "later" or failed on its side. */
const RETRYABLE_STATUS = (status: number): boolean => status >= 500 || status === 429 || status === 408 || status === 425;

/**
 * `http`: one real HTTP request to a host the manifest's `security.http_hosts` AND the deployment's policy allow.
 * Every attempt carries `Idempotency-Key: <run_id>:<step path>` and the step's traceparent. Redirects are not
 * followed (a 3xx is an answer): following one could leave the allow-list.
 */
@Injectable()
export class HttpAction implements ExecutorAction {
  readonly name = 'http';
  readonly version = 'builtin';
  readonly inputSchema = {
    type: 'object',
    required: ['url'],
    properties: {
      method: { enum: [...METHODS, ...METHODS.map((m) => m.toLowerCase())] },
      url: { type: 'string' },
      headers: { type: 'object', additionalProperties: { type: 'string' } },
      body: {},
      expect_status: { oneOf: [{ type: 'integer' }, { type: 'array', items: { type: 'integer' } }] },
    },
  };

  readonly source = 'builtin' as const;
  readonly declaration: ActionDeclaration = {
    name: this.name,
    version: this.version,
    description: 'One HTTP request to a host allowed by the manifest and the deployment, with Idempotency-Key and traceparent',
    input: this.inputSchema,
    // http_unexpected_status is retryable only for 5xx, 408, 425 and 429.
    retryableCodes: [HttpActionErrorCode.Unreachable, HttpActionErrorCode.UnexpectedStatus, 'adapter_timeout'],
    secrets: [],
  };

  constructor(private readonly config: WorkflowExecutorConfig) {}

  async run(input: Record<string, unknown>, ctx: ActionRunContext): Promise<InvokedAction> {
    const method = String(input.method ?? 'GET').toUpperCase();
    if (!(METHODS as readonly string[]).includes(method)) return invalid(`method must be one of ${METHODS.join(', ')}`);
    let url: URL;
    try {
      url = new URL(String(input.url ?? ''));
    } catch {
      return invalid(`url is not an absolute URL: ${String(input.url)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return invalid('url must be http or https');
    if (url.username || url.password) return invalid('credentials in the url are not allowed; use a declared secret in a header');
    if (!hostAllowed(url.hostname, ctx.manifest.security.http_hosts)) {
      return terminal(HttpActionErrorCode.HostNotAllowed, `${url.hostname} is not in security.http_hosts of ${ctx.manifest.name}`);
    }
    if (!hostAllowed(url.hostname, this.config.workflowHttpHosts)) {
      return terminal(HttpActionErrorCode.HostNotAllowed, `${url.hostname} is not allowed by this deployment (WORKFLOW_HTTP_ALLOWED_HOSTS)`);
    }
    const headers: Record<string, string> = {};
    if (input.headers !== undefined) {
      if (input.headers === null || typeof input.headers !== 'object' || Array.isArray(input.headers)) return invalid('headers must be a mapping');
      for (const [name, value] of Object.entries(input.headers as Record<string, unknown>)) headers[name.toLowerCase()] = String(value);
    }
    headers['idempotency-key'] = ctx.idempotencyKey;
    injectTraceHeaders(headers);
    let body: string | undefined;
    if (input.body !== undefined && method !== 'GET' && method !== 'HEAD') {
      if (typeof input.body === 'string') body = input.body;
      else {
        body = JSON.stringify(input.body);
        headers['content-type'] ??= 'application/json';
      }
    }
    const expected = expectedStatuses(input.expect_status);
    if (expected === undefined) return invalid('expect_status must be a status code or a list of them');

    let response: Response;
    try {
      response = await fetch(url, { method, headers, body, redirect: 'manual', signal: ctx.signal });
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      return { result: { ok: false, error: { code: HttpActionErrorCode.Unreachable, message: `${url.host} unreachable: ${causeOf(error)}`, retryable: true } } };
    }
    const text = await readCapped(response);
    const parsed = parseBody(text, response.headers.get('content-type'));
    const output = { status: response.status, headers: pickHeaders(response.headers), body: parsed };
    const ok = expected.length === 0 ? response.status >= 200 && response.status < 300 : expected.includes(response.status);
    if (ok) return { result: { ok: true, output } };
    return {
      result: {
        ok: false,
        error: {
          code: HttpActionErrorCode.UnexpectedStatus,
          message: `${method} ${url.host}${url.pathname} answered ${response.status}`,
          retryable: RETRYABLE_STATUS(response.status),
        },
      },
    };
  }
}

function invalid(message: string): InvokedAction {
  return terminal(HttpActionErrorCode.InvalidRequest, message);
}

function terminal(code: string, message: string): InvokedAction {
  return { result: { ok: false, error: { code, message, retryable: false } } };
}

function expectedStatuses(raw: unknown): number[] | undefined {
  if (raw === undefined || raw === null) return [];
  const list = Array.isArray(raw) ? raw : [raw];
  return list.every((s) => Number.isInteger(s) && (s as number) >= 100 && (s as number) <= 599) ? (list as number[]) : undefined;
}

async function readCapped(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      chunks.push(value.subarray(0, value.byteLength - (size - MAX_RESPONSE_BYTES)));
      break;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(text: string, contentType: string | null): unknown {
  if (text === '') return null;
  if (contentType?.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/** The response headers a workflow is likely to need; never all of them (cookies, auth). */
function pickHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['content-type', 'location', 'etag', 'retry-after', 'idempotency-key', 'x-request-id']) {
    const value = headers.get(name);
    if (value !== null) out[name] = value;
  }
  return out;
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error as Error)?.message ?? 'network error';
}
