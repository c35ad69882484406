// Helpers only: importing this barrel never starts the SDK (that is `register`, loaded with --require).
export {
  currentSpanId,
  currentTraceId,
  currentTraceparent,
  extractTraceContext,
  getTracer,
  injectTraceHeaders,
  runInTraceContext,
  traceIdOfTraceparent,
  type TraceCarrier,
} from './trace-context';
export { shutdownTracing } from './tracing-sdk.registry';
export { installInMemoryTracing, type InMemoryTracing } from './in-memory-tracing';
export { SpanKind, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
