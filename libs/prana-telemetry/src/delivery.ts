/// <reference lib="dom" />
/**
 * Delivery to the BFF: batches of up to 5 from the head of the offline queue, each tried 3 times more with
 * exponential backoff (jittered) on a network error, 408, 429 or 5xx; then the batch waits in the queue for
 * the next flush (the next packet, or the browser going online). A 4xx that retrying cannot fix (400, 413,
 * 422) drops the batch and reports it, instead of re-queuing it forever as the original client did; a 422 that
 * names some of the batch's packets (`packets[i]…`) drops only those, and the others go in the next batch.
 * 401/403 (signed out, CSRF token rotated) keep the packets: they go once the user is signed in again.
 */
import type { DropReport, OfflineQueue } from './offline-queue';
import type { TelemetryPacket } from './packet';

export interface SendResult {
  ok: boolean;
  /** HTTP status; 0 for a network failure. */
  status: number;
  body?: unknown;
}

export type Sender = (packets: TelemetryPacket[]) => Promise<SendResult>;

export interface FetchSenderOptions {
  url?: string;
  /** Extra headers per request, e.g. `{ 'x-csrf-token': … }` from /api/session. */
  headers?: () => Record<string, string> | Promise<Record<string, string>>;
  fetch?: typeof fetch;
}

export function fetchSender(options: FetchSenderOptions = {}): Sender {
  const url = options.url ?? '/api/telemetry';
  return async (packets) => {
    const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    try {
      const res = await doFetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', ...(await options.headers?.()) },
        body: JSON.stringify({ packets }),
      });
      let body: unknown;
      try {
        body = await res.json();
      } catch {
        body = undefined;
      }
      return { ok: res.ok, status: res.status, body };
    } catch {
      return { ok: false, status: 0 };
    }
  };
}

export const BATCH_SIZE = 5;
export const MAX_RETRIES = 3;

export function isRetryable(status: number): boolean {
  return status === 0 || status === 408 || status === 425 || status === 429 || status >= 500;
}

/** Kept for later without retrying now: the session is gone or the CSRF token changed. */
export function isHeld(status: number): boolean {
  return status === 401 || status === 403;
}

export interface DeliveryEvents {
  onSent?: (packets: TelemetryPacket[], result: SendResult) => void;
  onDrop?: (report: DropReport) => void;
  onError?: (result: SendResult, attempt: number) => void;
}

export interface DeliveryOptions extends DeliveryEvents {
  batchSize?: number;
  maxRetries?: number;
  /** First backoff in ms; doubles per retry, ±50 % jitter. */
  backoffMs?: number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class Delivery {
  private flushing: Promise<void> | null = null;
  private readonly batchSize: number;
  private readonly maxRetries: number;
  private readonly backoffMs: number;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly queue: OfflineQueue,
    private readonly send: Sender,
    private readonly options: DeliveryOptions = {},
  ) {
    this.batchSize = options.batchSize ?? BATCH_SIZE;
    this.maxRetries = options.maxRetries ?? MAX_RETRIES;
    this.backoffMs = options.backoffMs ?? 1_000;
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  backoff(retry: number): number {
    return Math.round(this.backoffMs * 2 ** (retry - 1) * (0.5 + this.random()));
  }

  /** Sends the queue batch by batch until it is empty or a batch cannot go now. One flush at a time. */
  flush(): Promise<void> {
    this.flushing ??= this.run().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async run(): Promise<void> {
    while (this.queue.size > 0) {
      const batch = this.queue.peek(this.batchSize);
      const delivered = await this.sendWithRetries(batch);
      if (!delivered) return;
    }
  }

  /** true when the batch left the queue (sent or dropped as rejected), false when it stays for later. */
  private async sendWithRetries(batch: TelemetryPacket[]): Promise<boolean> {
    for (let attempt = 0; attempt <= this.maxRetries; attempt++) {
      if (attempt > 0) await this.sleep(this.backoff(attempt));
      const result = await this.send(batch);
      const ids = batch.map((p) => p.event_id);
      if (result.ok) {
        this.queue.remove(ids);
        this.options.onSent?.(batch, result);
        return true;
      }
      this.options.onError?.(result, attempt);
      if (isHeld(result.status)) return false;
      const named = result.status === 422 ? packetsNamed(result.body, batch.length) : [];
      if (named.length > 0 && named.length < batch.length) {
        // The BFF named the packets it refuses (e.g. one queued before the person's products changed): only those
        // are dropped, and the rest go again at once in the next batch, instead of being lost with them.
        const refused = named.map((i) => batch[i].event_id);
        this.queue.remove(refused);
        this.queue.countRejected(refused.length);
        this.options.onDrop?.({ reason: 'rejected', count: refused.length, event_ids: refused, status: result.status });
        return true;
      }
      if (!isRetryable(result.status)) {
        this.queue.remove(ids);
        this.queue.countRejected(ids.length);
        this.options.onDrop?.({ reason: 'rejected', count: ids.length, event_ids: ids, status: result.status });
        return true;
      }
    }
    return false;
  }
}

/** The batch positions a 422's `errors` name (`packets[3].product`): within the batch, each once, in order. */
export function packetsNamed(body: unknown, size: number): number[] {
  const errors = (body as { errors?: unknown } | null | undefined)?.errors;
  if (!Array.isArray(errors)) return [];
  const named = new Set<number>();
  for (const error of errors) {
    const field = (error as { field?: unknown } | null)?.field;
    const m = typeof field === 'string' ? /^packets\[(\d+)\]/.exec(field) : null;
    if (m && Number(m[1]) < size) named.add(Number(m[1]));
  }
  return [...named].sort((a, b) => a - b);
}
