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
import { NodeSDK } from '@opentelemetry/sdk-node';
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { IncomingMessage } from 'node:http';
import { decideTracing, isUntracedPath } from './tracing-config';
import { getActiveSdk, setActiveSdk } from './tracing-sdk.registry';

function startTracing(): void {
  if (getActiveSdk()) return;

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
