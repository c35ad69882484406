/**
 * OpenTelemetry bootstrap. Load it before anything else so the instrumentations can patch http, express,
 * @nestjs/core, pg and pino as they are first required:
 *
 *   node --require ./dist/libs/trace-context/src/register.js dist/apps/<app>/src/main.js
 *
 * Configuration is the standard OTEL_* environment only (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_EXPORTER_OTLP_PROTOCOL, ...). It installs no signal handlers: the app flushes through
 * `shutdownTracing()` from its Nest shutdown hook.
 */
import { getNodeAutoInstrumentations } from '@opentelemetry/auto-instrumentations-node';
import { ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { IncomingMessage } from 'node:http';
import { decideTracing, isUntracedPath } from './tracing-config';
import { getActiveSdk, setActiveSdk } from './tracing-sdk.registry';

function startTracing(): void {
  if (getActiveSdk()) return;

  // Only the libraries Pancha uses: each enabled instrumentation costs CPU on every request it touches.
  process.env.OTEL_NODE_ENABLED_INSTRUMENTATIONS ??= 'http,express,nestjs-core,pg,pino,undici';
  const decision = decideTracing(process.env);
  for (const [name, value] of Object.entries(decision.defaults)) process.env[name] = value;
  const logsExported = process.env.OTEL_LOGS_EXPORTER !== 'none';

  const sdk = new NodeSDK({
    // Without an exporter we still need a recording tracer provider, so ids in payloads and logs are real.
    ...(decision.exportTraces ? {} : { spanProcessors: [new NoopSpanProcessor()] }),
    instrumentations: [
      getNodeAutoInstrumentations({
        '@opentelemetry/instrumentation-fs': { enabled: false },
        '@opentelemetry/instrumentation-dns': { enabled: false },
        '@opentelemetry/instrumentation-net': { enabled: false },
        '@opentelemetry/instrumentation-http': {
          ignoreIncomingRequestHook: (req: IncomingMessage) => isUntracedPath(req.url),
        },
        // No Express layer spans at all. One per middleware (body parser, logger, metrics...) says nothing a
        // reader of a trace needs and cost a third of the tracing overhead; the route's "request handler" spans
        // (three per request under Nest) only repeat the Nest spans below them (Controller.method, its handler).
        // An ignored layer still names the route: the HTTP server span stays "POST /handle_task" with http.route.
        '@opentelemetry/instrumentation-express': {
          ignoreLayersType: [ExpressLayerType.MIDDLEWARE, ExpressLayerType.ROUTER, ExpressLayerType.REQUEST_HANDLER],
        },
        // Queries belong to the request or delivery that made them; the outbox relay's idle polling would
        // otherwise open a new root trace four times a second. Pool checkouts are not worth a span each.
        '@opentelemetry/instrumentation-pg': { requireParentSpan: true, ignoreConnectSpans: true },
        // Correlation (trace_id/span_id on every log line) stays on; shipping log records over OTLP only
        // when a logs exporter was asked for.
        '@opentelemetry/instrumentation-pino': { disableLogSending: !logsExported },
      }),
    ],
  });
  sdk.start();
  setActiveSdk(sdk);
}

startTracing();

export { shutdownTracing } from './tracing-sdk.registry';
