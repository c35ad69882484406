import { SpanKind } from '@opentelemetry/api';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import path from 'node:path';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver';

const repoRoot = path.resolve(__dirname, '../../..');

// The exporter loads node:http with a dynamic import(), which Jest's VM refuses, so the exporting side
// runs as a plain Node process, configured only through the standard OTEL_* environment.
const EXPORTER_SCRIPT = `
const api = require('@opentelemetry/api');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'bucket' }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter())],
});
const tracer = provider.getTracer('otlp-receiver-spec');
const parent = tracer.startSpan('POST /core/write-event', { kind: api.SpanKind.SERVER });
const child = tracer.startSpan('INSERT bucket_entry',
  { kind: api.SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'bucket.seq': 7, ok: true } },
  api.trace.setSpan(api.context.active(), parent));
child.end();
parent.end();
provider.shutdown().then(() => process.stdout.write(JSON.stringify(parent.spanContext())));
`;

function runExporter(endpoint: string): Promise<{ traceId: string; spanId: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['-e', EXPORTER_SCRIPT],
      {
        cwd: repoRoot,
        timeout: 15_000,
        env: { PATH: process.env.PATH, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
      },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout))),
    );
  });
}

function post(url: string, contentType: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': contentType } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('startOtlpReceiver', () => {
  let receiver: OtlpReceiver;

  beforeEach(async () => {
    receiver = await startOtlpReceiver();
  });
  afterEach(() => receiver.close());

  it('receives spans from the real OTLP/HTTP JSON exporter pointed at its url', async () => {
    const parent = await runExporter(receiver.url);

    const spans = await receiver.waitFor((s) => s.length >= 2, 5000);
    const server = spans.find((s) => s.name === 'POST /core/write-event');
    const client = spans.find((s) => s.name === 'INSERT bucket_entry');
    expect(server).toEqual({
      serviceName: 'bucket',
      traceId: parent.traceId,
      spanId: parent.spanId,
      parentSpanId: undefined,
      name: 'POST /core/write-event',
      kind: SpanKind.SERVER,
      attributes: {},
    });
    expect(client).toMatchObject({
      serviceName: 'bucket',
      traceId: parent.traceId,
      parentSpanId: parent.spanId,
      kind: SpanKind.CLIENT,
      attributes: { 'db.system': 'postgresql', 'bucket.seq': 7, ok: true },
    });
  }, 20_000);

  it('times out waitFor with the spans it did see', async () => {
    await expect(receiver.waitFor((s) => s.length > 0, 50)).rejects.toThrow(/within 50 ms; spans received: none/);
  });

  it('refuses protobuf bodies and unknown paths', async () => {
    expect(await post(`${receiver.url}/v1/traces`, 'application/x-protobuf', '')).toBe(415);
    expect(await post(`${receiver.url}/v1/metrics`, 'application/json', '{}')).toBe(404);
    expect(receiver.spans()).toEqual([]);
  });
});
