/**
 * Decisions `register` takes from the standard OTEL_* environment, kept pure so they can be tested
 * without starting an SDK.
 */
export interface TracingEnvDecision {
  /**
   * false: record spans (real W3C ids in payloads and logs) but export nothing. Taken when nobody asked
   * for an exporter (no OTLP endpoint, no OTEL_TRACES_EXPORTER) or OTEL_TRACES_EXPORTER=none: sdk-node would
   * otherwise retry localhost:4318 forever, or install no tracer provider at all (all-zero trace ids).
   * true: sdk-node picks the exporter itself from OTEL_TRACES_EXPORTER / OTEL_EXPORTER_OTLP_*_PROTOCOL
   * (otlp over http/protobuf by default, http/json or grpc) and OTEL_EXPORTER_OTLP_*_ENDPOINT.
   */
  exportTraces: boolean;
  /** Environment defaults to apply before the SDK reads the environment (only for unset variables). */
  defaults: Record<string, string>;
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'null');
}

export function decideTracing(env: NodeJS.ProcessEnv): TracingEnvDecision {
  const exporters = list(env.OTEL_TRACES_EXPORTER);
  const hasEndpoint = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
  const exportTraces = exporters.length === 0 ? hasEndpoint : !exporters.every((e) => e === 'none');

  // Metrics go through prom-client on /metrics and logs through pino to stdout; sdk-node would otherwise
  // push both over OTLP by default.
  const defaults: Record<string, string> = {};
  if (!env.OTEL_METRICS_EXPORTER?.trim()) defaults.OTEL_METRICS_EXPORTER = 'none';
  if (!env.OTEL_LOGS_EXPORTER?.trim()) defaults.OTEL_LOGS_EXPORTER = 'none';
  return { exportTraces, defaults };
}

/** Probe and scrape paths: a span every few seconds per replica would bury the requests worth looking at. */
export const UNTRACED_PATHS: readonly string[] = ['/health', '/healthz', '/readyz', '/metrics'];

export function isUntracedPath(url: string | undefined): boolean {
  if (!url) return false;
  const path = url.split('?', 1)[0];
  return UNTRACED_PATHS.includes(path);
}
