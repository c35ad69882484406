import axios, { AxiosInstance, AxiosRequestConfig, isAxiosError } from 'axios';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { ServiceName, TokenSource } from '@pancha/contracts';
import { isRetryableStatus, ServiceCallError } from './service-call.error';

export interface ServiceClientOptions {
  baseUrl: string;
  /** Issues the caller's short-lived service token for the target audience; omit for anonymous calls. */
  tokens?: TokenSource;
  /** Per-request timeout; default 5 s. */
  timeoutMs?: number;
}

// Keep-alive: service-to-service traffic is many small requests to the same few peers.
const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

/**
 * Base of the typed clients. Trace context needs nothing here: OpenTelemetry's http instrumentation
 * injects `traceparent` into every outgoing request from the active context.
 */
export abstract class HttpServiceClient {
  protected readonly http: AxiosInstance;

  protected constructor(
    protected readonly audience: ServiceName,
    protected readonly options: ServiceClientOptions,
  ) {
    this.http = axios.create({
      baseURL: options.baseUrl.replace(/\/+$/, ''),
      timeout: options.timeoutMs ?? 5000,
      httpAgent,
      httpsAgent,
      headers: { 'content-type': 'application/json' },
      // Status handling is ours: every non-2xx becomes a ServiceCallError with the body kept.
      validateStatus: () => true,
    });
  }

  /**
   * `products`: the call acts for a caller who may see only these products, so its token says so and the
   * receiver applies that scope (a requester's products can only narrow, never widen).
   */
  protected async request<T>(
    config: AxiosRequestConfig & { timeoutMs?: number; products?: string[] },
  ): Promise<{ status: number; data: T }> {
    const { status, data } = await this.requestWithHeaders<T>(config);
    return { status, data };
  }

  /** As `request`, with the response headers, and statuses besides 2xx that are answers rather than errors (304). */
  protected async requestWithHeaders<T>(
    config: AxiosRequestConfig & { timeoutMs?: number; products?: string[]; acceptStatus?: number[] },
  ): Promise<{ status: number; data: T; headers: Record<string, string | undefined> }> {
    const { products, timeoutMs, acceptStatus, ...axiosConfig } = config;
    const headers: Record<string, string> = { ...(axiosConfig.headers as Record<string, string> | undefined) };
    if (this.options.tokens) {
      headers.authorization = `Bearer ${await this.options.tokens.tokenFor(this.audience, products ? { products } : undefined)}`;
    }
    try {
      const res = await this.http.request<T>({ ...axiosConfig, headers, timeout: timeoutMs ?? axiosConfig.timeout });
      if ((res.status < 200 || res.status >= 300) && !acceptStatus?.includes(res.status)) {
        const code = (res.data as { code?: string } | undefined)?.code;
        throw new ServiceCallError(
          `${this.audience} answered ${res.status}${code ? ` ${code}` : ''} to ${config.method ?? 'GET'} ${config.url}`,
          res.status,
          res.data,
          isRetryableStatus(res.status),
        );
      }
      return { status: res.status, data: res.data, headers: res.headers as Record<string, string | undefined> };
    } catch (error) {
      if (error instanceof ServiceCallError) throw error;
      const timedOut = isAxiosError(error) && (error.code === 'ECONNABORTED' || error.code === 'ETIMEDOUT');
      const reason = timedOut ? 'timed out' : (error as Error).message;
      throw new ServiceCallError(`${this.audience} unreachable (${reason}) on ${config.method ?? 'GET'} ${config.url}`, undefined, undefined, true);
    }
  }
}
