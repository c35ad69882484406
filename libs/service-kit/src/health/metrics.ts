import { trace } from '@opentelemetry/api';
import { MetricName } from '@pancha/contracts';
import type { NextFunction, Request, Response } from 'express';
import { collectDefaultMetrics, Histogram, type LabelValues, Registry } from 'prom-client';

/**
 * One registry per process: default Node metrics, the request histogram by route template, and whatever the
 * libs and apps register (names in @pancha/contracts MetricName; docs/metrics.md). Served in the Prometheus text
 * format, or OpenMetrics (with trace exemplars on histograms) when the scraper asks for it.
 */
type AnyContentType = typeof Registry.OPENMETRICS_CONTENT_TYPE | typeof Registry.PROMETHEUS_CONTENT_TYPE;
const registry = new (Registry as unknown as new (contentType: AnyContentType) => Registry<AnyContentType>)(Registry.OPENMETRICS_CONTENT_TYPE);
export const metricsRegistry = registry as unknown as Registry;
collectDefaultMetrics({ register: metricsRegistry });

const httpDuration = new Histogram({
  name: MetricName.HttpRequestDuration,
  help: 'HTTP request duration by method, route template and status code (its _count is the request count)',
  labelNames: ['method', 'route', 'status_code'],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [metricsRegistry],
});

export function httpMetricsMiddleware(req: Request, res: Response, next: NextFunction): void {
  const end = httpDuration.startTimer();
  res.on('finish', () => {
    // The route template (not the raw URL) keeps label cardinality bounded.
    const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
    end({ method: req.method, route: `${req.baseUrl ?? ''}${route}`, status_code: String(res.statusCode) });
  });
  next();
}

/** The active span's trace as an exemplar label set (empty outside a trace: no exemplar is kept then). */
export function traceExemplar(): Record<string, string> {
  const context = trace.getActiveSpan()?.spanContext();
  return context && context.traceId !== '00000000000000000000000000000000' ? { trace_id: context.traceId } : {};
}

/**
 * A histogram that keeps, per bucket, the trace of its latest observation as an OpenMetrics exemplar, with the
 * plain `observe(labels, seconds)` of an ordinary histogram. `exemplar` overrides the active span's trace (for
 * an observation made outside the span it measures).
 */
export interface ExemplarHistogram<T extends string> {
  observe(labels: LabelValues<T>, seconds: number, exemplar?: Record<string, string>): void;
  readonly histogram: Histogram<T>;
}

export function exemplarHistogram<T extends string>(config: {
  name: string;
  help: string;
  labelNames: readonly T[];
  buckets: number[];
}): ExemplarHistogram<T> {
  const histogram = new Histogram<T>({ ...config, enableExemplars: true, registers: [metricsRegistry] });
  return {
    histogram,
    observe(labels, seconds, exemplar) {
      histogram.observe({ labels, value: seconds, exemplarLabels: (exemplar ?? traceExemplar()) as LabelValues<T> });
    },
  };
}

/** Serializes renders: each switches the registry's format for its duration (see below). */
let rendering: Promise<unknown> = Promise.resolve();

/**
 * The registry's exposition for an Accept header: OpenMetrics (exemplars included) when the scraper lists
 * `application/openmetrics-text` (Prometheus does with exemplar storage on), the Prometheus text format otherwise.
 * The registry stays an OpenMetrics one between renders (prom-client accepts exemplar histograms only there).
 * prom-client's OpenMetrics render strips `_total` from counter names on the metric objects themselves; they are
 * put back afterwards so a text-format scrape keeps its names. Use this, not metricsRegistry.metrics().
 */
export function renderMetrics(accept: string | undefined): Promise<{ contentType: string; body: string }> {
  const openMetrics = /application\/openmetrics-text/i.test(accept ?? '');
  const next = rendering.then(async () => {
    const metrics = metricsRegistry.getMetricsAsArray() as unknown as { name: string }[];
    const names = metrics.map((m) => m.name);
    const contentType = openMetrics ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE;
    registry.setContentType(contentType);
    try {
      return { contentType, body: await metricsRegistry.metrics() };
    } finally {
      registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
      metrics.forEach((m, i) => (m.name = names[i]));
    }
  });
  rendering = next.catch(() => undefined);
  return next;
}
