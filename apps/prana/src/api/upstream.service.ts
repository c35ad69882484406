import { HttpStatus, Injectable } from '@nestjs/common';
import { ALL_PRODUCTS, PolicyService, TokenIssuer } from '@pancha/governance';
import { injectTraceHeaders } from '@pancha/trace-context';
import type { Request } from 'express';
import { PranaConfig } from '../config/env.validation';
import { PranaException } from '../prana.exception';

export type Upstream = 'core' | 'workflow-executor' | 'bucket' | 'karma';

export interface UpstreamAnswer {
  status: number;
  body: unknown;
  contentType: string;
}

/** Request headers passed on as they are; everything else (cookies above all) stays in PRANA. */
const PASSED_HEADERS = ['accept', 'idempotency-key'];

/**
 * Calls to the Pancha services: Core with the user's own access token (Core authorises the person), Bucket
 * and Karma with PRANA's service identity (narrowed to people's products when a person asks). Trace context goes along; a service that does not answer is a
 * 502/504 naming it, never a hang.
 */
@Injectable()
export class UpstreamService {
  constructor(
    private readonly config: PranaConfig,
    private readonly tokens: TokenIssuer,
    private readonly policy: PolicyService,
  ) {}

  baseUrl(service: Upstream): string {
    const urls: Record<Upstream, string> = {
      core: this.config.CORE_URL,
      'workflow-executor': this.config.WORKFLOW_EXECUTOR_URL,
      bucket: this.config.BUCKET_URL,
      karma: this.config.KARMA_URL,
    };
    return urls[service].replace(/\/+$/, '');
  }

  /**
   * PRANA's token for Bucket or Karma when it calls on a signed-in person's behalf (the console's reads,
   * telemetry): narrowed by a `products` claim to the products people see (config/policy.yaml `people.products`,
   * what Core applies to a person's own token), so the service shows and accepts no other product's entries.
   * No claim when people see every product. Core is called with the person's own token instead.
   */
  async personBearer(service: Exclude<Upstream, 'core'>): Promise<string> {
    const products = this.policy.peopleProducts();
    return this.tokens.issue(service, products.includes(ALL_PRODUCTS) ? {} : { products });
  }

  /**
   * PRANA's own service token for `service`, Core included: only for the live stream's shared watch, which reads
   * for everyone at once and whose results each stream filters to what its person may see.
   */
  async serviceBearer(service: Upstream): Promise<string> {
    return this.tokens.issue(service);
  }

  async call(
    service: Upstream,
    method: string,
    pathAndQuery: string,
    options: { bearer?: string; body?: unknown; req?: Request; headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<UpstreamAnswer> {
    const headers: Record<string, string> = injectTraceHeaders({ accept: 'application/json', ...options.headers });
    if (options.req) {
      for (const name of PASSED_HEADERS) {
        const value = options.req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const traceparent = options.req.headers.traceparent;
      if (typeof traceparent === 'string' && !headers.traceparent) headers.traceparent = traceparent;
    }
    if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
    const hasBody = options.body !== undefined && !['GET', 'HEAD'].includes(method);
    if (hasBody) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl(service)}${pathAndQuery}`, {
        method,
        headers,
        body: hasBody ? JSON.stringify(options.body) : undefined,
        redirect: 'manual',
        signal: AbortSignal.timeout(options.timeoutMs ?? this.config.PRANA_UPSTREAM_TIMEOUT_MS),
      });
    } catch (error) {
      throw unavailable(service, error, 'cannot be reached');
    }
    const contentType = res.headers.get('content-type') ?? 'application/json';
    let text: string;
    try {
      text = await res.text();
    } catch (error) {
      // The body is read under the same timeout; a connection that drops after the headers fails here.
      throw unavailable(service, error, 'broke off its answer');
    }
    let body: unknown = text;
    if (contentType.includes('json') && text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    return { status: res.status, body: text === '' ? undefined : body, contentType };
  }
}

/** 504 when the upstream timeout ran out, else 502 with `what` happened: the service named, never a 500. */
function unavailable(service: Upstream, error: unknown, what: string): PranaException {
  const timedOut = (error as Error).name === 'TimeoutError';
  return new PranaException(
    timedOut ? HttpStatus.GATEWAY_TIMEOUT : HttpStatus.BAD_GATEWAY,
    'service_unavailable',
    `${service} ${timedOut ? 'did not answer in time' : what}`,
    { service },
  );
}
