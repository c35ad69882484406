import { decideTracing, isUntracedPath } from './tracing-config';

describe('decideTracing', () => {
  it('records but exports nothing when no exporter or endpoint is configured', () => {
    expect(decideTracing({}).exportTraces).toBe(false);
  });

  it('exports when an OTLP endpoint is set (generic or traces-specific)', () => {
    expect(decideTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' }).exportTraces).toBe(true);
    expect(decideTracing({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://jaeger:4318/v1/traces' }).exportTraces).toBe(true);
  });

  it('exports when an exporter is named explicitly, and not for "none"', () => {
    expect(decideTracing({ OTEL_TRACES_EXPORTER: 'console' }).exportTraces).toBe(true);
    expect(decideTracing({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318' }).exportTraces).toBe(false);
  });

  it('defaults metrics and logs exporters to none without overriding a choice', () => {
    expect(decideTracing({}).defaults).toEqual({ OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' });
    expect(decideTracing({ OTEL_METRICS_EXPORTER: 'otlp', OTEL_LOGS_EXPORTER: 'console' }).defaults).toEqual({});
  });
});

describe('isUntracedPath', () => {
  it('skips probes and scrapes only', () => {
    expect(isUntracedPath('/health')).toBe(true);
    expect(isUntracedPath('/metrics?x=1')).toBe(true);
    expect(isUntracedPath('/core/events')).toBe(false);
    expect(isUntracedPath(undefined)).toBe(false);
  });
});
