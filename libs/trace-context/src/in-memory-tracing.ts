import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';

export interface InMemoryTracing {
  exporter: InMemorySpanExporter;
  /** Finished spans so far, oldest first. */
  spans(): ReadableSpan[];
  /** Forgets the finished spans (call in beforeEach). */
  reset(): void;
}

const KEY = Symbol.for('pancha.trace-context.in-memory');
type Holder = { [KEY]?: InMemoryTracing };

/**
 * For tests: a recording tracer provider with an in-memory exporter, the AsyncLocalStorage context manager
 * and the W3C propagator, registered globally (what `register` does in a service, minus the exporters).
 * The OpenTelemetry API accepts one global registration per process, so later calls return the first one.
 */
export function installInMemoryTracing(): InMemoryTracing {
  const holder = globalThis as Holder;
  const existing = holder[KEY];
  if (existing) return existing;

  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);

  const tracing: InMemoryTracing = {
    exporter,
    spans: () => exporter.getFinishedSpans(),
    reset: () => exporter.reset(),
  };
  holder[KEY] = tracing;
  return tracing;
}
