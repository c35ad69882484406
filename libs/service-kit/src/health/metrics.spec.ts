import { Counter } from 'prom-client';
import { exemplarHistogram, metricsRegistry, renderMetrics } from './metrics';

describe('GET /metrics exposition', () => {
  const counter = new Counter({ name: 'pancha_spec_things_total', help: 'things', labelNames: ['kind'], registers: [metricsRegistry] });
  const histogram = exemplarHistogram({ name: 'pancha_spec_wait_seconds', help: 'waits', labelNames: ['kind'], buckets: [0.1, 1] });
  counter.inc({ kind: 'a' }, 2);
  histogram.observe({ kind: 'a' }, 0.5, { trace_id: '0af7651916cd43dd8448eb211c80319c' });

  it('serves the Prometheus text format by default, without exemplars', async () => {
    const { contentType, body } = await renderMetrics('text/plain');
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(body).toContain('pancha_spec_things_total{kind="a"} 2');
    expect(body).toContain('pancha_spec_wait_seconds_bucket{le="1",kind="a"} 1');
    expect(body).not.toContain('trace_id');
  });

  it('serves OpenMetrics with the trace exemplar when asked, and the text format keeps its counter names after', async () => {
    const open = await renderMetrics('application/openmetrics-text; version=1.0.0,text/plain;q=0.5');
    expect(open.contentType).toMatch(/^application\/openmetrics-text/);
    expect(open.body).toMatch(/pancha_spec_wait_seconds_bucket\{le="1",kind="a"\} 1 # \{trace_id="0af7651916cd43dd8448eb211c80319c"\} 0\.5 \d/);
    expect(open.body).toContain('# TYPE pancha_spec_things counter');
    expect(open.body.trimEnd().endsWith('# EOF')).toBe(true);
    const text = await renderMetrics(undefined);
    expect(text.body).toContain('# TYPE pancha_spec_things_total counter');
    expect(text.body).toContain('pancha_spec_things_total{kind="a"} 2');
  });
});
