import {
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanKind,
  type Tracer,
} from '@opentelemetry/api';

/** HTTP headers, NATS/broker headers or an outbox row's stored headers. Arrays: repeated HTTP headers. */
export type TraceCarrier = Record<string, string | string[] | undefined>;

const TRACER_NAME = '@pancha/trace-context';

export function getTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** The W3C trace id (32 hex) of the active span, or undefined outside any recorded trace. */
export function currentTraceId(ctx: Context = context.active()): string | undefined {
  const sc = trace.getSpanContext(ctx);
  return sc && isSpanContextValid(sc) ? sc.traceId : undefined;
}

/** The span id (16 hex) of the active span, or undefined outside any recorded trace. */
export function currentSpanId(ctx: Context = context.active()): string | undefined {
  const sc = trace.getSpanContext(ctx);
  return sc && isSpanContextValid(sc) ? sc.spanId : undefined;
}

/**
 * Writes `traceparent` (and `tracestate` when there is one) for `ctx` (default: the active context) into
 * `carrier` and returns it. Producers call this with the producer span active, so the consumer's span
 * becomes its child.
 */
export function injectTraceHeaders(carrier: Record<string, string> = {}, ctx: Context = context.active()): Record<string, string> {
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The current `traceparent` header value, e.g. to store beside an outbox row; undefined outside a trace. */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  return injectTraceHeaders({}, ctx)['traceparent'];
}

/**
 * The remote parent carried by `carrier`. Extracts from ROOT_CONTEXT on purpose (contrib's amqplib/kafkajs
 * consumers): a message handled inside some unrelated active span must continue the producer's trace,
 * not the consumer's. A missing or malformed carrier yields ROOT_CONTEXT (a new trace).
 */
export function extractTraceContext(carrier: TraceCarrier | null | undefined): Context {
  if (!carrier) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/**
 * Starts a `kind` span named `spanName` as a child of the context in `carrier`, runs `fn` with it active,
 * records a thrown error (exception event + ERROR status) and rethrows it, and always ends the span.
 */
export function runInTraceContext<T>(
  carrier: TraceCarrier | null | undefined,
  spanName: string,
  kind: SpanKind,
  fn: (span: Span) => Promise<T>,
  attributes?: Attributes,
): Promise<T> {
  const parent = extractTraceContext(carrier);
  return getTracer().startActiveSpan(spanName, { kind, attributes }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      throw err;
    } finally {
      span.end();
    }
  });
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The trace id a W3C `traceparent` value names; undefined when absent, malformed or all zeros. */
export function traceIdOfTraceparent(traceparent: string | undefined): string | undefined {
  const traceId = traceparent === undefined ? undefined : TRACEPARENT.exec(traceparent.trim())?.[1];
  return traceId && !/^0+$/.test(traceId) ? traceId : undefined;
}
