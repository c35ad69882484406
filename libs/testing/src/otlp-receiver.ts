import { SpanKind } from '@opentelemetry/api';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';

/** One span as an OTLP/HTTP JSON exporter sent it, flattened with its resource's service.name. */
export interface ReceivedSpan {
  serviceName: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: SpanKind;
  attributes: Record<string, unknown>;
}

export interface OtlpReceiver {
  /** Base endpoint for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  url: string;
  /** Every span received so far, in arrival order. */
  spans(): ReceivedSpan[];
  /** Resolves with all spans received once `pred` holds for them; rejects after `timeoutMs` listing what arrived. */
  waitFor(pred: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  bytesValue?: string;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number | string;
  attributes?: OtlpKeyValue[];
}
interface ExportTraceServiceRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: Array<{ spans?: OtlpSpan[] }>;
  }>;
}

function anyValue(v: OtlpAnyValue | undefined): unknown {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  // int64 arrives as a JSON number from the JS exporter and as a string from protojson encoders.
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.kvlistValue) return attributes(v.kvlistValue.values);
  return undefined;
}

function attributes(kvs: OtlpKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

const KIND_NAMES: Record<string, SpanKind> = {
  SPAN_KIND_INTERNAL: SpanKind.INTERNAL,
  SPAN_KIND_SERVER: SpanKind.SERVER,
  SPAN_KIND_CLIENT: SpanKind.CLIENT,
  SPAN_KIND_PRODUCER: SpanKind.PRODUCER,
  SPAN_KIND_CONSUMER: SpanKind.CONSUMER,
};

/** OTLP numbers kinds from 1 (0 = unspecified); the API's SpanKind starts at INTERNAL = 0. */
function spanKind(kind: number | string | undefined): SpanKind {
  if (typeof kind === 'string') return KIND_NAMES[kind] ?? SpanKind.INTERNAL;
  return kind && kind >= 1 && kind <= 5 ? ((kind - 1) as SpanKind) : SpanKind.INTERNAL;
}

/** Trace and span ids are lowercase hex in OTLP/JSON (not base64 as in generic protobuf JSON). */
function hexId(id: string | undefined): string | undefined {
  return id ? id.toLowerCase() : undefined;
}

export function parseExportTraceServiceRequest(body: ExportTraceServiceRequest): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    const serviceName = typeof resource['service.name'] === 'string' ? resource['service.name'] : 'unknown_service';
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          serviceName,
          traceId: hexId(s.traceId) ?? '',
          spanId: hexId(s.spanId) ?? '',
          parentSpanId: hexId(s.parentSpanId),
          name: s.name ?? '',
          kind: spanKind(s.kind),
          attributes: attributes(s.attributes),
        });
      }
    }
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const encoding = req.headers['content-encoding'];
      try {
        resolve(encoding === 'gzip' ? gunzipSync(raw) : encoding === 'deflate' ? inflateSync(raw) : raw);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * A local OTLP/HTTP JSON trace receiver on 127.0.0.1 (random port) for tests: point a service's
 * OTEL_EXPORTER_OTLP_ENDPOINT at `url` with OTEL_EXPORTER_OTLP_PROTOCOL=http/json and assert on the spans.
 * Protobuf bodies are refused with 415 so a misconfigured protocol fails loudly instead of silently.
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const received: ReceivedSpan[] = [];
  const waiters = new Set<() => void>();

  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/traces') {
      reply(res, 404, { code: 5, message: 'only POST /v1/traces is served' });
      return;
    }
    if (!(req.headers['content-type'] ?? '').includes('application/json')) {
      reply(res, 415, { code: 3, message: 'OTLP/JSON only: set OTEL_EXPORTER_OTLP_PROTOCOL=http/json' });
      return;
    }
    readBody(req)
      .then((body) => {
        received.push(...parseExportTraceServiceRequest(JSON.parse(body.toString('utf8')) as ExportTraceServiceRequest));
        reply(res, 200, {});
        for (const wake of waiters) wake();
      })
      .catch((err: unknown) => reply(res, 400, { code: 3, message: err instanceof Error ? err.message : String(err) }));
  });
  // Exporters keep connections alive; without this close() would wait for them.
  server.keepAliveTimeout = 1000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    spans: () => [...received],
    waitFor(pred, timeoutMs = 10_000) {
      return new Promise<ReceivedSpan[]>((resolve, reject) => {
        const check = (): boolean => {
          if (!pred([...received])) return false;
          cleanup();
          resolve([...received]);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          const seen = received.map((s) => `${s.serviceName}:${s.name}`).join(', ') || 'none';
          reject(new Error(`OTLP receiver: condition not met within ${timeoutMs} ms; spans received: ${seen}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        const wake = (): void => void check();
        waiters.add(wake);
        check();
      });
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      });
    },
  };
}
