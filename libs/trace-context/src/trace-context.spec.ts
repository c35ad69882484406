import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { installInMemoryTracing } from './in-memory-tracing';
import {
  currentSpanId,
  currentTraceId,
  currentTraceparent,
  extractTraceContext,
  getTracer,
  injectTraceHeaders,
  runInTraceContext,
  traceIdOfTraceparent,
} from './trace-context';

const tracing = installInMemoryTracing();

beforeEach(() => tracing.reset());

describe('trace ids', () => {
  it('is undefined outside a span', () => {
    expect(currentTraceId()).toBeUndefined();
    expect(currentSpanId()).toBeUndefined();
    expect(currentTraceparent()).toBeUndefined();
  });

  it('gives the W3C ids of the active span', () => {
    getTracer().startActiveSpan('op', (span) => {
      expect(currentTraceId()).toMatch(/^[0-9a-f]{32}$/);
      expect(currentTraceId()).toBe(span.spanContext().traceId);
      expect(currentSpanId()).toBe(span.spanContext().spanId);
      expect(currentTraceparent()).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
      span.end();
    });
  });
});

describe('inject → extract', () => {
  it('continues the injected trace with the producer span as parent', async () => {
    const producer = getTracer().startSpan('publish', { kind: SpanKind.PRODUCER });
    const headers = injectTraceHeaders({}, trace.setSpan(context.active(), producer));
    producer.end();
    expect(headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    const seen = await runInTraceContext(headers, 'consume', SpanKind.CONSUMER, async () => currentTraceId(), {
      'messaging.system': 'outbox',
    });

    expect(seen).toBe(producer.spanContext().traceId);
    const consumer = tracing.spans().find((s) => s.name === 'consume');
    expect(consumer).toBeDefined();
    expect(consumer?.spanContext().traceId).toBe(producer.spanContext().traceId);
    expect(consumer?.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    expect(consumer?.kind).toBe(SpanKind.CONSUMER);
    expect(consumer?.attributes['messaging.system']).toBe('outbox');
  });

  it('injects the active context by default', () => {
    getTracer().startActiveSpan('outer', (span) => {
      const headers = injectTraceHeaders();
      expect(headers.traceparent).toContain(span.spanContext().spanId);
      span.end();
    });
  });

  it('extracts from ROOT_CONTEXT, ignoring the consumer’s own active span', () => {
    const producer = getTracer().startSpan('publish');
    const headers = injectTraceHeaders({}, trace.setSpan(context.active(), producer));
    getTracer().startActiveSpan('unrelated', (unrelated) => {
      const ctx = extractTraceContext(headers);
      expect(trace.getSpanContext(ctx)?.traceId).toBe(producer.spanContext().traceId);
      expect(trace.getSpanContext(ctx)?.traceId).not.toBe(unrelated.spanContext().traceId);
      unrelated.end();
    });
    producer.end();
  });

  it('starts a new trace from a missing or malformed carrier', async () => {
    const a = await runInTraceContext(undefined, 'a', SpanKind.SERVER, async () => currentTraceId());
    const b = await runInTraceContext({ traceparent: 'garbage' }, 'b', SpanKind.SERVER, async () => currentTraceId());
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(b).toMatch(/^[0-9a-f]{32}$/);
    expect(a).not.toBe(b);
    expect(tracing.spans().every((s) => s.parentSpanContext === undefined)).toBe(true);
  });

  it('accepts repeated HTTP headers (string arrays)', () => {
    const producer = getTracer().startSpan('publish');
    const { traceparent } = injectTraceHeaders({}, trace.setSpan(context.active(), producer));
    producer.end();
    const ctx = extractTraceContext({ traceparent: [traceparent] });
    expect(trace.getSpanContext(ctx)?.spanId).toBe(producer.spanContext().spanId);
  });
});

describe('runInTraceContext', () => {
  it('records a thrown error on the span, rethrows it and ends the span', async () => {
    await expect(
      runInTraceContext({}, 'deliver', SpanKind.CONSUMER, async () => {
        throw new Error('bucket down');
      }),
    ).rejects.toThrow('bucket down');

    const [span] = tracing.spans();
    expect(span.name).toBe('deliver');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'bucket down' });
    expect(span.events.map((e) => e.name)).toContain('exception');
    expect(span.events[0].attributes?.['exception.message']).toBe('bucket down');
    expect(span.ended).toBe(true);
  });

  it('returns the value and leaves the status unset on success', async () => {
    await expect(runInTraceContext({}, 'ok', SpanKind.INTERNAL, async (span) => {
      span.setAttribute('k', 1);
      return 42;
    })).resolves.toBe(42);
    const [span] = tracing.spans();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes.k).toBe(1);
  });
});

describe('traceIdOfTraceparent', () => {
  it('reads the trace id of a W3C traceparent, and nothing from a missing, malformed or all-zero one', () => {
    expect(traceIdOfTraceparent(`00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`)).toBe('a'.repeat(32));
    expect(traceIdOfTraceparent(undefined)).toBeUndefined();
    expect(traceIdOfTraceparent('nonsense')).toBeUndefined();
    expect(traceIdOfTraceparent(`00-${'0'.repeat(32)}-${'b'.repeat(16)}-01`)).toBeUndefined();
  });
});
